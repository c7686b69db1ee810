// Temporal hold for face masks. Detectors miss faces for a frame or two (blur, turning heads);
// the top complaint about existing anonymizers is that the mask flickers off exactly then.
// Each face becomes a track that keeps its mask for hold_frames after its last detection,
// moving with a constant-velocity prediction and growing slightly while unconfirmed.
#include <algorithm>
#include <cmath>

#include "edgevision/anonymize.hpp"
#include "edgevision/preprocess.hpp"

namespace ev {
namespace {

cv::Point2f centre(const cv::Rect2f& r) {
  return {r.x + r.width / 2, r.y + r.height / 2};
}

// Association score: IoU, or for small fast faces that no longer overlap, closeness of centres
// relative to the face size.
float match_score(const cv::Rect2f& track, const cv::Rect2f& det) {
  const float overlap = iou(track, det);
  if (overlap > 0.f) return overlap;
  const cv::Point2f d = centre(track) - centre(det);
  const float size = std::max({track.width, track.height, det.width, det.height});
  const float dist = std::sqrt(d.x * d.x + d.y * d.y) / std::max(size, 1.f);
  return dist < 1.f ? 0.1f * (1.f - dist) : 0.f;
}

}  // namespace

FaceTracker::FaceTracker(int hold_frames, size_t max_tracks)
    : hold_frames_(std::max(0, hold_frames)), max_tracks_(std::max<size_t>(1, max_tracks)) {}

std::vector<cv::Rect2f> FaceTracker::update(const std::vector<Face>& detections) {
  // Predict.
  for (auto& t : tracks_) {
    t.box.x += t.velocity.x;
    t.box.y += t.velocity.y;
  }
  // Greedy association, best pairs first (a frame has few faces, so O(n*m log) is fine).
  struct Pair {
    float score;
    size_t track, det;
  };
  std::vector<Pair> pairs;
  for (size_t i = 0; i < tracks_.size(); ++i)
    for (size_t j = 0; j < detections.size(); ++j) {
      const float s = match_score(tracks_[i].box, detections[j].box);
      if (s > 0.02f) pairs.push_back({s, i, j});
    }
  std::sort(pairs.begin(), pairs.end(),
            [](const Pair& a, const Pair& b) { return a.score > b.score; });
  std::vector<bool> track_used(tracks_.size(), false), det_used(detections.size(), false);
  for (const auto& p : pairs) {
    if (track_used[p.track] || det_used[p.det]) continue;
    track_used[p.track] = det_used[p.det] = true;
    Track& t = tracks_[p.track];
    const cv::Rect2f& d = detections[p.det].box;
    const cv::Point2f moved = centre(d) - (centre(t.box) - t.velocity);
    t.velocity = t.hits > 0 ? 0.5f * t.velocity + 0.5f * moved : cv::Point2f(0, 0);
    t.box = d;
    t.missed = 0;
    ++t.hits;
  }
  for (size_t i = 0; i < tracks_.size(); ++i) {
    if (track_used[i]) continue;
    Track& t = tracks_[i];
    ++t.missed;
    // The longer a face is unseen, the less we know where it is: grow the mask a little.
    const float grow = 0.05f;
    t.box.x -= t.box.width * grow / 2;
    t.box.y -= t.box.height * grow / 2;
    t.box.width *= 1 + grow;
    t.box.height *= 1 + grow;
    t.velocity *= 0.8f;
  }
  tracks_.erase(std::remove_if(tracks_.begin(), tracks_.end(),
                               [&](const Track& t) { return t.missed > hold_frames_; }),
                tracks_.end());
  for (size_t j = 0; j < detections.size(); ++j) {
    if (det_used[j]) continue;
    tracks_.push_back({next_id_++, detections[j].box, {0, 0}, 0, 1});
  }
  if (tracks_.size() > max_tracks_) {
    // Keep the most recently seen faces; every current detection is still masked below.
    std::stable_sort(tracks_.begin(), tracks_.end(),
                     [](const Track& a, const Track& b) { return a.missed < b.missed; });
    tracks_.resize(max_tracks_);
  }
  std::vector<cv::Rect2f> boxes;
  boxes.reserve(tracks_.size() + detections.size());
  for (const auto& t : tracks_) boxes.push_back(t.box);
  // A detection dropped by the cap must still be masked: privacy over bookkeeping.
  for (size_t j = 0; j < detections.size(); ++j)
    if (!det_used[j] && tracks_.size() == max_tracks_) boxes.push_back(detections[j].box);
  return boxes;
}

}  // namespace ev
