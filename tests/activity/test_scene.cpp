// Scene analytics on synthetic tracks: the direction rule, zone inertia, filters, stationary
// objects, loitering, crowd, speed, traffic, activities with hysteresis, falls and fights.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "edgevision/config.hpp"
#include "edgevision/events.hpp"
#include "edgevision/scene.hpp"

namespace ev {
namespace {

constexpr double kFps = 10.0;

struct Recorder {
  std::vector<nlohmann::json> events;
  SceneEmitter emitter() {
    return [this](nlohmann::json e) { events.push_back(std::move(e)); };
  }
  std::vector<nlohmann::json> of(const std::string& type) const {
    std::vector<nlohmann::json> out;
    for (const auto& e : events) {
      if (e["type"] == type) out.push_back(e);
    }
    return out;
  }
};

SceneObservation person(int64_t id, float cx, float bottom, float h = 100.f, float score = 0.9f) {
  return {id, "person", 0, cv::Rect2f(cx - h * 0.2f, bottom - h, h * 0.4f, h), score};
}

SceneFrame frame(int64_t index, std::vector<SceneObservation> tracks, double fps = kFps) {
  SceneFrame f;
  f.index = index;
  f.time_ms = static_cast<double>(index) * 1000.0 / fps;
  for (const auto& t : tracks) f.live_ids.push_back(t.track_id);
  f.tracks = std::move(tracks);
  return f;
}

TEST(SceneGeometry, DirectionRuleFollowsTheIssueSign) {
  // Line from (300,120) to (300,560): x2-x1 = 0, y2-y1 = 440 -> side = -440 * (x - 300).
  const cv::Point2f p1(300, 120), p2(300, 560);
  EXPECT_EQ(line_side(p1, p2, {200, 300}), 1);   // left of a downward line: positive
  EXPECT_EQ(line_side(p1, p2, {400, 300}), -1);  // right: negative
  EXPECT_EQ(line_side(p1, p2, {300, 300}), 0);
  // Horizontal line left -> right: below (larger y) is positive.
  EXPECT_EQ(line_side({0, 100}, {100, 100}, {50, 150}), 1);
  EXPECT_EQ(line_side({0, 100}, {100, 100}, {50, 50}), -1);
  EXPECT_TRUE(segments_intersect({50, 50}, {50, 150}, {0, 100}, {100, 100}));
  EXPECT_FALSE(segments_intersect({150, 50}, {150, 150}, {0, 100}, {100, 100}));
}

SceneConfig line_config() {
  SceneConfig c;
  c.lines.push_back({"door", {0, 100}, {400, 100}, {"person"}});
  return c;
}

TEST(SceneLines, CrossingNegativeToPositiveIsInAndCountedOncePerDirection) {
  SceneAnalyzer scene("cam", line_config());
  Recorder r;
  int64_t i = 0;
  // Walks down (y grows: negative -> positive side = "in"), back up ("out"), down again.
  for (float y = 40; y <= 160; y += 10) scene.update(frame(i++, {person(7, 200, y)}), r.emitter());
  for (float y = 160; y >= 40; y -= 10) scene.update(frame(i++, {person(7, 200, y)}), r.emitter());
  for (float y = 40; y <= 160; y += 10) scene.update(frame(i++, {person(7, 200, y)}), r.emitter());
  const auto crosses = r.of("line_cross");
  ASSERT_EQ(crosses.size(), 2u);
  EXPECT_EQ(crosses[0]["direction"], "in");
  EXPECT_EQ(crosses[1]["direction"], "out");
  EXPECT_EQ(crosses[0]["line"], "door");
  EXPECT_EQ(crosses[0]["track_id"], 7);
  EXPECT_TRUE(crosses[0].contains("event_id"));
  EXPECT_NE(crosses[0]["event_id"], crosses[1]["event_id"]);
}

TEST(SceneLines, PassingBesideTheSegmentOrOtherClassesDoesNotCount) {
  SceneAnalyzer scene("cam", line_config());
  Recorder r;
  int64_t i = 0;
  for (float y = 40; y <= 160; y += 10) {
    SceneObservation car{9, "car", 2, cv::Rect2f(100, y - 60, 120, 60), 0.9f};
    scene.update(frame(i++, {person(7, 600, y), car}), r.emitter());  // x=600 is past the end
  }
  EXPECT_TRUE(r.of("line_cross").empty());
}

TEST(SceneLines, CrossingBeforeAcceptanceIsAnnouncedOnAcceptance) {
  SceneAnalyzer scene("cam", line_config());
  Recorder r;
  // Crosses between its first and second sample; accepted once it is min_age_s (0.5 s = 5
  // frames at 10 fps) old, at frame 5.
  scene.update(frame(0, {person(3, 200, 95)}), r.emitter());
  for (int64_t i = 1; i < 5; ++i)
    scene.update(frame(i, {person(3, 200, 100 + 5.f * i)}), r.emitter());
  EXPECT_TRUE(r.of("line_cross").empty());
  EXPECT_TRUE(r.of("object_appeared").empty());
  scene.update(frame(5, {person(3, 200, 125)}), r.emitter());
  ASSERT_EQ(r.of("object_appeared").size(), 1u);
  ASSERT_EQ(r.of("line_cross").size(), 1u);
  EXPECT_EQ(r.of("line_cross")[0]["frame_index"], 1);
}

TEST(SceneLines, IdSwitchOnTheLineIsCountedOnceByTheContinuingTrack) {
  SceneParams p;
  p.handover_s = 2.0;
  SceneAnalyzer scene("cam", line_config(), p);
  Recorder r;
  int64_t i = 0;
  // Track 1 walks down to just above the line; the tracker loses it (still live for a while)
  // and starts track 2 just below the line.
  for (float y = 40; y <= 95; y += 5) scene.update(frame(i++, {person(1, 200, y)}), r.emitter());
  for (float y = 108; y <= 160; y += 5) {
    SceneFrame f = frame(i++, {person(2, 200, y)});
    f.live_ids.push_back(1);
    scene.update(f, r.emitter());
  }
  ASSERT_EQ(r.of("line_cross").size(), 1u);
  EXPECT_EQ(r.of("line_cross")[0]["track_id"], 2);
  EXPECT_EQ(r.of("line_cross")[0]["direction"], "in");

  // Same, but track 3 had crossed already: its successor does not count it again.
  SceneAnalyzer scene2("cam", line_config(), p);
  Recorder r2;
  i = 0;
  for (float y = 40; y <= 110; y += 5) scene2.update(frame(i++, {person(3, 200, y)}), r2.emitter());
  for (float y = 112; y <= 160; y += 5) {
    SceneFrame f = frame(i++, {person(4, 200, y)});
    f.live_ids.push_back(3);
    scene2.update(f, r2.emitter());
  }
  ASSERT_EQ(r2.of("line_cross").size(), 1u);
  EXPECT_EQ(r2.of("line_cross")[0]["track_id"], 3);
}

SceneConfig zone_config(double loitering_s = 0, int max_objects = 0) {
  SceneConfig c;
  ZoneConfig z;
  z.name = "bay";
  z.polygon = {{100, 100}, {300, 100}, {300, 300}, {100, 300}};
  z.loitering_s = loitering_s;
  z.max_objects = max_objects;
  c.zones.push_back(z);
  return c;
}

TEST(SceneZones, InertiaIgnoresJitterOnTheBorder) {
  SceneAnalyzer scene("cam", zone_config());
  Recorder r;
  int64_t i = 0;
  // Accepted at frame 5 (min_age_s 0.5 s at 10 fps), inside after 3 readings: frame 7.
  for (int k = 0; k < 7; ++k) scene.update(frame(i++, {person(1, 200, 200)}), r.emitter());
  EXPECT_TRUE(r.of("zone_enter").empty());
  scene.update(frame(i++, {person(1, 200, 200)}), r.emitter());
  ASSERT_EQ(r.of("zone_enter").size(), 1u);
  EXPECT_EQ(r.of("zone_enter")[0]["frame_index"], 7);
  EXPECT_EQ(r.of("zone_enter")[0]["occupancy"], 1);
  // Foot point flickers out for single frames (x 305) and back: no exit.
  for (int k = 0; k < 10; ++k) {
    const float x = k % 2 ? 295.f : 305.f;  // ends inside
    scene.update(frame(i++, {person(1, x, 200)}), r.emitter());
  }
  EXPECT_TRUE(r.of("zone_exit").empty());
  // Two frames outside are still inertia; the third flips it.
  scene.update(frame(i++, {person(1, 400, 200)}), r.emitter());
  scene.update(frame(i++, {person(1, 400, 200)}), r.emitter());
  EXPECT_TRUE(r.of("zone_exit").empty());
  scene.update(frame(i++, {person(1, 400, 200)}), r.emitter());
  ASSERT_EQ(r.of("zone_exit").size(), 1u);
  const auto exit = r.of("zone_exit")[0];
  EXPECT_EQ(exit["occupancy"], 0);
  EXPECT_EQ(exit["phase"], "end");
  EXPECT_EQ(exit["start_event_id"], r.of("zone_enter")[0]["event_id"]);
  EXPECT_GT(exit["duration_s"].get<double>(), 1.0);
}

TEST(SceneZones, LoiteringStartsAfterTheDwellAndEndsOnExit) {
  SceneAnalyzer scene("cam", zone_config(3.0));
  Recorder r;
  int64_t i = 0;
  for (int k = 0; k < 30; ++k) scene.update(frame(i++, {person(1, 200, 200)}), r.emitter());
  EXPECT_TRUE(r.of("loitering").empty());  // entered at frame 7 (accepted at 5, inertia 3)
  for (int k = 0; k < 8; ++k) scene.update(frame(i++, {person(1, 200, 200)}), r.emitter());
  ASSERT_EQ(r.of("loitering").size(), 1u);
  EXPECT_EQ(r.of("loitering")[0]["phase"], "start");
  EXPECT_GE(r.of("loitering")[0]["dwell_s"].get<double>(), 3.0);
  for (int k = 0; k < 3; ++k) scene.update(frame(i++, {person(1, 500, 200)}), r.emitter());
  ASSERT_EQ(r.of("loitering").size(), 2u);
  EXPECT_EQ(r.of("loitering")[1]["phase"], "end");
  EXPECT_EQ(r.of("loitering")[1]["zone"], "bay");
}

TEST(SceneZones, CrowdAboveMaxObjectsWithHysteresis) {
  SceneAnalyzer scene("cam", zone_config(0, 2));
  Recorder r;
  int64_t i = 0;
  auto three = [](float dx) {
    return std::vector<SceneObservation>{person(1, 150 + dx, 200), person(2, 200 + dx, 200),
                                         person(3, 250, 200)};
  };
  // Accepted at 0.5 s, inside the zone 3 readings later (frame 7).
  for (int k = 0; k < 8; ++k) scene.update(frame(i++, three(0)), r.emitter());
  ASSERT_EQ(r.of("crowd").size(), 1u);
  EXPECT_EQ(r.of("crowd")[0]["count"], 3);
  // One leaves the zone: the crowd ends only after crowd_end_s (2 s).
  for (int k = 0; k < 10; ++k) scene.update(frame(i++, three(k >= 1 ? 300.f : 0.f)), r.emitter());
  EXPECT_EQ(r.of("crowd").size(), 1u);
  for (int k = 0; k < 20; ++k) scene.update(frame(i++, three(300.f)), r.emitter());
  ASSERT_EQ(r.of("crowd").size(), 2u);
  EXPECT_EQ(r.of("crowd")[1]["phase"], "end");
  EXPECT_EQ(r.of("crowd")[1]["max_count"], 3);
}

TEST(SceneFilters, LowScoreSmallAndDuplicateTracksProduceNoEvents) {
  SceneConfig c;
  c.filters.push_back({"dog", {0.3f, 100, 5000}});
  SceneAnalyzer scene("cam", c);
  Recorder r;
  for (int64_t i = 0; i < 20; ++i) {
    std::vector<SceneObservation> obs = {
        person(1, 200, 300, 100, 0.9f),
        // A low-score motorbike flicker on the person's legs (the same object twice).
        {2, "motorbike", 3, cv::Rect2f(180, 240, 40, 60), 0.55f},
        // Tiny, confident "car".
        {3, "car", 2, cv::Rect2f(500, 500, 20, 20), 0.9f},
        // A dog with a per-class override: accepted at 0.35.
        {4, "dog", 16, cv::Rect2f(600, 300, 40, 40), 0.35f},
        // A too-large dog (max_area 5000).
        {5, "dog", 16, cv::Rect2f(0, 0, 200, 200), 0.9f}};
    scene.update(frame(i, obs), r.emitter());
  }
  std::map<std::string, int> appeared;
  for (const auto& e : r.of("object_appeared")) ++appeared[e["class"].get<std::string>()];
  EXPECT_EQ(appeared["person"], 1);
  EXPECT_EQ(appeared["dog"], 1);
  EXPECT_EQ(appeared.count("motorbike"), 0u);
  EXPECT_EQ(appeared.count("car"), 0u);
  EXPECT_EQ(default_class_filter("person").min_score, 0.6f);
  EXPECT_EQ(class_filter(c, "dog").min_score, 0.3f);
}

TEST(SceneFilters, MedianScoreOverATrackAtLeastMinAgeOld) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  for (int64_t i = 0; i < 12; ++i) {
    std::vector<SceneObservation> obs = {
        // Mostly weak with a few confident frames: mean 0.68 would pass the person default
        // 0.6, the median 0.5 does not.
        person(1, 100, 300, 100, i % 3 == 0 ? 0.95f : 0.5f),
        // One weak first frame does not sink a confident track.
        person(2, 300, 300, 100, i == 0 ? 0.3f : 0.8f)};
    // A confident flicker that lives 0.4 s (< min_age_s 0.5).
    if (i < 4) obs.push_back(person(3, 500, 300, 100, 0.95f));
    scene.update(frame(i, obs), r.emitter());
  }
  std::map<int64_t, int> appeared;
  for (const auto& e : r.of("object_appeared")) ++appeared[e["track_id"].get<int64_t>()];
  EXPECT_EQ(appeared.count(1), 0u);
  EXPECT_EQ(appeared[2], 1);
  EXPECT_EQ(appeared.count(3), 0u);
  for (const auto& e : r.of("object_appeared")) {
    if (e["track_id"] == 2) {
      EXPECT_EQ(e["frame_index"], 5);  // 0.5 s after its first frame
    }
  }
  EXPECT_TRUE(r.of("object_left").empty());  // the flicker was never announced, so never left

  // Boxes below the detector's threshold that only hold the track (held) do not vote: a
  // confident person who is then held by weak boxes for most frames is still accepted.
  SceneAnalyzer holding("cam", {});
  Recorder h;
  for (int64_t i = 0; i < 10; ++i) {
    SceneObservation o = person(5, 200, 300, 100, i < 3 ? 0.8f : 0.2f);
    o.held = i >= 3;
    holding.update(frame(i, {o}), h.emitter());
  }
  ASSERT_EQ(h.of("object_appeared").size(), 1u);
  EXPECT_EQ(h.of("object_appeared")[0]["frame_index"], 5);

  // min_age_s per class: 0 accepts after min_hits (3) frames.
  SceneConfig c;
  ClassFilterConfig f = default_class_filter("person");
  f.min_age_s = 0;
  c.filters.push_back({"person", f});
  SceneAnalyzer quick("cam", c);
  Recorder q;
  for (int64_t i = 0; i < 4; ++i) quick.update(frame(i, {person(3, 500, 300)}), q.emitter());
  ASSERT_EQ(q.of("object_appeared").size(), 1u);
  EXPECT_EQ(q.of("object_appeared")[0]["frame_index"], 2);
}

TEST(SceneFilters, ObjectLeftCarriesDurationAndStartId) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  for (int64_t i = 0; i < 10; ++i)
    scene.update(frame(i, {person(1, 200, 200 + i * 5.f)}), r.emitter());
  scene.update(frame(10, {}), r.emitter());
  ASSERT_EQ(r.of("object_appeared").size(), 1u);
  ASSERT_EQ(r.of("object_left").size(), 1u);
  const auto left = r.of("object_left")[0];
  EXPECT_EQ(left["start_event_id"], r.of("object_appeared")[0]["event_id"]);
  EXPECT_NEAR(left["duration_s"].get<double>(), 1.0, 0.05);
  for (const char* key :
       {"type", "camera", "frame_index", "frame_time_ms", "track_id", "class", "box", "event_id"}) {
    EXPECT_TRUE(left.contains(key)) << key;
  }
}

TEST(SceneStationary, ParkedCarThatTheTrackerLosesKeepsItsIdAndDoesNotChurn) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  const cv::Rect2f box(400, 300, 160, 90);
  int64_t i = 0;
  for (; i < 50; ++i) scene.update(frame(i, {{11, "car", 2, box, 0.8f}}), r.emitter());
  for (; i < 80; ++i) scene.update(frame(i, {}), r.emitter());  // detector misses it for 3 s
  for (; i < 120; ++i) {
    scene.update(frame(i, {{27, "car", 2, box + cv::Point2f(2, 1), 0.8f}}), r.emitter());
  }
  ASSERT_EQ(r.of("object_appeared").size(), 1u);
  EXPECT_TRUE(r.of("object_left").empty());
  EXPECT_EQ(scene.stats().ghosts_revived, 1u);
  scene.finish(r.emitter());
  ASSERT_EQ(r.of("object_left").size(), 1u);
  EXPECT_EQ(r.of("object_left")[0]["track_id"], 11);
  EXPECT_EQ(r.of("object_left")[0]["stationary"], true);
}

TEST(SceneStationary, AMovingObjectThatVanishesLeaves) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  int64_t i = 0;
  for (; i < 50; ++i) scene.update(frame(i, {person(5, 100 + i * 8.f, 300)}), r.emitter());
  scene.update(frame(i++, {}), r.emitter());
  EXPECT_EQ(r.of("object_left").size(), 1u);
}

TEST(SceneSpeed, CalibratedZoneGivesKmh) {
  SceneConfig c;
  ZoneConfig z;
  z.name = "lane";
  z.polygon = {{0, 0}, {1000, 0}, {1000, 1000}, {0, 1000}};
  z.classes = {"car"};
  // 1 px = 0.02 m: width 20 m over 1000 px, length 20 m over 1000 px.
  z.speed.points = {{0, 0}, {1000, 0}, {1000, 1000}, {0, 1000}};
  z.speed.width_m = 20;
  z.speed.length_m = 20;
  c.zones.push_back(z);
  c.traffic_interval_s = 3;
  SceneAnalyzer scene("cam", c);
  Recorder r;
  // 50 px per frame at 10 fps = 500 px/s = 10 m/s = 36 km/h.
  int64_t i = 0;
  for (; i < 18; ++i) {
    scene.update(frame(i, {{1, "car", 2, cv::Rect2f(100 + i * 50.f, 400, 80, 60), 0.9f}}),
                 r.emitter());
  }
  for (; i < 40; ++i) scene.update(frame(i, {}), r.emitter());
  ASSERT_EQ(r.of("speed").size(), 1u);
  EXPECT_NEAR(r.of("speed")[0]["speed_kmh"].get<double>(), 36.0, 0.5);
  const auto traffic = r.of("traffic");
  ASSERT_FALSE(traffic.empty());
  EXPECT_EQ(traffic[0]["counts"]["car"], 1);
  EXPECT_NEAR(traffic[0]["mean_speed_kmh"].get<double>(), 36.0, 0.5);
  EXPECT_EQ(traffic[0]["congestion"], "free");
}

// ---- activities ------------------------------------------------------------------------

std::map<std::string, int> started(const Recorder& r) {
  std::map<std::string, int> m;
  for (const auto& e : r.of("activity_started")) ++m[e["activity"].get<std::string>()];
  return m;
}

TEST(SceneActivity, StandingWalkingRunningFromSpeedInBodyHeights) {
  for (const auto& [speed_h, expected] : std::vector<std::pair<double, std::string>>{
           {0.0, "standing"}, {0.8, "walking"}, {2.5, "running"}}) {
    SceneAnalyzer scene("cam", {});
    Recorder r;
    for (int64_t i = 0; i < 40; ++i) {
      const float x = 100.f + static_cast<float>(speed_h * 100.0 * static_cast<double>(i) / kFps);
      scene.update(frame(i, {person(1, x, 400)}), r.emitter());
    }
    const auto s = started(r);
    EXPECT_EQ(s.size(), 1u) << expected;
    EXPECT_EQ(s.count(expected), 1u) << expected;
  }
}

TEST(SceneActivity, HysteresisKeepsTheLabelThroughShortBlips) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  float x = 100;
  for (int64_t i = 0; i < 80; ++i) {
    // Walking at 0.8 h/s with a 0.3 s pause every 2 s.
    const bool pause = i % 20 >= 17;
    x += pause ? 0.f : 8.f;
    scene.update(frame(i, {person(1, x, 400)}), r.emitter());
  }
  EXPECT_EQ(started(r), (std::map<std::string, int>{{"walking", 1}}));
}

TEST(SceneActivity, SittingWhenTheBoxGetsShorterAndStaysStill) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  int64_t i = 0;
  for (; i < 30; ++i) scene.update(frame(i, {person(1, 300, 400, 180)}), r.emitter());
  // Sits down over 2 s: height 180 -> 120, foot point (chair) stays.
  for (int k = 0; k < 20; ++k, ++i) {
    const float h = 180.f - 3.f * static_cast<float>(k);
    scene.update(frame(i, {{1, "person", 0, cv::Rect2f(264, 400 - h, 72, h), 0.9f}}), r.emitter());
  }
  for (int k = 0; k < 40; ++k, ++i) {
    scene.update(frame(i, {{1, "person", 0, cv::Rect2f(264, 280, 72, 120), 0.9f}}), r.emitter());
  }
  const auto s = started(r);
  EXPECT_EQ(s.count("standing"), 1u);
  EXPECT_EQ(s.count("sitting"), 1u);
  EXPECT_EQ(s.count("falling"), 0u);
  EXPECT_TRUE(r.of("fall").empty());
}

TEST(SceneActivity, LoiteringAfterALongStayInASmallArea) {
  SceneParams p;
  p.activity.loiter_s = 5;
  SceneAnalyzer scene("cam", {}, p);
  Recorder r;
  for (int64_t i = 0; i < 80; ++i) {
    const float x = 300.f + 10.f * std::sin(static_cast<float>(i) * 0.1f);  // pacing slowly
    scene.update(frame(i, {person(1, x, 400)}), r.emitter());
  }
  EXPECT_EQ(started(r).count("loitering"), 1u);
}

TEST(SceneActivity, VehicleMovingThenParking) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  int64_t i = 0;
  float x = 100;
  for (; i < 30; ++i, x += 20)
    scene.update(frame(i, {{4, "car", 2, cv::Rect2f(x, 300, 160, 80), 0.9f}}), r.emitter());
  for (; i < 70; ++i)
    scene.update(frame(i, {{4, "car", 2, cv::Rect2f(x, 300, 160, 80), 0.9f}}), r.emitter());
  const auto s = started(r);
  EXPECT_EQ(s.count("vehicle_moving"), 1u);
  EXPECT_EQ(s.count("vehicle_parking"), 1u);
  ASSERT_EQ(r.of("activity_ended").size(), 1u);
  EXPECT_EQ(r.of("activity_ended")[0]["activity"], "vehicle_moving");
}

TEST(SceneActivity, VehicleClassIsVotedOverDetections) {
  VehicleClassifier vc;
  vc.vote(1, "car", 0.6);
  vc.vote(1, "truck", 0.7);
  vc.vote(1, "truck", 0.7);
  vc.vote(1, "person", 5.0);  // not a vehicle: ignored
  EXPECT_EQ(vc.label(1), "truck");
  EXPECT_EQ(vc.label(2), "");
}

TEST(SceneActivity, CrowdGatheringForSlowDenseGroups) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  for (int64_t i = 0; i < 30; ++i) {
    scene.update(frame(i, {person(1, 200, 400), person(2, 260, 400), person(3, 320, 410),
                           person(4, 230, 380)}),
                 r.emitter());
  }
  EXPECT_EQ(started(r)["crowd_gathering"], 4);
}

TEST(SceneActivity, FightNeedsProximityAndMotionEnergy) {
  auto run = [](bool agitated) {
    SceneAnalyzer scene("cam", {});
    Recorder r;
    for (int64_t i = 0; i < 40; ++i) {
      // Boxes shaking by +-12 px per frame around fixed spots 60 px apart.
      const float j = agitated ? (i % 2 ? 12.f : -12.f) : 0.f;
      scene.update(frame(i, {{1, "person", 0, cv::Rect2f(200 + j, 300 - j, 50 + j, 130), 0.9f},
                             {2, "person", 0, cv::Rect2f(260 - j, 300 + j, 50 - j, 130), 0.9f}}),
                   r.emitter());
    }
    return r;
  };
  const Recorder calm = run(false);
  EXPECT_TRUE(calm.of("fight").empty());
  const Recorder fight = run(true);
  ASSERT_GE(fight.of("fight").size(), 1u);
  EXPECT_EQ(fight.of("fight")[0]["phase"], "start");
  EXPECT_EQ(fight.of("fight")[0]["track_ids"].size(), 2u);
  EXPECT_GE(started(fight)["fighting"], 2);
}

// ---- falls -----------------------------------------------------------------------------

// A standing person (h 180, w 60) who goes down to a lying box (h 60, w 170) over `fall_s`.
Recorder fall_run(double fall_s, bool stay_visible, int64_t* ground_frame, cv::Size size = {}) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  int64_t i = 0;
  auto sized = [&](SceneFrame f) {
    f.frame_size = size;
    return f;
  };
  for (; i < 30; ++i)
    scene.update(sized(frame(i, {{1, "person", 0, cv::Rect2f(300, 220, 60, 180), 0.9f}})),
                 r.emitter());
  const int steps = std::max(1, static_cast<int>(fall_s * kFps));
  for (int k = 1; k <= steps; ++k, ++i) {
    const float a = static_cast<float>(k) / static_cast<float>(steps);
    const float h = 180.f - 120.f * a, w = 60.f + 110.f * a;
    scene.update(sized(frame(i, {{1, "person", 0, cv::Rect2f(300, 400 - h, w, h), 0.9f}})),
                 r.emitter());
  }
  *ground_frame = i - 1;
  for (int k = 0; k < 30; ++k, ++i) {
    if (stay_visible) {
      scene.update(sized(frame(i, {{1, "person", 0, cv::Rect2f(300, 340, 170, 60), 0.9f}})),
                   r.emitter());
    } else {
      SceneFrame f = sized(frame(i, {}));
      f.live_ids = {1};  // lost by the detector, still held by the tracker
      scene.update(f, r.emitter());
    }
  }
  return r;
}

TEST(SceneFall, FiresOnceWithinOneSecondOfReachingTheGround) {
  for (bool visible : {true, false}) {
    int64_t ground = 0;
    const Recorder r = fall_run(0.6, visible, &ground);
    const auto falls = r.of("fall");
    ASSERT_EQ(falls.size(), 1u) << "visible=" << visible;
    const int64_t at = falls[0]["frame_index"];
    EXPECT_GE(at, ground - 5);
    EXPECT_LE(at, ground + static_cast<int64_t>(kFps));
    EXPECT_EQ(started(r).count("falling"), 1u);
  }
}

TEST(SceneFall, NotJudgedOnAPersonCutByTheFrameEdge) {
  // The upright box ends at y = 400: inside a 640x480 frame it is a whole body and the fall
  // fires; in a 640x400 frame it touches the bottom edge (someone close to the camera, only
  // partly in view), so its top and height say nothing about a fall.
  int64_t ground = 0;
  EXPECT_EQ(fall_run(0.6, true, &ground, {640, 480}).of("fall").size(), 1u);
  EXPECT_TRUE(fall_run(0.6, true, &ground, {640, 400}).of("fall").empty());
  EXPECT_TRUE(fall_run(0.6, false, &ground, {640, 400}).of("fall").empty());
}

TEST(SceneFall, LostByTheDetectorMidFallIsAFall) {
  auto run = [](bool then_seen_standing) {
    SceneAnalyzer scene("cam", {});
    Recorder r;
    int64_t i = 0;
    for (; i < 30; ++i)
      scene.update(frame(i, {{1, "person", 0, cv::Rect2f(300, 220, 60, 180), 0.9f}}), r.emitter());
    // Two samples of the drop (top down 25 %, box wider), then no detection.
    scene.update(frame(i++, {{1, "person", 0, cv::Rect2f(300, 250, 90, 150), 0.9f}}), r.emitter());
    scene.update(frame(i++, {{1, "person", 0, cv::Rect2f(300, 265, 110, 135), 0.9f}}), r.emitter());
    for (int k = 0; k < 3; ++k) {
      SceneFrame f = frame(i++, {});
      f.live_ids = {1};
      scene.update(f, r.emitter());
    }
    if (then_seen_standing) {
      scene.update(frame(i++, {{1, "person", 0, cv::Rect2f(300, 220, 60, 180), 0.9f}}),
                   r.emitter());
    }
    for (int k = 0; k < 10; ++k) {
      SceneFrame f = frame(i++, {});
      f.live_ids = {1};
      scene.update(f, r.emitter());
    }
    return r.of("fall").size();
  };
  EXPECT_EQ(run(false), 1u);
  EXPECT_EQ(run(true), 0u);  // seen upright again within 0.4 s: a stumble
}

TEST(SceneFall, WalkingAwayAndBendingSlightlyAreNotFalls) {
  SceneAnalyzer scene("cam", {});
  Recorder r;
  int64_t i = 0;
  // Walks away from the camera: the box shrinks, its foot point moves up the image.
  for (; i < 60; ++i) {
    const float h = 200.f - 1.5f * static_cast<float>(i),
                bottom = 400.f - 2.f * static_cast<float>(i);
    scene.update(frame(i, {{1, "person", 0, cv::Rect2f(300, bottom - h, h * 0.35f, h), 0.9f}}),
                 r.emitter());
  }
  // Bends slightly (top drops 15 %) and straightens up.
  for (int k = 0; k < 20; ++k, ++i) {
    const float h =
        k < 10 ? 110.f - 1.6f * static_cast<float>(k) : 94.f + 1.6f * static_cast<float>(k - 10);
    scene.update(frame(i, {{1, "person", 0, cv::Rect2f(300, 300 - h, 40, h), 0.9f}}), r.emitter());
  }
  EXPECT_TRUE(r.of("fall").empty());
}

TEST(SceneFall, RearmsAfterThePersonGetsUp) {
  FallDetector fd;
  std::deque<TrackSample> s;
  int fired = 0;
  double t = 0;
  auto push = [&](cv::Rect2f b) {
    s.push_back({t, b, 0.9f});
    if (fd.update(s, &s.back(), t)) ++fired;
    t += 0.1;
  };
  for (int round = 0; round < 2; ++round) {
    for (int k = 0; k < 30; ++k) push({300, 220, 60, 180});
    for (int k = 0; k < 10; ++k) push({300, 340, 170, 60});
  }
  EXPECT_EQ(fired, 2);
}

// Standing (60x180, feet at y = 400) for 3 s, then lowering over `lower_s` to `end_h` of the
// standing height with the feet in place (the box a little wider), then staying there 2 s.
// Returns the number of falls and the time of the first one (-1 if none).
std::pair<int, double> lowering(double lower_s, double end_h, float end_w = 90.f) {
  FallDetector fd;
  std::deque<TrackSample> s;
  int fired = 0;
  double t = 0, first = -1;
  auto push = [&](cv::Rect2f b) {
    s.push_back({t, b, 0.9f});
    if (fd.update(s, &s.back(), t)) {
      ++fired;
      if (first < 0) first = t;
    }
    t += 1.0 / kFps;
  };
  for (int k = 0; k < 30; ++k) push({300, 220, 60, 180});
  const int steps = static_cast<int>(lower_s * kFps);
  for (int k = 1; k <= steps; ++k) {
    const float a = static_cast<float>(k) / static_cast<float>(steps);
    const float h = 180.f * (1.f - a * (1.f - static_cast<float>(end_h)));
    push({300, 400 - h, 60 + (end_w - 60) * a, h});
  }
  for (int k = 0; k < 20; ++k) {
    const float h = 180.f * static_cast<float>(end_h);
    push({300, 400 - h, end_w, h});
  }
  return {fired, first};
}

TEST(SceneFall, SlowSlideDownToTheFloorFires) {
  // A slide down a wall over 3 s to sitting on the floor (0.45 of the standing height): too
  // slow for the drop rules (the top never falls 0.3 heights within 1.2 s), but it ends on the
  // floor. Fires once, after the slide began (t = 3 s) and within 0.5 s of its end (t = 6 s).
  const auto [fired, at] = lowering(3.0, 0.45);
  EXPECT_EQ(fired, 1);
  EXPECT_GE(at, 3.0);
  EXPECT_LE(at, 6.5);
}

TEST(SceneFall, SittingDownOnAChairOrSquattingBrieflyIsNotAFall) {
  // Sitting down on a chair (seated box 0.72 of the standing height), at a slow and at a quick
  // pace: the person stops well above the floor.
  EXPECT_EQ(lowering(2.0, 0.72).first, 0);
  EXPECT_EQ(lowering(1.0, 0.72, 70.f).first, 0);
  // Crouching slowly to 0.62 (knees bent, back upright) and staying there.
  EXPECT_EQ(lowering(2.5, 0.62, 75.f).first, 0);
}

TEST(SceneFall, FloorRuleNeedsAnUprightPersonJustBefore) {
  // Someone first seen already low (sitting on the floor, never standing in view) and someone
  // who stood up long before they went low are not judged by the floor rule.
  FallDetector fd;
  std::deque<TrackSample> s;
  int fired = 0;
  double t = 0;
  for (int k = 0; k < 50; ++k, t += 0.1) {
    s.push_back({t, {300, 320, 90, 80}, 0.9f});
    if (fd.update(s, &s.back(), t)) ++fired;
  }
  EXPECT_EQ(fired, 0);
  FallDetector late;
  s.clear();
  for (int k = 0; k < 30; ++k, t += 0.1) {
    s.push_back({t, {300, 220, 60, 180}, 0.9f});
    late.update(s, &s.back(), t);
  }
  // 5 s without any sample (left the view), then a low box where they stood.
  t += 5.0;
  for (int k = 0; k < 10; ++k, t += 0.1) {
    s.push_back({t, {300, 320, 90, 80}, 0.9f});
    if (late.update(s, &s.back(), t)) ++fired;
  }
  EXPECT_EQ(fired, 0);
}

TEST(SceneFall, LostPersonSeenOnTheFloorOnlyAsForeground) {
  // The detector loses the person after they stood for 3 s; what the foreground shows where
  // they stood decides. `blob` is the posture evidence for each of the 10 lost frames.
  auto run = [](std::optional<cv::Rect2f> blob) {
    FallDetector fd;
    std::deque<TrackSample> s;
    double t = 0;
    int fired = 0;
    for (int k = 0; k < 30; ++k, t += 0.1) {
      s.push_back({t, {300, 220, 60, 180}, 0.9f});
      fd.update(s, &s.back(), t);
    }
    for (int k = 0; k < 10; ++k, t += 0.1) {
      if (fd.update(s, nullptr, t, blob)) ++fired;
    }
    return fired;
  };
  EXPECT_EQ(run(cv::Rect2f(280, 330, 170, 70)), 1);  // lying where they stood
  EXPECT_EQ(run(std::nullopt), 0);                   // nothing there: walked off, occluded
  EXPECT_EQ(run(cv::Rect2f(290, 230, 70, 170)), 0);  // still upright (undetected, standing)
  EXPECT_EQ(run(cv::Rect2f(300, 150, 60, 70)), 0);   // a low box above their feet: not the floor
}

TEST(SceneEvents, TypesAreRegistered) {
  SceneAnalyzer::register_event_types();
  SceneAnalyzer::register_event_types();  // idempotent
  auto& reg = EventTypeRegistry::instance();
  for (const char* t : {"zone_enter", "zone_exit", "line_cross", "loitering", "crowd", "speed",
                        "traffic", "activity_started", "activity_ended", "fall", "fight"}) {
    EXPECT_TRUE(reg.contains(t)) << t;
  }
}

}  // namespace
}  // namespace ev
