// YuNet 2022 (loc/conf/iou heads) through cv::FaceDetectorYN, the only YuNet that OpenCV 4.6's
// FaceDetectorYN accepts. The network takes any input size, so there is no tiling: the mode
// picks the working resolution (TiledFaceDetector's dynamic plan).
#include <spdlog/spdlog.h>
#include <algorithm>

#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

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
    // This model answers a flat image (all black: score 0.8) with image-sized "faces" along
    // the top edge. A flat image holds no face, so it is not run at all.
    cv::Scalar mean, stddev;
    cv::meanStdDev(scaled, mean, stddev);
    if (std::max({stddev[0], stddev[1], stddev[2]}) < 1.0) return Status::Ok();
    // FaceDetectorYN throws on inputs smaller than its coarsest stride; pad bottom/right so
    // coordinates stay those of `scaled`.
    const cv::Mat* input = &scaled;
    if (scaled.cols < kMinSide || scaled.rows < kMinSide) {
      cv::copyMakeBorder(scaled, padded_, 0, std::max(0, kMinSide - scaled.rows), 0,
                         std::max(0, kMinSide - scaled.cols), cv::BORDER_CONSTANT,
                         cv::Scalar::all(0));
      input = &padded_;
    }
    if (input->size() != input_size_) {
      net_->setInputSize(input->size());
      input_size_ = input->size();
    }
    cv::Mat rows;
    net_->detect(*input, rows);
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
  static constexpr int kMinSide = 64;
  cv::Ptr<cv::FaceDetectorYN> net_;
  cv::Size input_size_;
  cv::Mat padded_;
};

}  // namespace

DetectorResult create_yunet2022(const FaceDetectorOptions& options, ModelManager& models) {
  auto model = resolve_model(options, models, "yunet2022");
  if (!model) return model.status();
  const float threshold = pick_threshold(options, *model, 0.6f);
  const float nms = pick_nms(*model, 0.3f);
  try {
    if (options.threads > 0) cv::setNumThreads(options.threads);
    auto net = cv::FaceDetectorYN::create(model->primary().string(), "", cv::Size(320, 320),
                                          threshold, nms, 5000);
    if (!net) return DetectorResult::Error("yunet2022: cannot load " + model->primary().string());
    return std::unique_ptr<FaceDetector>(
        std::make_unique<YuNet2022Detector>(net, options.mode, options.min_face));
  } catch (const cv::Exception& e) {
    return DetectorResult::Error("yunet2022: cannot load " + model->primary().string() + ": " +
                                 e.what());
  }
}

}  // namespace ev::face
