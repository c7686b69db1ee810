#include <spdlog/spdlog.h>
#include <chrono>

#include "edgevision/anonymize.hpp"

namespace ev {

Result<AnonymizeMethod> parse_anonymize_method(const std::string& text) {
  if (text == "blur") return AnonymizeMethod::kBlur;
  if (text == "pixelate") return AnonymizeMethod::kPixelate;
  if (text == "blackbox" || text == "black" || text == "box") return AnonymizeMethod::kBlackBox;
  if (text == "emoji") return AnonymizeMethod::kEmoji;
  return Result<AnonymizeMethod>::Error("unknown anonymization method '" + text +
                                        "' (expected blur, pixelate, blackbox, emoji)");
}

const char* to_string(AnonymizeMethod method) {
  switch (method) {
    case AnonymizeMethod::kBlur:
      return "blur";
    case AnonymizeMethod::kPixelate:
      return "pixelate";
    case AnonymizeMethod::kBlackBox:
      return "blackbox";
    case AnonymizeMethod::kEmoji:
      return "emoji";
  }
  return "unknown";
}

Result<PrivacyLevel> parse_privacy_level(const std::string& text) {
  if (text == "low") return PrivacyLevel::kLow;
  if (text == "medium") return PrivacyLevel::kMedium;
  if (text == "high") return PrivacyLevel::kHigh;
  if (text == "maximum" || text == "max") return PrivacyLevel::kMaximum;
  return Result<PrivacyLevel>::Error("unknown privacy level '" + text +
                                     "' (expected low, medium, high, maximum)");
}

const char* to_string(PrivacyLevel level) {
  switch (level) {
    case PrivacyLevel::kLow:
      return "low";
    case PrivacyLevel::kMedium:
      return "medium";
    case PrivacyLevel::kHigh:
      return "high";
    case PrivacyLevel::kMaximum:
      return "maximum";
  }
  return "unknown";
}

PrivacyParams privacy_params(PrivacyLevel level) {
  // Padding covers hair and ears, which identify people too; hold bridges detector misses
  // (frames at 25-30 fps: medium holds ~1/3 s).
  switch (level) {
    case PrivacyLevel::kLow:
      return {0.10f, 5, 0.8f};
    case PrivacyLevel::kMedium:
      return {0.20f, 10, 1.0f};
    case PrivacyLevel::kHigh:
      return {0.35f, 20, 1.5f};
    case PrivacyLevel::kMaximum:
      return {0.50f, 30, 2.0f};
  }
  return {};
}

Anonymizer::Anonymizer(AnonymizerOptions options, std::unique_ptr<FaceDetector> detector,
                       std::string fallback_note)
    : options_(std::move(options)),
      params_(privacy_params(options_.level)),
      detector_(std::move(detector)),
      tracker_(params_.hold_frames),
      fallback_note_(std::move(fallback_note)) {}

namespace {

// The privacy level also sets how hard the face detector looks (docs/face-detectors.md, "Hard
// faces"; measured on faces_wider in bench/README.md). Only for YuNet, whose scores these
// thresholds are calibrated on; a value the user set is kept.
FaceDetectorOptions level_detector_options(FaceDetectorOptions o, PrivacyLevel level) {
  if (o.detector != "yunet" || level == PrivacyLevel::kLow) return o;
  // 0.3 instead of 0.6 finds blurred, occluded and small faces; large faces must still score
  // 0.5, since a large false positive masks the most scenery.
  if (o.score_threshold <= 0.f) o.score_threshold = 0.3f;
  if (o.large_face_score <= 0.f) o.large_face_score = 0.5f;
  // Tiles with faces near the first pass's size limit are run again at 2x: crowds and
  // far-away groups, where the next face is smaller still.
  if (o.upscale <= 0.f) o.upscale = 2.f;
  if (level == PrivacyLevel::kHigh || level == PrivacyLevel::kMaximum) {
    o.flip = true;
    o.multi_scale = true;
  }
  return o;
}

}  // namespace

Result<std::unique_ptr<Anonymizer>> Anonymizer::create(const AnonymizerOptions& options,
                                                       ModelManager& models) {
  std::string note;
  auto detector =
      create_face_detector(level_detector_options(options.detector, options.level), models, &note);
  if (!detector) return Result<std::unique_ptr<Anonymizer>>(detector.status());
  return std::unique_ptr<Anonymizer>(new Anonymizer(options, std::move(*detector), note));
}

std::unique_ptr<Anonymizer> Anonymizer::create_with_detector(
    const AnonymizerOptions& options, std::unique_ptr<FaceDetector> detector) {
  return std::unique_ptr<Anonymizer>(new Anonymizer(options, std::move(detector), ""));
}

FrameResult Anonymizer::process(cv::Mat& frame) {
  FrameResult result;
  if (frame.empty()) {
    result.error = "empty frame";
    return result;
  }
  using Clock = std::chrono::steady_clock;
  const auto ms_since = [](Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
  };
  const auto t_detect = Clock::now();
  Result<std::vector<Face>> faces = Result<std::vector<Face>>::Error("detector did not run");
  try {
    faces = detector_->detect(frame);
  } catch (const std::exception& e) {
    faces = Result<std::vector<Face>>::Error(std::string("detector threw: ") + e.what());
  }
  result.detect_ms = ms_since(t_detect);
  const auto t_mask = Clock::now();
  if (!faces) {
    // Fail closed: nothing of this frame may leave un-anonymized.
    frame.setTo(cv::Scalar::all(0));
    tracker_.update({});
    result.error = faces.error();
    return result;
  }
  result.faces_detected = static_cast<int>(faces->size());
  const std::vector<cv::Rect2f> boxes = tracker_.update(*faces);
  result.masks = apply_masks(frame, boxes, options_.method, params_);
  result.masks_applied = static_cast<int>(result.masks.size());
  result.emitted = true;
  result.mask_ms = ms_since(t_mask);
  return result;
}

}  // namespace ev
