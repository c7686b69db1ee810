// Constant-velocity Kalman filter on (cx, cy, a, h) -- centre, aspect ratio w/h, height --
// with their velocities: the SORT/DeepSORT/ByteTrack motion model. Aspect ratio instead of
// width because it barely changes for a walking person, so its noise can be tiny while
// height (which changes with distance to the camera) keeps a height-proportional noise.
#pragma once

#include <opencv2/core.hpp>

namespace ev::track_detail {

struct KalmanState {
  cv::Matx<double, 8, 1> mean;
  cv::Matx<double, 8, 8> cov;
};

class KalmanBoxFilter {
 public:
  KalmanState initiate(const cv::Rect2f& box) const;
  void predict(KalmanState& s) const;
  void update(KalmanState& s, const cv::Rect2f& box) const;

  static cv::Matx<double, 4, 1> to_xyah(const cv::Rect2f& box);
  static cv::Rect2f to_rect(const KalmanState& s);

 private:
  // Noise as a fraction of the box height (ByteTrack's values): position 1/20 per frame,
  // velocity 1/160 per frame.
  double std_weight_position_ = 1.0 / 20.0;
  double std_weight_velocity_ = 1.0 / 160.0;
};

}  // namespace ev::track_detail
