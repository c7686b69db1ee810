// Rule-based activity model and fall detector over box tracks. Every threshold is in units of
// the person's own box height (or seconds), so it does not depend on the camera's resolution
// or distance.
#include <algorithm>
#include <cmath>
#include <vector>

#include "edgevision/scene.hpp"

namespace ev {

const char* to_string(Activity a) {
  switch (a) {
    case Activity::kStanding:
      return "standing";
    case Activity::kWalking:
      return "walking";
    case Activity::kRunning:
      return "running";
    case Activity::kSitting:
      return "sitting";
    case Activity::kLoitering:
      return "loitering";
    case Activity::kFalling:
      return "falling";
    case Activity::kFighting:
      return "fighting";
    case Activity::kCrowdGathering:
      return "crowd_gathering";
    case Activity::kVehicleParking:
      return "vehicle_parking";
    case Activity::kVehicleMoving:
      return "vehicle_moving";
    case Activity::kUnknown:
      break;
  }
  return "unknown";
}

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  const size_t mid = v.size() / 2;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(mid), v.end());
  return v[mid];
}

}  // namespace

ActivityFeatures activity_features(const std::deque<TrackSample>& samples, double window_s) {
  ActivityFeatures f;
  if (samples.empty()) return f;
  const double now = samples.back().t_s;
  size_t first = samples.size() - 1;
  while (first > 0 && now - samples[first - 1].t_s <= window_s) --first;
  const size_t n = samples.size() - first;
  std::vector<double> heights;
  for (size_t i = first; i < samples.size(); ++i) heights.push_back(samples[i].box.height);
  f.height = std::max(1.0, median(heights));
  const auto& last = samples.back().box;
  f.aspect = last.height / std::max(1.f, last.width);
  f.span_s = now - samples[first].t_s;
  if (n < 2 || f.span_s <= 0) return f;
  // Speed from the mean foot point of the first and last thirds: robust to box jitter.
  const size_t k = std::max<size_t>(1, n / 3);
  cv::Point2d a(0, 0), b(0, 0);
  double ta = 0, tb = 0;
  for (size_t i = 0; i < k; ++i) {
    a += cv::Point2d(foot_point(samples[first + i].box));
    ta += samples[first + i].t_s;
    b += cv::Point2d(foot_point(samples[samples.size() - 1 - i].box));
    tb += samples[samples.size() - 1 - i].t_s;
  }
  a *= 1.0 / static_cast<double>(k);
  b *= 1.0 / static_cast<double>(k);
  const double dt = (tb - ta) / static_cast<double>(k);
  if (dt > 0) f.speed_h = cv::norm(b - a) / dt / f.height;
  cv::Point2d mean(0, 0);
  for (size_t i = first; i < samples.size(); ++i) mean += cv::Point2d(foot_point(samples[i].box));
  mean *= 1.0 / static_cast<double>(n);
  double radius = 0, energy = 0;
  for (size_t i = first; i < samples.size(); ++i) {
    radius = std::max(radius, cv::norm(cv::Point2d(foot_point(samples[i].box)) - mean));
    if (i > first) {
      const auto& p = samples[i - 1].box;
      const auto& c = samples[i].box;
      energy += std::abs(c.x - p.x) + std::abs(c.y - p.y) +
                std::abs(c.x + c.width - p.x - p.width) + std::abs(c.y + c.height - p.y - p.height);
    }
  }
  f.path_radius_h = radius / f.height;
  f.motion_energy = energy / 4.0 / f.span_s / f.height;
  return f;
}

namespace {

class RuleActivityModel final : public ActivityModel {
 public:
  explicit RuleActivityModel(ActivityParams p) : p_(p) {}
  std::string name() const override { return "rules"; }

  Activity classify(const TrackView& t) override {
    if (!t.samples || t.samples->size() < 3) return Activity::kUnknown;
    const ActivityFeatures f = activity_features(*t.samples, p_.window_s);
    if (f.span_s < p_.window_s * 0.5) return Activity::kUnknown;
    if (t.label == "person") {
      if (t.fallen) return Activity::kFalling;
      if (t.in_fight) return Activity::kFighting;
      if (f.speed_h >= p_.run_speed) return Activity::kRunning;
      if (f.speed_h >= p_.walk_speed) return Activity::kWalking;
      if (t.in_crowd) return Activity::kCrowdGathering;
      if (t.now_s - t.first_seen_s >= p_.loiter_s) {
        // Long presence within a small area (the whole history, not just the window).
        const ActivityFeatures whole = activity_features(*t.samples, p_.loiter_s);
        if (whole.path_radius_h <= p_.loiter_radius_h) return Activity::kLoitering;
      }
      const bool shorter = t.upright_height > 0 && f.height < p_.sit_height * t.upright_height;
      if (shorter || f.aspect < p_.sit_aspect) return Activity::kSitting;
      return Activity::kStanding;
    }
    if (is_vehicle_class(t.label)) {
      return f.speed_h >= p_.vehicle_move_speed ? Activity::kVehicleMoving
                                                : Activity::kVehicleParking;
    }
    return Activity::kUnknown;
  }

 private:
  ActivityParams p_;
};

}  // namespace

std::unique_ptr<ActivityModel> make_rule_activity_model(const ActivityParams& params) {
  return std::make_unique<RuleActivityModel>(params);
}

// ---------------------------------------------------------------------------------------

bool FallDetector::test(const std::deque<TrackSample>& samples, const TrackSample& s,
                        double min_descent, double max_height) const {
  std::vector<double> h, top, aspect, left, right;
  for (const auto& r : samples) {
    const double age = s.t_s - r.t_s;
    if (age < p_.ref_to_s || age > p_.ref_from_s) continue;
    h.push_back(r.box.height);
    top.push_back(r.box.y);
    aspect.push_back(r.box.height / std::max(1.f, r.box.width));
    left.push_back(r.box.x);
    right.push_back(r.box.x + r.box.width);
  }
  if (static_cast<int>(h.size()) < p_.min_ref_samples) return false;
  const double ref_h = median(h), ref_top = median(top), ref_aspect = median(aspect);
  if (ref_h <= 1) return false;
  if (!frame_.empty()) {
    const double mx = p_.edge_margin * frame_.width, my = p_.edge_margin * frame_.height;
    if (ref_top <= my || ref_top + ref_h >= frame_.height - my || median(left) <= mx ||
        median(right) >= frame_.width - mx)
      return false;
  }
  // The reference must look like someone on their feet, not already lying.
  if (ref_aspect < 1.0) return false;
  const double descent = (s.box.y - ref_top) / ref_h;
  const double aspect_now = s.box.height / std::max(1.f, s.box.width);
  return descent >= min_descent && s.box.height <= max_height * ref_h &&
         aspect_now <= p_.max_aspect * ref_aspect;
}

bool FallDetector::is_down(const std::deque<TrackSample>& samples, const TrackSample& s) const {
  return test(samples, s, p_.min_descent, p_.max_height);
}

bool FallDetector::is_dropping(const std::deque<TrackSample>& samples, const TrackSample& s) const {
  return test(samples, s, p_.drop_descent, p_.drop_height);
}

bool FallDetector::clear_of_edges(const cv::Rect2f& b) const {
  if (frame_.empty()) return true;
  const double mx = p_.edge_margin * frame_.width, my = p_.edge_margin * frame_.height;
  return b.x > mx && b.y > my && b.x + b.width < frame_.width - mx &&
         b.y + b.height < frame_.height - my;
}

bool FallDetector::standing_like(const cv::Rect2f& b) const {
  const double aspect = b.height / std::max(1.f, b.width);
  if (aspect < 1.0) return false;
  if (static_cast<int>(upright_.size()) < p_.min_ref_samples) return true;
  // Someone lowering themselves (sliding down a wall, sitting down) gets shorter at about the
  // same width; someone walking away keeps their aspect. Only the latter may move the
  // standing reference.
  std::vector<double> a;
  for (const auto& u : upright_) a.push_back(u.box.height / std::max(1.f, u.box.width));
  return aspect >= p_.standing_aspect * median(a);
}

std::optional<cv::Rect2f> FallDetector::last_upright() const {
  if (upright_.empty()) return std::nullopt;
  return upright_.back().box;
}

bool FallDetector::on_floor(const cv::Rect2f& b) const {
  if (static_cast<int>(upright_.size()) < p_.min_ref_samples) return false;
  std::vector<double> h, bottom, cx;
  const size_t n =
      std::min(upright_.size(), static_cast<size_t>(std::max(1, p_.floor_ref_samples)));
  for (size_t i = upright_.size() - n; i < upright_.size(); ++i)
    h.push_back(upright_[i].box.height);
  // Where they stood last: the latest few upright boxes.
  for (size_t i = upright_.size() > 5 ? upright_.size() - 5 : 0; i < upright_.size(); ++i) {
    bottom.push_back(upright_[i].box.y + upright_[i].box.height);
    cx.push_back(upright_[i].box.x + upright_[i].box.width * 0.5);
  }
  std::sort(h.begin(), h.end());
  const double stand_h = h[static_cast<size_t>(0.8 * static_cast<double>(h.size() - 1))];
  if (stand_h <= 1) return false;
  const double stand_bottom = median(bottom), stand_top = stand_bottom - stand_h;
  return b.height <= p_.floor_height * stand_h && b.y - stand_top >= p_.floor_descent * stand_h &&
         b.y + b.height >= stand_bottom - p_.floor_rise * stand_h &&
         std::abs(b.x + b.width * 0.5 - median(cx)) <= stand_h;
}

std::optional<cv::Rect2f> FallDetector::last_place() const {
  if (!upright_.empty()) return upright_.back().box;
  if (!postures_.empty()) return postures_.back().box;
  return std::nullopt;
}

bool FallDetector::lying_down(const cv::Rect2f& b, double ref_s) const {
  if (b.height > p_.lying_aspect * b.width) return false;
  std::vector<double> h, top, bottom, cx;
  for (const auto& u : postures_) {
    if (ref_s - u.t_s > p_.lying_transition_s || u.t_s > ref_s) continue;
    h.push_back(u.box.height);
    top.push_back(u.box.y);
    bottom.push_back(u.box.y + u.box.height);
    cx.push_back(u.box.x + u.box.width * 0.5);
  }
  if (static_cast<int>(h.size()) < p_.min_ref_samples) return false;
  std::sort(h.begin(), h.end());
  std::sort(top.begin(), top.end());
  const auto at = [](const std::vector<double>& v, double q) {
    return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
  };
  // The highest postures of the window: it may already hold the first part of the fall.
  const double ref_h = at(h, 0.8), ref_top = at(top, 0.2);
  if (ref_h <= 1) return false;
  return b.y - ref_top >= p_.lying_descent * ref_h && b.height <= p_.lying_height * ref_h &&
         b.width >= p_.lying_width * ref_h &&
         b.y + b.height >= median(bottom) - p_.lying_rise * ref_h &&
         std::abs(b.x + b.width * 0.5 - median(cx)) <= ref_h + 0.5 * b.width;
}

void FallDetector::observe(const TrackSample& s) {
  if (fired_ || s.held || !clear_of_edges(s.box)) return;
  if (standing_like(s.box)) {
    upright_.push_back({s.t_s, s.box});
    while (upright_.size() > 256 ||
           (upright_.size() > 1 && s.t_s - upright_.front().t_s > p_.standing_memory_s))
      upright_.pop_front();
  }
  // The lying rule's reference: recent confident postures that are not lying themselves.
  if (s.box.height > p_.lying_aspect * s.box.width) {
    postures_.push_back({s.t_s, s.box});
    while (postures_.size() > 128 ||
           (postures_.size() > 1 && s.t_s - postures_.front().t_s > p_.lying_transition_s))
      postures_.pop_front();
  }
}

bool FallDetector::update(const std::deque<TrackSample>& samples, const TrackSample* s,
                          double now_s, const std::optional<cv::Rect2f>& floor_blob) {
  if (!fired_) {
    // The floor rule: a confident upright box is a reference; a posture (the box, or the
    // foreground blob where the detector lost the person) that stays on the floor is a fall.
    if (s) observe(*s);
    std::optional<cv::Rect2f> posture;
    if (s) {
      posture = s->box;
    } else if (floor_blob) {
      posture = floor_blob;
    }
    if (posture && on_floor(*posture)) {
      if (!floor_since_ && now_s - upright_.back().t_s <= p_.floor_transition_s)
        floor_since_ = now_s;
    } else {
      floor_since_.reset();  // standing again, or nothing seen where they were
    }
    if (floor_since_ && now_s - *floor_since_ >= p_.floor_confirm_s && upright_rules_) {
      fired_ = true;
      upright_h_ = upright_.back().box.height;
      floor_since_.reset();
      rule_ = "floor";
      return true;
    }
    // Judged against the postures before the first lying one (a fixed window: the person
    // lowering themselves must not become their own reference).
    if (posture && posture->height <= p_.lying_aspect * posture->width) {
      if (!lying_onset_) lying_onset_ = now_s;
    } else {
      lying_onset_.reset();
    }
    if (posture && lying_onset_ && lying_down(*posture, *lying_onset_)) {
      if (!lying_since_) lying_since_ = now_s;
    } else {
      lying_since_.reset();
    }
    if (lying_since_ && now_s - *lying_since_ >= p_.floor_confirm_s) {
      fired_ = true;
      std::vector<double> h;
      for (const auto& u : postures_) h.push_back(u.box.height);
      upright_h_ = median(h);
      lying_since_.reset();
      rule_ = "lying";
      return true;
    }
  }
  if (s) {
    if (fired_) {
      // Got up again: height back near the upright reference re-arms the detector.
      if (upright_h_ > 0 && s->box.height >= p_.rearm_height * upright_h_ &&
          s->box.height / std::max(1.f, s->box.width) >= 1.0f) {
        fired_ = false;
        down_since_.reset();
      }
      return false;
    }
    dropping_at_.reset();
    if (is_dropping(samples, *s)) dropping_at_ = s->t_s;
    if (is_down(samples, *s)) {
      if (!down_since_) {
        down_since_ = s->t_s;
        std::vector<double> h;
        for (const auto& r : samples) {
          if (s->t_s - r.t_s >= p_.ref_to_s && s->t_s - r.t_s <= p_.ref_from_s)
            h.push_back(r.box.height);
        }
        upright_h_ = median(h);
      }
    } else if (down_since_ && s->t_s - *down_since_ > 1e-9) {
      // A sample that is not down after the drop contradicts it (a stumble, a box glitch),
      // unless the person is still well below the upright height.
      if (upright_h_ <= 0 || s->box.height > p_.max_height * upright_h_ * 1.1) down_since_.reset();
    }
  }
  // A person who is down and not seen standing since (often the detector loses someone
  // lying on the floor) has fallen once confirm_s has passed.
  if (!upright_rules_) return false;
  if (!fired_ && down_since_ && now_s - *down_since_ >= p_.confirm_s) {
    fired_ = true;
    rule_ = "drop";
    return true;
  }
  // Lost mid-fall and not seen since.
  if (!fired_ && !s && dropping_at_ && now_s - *dropping_at_ >= p_.lost_confirm_s) {
    if (upright_h_ <= 0) upright_h_ = samples.empty() ? 0 : samples.front().box.height;
    fired_ = true;
    rule_ = "lost";
    return true;
  }
  return false;
}

}  // namespace ev
