// Per-camera foreground (moving or changed pixels) from OpenCV's MOG2 background subtractor at
// a low working resolution. The scene analyzer uses it as posture evidence for a person the
// detector has lost: someone lying on the floor is often not detected at all, but still differs
// from the learnt background where they lie (src/activity, docs/scene_analytics.md).
#pragma once

#include <algorithm>
#include <optional>

#include <opencv2/core.hpp>
#include <opencv2/video/background_segm.hpp>

namespace ev {

struct ForegroundParams {
  int work_width = 320;       // frames are scaled to this width (never up)
  int history = 500;          // MOG2 history (frames)
  double var_threshold = 16;  // MOG2 squared Mahalanobis distance for foreground
  // Gaussians per pixel (OpenCV's default): each costs 20 bytes per working pixel, so the model
  // is 5.8 MB per camera at 320x180 (7.7 MB at 320x240). With 3 (3.5 MB), falls/video_3 no
  // longer fired (bench/README.md).
  int mixtures = 5;
  int warmup_frames = 25;  // no evidence before the model has seen this many frames
  // More than this fraction of the frame in the foreground: the camera moved or the light
  // changed, so the mask says nothing about a single person (no evidence for this frame).
  double max_fraction = 0.35;
  // update_while(): frames the model keeps learning after the last person left before it is
  // released (its memory freed); the next person starts a new one (warm-up again).
  int idle_frames = 750;
};

// A frame at the model's working resolution and the size of the full frame it came from:
// ForegroundModel::prepare() on one thread (the camera's detect stage, from the frame before
// anonymization), update() on another, so the copy that waits in the queue between is small.
struct ForegroundFrame {
  cv::Mat small;
  cv::Size full;
};

// Whether a foreground model is wanted on an analysed frame: from the first frame, while a
// person is in view and for idle_frames frames after the last one; then it can be released
// until the next person. Kept by the model itself (update_while) and by a camera's detect
// stage, which decides from its own person boxes.
class ForegroundDemand {
 public:
  explicit ForegroundDemand(int idle_frames = ForegroundParams{}.idle_frames)
      : idle_frames_(idle_frames) {}
  bool wanted(bool person_present) {
    idle_ = person_present ? 0 : std::min(idle_ + 1, idle_frames_ + 1);  // no overflow
    return idle_ <= idle_frames_;
  }

 private:
  int idle_frames_;
  int idle_ = 0;  // analysed frames without a person, capped at idle_frames_ + 1
};

struct ForegroundBlob {
  cv::Rect2f box;   // bounding box, full-frame pixels
  double area = 0;  // foreground pixels inside it, full-frame pixels
};

class ForegroundModel {
 public:
  explicit ForegroundModel(ForegroundParams params = {});
  // `bgr` scaled to the working resolution; reads only the params (safe from any thread).
  static ForegroundFrame prepare(const cv::Mat& bgr, const ForegroundParams& params);
  ForegroundFrame prepare(const cv::Mat& bgr) const { return prepare(bgr, p_); }
  // One call per analysed frame (BGR, any size; the size must stay the same).
  void update(const cv::Mat& bgr) { update(prepare(bgr)); }
  void update(const ForegroundFrame& frame);
  // update() while `person_present`, and for idle_frames after (and from the first frame); then
  // the model is released until a person appears again. The evidence is only read for a person
  // track, so a camera where nobody is in view pays neither the memory (5.8 MB at 320x180) nor
  // the time. The background is learnt before someone arrives: a model started with a person
  // in view learns part of them (falls/video_3 did not fire when it started with her track).
  // Returns whether the model is active (updated) this frame.
  bool update_while(const cv::Mat& bgr, bool person_present);
  bool active() const { return static_cast<bool>(mog_); }
  // Frees the model (and its memory) now; the next update() starts a new one.
  void release();
  const ForegroundParams& params() const { return p_; }
  // Warmed up, and this frame did not change as a whole.
  bool usable() const;
  double fraction() const { return fraction_; }
  int frames() const { return frames_; }
  // Bounding box (full-frame pixels) of the foreground components inside `region` that
  // overlap `anchor`; components smaller than min_area_frac of the anchor's area are noise.
  // Empty when the model is not usable or nothing qualifies.
  std::optional<ForegroundBlob> blob(const cv::Rect2f& region, const cv::Rect2f& anchor,
                                     double min_area_frac = 0.03) const;
  // The current mask at working resolution (255 = foreground; for tests and debugging).
  const cv::Mat& mask() const { return mask_; }

 private:
  ForegroundParams p_;
  cv::Ptr<cv::BackgroundSubtractorMOG2> mog_;
  cv::Mat mask_;
  double scale_ = 1.0;  // working / full-frame
  cv::Size frame_;
  double fraction_ = 0;
  int frames_ = 0;
  ForegroundDemand demand_;
};

}  // namespace ev
