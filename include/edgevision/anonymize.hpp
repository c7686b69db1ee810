// Face anonymization: masks (blur, pixelate, black box, emoji) over tracked faces.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/detect.hpp"
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
  // Faces shorter than this (px) get the padding scaled by small_face / height (at most 3x): the
  // box of an 8-15 px face is off by a few pixels, a large share of such a face. Off at every
  // level: 32 covered 2 more faces on faces_wider but masked 2.5% outside the faces of ordinary
  // group photos at 1/3 size (bench/README.md, "Crowds"). 0 = off.
  float small_face = 0.f;
  // Video: the face detector's upscaled small-face runs (FaceDetectorOptions::upscale, ~a third
  // of the face pass on 720p traffic) on every n-th frame and on the first after a reset (so a
  // still photo always gets them); the face tracker holds the masks of the faces they found in
  // between, as it holds any missed face for hold_frames. 1 = every frame.
  int small_face_interval = 1;
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

// One frame's masks, decided but not drawn yet (Anonymizer::set_deferred_masks).
struct MaskPlan {
  std::vector<cv::Rect2f> boxes;
  AnonymizeMethod method = AnonymizeMethod::kBlur;
  PrivacyParams params;
};
// Draws a plan: the pixels process() would have drawn on the same frame.
inline std::vector<cv::Rect> apply_masks(cv::Mat& frame, const MaskPlan& plan) {
  return apply_masks(frame, plan.boxes, plan.method, plan.params);
}

// Head fallback: a face detector misses the backs of heads, masked, occluded, blurred and
// turned-away faces, but the object detector still finds the person. Every person whose head
// region holds no detected face gets that region masked (docs/face-detectors.md).
struct HeadFallbackOptions {
  // Unset: on at privacy level medium and above, off at low.
  std::optional<bool> enabled;
  // false: no person detector of its own; persons come from set_persons() (a pipeline whose
  // object detector already finds them).
  bool own_detector = true;
  DetectorParams detector;  // the person detector (model, threads); classes are set to person
  float person_score = 0.35f;
  // The masked part of the head region (centred): the region errs large so that a face beside
  // it still counts; masking all of it cost 1 point of collateral on faces_wider for no face
  // covered, 0.65 still covered all but one there but only 68% of a hidden head and hat in a
  // real photo (tests/anonymize/test_head_fallback.cpp); bench/README.md, "Context-confirmed
  // faces".
  float mask_scale = 0.75f;
  // Video: the anonymizer's own person detector runs on every interval-th frame; the face
  // tracker holds the head masks in between (hold_frames must exceed it).
  int interval = 3;
  // Crowds: heads of small people are what the person pass misses (the detector sees a
  // 1024x768 photo at 416x416). Where the first pass found at least crowd_min persons,
  // the person detector runs again on crowd_tiles x crowd_tiles overlapping tiles (each seen
  // about crowd_tiles times larger) and the persons it adds feed the head fallback and the
  // context faces. Only on frames at least 1.5x the network input. 0 = off.
  int crowd_tiles = 2;
  int crowd_min = 4;
  // Face search in persons: a person whose head region holds no face gets one more face pass
  // on the upper part of its box (person_search_top of its height), where the face may sit off
  // the box's top centre (headdresses, leaning, a wide box around props). Its best face scoring
  // >= search_score is masked. Where that face is one the frame pass found too (the person's
  // face sits off the region's centre), the head region is not masked: a second mask beside a
  // masked face was the largest collateral of the head fallback on faces_wider. A new face is
  // masked with the head region (search_keeps_head): alone, a weak face found in a kissing
  // couple's box took the place of the region that covered both faces. Only with the
  // anonymizer's own face detector (create()), once per person pass, at most max_searches
  // persons per frame (the largest first). search_score 0 = off.
  float search_score = 0.2f;
  // 0.8, not the upper half: with the larger person pass 0.6-1.0 each covered 1-2 more faces
  // on faces_wider at the same collateral (a mourner, a protester whose faces sit below the
  // box's upper half; raised arms and bowed heads are the likely reason, not checked photo by
  // photo; bench/README.md, "Hard faces: a larger person pass").
  float search_top = 0.8f;
  int max_searches = 8;
  bool search_keeps_head = true;
  // Also search persons handed over by set_persons() (camera pipelines, `run`, `detect -o`).
  // Off: the extra masks changed the anonymized frames the pipeline's foreground fall evidence
  // sees (SceneVideo's slide down a wall was no longer a fall), and video was not measured.
  bool search_external = false;
  // Second person pass at large_input x large_input (a multiple of 32; 0 = off): yolox-nano
  // sees a 1024-px photo at 0.4x; this pass sees it larger. Persons it adds (IoU <= 0.5 with
  // every person of the first pass) feed the head fallback, the context faces and the search.
  // Only with the anonymizer's own person detector, and only where the frame is at least
  // 1.5x the first pass's input. Off here (video, cameras); still photos (`anonymize` on
  // images, `coverage`, POST /detect) set kPhotoPersonInput.
  int large_input = 0;
};

// HeadFallbackOptions::large_input for still photos: +2 faces on faces_wider, none lost,
// collateral 1.93 -> 2.07%, the ordinary photos unchanged (bench/README.md, "Hard faces: a
// larger person pass"); 640 found one of the two.
inline constexpr int kPhotoPersonInput = 832;

// The part of a person box where the head is: a square at the top, sized from the box width
// (shoulders) and capped by the height (a full-length person), widened for turned heads.
cv::Rect2f head_region(const cv::Rect2f& person);
// Head regions of the persons (score >= min_score) in which no detected face has its centre.
std::vector<cv::Rect2f> heads_without_faces(const std::vector<Detection>& persons,
                                            const std::vector<Face>& faces, float min_score);

// Faces the detector scores in [detector.context_score, its threshold) are masked only where
// context confirms a face (docs/face-detectors.md, "Context-confirmed faces").
struct FaceContextOptions {
  // Beside a face that passed the threshold, of 0.5-2x its height, within this many of its
  // heights either way: in crowds and groups the next face is there (3 covered 0.15 points more
  // on faces_wider, and masked more beside the faces of ordinary group photos). 0 = off.
  float near_faces = 2.f;
  // Inside a detected person's head region grown by this factor (the head fallback's persons;
  // neighbours' heads stand beside it). 0 = off.
  float head_scale = 2.f;
  // Crowds: in a frame where at least crowd_faces faces passed the threshold, the next face is
  // almost surely beside them, so weak faces down to crowd_score are confirmed there (by the
  // same two tests), and the face detector also runs on the mirrored frame (crowd_flip; its
  // faces must pass the threshold). Frames with fewer faces (ordinary group photos, where 0.1
  // put masks on hands and collars) keep the context score. The mirrored pass only for an
  // anonymizer built by create() (its own detector). 0 = off.
  int crowd_faces = 12;
  // The faces that make a crowd must score this much: counted at the face threshold (0.3), a
  // 6-face dinner photo at 1/3 size made a "crowd" (12+ faces with patterns on cloth and
  // tableware) and got 2.5% masked outside its faces; with 8 faces at 0.5 it still did.
  float crowd_face_score = 0.5f;
  float crowd_score = 0.1f;
  bool crowd_flip = true;
  // Collateral trims. Faces narrower than tiny_face_px must score tiny_face_score: patterns
  // of 5-7 px on tableware and cloth score 0.3-0.5, and a face that small identifies nobody.
  // 0 = off.
  float tiny_face_px = 8.f;
  float tiny_face_score = 0.5f;
  // Close-ups: a face at least stacked_min of the frame's height lying >= stacked_overlap
  // inside a better-scoring face of that size is a second detection of the same head (chin,
  // neck, hair), not a face: two faces that large do not hide a third of each other. 0 = off.
  float stacked_overlap = 0.3f;
  float stacked_min = 0.2f;
  // In crowds, faces shorter than this (px) get larger masks (PrivacyParams::small_face): a
  // tiny face's box is off by a few pixels, and what the larger mask covers there is mostly the
  // next person. Everywhere, it masked 2.4% outside the faces of ordinary photos at 1/3 size.
  // 0 = off.
  float crowd_small_face = 32.f;
};

struct AnonymizerOptions {
  FaceDetectorOptions detector;
  AnonymizeMethod method = AnonymizeMethod::kBlur;
  PrivacyLevel level = PrivacyLevel::kMedium;
  HeadFallbackOptions head_fallback;
  FaceContextOptions context;
  // Overrides the level's PrivacyParams::small_face when >= 0 (0 = off).
  float small_face = -1.f;
  // Still photos (`anonymize` on images, `coverage`, POST /detect): at level medium YuNet also
  // runs on the mirrored image, as it does above medium everywhere. +5 faces on faces_wider,
  // collateral 2.07 -> 2.30%, the ordinary photos 0.81 -> 0.89% at 1/3 size (bench/README.md,
  // "Hard faces: the mirrored pass on still photos"). Off for video and cameras, where it would
  // double the face pass and the face tracker holds masks across frames.
  bool photo_flip = false;
  // Overrides the level's PrivacyParams::small_face_interval when > 0.
  int small_face_interval = 0;
};

// What still photos get by default (POST /detect, `detect -o` on images): the larger person
// pass (kPhotoPersonInput) and the mirrored face pass, as `anonymize` gives images.
inline void use_still_photo_passes(AnonymizerOptions& options) {
  options.head_fallback.large_input = kPhotoPersonInput;
  options.photo_flip = true;
}

struct FrameResult {
  bool emitted = false;  // false: detection failed, the frame must not leave (fail closed)
  int faces_detected = 0;
  int masks_applied = 0;
  int heads_masked = 0;         // head-fallback regions added this frame
  int person_searches = 0;      // face passes on person crops (HeadFallbackOptions::search_score)
  int person_faces = 0;         // faces those passes found and masked in place of a head region
  bool crowd = false;           // the crowd levers of FaceContextOptions ran on this frame
  bool person_tiles = false;    // the crowd person tiles ran (HeadFallbackOptions::crowd_tiles)
  std::vector<cv::Rect> masks;  // pixel areas that were masked
  // With deferred masks: what the caller must draw before the frame goes anywhere (masks and
  // masks_applied stay empty until then).
  std::optional<MaskPlan> deferred;
  std::string error;
  double detect_ms = 0;  // face detection
  double mask_ms = 0;    // face tracking + masking
};

// Per-stream anonymizer: detector + tracker + masking. Fails closed: when detection fails the
// frame is blacked out and `emitted` is false.
class Anonymizer {
 public:
  // Wraps the frame pass's face detector (e.g. in a MotionGatedFaceDetector, which keeps state
  // between frames). The wrapper must keep the detector it is given alive; the mirrored-frame
  // and person-search passes, which see other images than the frame, use it unwrapped.
  using FrameDetectorWrapper =
      std::function<std::unique_ptr<FaceDetector>(std::unique_ptr<FaceDetector>)>;
  static Result<std::unique_ptr<Anonymizer>> create(
      const AnonymizerOptions& options, ModelManager& models,
      const FrameDetectorWrapper& wrap_frame_pass = {});
  // With a detector built elsewhere (tests, services that share one detector per camera).
  static std::unique_ptr<Anonymizer> create_with_detector(const AnonymizerOptions& options,
                                                          std::unique_ptr<FaceDetector> detector);
  FrameResult process(cv::Mat& frame);
  // Frames in flight: the frame pass is the costly part of process() and keeps no state between
  // frames, so a caller may run it on several frames at once with detectors from
  // make_frame_detector() (one per thread) and hand each result here, in frame order. `faces`
  // is what such a detector returned for this frame (an error fails the frame closed, as in
  // process()); `detect_ms` is reported as FrameResult::detect_ms.
  FrameResult process(cv::Mat& frame, Result<std::vector<Face>> faces, double detect_ms);
  // Another instance of the frame pass's detector, built with the same (level-adjusted)
  // options; `threads` > 0 sets its inference threads (frames in flight share the cores). An error
  // when the frame pass keeps state between frames (a create() wrapper such as motion gating,
  // small_face_interval > 1), came from create_with_detector() or is a fallback detector (whose one
  // warning line was said already).
  Result<std::unique_ptr<FaceDetector>> make_frame_detector(ModelManager& models,
                                                            int threads = 0) const;
  // Detections made elsewhere (a pipeline's object detector on the same or a recent frame); its
  // persons feed the head fallback of the next process() calls in place of the anonymizer's
  // own person detector.
  void set_persons(const std::vector<Detection>& detections);
  // On: process() leaves the frame unmasked and returns its masks as FrameResult::deferred, for
  // a caller that must run something on the frame as it was (a pipeline's object detector)
  // before it draws them with apply_masks(frame, plan). A failed frame is still blacked out.
  void set_deferred_masks(bool on) { defer_masks_ = on; }
  // Call between unrelated images (folders) so masks do not carry over.
  void reset_tracking() {
    tracker_.reset();
    frames_ = 0;
    if (!persons_external_) persons_.clear();
    person_faces_.clear();
    person_face_known_.clear();
  }
  std::string detector_name() const { return detector_->name(); }
  const std::string& fallback_note() const { return fallback_note_; }
  // Why the head fallback is off although it was asked for (its model is unavailable); empty
  // when it runs or was not asked for.
  const std::string& head_fallback_note() const { return head_fallback_note_; }
  // As given, with head_fallback.enabled resolved from the level when it was unset.
  const AnonymizerOptions& options() const { return options_; }

 private:
  Anonymizer(AnonymizerOptions options, std::unique_ptr<FaceDetector> detector,
             std::string fallback_note);
  AnonymizerOptions options_;
  PrivacyParams params_;
  std::unique_ptr<FaceDetector> detector_;
  FaceDetector* plain_detector_ = nullptr;  // detector_, or what create()'s wrapper wrapped
  // What create() built detector_ from, for make_frame_detector(); unset when the frame pass
  // cannot be duplicated (see there).
  std::optional<FaceDetectorOptions> frame_options_;
  // The part of process() after the frame pass.
  FrameResult finish(cv::Mat& frame, Result<std::vector<Face>> faces, FrameResult result);
  // Faces of the mirrored frame that the first pass did not find (FaceContextOptions::crowd_flip).
  Status add_mirrored_faces(const cv::Mat& frame, std::vector<Face>& faces);
  // The person pass of the head fallback, plus the crowd tiles where the frame needs them.
  Status detect_persons(const cv::Mat& frame);
  // HeadFallbackOptions::search_score: fills person_faces_ for the current persons_.
  Status search_person_faces(const cv::Mat& frame, const std::vector<Face>& faces,
                             FrameResult& result);
  FaceTracker tracker_;
  std::string fallback_note_;
  std::unique_ptr<ObjectDetector> person_detector_;
  std::unique_ptr<ObjectDetector> person_detector_large_;  // HeadFallbackOptions::large_input
  std::string head_fallback_note_;
  std::vector<Detection> persons_;  // latest person boxes for the head fallback
  // Per person of persons_: the face the person search found (empty: none or not searched).
  std::vector<cv::Rect2f> person_faces_;
  std::vector<bool> person_face_known_;  // that face is one the frame pass found too
  bool persons_fresh_ = false;           // persons_ changed since the last search
  bool person_search_ = false;           // the face detector is this anonymizer's own (create())
  // Faces scoring below this came from FaceDetectorOptions::context_score and are kept only
  // where options_.context confirms them; 0 = every detected face is kept.
  float context_below_ = 0.f;
  // The context score: outside crowds candidates scoring below it are dropped (the detector
  // reports down to the lower crowd score); 0 = keep every candidate.
  float context_floor_ = 0.f;
  // Crowd levers (FaceContextOptions) apply: the detector is this anonymizer's own.
  bool crowd_ = false;
  bool crowd_flip_ = false;
  bool defer_masks_ = false;
  bool person_tiles_ran_ = false;  // by the last detect_persons()
  bool persons_external_ = false;
  int64_t frames_ = 0;
  // Anonymizers created together (cameras) take turns for their small-face runs.
  int small_face_phase_ = 0;
};

}  // namespace ev
