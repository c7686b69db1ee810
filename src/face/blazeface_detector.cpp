// MediaPipe BlazeFace (back-256 long range, front-128 short range), keijiro's ONNX conversion,
// through ONNX Runtime. NHWC RGB input scaled to [-1,1]; 896 anchors; NMS instead of
// MediaPipe's weighted blending because the tiler merges passes with NMS anyway.
#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"
#include "face/face_internal.hpp"

namespace ev::face {

const std::vector<cv::Point2f>& blazeface_anchors() {
  static const std::vector<cv::Point2f> anchors = [] {
    std::vector<cv::Point2f> a;
    a.reserve(896);
    const int grids[2][2] = {{16, 2}, {8, 6}};  // cells per side, anchors per cell
    for (const auto& g : grids)
      for (int y = 0; y < g[0]; ++y)
        for (int x = 0; x < g[0]; ++x)
          for (int k = 0; k < g[1]; ++k) a.emplace_back((x + 0.5f) / g[0], (y + 0.5f) / g[0]);
    return a;
  }();
  return anchors;
}

void decode_blazeface(const float* scores, const float* boxes, int size, float score_threshold,
                      cv::Size valid, std::vector<Face>& out) {
  const auto& anchors = blazeface_anchors();
  const float s = static_cast<float>(size);
  for (size_t i = 0; i < anchors.size(); ++i) {
    const float logit = std::clamp(scores[i], -50.f, 50.f);
    const float score = 1.f / (1.f + std::exp(-logit));
    if (score < score_threshold) continue;
    const float* b = boxes + 16 * i;
    const float cx = (anchors[i].x + b[0] / s) * s;
    const float cy = (anchors[i].y + b[1] / s) * s;
    if (cx < 0.f || cy < 0.f || cx >= valid.width || cy >= valid.height) continue;
    const float w = b[2];
    const float h = b[3];
    if (w <= 0.f || h <= 0.f) continue;
    Face f;
    f.box = cv::Rect2f(cx - w / 2, cy - h / 2, w, h);
    f.score = score;
    f.landmarks.reserve(6);
    for (int k = 0; k < 6; ++k)
      f.landmarks.emplace_back(anchors[i].x * s + b[4 + 2 * k], anchors[i].y * s + b[5 + 2 * k]);
    out.push_back(std::move(f));
  }
}

namespace {

class BlazeFaceDetector final : public TiledFaceDetector {
 public:
  BlazeFaceDetector(std::string name, std::unique_ptr<InferenceBackend> backend, Preprocess pre,
                    int size, float threshold, float nms, DetectMode mode, int min_face)
      : TiledFaceDetector(mode, min_face),
        name_(std::move(name)),
        backend_(std::move(backend)),
        pre_(std::move(pre)),
        size_(size),
        threshold_(threshold),
        nms_(nms) {
    pre_.resize = "pad32";  // the tiler has already scaled; pad bottom/right with 0 (-> -1)
    pre_.layout = "nhwc";
  }

  std::string name() const override { return name_; }

  Status init() {
    const auto& outs = backend_->outputs();
    const char* names[4] = {"Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"};
    for (int k = 0; k < 4; ++k) {
      auto it = std::find_if(outs.begin(), outs.end(),
                             [&](const TensorInfo& t) { return t.name == names[k]; });
      if (it == outs.end())
        return Status::Error(name_ + ": model has no output '" + names[k] + "'");
      index_[k] = static_cast<int>(it - outs.begin());
    }
    scores_.resize(896);
    boxes_.resize(896 * 16);
    return Status::Ok();
  }

 protected:
  cv::Size net_size() const override { return {size_, size_}; }
  float nms_threshold() const override { return nms_; }

  Status detect_scaled(const cv::Mat& scaled, std::vector<Face>& out) override {
    make_input_tensor(scaled, pre_, size_, size_, input_);
    const std::vector<TensorView> in{{input_.data(), {1, size_, size_, 3}}};
    if (Status s = backend_->run(in, outputs_); !s.ok()) return s;
    const auto& s16 = outputs_[index_[0]].data;
    const auto& s8 = outputs_[index_[1]].data;
    const auto& b16 = outputs_[index_[2]].data;
    const auto& b8 = outputs_[index_[3]].data;
    if (s16.size() != 512 || s8.size() != 384 || b16.size() != 512 * 16 || b8.size() != 384 * 16)
      return Status::Error(name_ + ": unexpected output sizes");
    std::copy(s16.begin(), s16.end(), scores_.begin());
    std::copy(s8.begin(), s8.end(), scores_.begin() + 512);
    std::copy(b16.begin(), b16.end(), boxes_.begin());
    std::copy(b8.begin(), b8.end(), boxes_.begin() + 512 * 16);
    std::vector<Face> candidates;
    decode_blazeface(scores_.data(), boxes_.data(), size_, threshold_, scaled.size(), candidates);
    for (auto& f : merge_faces(std::move(candidates), nms_)) out.push_back(std::move(f));
    return Status::Ok();
  }

 private:
  std::string name_;
  std::unique_ptr<InferenceBackend> backend_;
  Preprocess pre_;
  int size_;
  float threshold_;
  float nms_;
  int index_[4] = {};
  std::vector<float> input_, scores_, boxes_;
  std::vector<Tensor> outputs_;
};

DetectorResult create_blazeface(const std::string& name, const std::string& default_model,
                                const FaceDetectorOptions& options, ModelManager& models) {
  auto opened = open_onnx_model(options, models, default_model);
  if (!opened) return opened.status();
  const ResolvedModel* model = &opened->model;
  auto& backend = opened->backend;
  const auto& ins = backend->inputs();
  if (ins.size() != 1 || ins[0].shape.size() != 4 || ins[0].shape[1] != ins[0].shape[2] ||
      ins[0].shape[1] <= 0 || ins[0].shape[3] != 3)
    return DetectorResult::Error(name + ": expected one NHWC [1,S,S,3] input in " +
                                 model->primary().string());
  const int size = static_cast<int>(ins[0].shape[1]);
  Preprocess pre = model->spec ? model->spec->preprocess : Preprocess{};
  if (!model->spec) {
    pre.color = "rgb";
    pre.scale = 1.f / 127.5f;
    pre.mean = {1, 1, 1};
  }
  auto det = std::make_unique<BlazeFaceDetector>(
      name, std::move(backend), pre, size, pick_threshold(options, *model, 0.5f),
      pick_nms(*model, 0.3f), options.mode, options.min_face);
  if (Status s = det->init(); !s.ok()) return s;
  return std::unique_ptr<FaceDetector>(std::move(det));
}

}  // namespace

DetectorResult create_blazeface_back(const FaceDetectorOptions& options, ModelManager& models) {
  return create_blazeface("blazeface", "blazeface-back", options, models);
}

DetectorResult create_blazeface_front(const FaceDetectorOptions& options, ModelManager& models) {
  return create_blazeface("blazeface128", "blazeface-front", options, models);
}

}  // namespace ev::face
