// YuNet 2022 (loc/conf/iou heads) through cv::FaceDetectorYN, the only YuNet that OpenCV 4.6's
// FaceDetectorYN accepts. The network takes any input size, so there is no tiling: the mode
// picks the working resolution (TiledFaceDetector's dynamic plan).
#include <opencv2/objdetect.hpp>
#include <spdlog/spdlog.h>

#include "face/face_internal.hpp"

namespace ev::face {
namespace {

class YuNet2022Detector final : public TiledFaceDetector {
 public:
  YuNet2022Detector(cv::Ptr<cv::FaceDetectorYN> net, DetectMode mode, int min_face)
      : TiledFaceDetector(mode, min_face), net_(std::move(net)) {}

  std::string name() const override { return "yunet2022"; }

 protected:
  cv::Size net_size() const override { return {0, 0}; }

  Status detect_scaled(const cv::Mat& scaled, std::vector<Face>& out) override {
    if (scaled.size() != input_size_) {
      net_->setInputSize(scaled.size());
      input_size_ = scaled.size();
    }
    cv::Mat rows;
    net_->detect(scaled, rows);
    for (int i = 0; i < rows.rows; ++i) {
      const float* r = rows.ptr<float>(i);
      Face f;
      f.box = cv::Rect2f(r[0], r[1], r[2], r[3]);
      f.score = r[14];
      for (int k = 0; k < 5; ++k) f.landmarks.emplace_back(r[4 + 2 * k], r[5 + 2 * k]);
      out.push_back(std::move(f));
    }
    return Status::Ok();
  }

 private:
  cv::Ptr<cv::FaceDetectorYN> net_;
  cv::Size input_size_;
};

}  // namespace

DetectorResult create_yunet2022(const FaceDetectorOptions& options, ModelManager& models) {
  auto model = resolve_model(options, models, "yunet2022");
  if (!model) return model.status();
  const float threshold = pick_threshold(options, *model, 0.6f);
  const float nms = model->spec && model->spec->nms_threshold > 0 ? static_cast<float>(model->spec->nms_threshold) : 0.3f;
  try {
    if (options.threads > 0) cv::setNumThreads(options.threads);
    auto net = cv::FaceDetectorYN::create(model->primary().string(), "", cv::Size(320, 320), threshold, nms, 5000);
    if (!net) return DetectorResult::Error("yunet2022: cannot load " + model->primary().string());
    return std::unique_ptr<FaceDetector>(std::make_unique<YuNet2022Detector>(net, options.mode, options.min_face));
  } catch (const cv::Exception& e) {
    return DetectorResult::Error("yunet2022: cannot load " + model->primary().string() + ": " + e.what());
  }
}

}  // namespace ev::face
