// ByteTrack-style tracker (Zhang et al., "ByteTrack: Multi-Object Tracking by Associating
// Every Detection Box", ECCV 2022), following the reference BYTETracker.update() step by
// step, with these deliberate differences:
//  - per-class association (a track never takes a detection of another class);
//  - ids are per Tracker instance, not a process-wide counter;
//  - removed tracks are erased at once (the reference keeps them in an ever-growing
//    removed_stracks list) and live tracks are capped at max_tracks, so memory is bounded
//    for a camera that runs for months;
//  - tentative tracks are predicted too, and confirmation needs min_hits consecutive hits
//    (the reference hard-codes 2).
#include <algorithm>
#include <cmath>
#include <limits>

#include <spdlog/spdlog.h>

#include "edgevision/track.hpp"
#include "track/kalman.hpp"

namespace ev {

using track_detail::KalmanBoxFilter;
using track_detail::KalmanState;

const char* to_string(TrackState state) {
  switch (state) {
    case TrackState::kTentative:
      return "tentative";
    case TrackState::kTracked:
      return "tracked";
    case TrackState::kLost:
      return "lost";
    case TrackState::kRemoved:
      return "removed";
  }
  return "?";
}

Status TrackerParams::validate() const {
  auto in01 = [](float v) { return std::isfinite(v) && v >= 0.f && v <= 1.f; };
  if (!in01(track_thresh) || !in01(low_thresh) || !in01(new_track_thresh))
    return Status::Error("tracker: track_thresh, low_thresh, new_track_thresh must be in [0,1]");
  if (low_thresh > track_thresh)
    return Status::Error("tracker: low_thresh must be <= track_thresh");
  auto cost_ok = [](float v) { return std::isfinite(v) && v > 0.f && v <= 1.f; };
  if (!cost_ok(match_thresh) || !cost_ok(low_match_thresh) || !cost_ok(unconfirmed_match_thresh))
    return Status::Error("tracker: match thresholds must be in (0,1]");
  if (max_lost < 0) return Status::Error("tracker: max_lost must be >= 0");
  if (low_revive_frames < 0) return Status::Error("tracker: low_revive_frames must be >= 0");
  if (!in01(weak_birth_thresh)) return Status::Error("tracker: weak_birth_thresh must be in [0,1]");
  if (weak_min_hits < 1) return Status::Error("tracker: weak_min_hits must be >= 1");
  if (min_hits < 1) return Status::Error("tracker: min_hits must be >= 1");
  if (max_tracks < 1) return Status::Error("tracker: max_tracks must be >= 1");
  if (!in01(duplicate_iou)) return Status::Error("tracker: duplicate_iou must be in [0,1]");
  if (!(lost_buffer >= 0.f && max_lost_buffer >= 0.f && max_lost_buffer <= 2.f))
    return Status::Error("tracker: lost_buffer/max_lost_buffer must be >= 0 (max <= 2)");
  return Status::Ok();
}

namespace {

struct TrackRec {
  int64_t id = 0;
  int class_id = -1;
  std::string label;
  KalmanState kf;
  float score = 0.f;
  TrackState state = TrackState::kTentative;
  int64_t start_frame = 0;
  int64_t last_frame = 0;  // frame of the last matched detection
  int hits = 0;
  bool weak = false;  // weak birth, no box >= new_track_thresh yet: confirmed after weak_min_hits
};

bool valid_detection(const Detection& d) {
  return std::isfinite(d.box.x) && std::isfinite(d.box.y) && std::isfinite(d.box.width) &&
         std::isfinite(d.box.height) && d.box.width > 0.f && d.box.height > 0.f &&
         std::isfinite(d.score);
}

cv::Rect2f widen(const cv::Rect2f& r, float b) {
  return {r.x - b * r.width, r.y - b * r.height, r.width * (1 + 2 * b), r.height * (1 + 2 * b)};
}

}  // namespace

struct Tracker::Impl {
  TrackerParams p;
  KalmanBoxFilter kf;
  std::vector<TrackRec> tracks;  // every live track; removed ones are erased each frame
  int64_t frame = 0;
  int64_t next_id = 1;
  int64_t births_dropped = 0;

  explicit Impl(const TrackerParams& params) : p(params) {
    // Reserved once so the only persistent container never reallocates or grows.
    tracks.reserve(static_cast<size_t>(p.max_tracks));
  }

  cv::Rect2f box_of(const TrackRec& t) const { return KalmanBoxFilter::to_rect(t.kf); }

  // Cost rows = tracks, cols = detections; infinity forbids a pair.
  std::vector<double> costs(const std::vector<int>& tis, const std::vector<int>& dis,
                            const std::vector<Detection>& dets, bool fuse) const {
    std::vector<double> c(tis.size() * dis.size());
    for (size_t i = 0; i < tis.size(); ++i) {
      const TrackRec& t = tracks[tis[i]];
      cv::Rect2f tb = box_of(t);
      // Buffered IoU for lost tracks (after C-BIoU, Yang et al. WACV 2023): a track coasting
      // on a stale velocity (a pedestrian who stopped or turned while unseen) drifts off its
      // object, so its box and the candidate are both widened by a margin that grows with
      // the frames it has been missing.
      const int64_t missing = frame - t.last_frame - 1;
      const float buffer = missing > 0 ? std::min(p.lost_buffer * missing, p.max_lost_buffer) : 0.f;
      for (size_t j = 0; j < dis.size(); ++j) {
        const Detection& d = dets[dis[j]];
        double& v = c[i * dis.size() + j];
        if (p.per_class && d.class_id != t.class_id) {
          v = std::numeric_limits<double>::infinity();
          continue;
        }
        double sim =
            buffer > 0.f ? box_iou(widen(tb, buffer), widen(d.box, buffer)) : box_iou(tb, d.box);
        if (fuse) sim *= d.score;
        v = 1.0 - sim;
      }
    }
    return c;
  }

  void apply(TrackRec& t, const Detection& d) {
    if (t.state == TrackState::kLost) {
      spdlog::trace("track {} re-found after {} frames", t.id, frame - t.last_frame);
      t.state = TrackState::kTracked;
    }
    kf.update(t.kf, d.box);
    t.score = d.score;
    if (d.score >= p.new_track_thresh) t.weak = false;  // as good as a normal birth now
    t.last_frame = frame;
    ++t.hits;
    if (t.state == TrackState::kTentative && t.hits >= (t.weak ? p.weak_min_hits : p.min_hits))
      confirm(t);
  }

  // Ids are handed out on confirmation, not at birth (the reference numbers tentative
  // tracks too), so the ids users see have no gaps from one-frame false positives.
  void confirm(TrackRec& t) {
    t.state = TrackState::kTracked;
    t.id = next_id++;
    spdlog::trace("track {} confirmed (class {})", t.id, t.class_id);
  }

  // Associates tracks `tis` with detections `dis`; matched pairs are applied, and the
  // leftovers replace tis / dis.
  void associate(std::vector<int>& tis, std::vector<int>& dis, const std::vector<Detection>& dets,
                 bool fuse, float limit) {
    if (tis.empty() || dis.empty()) return;
    const auto a = solve_assignment(costs(tis, dis, dets, fuse), static_cast<int>(tis.size()),
                                    static_cast<int>(dis.size()), limit);
    for (const auto& [r, c] : a.matches) apply(tracks[tis[r]], dets[dis[c]]);
    std::vector<int> t_left, d_left;
    t_left.reserve(a.unmatched_rows.size());
    d_left.reserve(a.unmatched_cols.size());
    for (int r : a.unmatched_rows) t_left.push_back(tis[r]);
    for (int c : a.unmatched_cols) d_left.push_back(dis[c]);
    tis.swap(t_left);
    dis.swap(d_left);
  }

  bool make_room() {
    if (tracks.size() < static_cast<size_t>(p.max_tracks)) return true;
    // Evict the lost track that has been missing longest; live tracked ones are never evicted.
    int victim = -1;
    for (size_t i = 0; i < tracks.size(); ++i) {
      if (tracks[i].state != TrackState::kLost) continue;
      if (victim < 0 || tracks[i].last_frame < tracks[victim].last_frame)
        victim = static_cast<int>(i);
    }
    if (victim < 0) return false;
    tracks.erase(tracks.begin() + victim);
    return true;
  }

  bool weak_candidate(const Detection& d) const {
    return p.weak_birth_thresh > 0.f && d.score >= p.weak_birth_thresh &&
           d.score < p.new_track_thresh && d.label == p.weak_birth_label;
  }

  // A weak box that lies mostly inside a live track (a lost one widened like in its
  // association) is that object seen weakly (a person behind a shelf, a partial box of someone
  // tracked): a new track there would only steal its id later.
  bool explained(const Detection& d) const {
    const float area = d.box.area();
    for (const auto& t : tracks) {
      if (t.class_id != d.class_id || t.state == TrackState::kRemoved) continue;
      const int64_t missing = frame - t.last_frame - 1;
      const float buffer = missing > 0 ? std::min(p.lost_buffer * missing, p.max_lost_buffer) : 0.f;
      if ((widen(box_of(t), buffer) & d.box).area() >= 0.5f * area) return true;
    }
    return false;
  }

  void birth(const Detection& d, bool weak = false) {
    // A weak box never evicts a lost track (which may be a real object coming back).
    if (weak && tracks.size() >= static_cast<size_t>(p.max_tracks)) return;
    if (!make_room()) {
      if (births_dropped++ % 1000 == 0)
        spdlog::warn("tracker: max_tracks={} reached, new tracks dropped ({} so far)", p.max_tracks,
                     births_dropped);
      return;
    }
    TrackRec t;
    t.class_id = d.class_id;
    t.label = d.label;
    t.kf = kf.initiate(d.box);
    t.score = d.score;
    t.start_frame = frame;
    t.last_frame = frame;
    t.hits = 1;
    t.state = TrackState::kTentative;
    t.weak = weak;
    if (!weak && (p.min_hits <= 1 || (frame == 1 && p.confirm_on_first_frame))) confirm(t);
    tracks.push_back(std::move(t));
  }

  std::vector<Track> update(const std::vector<Detection>& dets) {
    ++frame;
    // 1. Motion prediction. Lost tracks stop growing/shrinking (ByteTrack zeroes the height
    //    velocity) so a box coasting through an occlusion keeps a plausible size.
    for (auto& t : tracks) {
      if (t.state == TrackState::kLost) t.kf.mean(7) = 0.0;
      kf.predict(t.kf);
    }
    std::vector<int> high, low;
    for (size_t i = 0; i < dets.size(); ++i) {
      const Detection& d = dets[i];
      if (!valid_detection(d)) continue;
      if (d.score >= p.track_thresh)
        high.push_back(static_cast<int>(i));
      else if (d.score > p.low_thresh)
        low.push_back(static_cast<int>(i));
    }
    std::vector<int> pool, tentative, weak_pool;
    for (size_t i = 0; i < tracks.size(); ++i) {
      const TrackRec& t = tracks[i];
      if (t.state == TrackState::kTentative)
        tentative.push_back(static_cast<int>(i));
      else
        (t.weak ? weak_pool : pool).push_back(static_cast<int>(i));
    }

    // 2. First association: confirmed (tracked + lost) tracks with high-score detections.
    //    Tracks of weak births come after the others (a weak box next to someone must not
    //    take their detection) until a box >= new_track_thresh has matched them.
    associate(pool, high, dets, p.fuse_score, p.match_thresh);
    if (!weak_pool.empty()) {
      associate(weak_pool, high, dets, p.fuse_score, p.match_thresh);
      pool.insert(pool.end(), weak_pool.begin(), weak_pool.end());
    }

    // 3. Second association: tracks that were tracked until now with the low-score
    //    detections (occluded/blurred people score low but are still there). Lost tracks are
    //    left out (a low-score box is too weak evidence to revive a track), except those lost
    //    for at most low_revive_frames.
    std::vector<int> recent;
    for (int ti : pool) {
      const TrackRec& t = tracks[ti];
      if (t.state == TrackState::kTracked ||
          (t.state == TrackState::kLost && frame - t.last_frame - 1 <= p.low_revive_frames))
        recent.push_back(ti);
    }
    associate(recent, low, dets, false, p.low_match_thresh);
    for (int ti : recent) tracks[ti].state = TrackState::kLost;

    // 4. Tentative tracks with the high-score detections nobody took; a tentative track
    //    that misses a frame dies (birth hysteresis).
    associate(tentative, high, dets, p.fuse_score, p.unconfirmed_match_thresh);
    // Weak tentative tracks continue on the weak boxes nobody took (k consecutive frames).
    std::vector<int> weak_tracks, weak_dets;
    for (int ti : tentative) {
      if (tracks[ti].weak) weak_tracks.push_back(ti);
    }
    for (int di : low) {
      if (weak_candidate(dets[di])) weak_dets.push_back(di);
    }
    associate(weak_tracks, weak_dets, dets, false, p.unconfirmed_match_thresh);
    for (int ti : tentative) {
      if (tracks[ti].state == TrackState::kTentative && tracks[ti].last_frame != frame)
        tracks[ti].state = TrackState::kRemoved;
    }

    // 5. Expire lost tracks, drop duplicates, prune, then give birth (after pruning so the
    //    max_tracks cap sees the real count).
    for (auto& t : tracks) {
      if (t.state == TrackState::kLost && frame - t.last_frame > p.max_lost)
        t.state = TrackState::kRemoved;
    }
    remove_duplicates();
    std::erase_if(tracks, [](const TrackRec& t) { return t.state == TrackState::kRemoved; });
    for (int di : high) {
      if (dets[di].score >= p.new_track_thresh)
        birth(dets[di]);
      else if (weak_candidate(dets[di]) && !explained(dets[di]))
        birth(dets[di], true);
    }
    for (int di : weak_dets) {
      if (!explained(dets[di])) birth(dets[di], true);
    }

    std::vector<Track> out;
    for (const auto& t : tracks) {
      if (t.state == TrackState::kTracked && t.last_frame == frame) out.push_back(to_track(t));
    }
    std::sort(out.begin(), out.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
    return out;
  }

  // A lost track that sits on top of a tracked one is the same object seen twice; keep the
  // one with the longer history (the reference's remove_duplicate_stracks).
  void remove_duplicates() {
    for (auto& a : tracks) {
      if (a.state != TrackState::kTracked) continue;
      const cv::Rect2f ab = box_of(a);
      for (auto& b : tracks) {
        if (b.state != TrackState::kLost || b.class_id != a.class_id) continue;
        if (box_iou(ab, box_of(b)) < p.duplicate_iou) continue;
        if (frame - a.start_frame > frame - b.start_frame) {
          b.state = TrackState::kRemoved;
        } else {
          a.state = TrackState::kRemoved;
          break;
        }
      }
    }
  }

  Track to_track(const TrackRec& t) const {
    Track o;
    o.id = t.id;
    o.class_id = t.class_id;
    o.label = t.label;
    o.box = box_of(t);
    o.score = t.score;
    o.state = t.state;
    o.age = static_cast<int>(frame - t.start_frame + 1);
    o.hits = t.hits;
    o.time_since_update = static_cast<int>(frame - t.last_frame);
    o.weak_birth = t.weak;
    return o;
  }
};

Tracker::Tracker(TrackerParams params) {
  if (Status s = params.validate(); !s.ok()) {
    spdlog::error("{}; using default tracker parameters", s.message());
    params = TrackerParams{};
  }
  impl_ = std::make_unique<Impl>(params);
}
Tracker::~Tracker() = default;
Tracker::Tracker(Tracker&&) noexcept = default;
Tracker& Tracker::operator=(Tracker&&) noexcept = default;

Result<Tracker> Tracker::create(const TrackerParams& params) {
  if (Status s = params.validate(); !s.ok()) return s;
  return Tracker(params);
}

std::vector<Track> Tracker::update(const std::vector<Detection>& detections) {
  return impl_->update(detections);
}

std::vector<Track> Tracker::live_tracks() const {
  std::vector<Track> out;
  out.reserve(impl_->tracks.size());
  for (const auto& t : impl_->tracks) out.push_back(impl_->to_track(t));
  std::sort(out.begin(), out.end(), [](const Track& a, const Track& b) { return a.id < b.id; });
  return out;
}

const TrackerParams& Tracker::params() const {
  return impl_->p;
}

TrackerStats Tracker::stats() const {
  TrackerStats s;
  s.frame = impl_->frame;
  s.next_id = impl_->next_id;
  for (const auto& t : impl_->tracks) {
    if (t.state == TrackState::kTentative) ++s.tentative;
    if (t.state == TrackState::kTracked) ++s.tracked;
    if (t.state == TrackState::kLost) ++s.lost;
  }
  s.births_dropped = impl_->births_dropped;
  s.storage_capacity = impl_->tracks.capacity();
  return s;
}

void Tracker::reset() {
  impl_ = std::make_unique<Impl>(impl_->p);
}

}  // namespace ev
