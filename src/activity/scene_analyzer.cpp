// SceneAnalyzer: turns confirmed tracks into the events people act on. Runs on the camera's
// tracking thread, one update per frame where the tracker ran; all state is per track and per
// zone/line and bounded (tracks are forgotten when they leave, samples by history_s).
#include <spdlog/spdlog.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <unordered_map>

#include "edgevision/events.hpp"
#include "edgevision/foreground.hpp"
#include "edgevision/scene.hpp"
#include "edgevision/track.hpp"

namespace ev {

namespace {

bool class_matches(const std::vector<std::string>& classes, const std::string& label) {
  return classes.empty() || std::find(classes.begin(), classes.end(), label) != classes.end();
}

double round_to(double v, double scale) {
  return std::round(v * scale) / scale;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

struct TrackZone {
  bool inside = false;
  int streak = 0;  // consecutive readings that disagree with `inside`
  double enter_t = 0;
  std::string enter_id;
  std::string loiter_id;
  double loiter_t = 0;
  std::vector<std::pair<double, cv::Point2f>> ground;  // calibrated zones: metres over time
};

struct PendingCross {
  size_t line = 0;
  int direction = 0;
  int64_t frame = 0;
  double time_ms = 0;
  cv::Rect2f box;
};

struct TrackRt {
  int64_t public_id = 0;
  std::string label;
  int class_id = -1;
  std::deque<TrackSample> samples;
  double first_t = 0;
  int hits = 0;
  double score_sum = 0;
  std::vector<double> areas;  // first samples, for the area filter
  std::vector<double> scores;  // first samples, for the score filter (median)
  int overlap_frames = 0;     // frames covered by a track of another class (duplicate box)
  bool accepted = false;
  bool matched = false;  // in this frame
  std::string appeared_id;
  bool stationary = false;
  bool gone = false;  // vanished stationary object, held as a ghost
  double gone_t = 0;
  std::vector<TrackZone> zones;
  std::vector<int> side;                     // per line: last non-zero side
  std::vector<std::set<int>> crossed;        // per line: directions already counted
  std::vector<PendingCross> pending;         // crossings before the track was accepted
  std::optional<cv::Point2f> handover_foot;  // last foot point of the track it continues
  Activity activity = Activity::kUnknown;
  Activity candidate = Activity::kUnknown;
  int candidate_n = 0;
  double activity_t = 0;
  std::string activity_id;
  FallDetector fall;
  bool in_fight = false;
  bool in_crowd = false;
};

struct ZoneRt {
  ZoneConfig cfg;
  std::optional<GroundCalibration> calib;
  bool traffic = false;  // summaries: calibrated or counting vehicles
  int occupancy = 0;
  bool crowd = false;
  std::string crowd_id;
  double crowd_t = 0, below_t = -1;
  int crowd_max = 0;
  double interval_t = -1;
  std::map<std::string, int> counts;
  std::vector<double> speeds;
  double occ_sum = 0;
  int occ_frames = 0;
};

struct FightRt {
  double since = -1;  // close and agitated since
  double last_t = -1;
  bool active = false;
  std::string id;
  double start_t = 0;
};

}  // namespace

struct SceneAnalyzer::Impl {
  std::string camera;
  SceneConfig cfg;
  SceneParams p;
  std::unique_ptr<ActivityModel> model;
  std::vector<ZoneRt> zones;
  std::unordered_map<int64_t, TrackRt> tracks;  // by tracker id (ghosts keep their old key)
  std::map<std::pair<int64_t, int64_t>, FightRt> fights;
  VehicleClassifier vehicles;
  SceneStats stats;
  std::string session;
  uint64_t next_event = 1;
  int64_t frame_index = 0;
  double frame_ms = 0;
  double now = 0;
  std::set<int64_t> matched_now;  // tracker ids matched in the current frame

  Impl(std::string cam, SceneConfig c, SceneParams params)
      : camera(std::move(cam)), cfg(std::move(c)), p(params) {
    model = make_rule_activity_model(p.activity);
    std::random_device rd;
    session = fmt::format("{:08x}", rd());
    for (const auto& z : cfg.zones) {
      ZoneRt rt;
      rt.cfg = z;
      if (!z.speed.points.empty()) {
        auto g = GroundCalibration::create(z.speed);
        if (g) {
          rt.calib = *g;
        } else {
          spdlog::warn("camera {}: zone {}: no speed: {}", camera, z.name, g.error());
        }
      }
      rt.traffic = rt.calib.has_value();
      for (const auto& c : z.classes) rt.traffic = rt.traffic || is_vehicle_class(c);
      zones.push_back(std::move(rt));
    }
  }

  std::string event_id() { return fmt::format("{}-{}-{}", camera, session, next_event++); }

  nlohmann::json base(const char* type) {
    nlohmann::json e = make_event(type, camera);
    e["event_id"] = event_id();
    e["frame_index"] = frame_index;
    e["frame_time_ms"] = round_to(frame_ms, 10);
    return e;
  }

  std::string label_of(int64_t key, const TrackRt& t) const {
    if (!is_vehicle_class(t.label)) return t.label;
    const std::string voted = vehicles.label(key);
    return voted.empty() ? t.label : voted;
  }

  nlohmann::json track_event(const char* type, int64_t key, const TrackRt& t) {
    nlohmann::json e = base(type);
    e["track_id"] = t.public_id;
    e["class"] = label_of(key, t);
    e["class_id"] = t.class_id;
    const cv::Rect2f b = t.samples.empty() ? cv::Rect2f() : t.samples.back().box;
    e["box"] = {std::lround(b.x), std::lround(b.y), std::lround(b.width), std::lround(b.height)};
    e["score"] = t.samples.empty() ? 0.0 : round_to(t.samples.back().score, 1000);
    return e;
  }

  void emit_counted(const SceneEmitter& emit, nlohmann::json e) {
    ++stats.events;
    emit(std::move(e));
  }

  // ---- acceptance (filters) --------------------------------------------------------------

  // `score_cap`: the median score needed is at most this (falls: see judged_for_falls).
  bool passes_filter(const TrackRt& t,
                     double score_cap = std::numeric_limits<double>::infinity()) const {
    if (t.hits < p.min_hits) return false;
    const ClassFilterConfig f = class_filter(cfg, t.label);
    // Frigate's rule: the median score (one confident frame does not carry a flickering
    // track, one weak frame does not sink a good one) over a track that has lived min_age_s.
    if (now - t.first_t < f.min_age_s) return false;
    if (percentile(t.scores, 0.5) < std::min<double>(score_cap, f.min_score)) return false;
    const double area = percentile(t.areas, 0.5);
    if (area < f.min_area) return false;
    if (f.max_area > 0 && area > f.max_area) return false;
    // The same object under two classes (a "motorcycle" on a walking person's legs): the
    // track of the other class wins when it covers this one most of the time.
    return t.overlap_frames * 2 <= t.hits;
  }

  // Falls are also judged on person tracks that have not (yet) passed their class filter's
  // score: a seated or half-hidden elderly person scores below it for minutes (the tracker's
  // weak births give them a track). Their median score must still reach fall_min_score (boxes
  // on shelves and clutter score 0.1-0.33 and flicker in shape); the rest of the filter applies.
  bool judged_for_falls(const TrackRt& t) const {
    return t.accepted || (t.label == "person" && passes_filter(t, p.fall_min_score));
  }

  // ---- per-frame pieces ------------------------------------------------------------------

  void update_stationary(TrackRt& t) {
    if (t.samples.size() < 2) return;
    const auto& last = t.samples.back();
    if (last.t_s - t.samples.front().t_s < p.stationary_s) {
      t.stationary = false;
      return;
    }
    const cv::Point2f now_pt = foot_point(last.box);
    bool still = true;
    for (auto it = t.samples.rbegin(); it != t.samples.rend(); ++it) {
      if (last.t_s - it->t_s > p.stationary_s) break;
      if (cv::norm(foot_point(it->box) - now_pt) > p.stationary_move * last.box.height) {
        still = false;
        break;
      }
    }
    t.stationary = still;
  }

  void zone_exit(TrackRt& t, size_t zi, int64_t key, const SceneEmitter& emit, const char* reason) {
    TrackZone& tz = t.zones[zi];
    ZoneRt& z = zones[zi];
    if (!tz.inside) return;
    tz.inside = false;
    tz.streak = 0;
    z.occupancy = std::max(0, z.occupancy - 1);
    const double dwell = std::max(0.0, now - tz.enter_t);
    if (!tz.loiter_id.empty()) {
      auto e = track_event("loitering", key, t);
      e["zone"] = z.cfg.name;
      e["phase"] = "end";
      e["start_event_id"] = tz.loiter_id;
      e["dwell_s"] = round_to(dwell, 10);
      e["duration_s"] = round_to(now - tz.loiter_t, 10);
      emit_counted(emit, std::move(e));
      tz.loiter_id.clear();
    }
    if (z.calib && tz.ground.size() >= 2) {
      const auto& a = tz.ground.front();
      const auto& b = tz.ground.back();
      const double dt = b.first - a.first;
      if (dt >= 0.5) {
        const double kmh = cv::norm(b.second - a.second) / dt * 3.6;
        auto e = track_event("speed", key, t);
        e["zone"] = z.cfg.name;
        e["speed_kmh"] = round_to(kmh, 10);
        e["duration_s"] = round_to(dt, 100);
        emit_counted(emit, std::move(e));
        z.speeds.push_back(kmh);
      }
    }
    tz.ground.clear();
    auto e = track_event("zone_exit", key, t);
    e["zone"] = z.cfg.name;
    e["occupancy"] = z.occupancy;
    e["phase"] = "end";
    e["start_event_id"] = tz.enter_id;
    e["duration_s"] = round_to(dwell, 10);
    e["dwell_s"] = round_to(dwell, 10);
    if (reason) e["reason"] = reason;
    emit_counted(emit, std::move(e));
  }

  void update_zones(TrackRt& t, int64_t key, const SceneEmitter& emit) {
    const cv::Point2f foot = foot_point(t.samples.back().box);
    for (size_t zi = 0; zi < zones.size(); ++zi) {
      ZoneRt& z = zones[zi];
      if (!class_matches(z.cfg.classes, t.label)) continue;
      TrackZone& tz = t.zones[zi];
      const bool in = cv::pointPolygonTest(z.cfg.polygon, foot, false) >= 0;
      // Inertia: a few frames in a row must disagree before membership flips, so a box
      // jittering on the border does not enter and exit every frame.
      tz.streak = in == tz.inside ? 0 : tz.streak + 1;
      if (tz.streak >= p.zone_inertia) {
        if (in) {
          tz.inside = true;
          tz.streak = 0;
          tz.enter_t = now;
          ++z.occupancy;
          ++z.counts[label_of(key, t)];
          auto e = track_event("zone_enter", key, t);
          e["zone"] = z.cfg.name;
          e["occupancy"] = z.occupancy;
          e["phase"] = "start";
          tz.enter_id = e["event_id"];
          emit_counted(emit, std::move(e));
        } else {
          zone_exit(t, zi, key, emit, nullptr);
        }
      }
      if (!tz.inside) continue;
      if (z.calib) {
        tz.ground.emplace_back(now, z.calib->to_metres(foot));
        if (tz.ground.size() > 4096) tz.ground.erase(tz.ground.begin() + 1);  // bounded
      }
      if (z.cfg.loitering_s > 0 && tz.loiter_id.empty() && now - tz.enter_t >= z.cfg.loitering_s) {
        auto e = track_event("loitering", key, t);
        e["zone"] = z.cfg.name;
        e["phase"] = "start";
        e["dwell_s"] = round_to(now - tz.enter_t, 10);
        tz.loiter_id = e["event_id"];
        tz.loiter_t = now;
        emit_counted(emit, std::move(e));
      }
    }
  }

  // Lines are followed from the first sample (a track may cross before it is accepted; the
  // crossing is then announced on acceptance).
  void update_lines(TrackRt& t, int64_t key, const cv::Point2f* prev_foot,
                    const SceneEmitter& emit) {
    const cv::Point2f foot = foot_point(t.samples.back().box);
    for (size_t li = 0; li < cfg.lines.size(); ++li) {
      const LineConfig& l = cfg.lines[li];
      if (!class_matches(l.classes, t.label)) continue;
      const int s = line_side(l.p1, l.p2, foot);
      if (s == 0) continue;
      const int before = t.side[li];
      t.side[li] = s;
      if (before == 0 || before == s || !prev_foot) continue;
      // The foot point moved across the (finite) line segment, not just across its extension.
      if (!segments_intersect(*prev_foot, foot, l.p1, l.p2)) continue;
      const int dir = before < 0 ? 1 : -1;  // negative -> positive is "in"
      if (!t.crossed[li].insert(dir).second) continue;
      PendingCross c{li, dir, frame_index, frame_ms, t.samples.back().box};
      if (t.accepted) {
        emit_cross(t, key, c, emit);
      } else {
        t.pending.push_back(c);
      }
    }
  }

  void emit_cross(const TrackRt& t, int64_t key, const PendingCross& c, const SceneEmitter& emit) {
    auto e = track_event("line_cross", key, t);
    e["line"] = cfg.lines[c.line].name;
    e["direction"] = c.direction > 0 ? "in" : "out";
    e["frame_index"] = c.frame;
    e["frame_time_ms"] = round_to(c.time_ms, 10);
    e["box"] = {std::lround(c.box.x), std::lround(c.box.y), std::lround(c.box.width),
                std::lround(c.box.height)};
    emit_counted(emit, std::move(e));
  }

  void end_activity(TrackRt& t, int64_t key, const SceneEmitter& emit) {
    if (t.activity == Activity::kUnknown || t.activity_id.empty()) return;
    auto e = track_event("activity_ended", key, t);
    e["activity"] = to_string(t.activity);
    e["phase"] = "end";
    e["start_event_id"] = t.activity_id;
    e["duration_s"] = round_to(now - t.activity_t, 10);
    emit_counted(emit, std::move(e));
    t.activity_id.clear();
  }

  void set_activity(TrackRt& t, int64_t key, Activity a, const SceneEmitter& emit) {
    if (a == t.activity) return;
    end_activity(t, key, emit);
    t.activity = a;
    t.activity_t = now;
    t.candidate_n = 0;
    if (a == Activity::kUnknown) return;
    auto e = track_event("activity_started", key, t);
    e["activity"] = to_string(a);
    e["phase"] = "start";
    t.activity_id = e["event_id"];
    emit_counted(emit, std::move(e));
  }

  void update_activity(TrackRt& t, int64_t key, const SceneEmitter& emit) {
    std::vector<double> h;
    for (const auto& s : t.samples) h.push_back(s.box.height);
    TrackView v;
    v.id = t.public_id;
    v.label = t.label;
    v.samples = &t.samples;
    v.first_seen_s = t.first_t;
    v.now_s = now;
    v.in_fight = t.in_fight;
    v.in_crowd = t.in_crowd;
    v.fallen = t.fall.fallen();
    v.upright_height = t.samples.size() >= 10 ? percentile(h, 0.8) : 0;
    const Activity raw = model->classify(v);
    if (raw == Activity::kFalling) {  // no hysteresis: the fall detector already confirmed it
      set_activity(t, key, raw, emit);
      return;
    }
    if (raw == t.activity) {
      t.candidate_n = 0;
      return;
    }
    if (raw == t.candidate) {
      ++t.candidate_n;
    } else {
      t.candidate = raw;
      t.candidate_n = 1;
    }
    if (t.candidate_n >= p.activity.hysteresis_frames) set_activity(t, key, raw, emit);
  }

  void update_pairs(const SceneEmitter& emit) {
    std::vector<std::pair<int64_t, TrackRt*>> people;
    for (auto& [key, t] : tracks) {
      t.in_fight = false;
      t.in_crowd = false;
      if (t.accepted && t.matched && t.label == "person" && t.samples.size() >= 3)
        people.emplace_back(key, &t);
    }
    std::vector<ActivityFeatures> f;
    for (const auto& [key, t] : people) f.push_back(activity_features(t->samples, 1.0));
    // Fights: two people close together, both agitated, neither travelling.
    std::set<std::pair<int64_t, int64_t>> seen;
    for (size_t i = 0; i < people.size(); ++i) {
      for (size_t j = i + 1; j < people.size(); ++j) {
        const auto& a = people[i].second->samples.back().box;
        const auto& b = people[j].second->samples.back().box;
        const double mh = 0.5 * (a.height + b.height);
        const cv::Point2f ca(a.x + a.width / 2, a.y + a.height / 2);
        const cv::Point2f cb(b.x + b.width / 2, b.y + b.height / 2);
        const bool close = cv::norm(ca - cb) <= p.fight_distance_h * mh;
        const bool agitated =
            f[i].motion_energy >= p.fight_energy && f[j].motion_energy >= p.fight_energy &&
            f[i].speed_h <= p.fight_max_speed && f[j].speed_h <= p.fight_max_speed;
        const auto pk = std::minmax(people[i].second->public_id, people[j].second->public_id);
        seen.insert(pk);
        FightRt& fr = fights[pk];
        if (close && agitated) {
          if (fr.since < 0) fr.since = now;
          fr.last_t = now;
          if (!fr.active && now - fr.since >= p.fight_min_s) {
            fr.active = true;
            fr.start_t = now;
            auto e = base("fight");
            e["phase"] = "start";
            e["track_ids"] = {pk.first, pk.second};
            e["track_id"] = pk.first;
            e["class"] = "person";
            const cv::Rect2f u = a | b;
            e["box"] = {std::lround(u.x), std::lround(u.y), std::lround(u.width),
                        std::lround(u.height)};
            fr.id = e["event_id"];
            emit_counted(emit, std::move(e));
          }
        } else if (!fr.active) {
          fr.since = -1;
        }
        if (fr.active) {
          people[i].second->in_fight = true;
          people[j].second->in_fight = true;
        }
      }
    }
    for (auto it = fights.begin(); it != fights.end();) {
      FightRt& fr = it->second;
      const bool stale =
          fr.last_t < 0 || now - fr.last_t >= p.fight_end_s || !seen.count(it->first);
      if (fr.active && stale) {
        auto e = base("fight");
        e["phase"] = "end";
        e["track_ids"] = {it->first.first, it->first.second};
        e["track_id"] = it->first.first;
        e["class"] = "person";
        e["start_event_id"] = fr.id;
        e["duration_s"] = round_to(now - fr.start_t, 10);
        emit_counted(emit, std::move(e));
        it = fights.erase(it);
      } else if (!fr.active && !seen.count(it->first)) {
        it = fights.erase(it);
      } else {
        ++it;
      }
    }
    // Crowd gathering: slow people with enough neighbours within a few body heights.
    for (size_t i = 0; i < people.size(); ++i) {
      if (f[i].speed_h >= p.activity.walk_speed) continue;
      const auto& a = people[i].second->samples.back().box;
      int near = 1;
      for (size_t j = 0; j < people.size(); ++j) {
        if (i == j) continue;
        const auto& b = people[j].second->samples.back().box;
        const double mh = 0.5 * (a.height + b.height);
        if (cv::norm(foot_point(a) - foot_point(b)) <= p.crowd_gathering_radius_h * mh) ++near;
      }
      if (near >= p.crowd_gathering_min) people[i].second->in_crowd = true;
    }
  }

  void update_zone_aggregates(const SceneEmitter& emit) {
    for (auto& z : zones) {
      if (z.interval_t < 0) z.interval_t = now;
      z.occ_sum += z.occupancy;
      ++z.occ_frames;
      if (z.cfg.max_objects > 0) {
        if (z.occupancy > z.cfg.max_objects) {
          z.below_t = -1;
          z.crowd_max = std::max(z.crowd_max, z.occupancy);
          if (!z.crowd) {
            z.crowd = true;
            z.crowd_t = now;
            auto e = base("crowd");
            e["zone"] = z.cfg.name;
            e["count"] = z.occupancy;
            e["max_objects"] = z.cfg.max_objects;
            e["phase"] = "start";
            z.crowd_id = e["event_id"];
            emit_counted(emit, std::move(e));
          }
        } else if (z.crowd) {
          if (z.below_t < 0) z.below_t = now;
          if (now - z.below_t >= p.crowd_end_s) end_crowd(z, emit);
        }
      }
      if (z.traffic && cfg.traffic_interval_s > 0 && now - z.interval_t >= cfg.traffic_interval_s)
        emit_traffic(z, emit);
    }
  }

  void end_crowd(ZoneRt& z, const SceneEmitter& emit) {
    if (!z.crowd) return;
    auto e = base("crowd");
    e["zone"] = z.cfg.name;
    e["count"] = z.occupancy;
    e["max_count"] = z.crowd_max;
    e["max_objects"] = z.cfg.max_objects;
    e["phase"] = "end";
    e["start_event_id"] = z.crowd_id;
    e["duration_s"] = round_to(now - z.crowd_t, 10);
    emit_counted(emit, std::move(e));
    z.crowd = false;
    z.crowd_max = 0;
    z.below_t = -1;
  }

  void emit_traffic(ZoneRt& z, const SceneEmitter& emit) {
    auto e = base("traffic");
    e["zone"] = z.cfg.name;
    e["interval_s"] = round_to(now - z.interval_t, 10);
    nlohmann::json counts = nlohmann::json::object();
    int total = 0;
    for (const auto& [c, n] : z.counts) {
      counts[c] = n;
      total += n;
    }
    e["counts"] = counts;
    e["total"] = total;
    const double occ = z.occ_frames > 0 ? z.occ_sum / z.occ_frames : 0;
    e["occupancy_mean"] = round_to(occ, 100);
    double mean_speed = -1;
    if (!z.speeds.empty()) {
      double s = 0;
      for (double v : z.speeds) s += v;
      mean_speed = s / static_cast<double>(z.speeds.size());
      e["mean_speed_kmh"] = round_to(mean_speed, 10);
    } else {
      e["mean_speed_kmh"] = nullptr;
    }
    // Congestion: many objects for the zone's capacity, or vehicles crawling.
    const double cap = z.cfg.max_objects > 0 ? z.cfg.max_objects : 10.0;
    std::string level = "free";
    if (occ >= 0.8 * cap || (mean_speed >= 0 && mean_speed < 10)) {
      level = "heavy";
    } else if (occ >= 0.4 * cap || (mean_speed >= 0 && mean_speed < 30)) {
      level = "moderate";
    }
    e["congestion"] = level;
    emit_counted(emit, std::move(e));
    z.interval_t = now;
    z.counts.clear();
    z.speeds.clear();
    z.occ_sum = 0;
    z.occ_frames = 0;
  }

  // Everything a track has open ends; then object_left.
  void leave(int64_t key, TrackRt& t, const SceneEmitter& emit, const char* reason) {
    if (!t.accepted) return;
    for (size_t zi = 0; zi < zones.size(); ++zi) zone_exit(t, zi, key, emit, reason);
    end_activity(t, key, emit);
    auto e = track_event("object_left", key, t);
    e["phase"] = "end";
    e["start_event_id"] = t.appeared_id;
    e["duration_s"] = round_to(now - t.first_t, 10);
    e["stationary"] = t.stationary;
    emit_counted(emit, std::move(e));
  }

  void accept(int64_t key, TrackRt& t, const SceneEmitter& emit) {
    t.accepted = true;
    t.areas.clear();
    t.areas.shrink_to_fit();
    auto e = track_event("object_appeared", key, t);
    e["phase"] = "start";
    e["stationary"] = t.stationary;
    t.appeared_id = e["event_id"];
    emit_counted(emit, std::move(e));
    for (const auto& c : t.pending) emit_cross(t, key, c, emit);
    t.pending.clear();
  }

  TrackRt& track_for(const SceneObservation& o) {
    auto it = tracks.find(o.track_id);
    if (it != tracks.end() && !it->second.gone) return it->second;
    // A new tracker id where a stationary object vanished: the same object (a parked car the
    // detector missed for a while), so it keeps its id and produces no appear/leave churn.
    int64_t best = 0;
    float best_iou = static_cast<float>(p.ghost_iou);
    for (auto& [key, t] : tracks) {
      if (!t.gone || t.label != o.label || t.samples.empty()) continue;
      const float iou = box_iou(t.samples.back().box, o.box);
      if (iou >= best_iou) {
        best_iou = iou;
        best = key;
      }
    }
    if (best != 0) {
      TrackRt t = std::move(tracks[best]);
      tracks.erase(best);
      t.gone = false;
      ++stats.ghosts_revived;
      return tracks[o.track_id] = std::move(t);
    }
    TrackRt t;
    // An id switch: a new track of the same class right where a track was lost a moment ago
    // continues that track's line state, so a person whose track breaks on a line is still
    // counted (and not twice).
    const TrackRt* donor = nullptr;
    double best_d = p.handover_distance_h;
    for (const auto& [key, u] : tracks) {
      if (u.gone || matched_now.count(key) || u.label != o.label || u.samples.empty()) continue;
      const TrackSample& last = u.samples.back();
      if (now - last.t_s > p.handover_s) continue;
      const double d =
          cv::norm(foot_point(last.box) - foot_point(o.box)) / std::max(1.f, last.box.height);
      if (d < best_d) {
        best_d = d;
        donor = &u;
      }
    }
    t.public_id = o.track_id;
    t.label = o.label;
    t.class_id = o.class_id;
    t.first_t = now;
    t.zones.resize(zones.size());
    t.side.assign(cfg.lines.size(), 0);
    t.crossed.resize(cfg.lines.size());
    if (donor) {
      t.side = donor->side;
      t.crossed = donor->crossed;
      t.handover_foot = foot_point(donor->samples.back().box);
    }
    t.fall = FallDetector(p.fall);
    return tracks[o.track_id] = std::move(t);
  }

  // Where the detector lost a person: the foreground at their last upright place, searched
  // one body height around it and anchored on its lower part (a fallen body lies where the
  // feet were, or beside them). Only a body-sized blob that no confident person box explains
  // counts: fragments of someone walking behind a post, or a person the detector still sees
  // (under a new track id), are not a body on the floor.
  std::optional<cv::Rect2f> floor_blob(const TrackRt& t, const SceneFrame& fr) const {
    if (!fr.foreground) return std::nullopt;
    // Last seen with the frame edge cutting their box: they walked out of view, and foreground
    // beside where they were is someone or something else (PETS09 frame 525 fired on a blob at
    // the feet of a man who had just left at the right edge).
    if (!t.samples.empty() && !t.fall.clear_of_edges(t.samples.back().box)) return std::nullopt;
    const auto last = t.fall.last_place();
    if (!last) return std::nullopt;
    const cv::Rect2f& b = *last;
    const float h = b.height;
    const cv::Rect2f region(b.x - h, b.y, b.width + 2 * h, b.height * 1.3f);
    const cv::Rect2f anchor(b.x - 0.3f * h, b.y + 0.3f * h, b.width + 0.6f * h, b.height * 0.8f);
    const auto blob = fr.foreground->blob(region, anchor);
    if (!blob || blob->area < p.fall.floor_blob_fill * b.area() ||
        blob->box.width < p.fall.floor_blob_width * b.width)
      return std::nullopt;
    for (const auto& d : fr.detections) {
      if (d.label == "person" && (d.box & blob->box).area() >= 0.3f * blob->box.area())
        return std::nullopt;
    }
    return blob->box;
  }

  void update(const SceneFrame& fr, const SceneEmitter& emit) {
    frame_index = fr.index;
    frame_ms = fr.time_ms;
    now = fr.time_ms / 1000.0;
    for (auto& [key, t] : tracks) t.matched = false;
    matched_now.clear();
    for (const auto& o : fr.tracks) matched_now.insert(o.track_id);
    for (const auto& o : fr.tracks) {
      TrackRt& t = track_for(o);
      bool had = !t.samples.empty();
      cv::Point2f pf = had ? foot_point(t.samples.back().box) : cv::Point2f();
      if (!had && t.handover_foot) {
        pf = *t.handover_foot;
        had = true;
        t.handover_foot.reset();
      }
      t.matched = true;
      t.samples.push_back({now, o.box, o.score, o.held});
      while (t.samples.size() > 2 && now - t.samples.front().t_s > p.history_s)
        t.samples.pop_front();
      if (t.samples.size() > 1024) t.samples.pop_front();
      ++t.hits;
      t.score_sum += o.score;
      if (!t.accepted && t.areas.size() < 64) t.areas.push_back(o.box.area());
      if (!t.accepted && !o.held && t.scores.size() < 256) t.scores.push_back(o.score);
      if (is_vehicle_class(o.label)) {
        for (const auto& d : fr.detections) {
          if (box_iou(d.box, o.box) >= 0.5f) vehicles.vote(o.track_id, d.label, d.score);
        }
      }
      update_stationary(t);
      update_lines(t, o.track_id, had ? &pf : nullptr, emit);
    }
    // Duplicate boxes: an unaccepted track covered by a track of another class.
    for (auto& [key, t] : tracks) {
      if (t.accepted || !t.matched) continue;
      for (const auto& [k2, u] : tracks) {
        if (k2 == key || !u.matched || u.label == t.label) continue;
        if (box_iou(t.samples.back().box, u.samples.back().box) >= 0.45f &&
            u.score_sum / std::max(1, u.hits) >= t.score_sum / std::max(1, t.hits)) {
          ++t.overlap_frames;
          break;
        }
      }
    }
    for (auto& [key, t] : tracks) {
      if (!t.matched) continue;
      if (!t.accepted && passes_filter(t)) accept(key, t, emit);
      if (!t.accepted) continue;
      update_zones(t, key, emit);
    }
    // Falls: every live person track, also while it is not matched (the detector often loses
    // someone lying on the floor).
    const std::set<int64_t> live(fr.live_ids.begin(), fr.live_ids.end());
    if (cfg.activities) {
      for (auto& [key, t] : tracks) {
        if (t.gone || t.label != "person") continue;
        if (!t.matched && !live.count(key)) continue;
        const TrackSample* s = t.matched ? &t.samples.back() : nullptr;
        t.fall.set_frame_size(fr.frame_size);
        if (!judged_for_falls(t)) {
          // Its first postures are the references when it is judged (a person who falls
          // while the track is young).
          if (s) t.fall.observe(*s);
          continue;
        }
        t.fall.set_upright_rules(t.accepted);
        const std::optional<cv::Rect2f> blob = s ? std::nullopt : floor_blob(t, fr);
        if (t.fall.update(t.samples, s, now, blob)) {
          // A fall is reason enough to report the person (their appearance comes first).
          if (!t.accepted) accept(key, t, emit);
          auto e = track_event("fall", key, t);
          e["frame_index"] = frame_index;
          e["rule"] = t.fall.rule();
          if (blob) {
            // Seen only in the foreground: the box is where they lie, not their last detection.
            e["box"] = {std::lround(blob->x), std::lround(blob->y), std::lround(blob->width),
                        std::lround(blob->height)};
            e["evidence"] = "foreground";
          }
          emit_counted(emit, std::move(e));
          set_activity(t, key, Activity::kFalling, emit);
        }
      }
      update_pairs(emit);
      for (auto& [key, t] : tracks) {
        if (t.accepted && t.matched) update_activity(t, key, emit);
      }
    }
    // Vanished tracks.
    for (auto it = tracks.begin(); it != tracks.end();) {
      TrackRt& t = it->second;
      if (t.gone) {
        if (now - t.gone_t >= p.ghost_s) {
          leave(it->first, t, emit, "gone");
          vehicles.forget(it->first);
          it = tracks.erase(it);
          continue;
        }
      } else if (!t.matched && !live.count(it->first)) {
        if (t.accepted && t.stationary) {
          t.gone = true;
          t.gone_t = now;
        } else {
          if (!t.accepted) ++stats.tracks_filtered;
          leave(it->first, t, emit, "lost");
          vehicles.forget(it->first);
          it = tracks.erase(it);
          continue;
        }
      }
      ++it;
    }
    update_zone_aggregates(emit);
  }

  void finish(const SceneEmitter& emit) {
    for (auto& [key, t] : tracks) {
      if (!t.accepted) ++stats.tracks_filtered;
      leave(key, t, emit, "end_of_source");
    }
    tracks.clear();
    fights.clear();
    for (auto& z : zones) {
      end_crowd(z, emit);
      if (z.traffic && cfg.traffic_interval_s > 0 && z.occ_frames > 0) emit_traffic(z, emit);
    }
  }
};

SceneAnalyzer::SceneAnalyzer(std::string camera, SceneConfig config, SceneParams params)
    : impl_(std::make_unique<Impl>(std::move(camera), std::move(config), params)) {}
SceneAnalyzer::~SceneAnalyzer() = default;
SceneAnalyzer::SceneAnalyzer(SceneAnalyzer&&) noexcept = default;
SceneAnalyzer& SceneAnalyzer::operator=(SceneAnalyzer&&) noexcept = default;

void SceneAnalyzer::register_event_types() {
  static const std::vector<EventTypeInfo> types = {
      {"zone_enter", "a tracked object's foot point entered a zone"},
      {"zone_exit", "a tracked object left a zone (duration_s: time inside)"},
      {"line_cross", "a tracked object crossed a line (direction in/out)"},
      {"loitering", "an object stayed in a zone longer than loitering_s (phase start/end)"},
      {"crowd", "more than max_objects in a zone (phase start/end)"},
      {"speed", "speed of an object through a calibrated zone, km/h"},
      {"traffic", "per-zone summary: counts per class, mean speed, congestion"},
      {"activity_started", "a track's activity label changed to this one"},
      {"activity_ended", "a track's activity ended (duration_s)"},
      {"fall", "a person fell"},
      {"fight", "two people fighting (phase start/end)"}};
  auto& reg = EventTypeRegistry::instance();
  for (const auto& t : types) {
    if (!reg.contains(t.name)) (void)reg.add(t);
  }
}

void SceneAnalyzer::set_activity_model(std::unique_ptr<ActivityModel> model) {
  if (model) impl_->model = std::move(model);
}

void SceneAnalyzer::update(const SceneFrame& frame, const SceneEmitter& emit) {
  impl_->update(frame, emit);
}

void SceneAnalyzer::finish(const SceneEmitter& emit) {
  impl_->finish(emit);
}

SceneStats SceneAnalyzer::stats() const {
  return impl_->stats;
}

}  // namespace ev
