// OpenCV's ResNet-10 SSD face detector (TensorFlow uint8 graph) through the OpenCV DNN backend.
// Default threshold 0.5, not the 0.7 of the source recipe: for anonymization a missed face
// costs more than an extra blurred patch, and at 0.5 the false positives we saw on the test
// photos were still zero (see docs/face-detectors.md).
#include <spdlog/spdlog.h>

#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"
#include "face/face_internal.hpp"

namespace ev::face {
namespace {

class SsdDetector final : public TiledFaceDetector {
 public:
  SsdDetector(std::unique_ptr<InferenceBackend> backend, Preprocess pre, float threshold,
              DetectMode mode, int min_face)
      : TiledFaceDetector(mode, min_face),
        backend_(std::move(backend)),
        pre_(std::move(pre)),
        threshold_(threshold) {}

  std::string name() const override { return "ssd"; }

 protected:
  cv::Size net_size() const override { return {pre_.width, pre_.height}; }
  // The SSD boxes of one face from overlapping tiles differ more than YuNet's.
  float nms_threshold() const override { return 0.4f; }

  Status detect_scaled(const cv::Mat& scaled, std::vector<Face>& out) override {
    make_input_tensor(scaled, pre_, pre_.width, pre_.height, input_);
    const std::vector<TensorView> in{{input_.data(), {1, 3, pre_.height, pre_.width}}};
    if (Status s = backend_->run(in, outputs_); !s.ok()) return s;
    if (outputs_.empty() || outputs_[0].elements() % 7 != 0)
      return Status::Error("ssd: unexpected output layout");
    const auto& d = outputs_[0].data;
    const float w = static_cast<float>(scaled.cols);
    const float h = static_cast<float>(scaled.rows);
    for (size_t i = 0; i + 7 <= d.size(); i += 7) {
      const float conf = d[i + 2];
      if (conf < threshold_) continue;
      const float x1 = d[i + 3] * w, y1 = d[i + 4] * h, x2 = d[i + 5] * w, y2 = d[i + 6] * h;
      if (x2 <= x1 || y2 <= y1) continue;
      Face f;
      f.box = cv::Rect2f(x1, y1, x2 - x1, y2 - y1);
      f.score = conf;
      out.push_back(std::move(f));
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<InferenceBackend> backend_;
  Preprocess pre_;
  float threshold_;
  std::vector<float> input_;
  std::vector<Tensor> outputs_;
};

}  // namespace

DetectorResult create_ssd(const FaceDetectorOptions& options, ModelManager& models) {
  auto model = resolve_model(options, models, "ssd-face");
  if (!model) return model.status();
  BackendOptions bo;
  bo.threads = options.threads;
  if (model->paths.size() > 1) {
    bo.config = model->paths[1];
  } else {
    // A bare .pb path: the graph text is expected next to it, as OpenCV's samples ship them.
    bo.config = model->primary().parent_path() / "opencv_face_detector.pbtxt";
  }
  auto backend = create_backend("opencv", model->primary(), bo);
  if (!backend) return backend.status();
  Preprocess pre = model->spec ? model->spec->preprocess : Preprocess{};
  if (!model->spec) pre.mean = {104, 177, 123};
  pre.resize = "stretch";
  if (pre.width <= 0 || pre.height <= 0) pre.width = pre.height = 300;
  return std::unique_ptr<FaceDetector>(
      std::make_unique<SsdDetector>(std::move(*backend), pre, pick_threshold(options, *model, 0.5f),
                                    options.mode, options.min_face));
}

}  // namespace ev::face
