// The per-camera filters / zones / lines / analytics keys: parsed, validated, errors named.
#include <gtest/gtest.h>

#include "edgevision/config.hpp"

namespace ev {
namespace {

Result<Config> parse(const std::string& cameras_tail) {
  return parse_config("cameras:\n  - id: lobby\n    source: a.avi\n" + cameras_tail, "cfg.yaml",
                      "/base");
}

TEST(SceneConfig, IssueExampleParses) {
  auto cfg = parse(R"(    filters:
      person: {min_score: 0.5, min_area: 900, max_area: 0, min_age_s: 1.5}
    zones:
      - name: entrance
        polygon: [[100,400],[600,400],[600,700],[100,700]]
        classes: [person]
        loitering_s: 30
        max_objects: 10
        speed: {points: [[120,420],[580,420],[640,700],[60,700]], width_m: 4.0, length_m: 10.0}
    lines:
      - name: door
        points: [[300,120],[300,560]]
        classes: [person]
    analytics: {activities: false, traffic_interval_s: 30, snapshots: 5, floor_evidence: false}
)");
  ASSERT_TRUE(cfg) << cfg.error();
  const SceneConfig& s = cfg->cameras[0].scene;
  ASSERT_EQ(s.filters.size(), 1u);
  EXPECT_EQ(s.filters[0].first, "person");
  EXPECT_FLOAT_EQ(s.filters[0].second.min_score, 0.5f);
  EXPECT_EQ(s.filters[0].second.min_area, 900);
  EXPECT_DOUBLE_EQ(s.filters[0].second.min_age_s, 1.5);
  ASSERT_EQ(s.zones.size(), 1u);
  EXPECT_EQ(s.zones[0].name, "entrance");
  EXPECT_EQ(s.zones[0].polygon.size(), 4u);
  EXPECT_EQ(s.zones[0].polygon[2], cv::Point2f(600, 700));
  EXPECT_EQ(s.zones[0].classes, std::vector<std::string>{"person"});
  EXPECT_EQ(s.zones[0].loitering_s, 30);
  EXPECT_EQ(s.zones[0].max_objects, 10);
  EXPECT_EQ(s.zones[0].speed.points.size(), 4u);
  EXPECT_EQ(s.zones[0].speed.length_m, 10.0);
  ASSERT_EQ(s.lines.size(), 1u);
  EXPECT_EQ(s.lines[0].p1, cv::Point2f(300, 120));
  EXPECT_EQ(s.lines[0].p2, cv::Point2f(300, 560));
  EXPECT_FALSE(s.activities);
  EXPECT_EQ(s.traffic_interval_s, 30);
  EXPECT_EQ(s.snapshots, 5);
  EXPECT_FALSE(s.floor_evidence);
}

TEST(SceneConfig, DefaultsWhenAbsent) {
  auto cfg = parse("");
  ASSERT_TRUE(cfg) << cfg.error();
  const SceneConfig& s = cfg->cameras[0].scene;
  EXPECT_TRUE(s.filters.empty());
  EXPECT_TRUE(s.zones.empty());
  EXPECT_TRUE(s.lines.empty());
  EXPECT_TRUE(s.activities);
  EXPECT_EQ(s.traffic_interval_s, 60);
  EXPECT_EQ(s.snapshots, 32);
  EXPECT_TRUE(s.floor_evidence);
}

void expect_error(const std::string& tail, const std::string& fragment) {
  auto cfg = parse(tail);
  ASSERT_FALSE(cfg) << tail;
  EXPECT_NE(cfg.error().find(fragment), std::string::npos) << cfg.error();
}

TEST(SceneConfig, ErrorsNameTheKey) {
  expect_error("    zones:\n      - name: a\n        polygon: [[0,0],[1,1]]\n", "zones[0].polygon");
  expect_error("    zones:\n      - name: a\n        polygon: [[0,0],[10,10],[20,20]]\n",
               "non-zero area");
  expect_error("    zones:\n      - polygon: [[0,0],[10,0],[0,10]]\n", "zones[0].name");
  expect_error("    lines:\n      - name: d\n        points: [[5,5],[5,5]]\n",
               "two distinct points");
  expect_error(
      "    lines:\n      - name: d\n        points: [[5,5],[5,50]]\n      - name: d\n        "
      "points: [[1,1],[9,9]]\n",
      "duplicate name");
  expect_error("    filters:\n      person: {min_score: 1.5}\n", "filters.person.min_score");
  expect_error("    filters:\n      person: {min_area: 100, max_area: 50}\n", "max_area");
  expect_error("    filters:\n      person: {min_age_s: -1}\n", "filters.person.min_age_s");
  expect_error("    filters:\n      person: {colour: red}\n", "unknown key");
  expect_error(
      "    zones:\n      - name: a\n        polygon: [[0,0],[10,0],[0,10]]\n        speed: "
      "{points: [[0,0],[1,0],[1,1],[0,1]]}\n",
      "width_m");
  expect_error("    analytics: {activity: true}\n", "unknown key");
  expect_error("    analytics: {snapshots: -1}\n", "analytics.snapshots");
}

}  // namespace
}  // namespace ev
