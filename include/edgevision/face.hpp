// Face detectors behind one interface, registered in src/face/registry.cpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/models.hpp"
#include "edgevision/status.hpp"

namespace ev {

struct Face {
  cv::Rect2f box;  // frame pixels
  float score = 1.f;
  std::vector<cv::Point2f> landmarks;  // may be empty
};

// fast / balanced / accurate. For Haar these are the source documents' scale factor and
// neighbour settings (1.2/3, 1.1/5, 1.05/7); for DNN detectors they set how far small
// frames are upscaled and whether large frames are tiled.
enum class DetectMode { kFast, kBalanced, kAccurate };
Result<DetectMode> parse_detect_mode(const std::string& text);
const char* to_string(DetectMode mode);

struct FaceDetectorOptions {
  std::string detector = "yunet";  // yunet | yunet2022 | ssd | blazeface | blazeface128 | haar
  DetectMode mode = DetectMode::kBalanced;
  float score_threshold = 0.f;  // 0 = detector default
  int min_face = 0;             // pixels; 0 = detector default (Haar: 30)
  int threads = 0;
  std::string model;  // manifest name or path overriding the detector's default model
  // Recall levers for hard faces (docs/face-detectors.md, "Hard faces"); each costs time.
  bool flip = false;  // also run on the mirrored frame and merge (test-time augmentation)
  // Extra detectors run on the same frame, merged with the main one by NMS (an ensemble).
  std::vector<std::string> ensemble;
  // > 1: a second, tiled pass at this scale of the frame for faces too small for the first
  // pass; run only on tiles where the first pass found a small face (crowds, CCTV distance)
  // unless upscale_everywhere. 0 = off. Tiled DNN detectors only.
  float upscale = 0.f;
  bool upscale_everywhere = false;
  // Networks that take any input size run once on the whole frame; this adds a second run at
  // the scale that fits the frame into 640x640 (multi-scale test-time augmentation).
  bool multi_scale = false;
  // A low score_threshold finds blurred, occluded and tiny faces, but its false positives are
  // what masks scenery; large ones cost the most picture and large real faces score high. So
  // faces at least large_face_px (frame pixels) need large_face_score. 0 = off.
  float large_face_score = 0.f;
  int large_face_px = 48;
  // > 0 and below score_threshold: faces scoring in [context_score, score_threshold) are
  // returned too, for the caller to keep only where context confirms a face (the anonymizer:
  // inside the head region of a detected person). They do not ask for upscaled runs. 0 = off.
  float context_score = 0.f;
};
// The options ask for context candidates (a context_score set below score_threshold).
inline bool reports_context_faces(const FaceDetectorOptions& o) {
  return o.context_score > 0.f && o.context_score < o.score_threshold;
}

class FaceDetector {
 public:
  virtual ~FaceDetector() = default;
  virtual std::string name() const = 0;
  // Errors mean "could not run" (the caller must fail closed), not "no faces".
  virtual Result<std::vector<Face>> detect(const cv::Mat& bgr) = 0;
  // Video: whether the following detect() calls make the upscaled small-face runs
  // (FaceDetectorOptions::upscale); the caller's face tracker holds what they found while they
  // are off (AnonymizerOptions::small_face_interval). Detectors without such runs ignore it.
  virtual void set_small_face_runs(bool /*on*/) {}
};

// detector.detect(bgr) with an exception turned into an error (so the caller fails closed).
Result<std::vector<Face>> detect_faces(FaceDetector& detector, const cv::Mat& bgr);

// Creates the requested detector. If its model cannot be had it logs why and falls back to
// the best available detector (finally the Haar cascade); `fallback_note` says what happened.
Result<std::unique_ptr<FaceDetector>> create_face_detector(const FaceDetectorOptions& options,
                                                           ModelManager& models,
                                                           std::string* fallback_note = nullptr);
std::vector<std::string> face_detector_names();

}  // namespace ev
