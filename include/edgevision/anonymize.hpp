// Face anonymization: masks (blur, pixelate, black box, emoji) over tracked faces.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/face.hpp"
#include "edgevision/status.hpp"

namespace ev {

enum class AnonymizeMethod { kBlur, kPixelate, kBlackBox, kEmoji };
Result<AnonymizeMethod> parse_anonymize_method(const std::string& text);
const char* to_string(AnonymizeMethod method);

// Privacy level: how much margin a mask gets and how long it stays after a face is lost.
enum class PrivacyLevel { kLow, kMedium, kHigh, kMaximum };
Result<PrivacyLevel> parse_privacy_level(const std::string& text);
const char* to_string(PrivacyLevel level);

struct PrivacyParams {
  float padding = 0.25f;  // fraction of the face size added on every side
  int hold_frames = 10;   // frames a mask is kept (moving with the track) after the face is lost
  float blur_strength = 1.f;
};
PrivacyParams privacy_params(PrivacyLevel level);

// Keeps masks on faces between detections: IoU association, constant-velocity prediction,
// hold for `hold_frames` after the last detection. Bounded: at most max_tracks tracks.
class FaceTracker {
 public:
  struct Track {
    int id = 0;
    cv::Rect2f box;
    cv::Point2f velocity;  // px per frame
    int missed = 0;        // frames since last detection
    int hits = 0;
  };
  explicit FaceTracker(int hold_frames = 10, size_t max_tracks = 256);
  // Advances one frame with this frame's detections; returns the boxes to mask.
  std::vector<cv::Rect2f> update(const std::vector<Face>& detections);
  const std::vector<Track>& tracks() const { return tracks_; }
  void reset() { tracks_.clear(); }

 private:
  int hold_frames_;
  size_t max_tracks_;
  int next_id_ = 1;
  std::vector<Track> tracks_;
};

// Expands each box by the padding, clips it to the frame and applies `method` in place.
// Returns the pixel rectangles that were masked.
std::vector<cv::Rect> apply_masks(cv::Mat& frame, const std::vector<cv::Rect2f>& boxes,
                                  AnonymizeMethod method, const PrivacyParams& params);

struct AnonymizerOptions {
  FaceDetectorOptions detector;
  AnonymizeMethod method = AnonymizeMethod::kBlur;
  PrivacyLevel level = PrivacyLevel::kMedium;
};

struct FrameResult {
  bool emitted = false;  // false: detection failed, the frame must not leave (fail closed)
  int faces_detected = 0;
  int masks_applied = 0;
  std::vector<cv::Rect> masks;  // pixel areas that were masked
  std::string error;
  double detect_ms = 0;  // face detection
  double mask_ms = 0;    // face tracking + masking
};

// Per-stream anonymizer: detector + tracker + masking. Fails closed: when detection fails the
// frame is blacked out and `emitted` is false.
class Anonymizer {
 public:
  static Result<std::unique_ptr<Anonymizer>> create(const AnonymizerOptions& options,
                                                    ModelManager& models);
  // With a detector built elsewhere (tests, services that share one detector per camera).
  static std::unique_ptr<Anonymizer> create_with_detector(const AnonymizerOptions& options,
                                                          std::unique_ptr<FaceDetector> detector);
  FrameResult process(cv::Mat& frame);
  // Call between unrelated images (folders) so masks do not carry over.
  void reset_tracking() { tracker_.reset(); }
  std::string detector_name() const { return detector_->name(); }
  const std::string& fallback_note() const { return fallback_note_; }
  const AnonymizerOptions& options() const { return options_; }

 private:
  Anonymizer(AnonymizerOptions options, std::unique_ptr<FaceDetector> detector,
             std::string fallback_note);
  AnonymizerOptions options_;
  PrivacyParams params_;
  std::unique_ptr<FaceDetector> detector_;
  FaceTracker tracker_;
  std::string fallback_note_;
};

}  // namespace ev
