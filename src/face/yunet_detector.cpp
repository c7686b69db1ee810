// YuNet 2023 (libfacedetection.train yunet_s, 12 raw output heads) through ONNX Runtime with
// our own decoder. The shipped yunet_s_640_640.onnx declares a fixed 1x3x640x640 input, which
// ONNX Runtime enforces although the graph is fully convolutional; it is loaded with free H/W
// (patched in memory) so a frame gets one run at its own aspect, padded to a multiple of 32,
// instead of 640x640 tiles. A model that does not run at another size is tiled.
#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"
#include "face/face_internal.hpp"

namespace ev::face {

void decode_yunet(const std::vector<YuNetLevel>& levels, float score_threshold, cv::Size valid,
                  std::vector<Face>& out) {
  for (const auto& lv : levels) {
    const int n = lv.rows * lv.cols;
    const float s = static_cast<float>(lv.stride);
    for (int i = 0; i < n; ++i) {
      const float cls = std::clamp(lv.cls[i], 0.f, 1.f);
      const float obj = std::clamp(lv.obj[i], 0.f, 1.f);
      const float score = std::sqrt(cls * obj);
      if (score < score_threshold) continue;
      const int r = i / lv.cols;
      const int c = i % lv.cols;
      const float* b = lv.bbox + 4 * static_cast<size_t>(i);
      const float cx = (c + b[0]) * s;
      const float cy = (r + b[1]) * s;
      if (cx < 0.f || cy < 0.f || cx >= valid.width || cy >= valid.height) continue;
      // exp() of a garbage regression could overflow to inf; 10 is far beyond any real face.
      const float w = std::exp(std::min(b[2], 10.f)) * s;
      const float h = std::exp(std::min(b[3], 10.f)) * s;
      Face f;
      f.box = cv::Rect2f(cx - w / 2, cy - h / 2, w, h);
      f.score = score;
      if (lv.kps) {
        const float* k = lv.kps + 10 * static_cast<size_t>(i);
        f.landmarks.reserve(5);
        for (int j = 0; j < 5; ++j)
          f.landmarks.emplace_back((c + k[2 * j]) * s, (r + k[2 * j + 1]) * s);
      }
      out.push_back(std::move(f));
    }
  }
}

namespace {

class YuNetDetector final : public TiledFaceDetector {
 public:
  YuNetDetector(std::unique_ptr<InferenceBackend> backend, Preprocess pre, cv::Size net,
                float threshold, float nms, DetectMode mode, int min_face)
      : TiledFaceDetector(mode, min_face),
        backend_(std::move(backend)),
        pre_(std::move(pre)),
        net_(net),
        threshold_(threshold),
        nms_(nms) {
    pre_.resize = "pad32";  // the tiler has already scaled; only pad bottom/right
  }

  std::string name() const override { return "yunet"; }

  // One run at a size the file does not declare, to learn whether free H/W really works.
  Status probe_free_size() {
    const cv::Mat blank(64, 96, CV_8UC3, cv::Scalar::all(0));
    std::vector<Face> ignored;
    if (Status s = detect_scaled(blank, ignored); !s.ok()) return s;
    const size_t cells = (96 / 8) * (64 / 8);
    if (outputs_[index_[0][0]].elements() != cells)
      return Status::Error("yunet: output size does not follow the input size");
    return Status::Ok();
  }

  Status init() {
    static const char* kinds[] = {"cls", "obj", "bbox", "kps"};
    const auto& outs = backend_->outputs();
    for (int li = 0; li < 3; ++li) {
      for (int k = 0; k < 4; ++k) {
        const std::string want = std::string(kinds[k]) + "_" + std::to_string(8 << li);
        auto it = std::find_if(outs.begin(), outs.end(),
                               [&](const TensorInfo& t) { return t.name == want; });
        if (it == outs.end()) return Status::Error("yunet: model has no output '" + want + "'");
        index_[li][k] = static_cast<int>(it - outs.begin());
      }
    }
    return Status::Ok();
  }

 protected:
  cv::Size net_size() const override { return net_; }
  float nms_threshold() const override { return nms_; }

  Status detect_scaled(const cv::Mat& scaled, std::vector<Face>& out) override {
    const int w = net_.width > 0 ? net_.width : (scaled.cols + 31) / 32 * 32;
    const int h = net_.height > 0 ? net_.height : (scaled.rows + 31) / 32 * 32;
    {
      std::unique_ptr<InferenceBackend::LentInput> lent = backend_->lend_input();
      std::vector<float>& input = lent ? lent->buffer() : input_;
      make_input_tensor(scaled, pre_, w, h, input, /*grow_only=*/true);
      const std::vector<TensorView> in{{input.data(), {1, 3, h, w}}};
      if (Status s = backend_->run(in, outputs_); !s.ok()) return s;
    }
    std::vector<YuNetLevel> levels(3);
    for (int li = 0; li < 3; ++li) {
      YuNetLevel& lv = levels[li];
      lv.stride = 8 << li;
      lv.cols = w / lv.stride;
      lv.rows = h / lv.stride;
      const size_t n = static_cast<size_t>(lv.cols) * lv.rows;
      const Tensor* t[4];
      for (int k = 0; k < 4; ++k) t[k] = &outputs_[index_[li][k]];
      if (t[0]->elements() < n || t[1]->elements() < n || t[2]->elements() < 4 * n ||
          t[3]->elements() < 10 * n)
        return Status::Error("yunet: output size does not match a " + std::to_string(w) + "x" +
                             std::to_string(h) + " input");
      lv.cls = t[0]->data.data();
      lv.obj = t[1]->data.data();
      lv.bbox = t[2]->data.data();
      lv.kps = t[3]->data.data();
    }
    std::vector<Face> candidates;
    decode_yunet(levels, threshold_, scaled.size(), candidates);
    for (auto& f : merge_faces(std::move(candidates), nms_)) out.push_back(std::move(f));
    return Status::Ok();
  }

 private:
  std::unique_ptr<InferenceBackend> backend_;
  Preprocess pre_;
  cv::Size net_;
  float threshold_;
  float nms_;
  int index_[3][4] = {};
  std::vector<float> input_;
  std::vector<Tensor> outputs_;
};

}  // namespace

DetectorResult create_yunet(const FaceDetectorOptions& options, ModelManager& models) {
  auto opened = open_onnx_model(options, models, "yunet", /*free_image_size=*/true);
  if (!opened) return opened.status();
  const ResolvedModel model = opened->model;
  bool probe_failed = false;
  const auto make = [&](std::unique_ptr<InferenceBackend> backend) -> DetectorResult {
    const auto& ins = backend->inputs();
    if (ins.size() != 1 || ins[0].shape.size() != 4)
      return DetectorResult::Error("yunet: expected one NCHW input in " + model.primary().string());
    cv::Size net(static_cast<int>(ins[0].shape[3]), static_cast<int>(ins[0].shape[2]));
    if (net.width <= 0 || net.height <= 0) {
      net = {0, 0};
    } else if (net.width % 32 || net.height % 32) {
      return DetectorResult::Error("yunet: input " + std::to_string(net.width) + "x" +
                                   std::to_string(net.height) + " is not a multiple of 32");
    }
    Preprocess pre = model.spec ? model.spec->preprocess : Preprocess{};
    pre.color = "bgr";
    pre.layout = "nchw";
    auto det = std::make_unique<YuNetDetector>(
        std::move(backend), pre, net, pick_threshold(options, model, 0.6f), pick_nms(model, 0.3f),
        options.mode, options.min_face);
    if (Status s = det->init(); !s.ok()) return s;
    if (net.width == 0) {
      if (Status s = det->probe_free_size(); !s.ok()) {
        probe_failed = true;
        return s;
      }
    }
    spdlog::debug("face: yunet ready ({} input {}x{})", model.primary().string(), net.width,
                  net.height);
    return std::unique_ptr<FaceDetector>(std::move(det));
  };
  auto detector = make(std::move(opened->backend));
  if (detector || !probe_failed) return detector;
  // A graph with size-dependent reshapes only runs at its declared size: tile into it.
  spdlog::info("face: {} does not run at free input sizes ({}); using 640x640 tiles",
               model.primary().filename().string(), detector.error());
  auto fixed = open_onnx_model(options, models, "yunet");
  if (!fixed) return fixed.status();
  return make(std::move(fixed->backend));
}

}  // namespace ev::face
