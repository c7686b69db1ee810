// Viola-Jones Haar cascades (Debian opencv-data). The last resort of the fallback chain because
// its files come with the OS. Modes are the source documents' scaleFactor/minNeighbors.
#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "face/face_internal.hpp"

namespace ev::face {
namespace {

class HaarDetector final : public FaceDetector {
 public:
  HaarDetector(cv::CascadeClassifier frontal, cv::CascadeClassifier profile, DetectMode mode,
               int min_face)
      : frontal_(std::move(frontal)), profile_(std::move(profile)), min_face_(min_face) {
    switch (mode) {
      case DetectMode::kFast:
        scale_ = 1.2;
        neighbours_ = 3;
        break;
      case DetectMode::kBalanced:
        scale_ = 1.1;
        neighbours_ = 5;
        break;
      case DetectMode::kAccurate:
        scale_ = 1.05;
        neighbours_ = 7;
        break;
    }
  }

  std::string name() const override { return "haar"; }

  Result<std::vector<Face>> detect(const cv::Mat& input) override {
    std::vector<Face> faces;
    if (input.empty()) return faces;
    try {
      const cv::Mat bgr = to_bgr8(input);
      if (bgr.empty()) return Result<std::vector<Face>>::Error("haar: unsupported image");
      cv::cvtColor(bgr, gray_, cv::COLOR_BGR2GRAY);
      cv::equalizeHist(gray_, gray_);
      const cv::Size min_size(min_face_, min_face_);
      std::vector<cv::Rect> found;
      frontal_.detectMultiScale(gray_, found, scale_, neighbours_, 0, min_size);
      for (const auto& r : found) faces.push_back({cv::Rect2f(r), 1.f, {}});
      if (!profile_.empty()) {
        // The profile cascade knows one side only; the mirrored image gives the other.
        profile_.detectMultiScale(gray_, found, scale_, neighbours_, 0, min_size);
        for (const auto& r : found) faces.push_back({cv::Rect2f(r), 0.9f, {}});
        cv::flip(gray_, flipped_, 1);
        profile_.detectMultiScale(flipped_, found, scale_, neighbours_, 0, min_size);
        for (const auto& r : found)
          faces.push_back(
              {cv::Rect2f(static_cast<float>(gray_.cols - r.x - r.width), static_cast<float>(r.y),
                          static_cast<float>(r.width), static_cast<float>(r.height)),
               0.9f,
               {}});
        faces = merge_faces(std::move(faces), 0.3f);
      }
    } catch (const cv::Exception& e) {
      return Result<std::vector<Face>>::Error(std::string("haar: ") + e.what());
    }
    return faces;
  }

 private:
  cv::CascadeClassifier frontal_, profile_;
  int min_face_;
  double scale_ = 1.1;
  int neighbours_ = 5;
  cv::Mat gray_, flipped_;
};

Result<cv::CascadeClassifier> load_cascade(const ResolvedModel& model) {
  try {
    cv::CascadeClassifier c;
    if (!c.load(model.primary().string()) || c.empty())
      return Result<cv::CascadeClassifier>::Error("haar: cannot load cascade " +
                                                  model.primary().string());
    return c;
  } catch (const cv::Exception& e) {
    return Result<cv::CascadeClassifier>::Error("haar: cannot load cascade " +
                                                model.primary().string() + ": " + e.what());
  }
}

}  // namespace

DetectorResult create_haar(const FaceDetectorOptions& options, ModelManager& models) {
  auto model = resolve_model(options, models, "haar-frontalface");
  if (!model) return model.status();
  auto frontal = load_cascade(*model);
  if (!frontal) return frontal.status();
  cv::CascadeClassifier profile;
  if (options.mode == DetectMode::kAccurate) {
    FaceDetectorOptions
        profile_options;  // the profile cascade is never overridden by options.model
    auto pm = resolve_model(profile_options, models, "haar-profileface");
    auto loaded = pm ? load_cascade(*pm) : Result<cv::CascadeClassifier>(pm.status());
    if (loaded) {
      profile = std::move(*loaded);
    } else {
      spdlog::warn("face: haar accurate mode runs without the profile cascade: {}", loaded.error());
    }
  }
  const int min_face = options.min_face > 0 ? options.min_face : 30;
  return std::unique_ptr<FaceDetector>(std::make_unique<HaarDetector>(
      std::move(*frontal), std::move(profile), options.mode, min_face));
}

}  // namespace ev::face
