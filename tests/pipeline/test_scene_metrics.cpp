// Scene analytics events become metrics: line crossings per line/direction/class, zone occupancy.
#include <gtest/gtest.h>

#include <prometheus/text_serializer.h>

#include "pipeline/metrics.hpp"

namespace ev {
namespace {

TEST(SceneMetrics, LineCrossingsAndZoneOccupancy) {
  ServiceMetrics m;
  const nlohmann::json cross = {{"type", "line_cross"},
                                {"camera", "lobby"},
                                {"line", "door"},
                                {"direction", "in"},
                                {"class", "person"}};
  m.count_scene_event(cross);
  m.count_scene_event(cross);
  m.count_scene_event(
      {{"type", "zone_enter"}, {"camera", "lobby"}, {"zone", "bay"}, {"occupancy", 3}});
  m.count_scene_event(
      {{"type", "zone_exit"}, {"camera", "lobby"}, {"zone", "bay"}, {"occupancy", 2}});
  m.count_scene_event({{"type", "object_appeared"}, {"camera", "lobby"}});  // not a scene metric
  const std::string text = prometheus::TextSerializer().Serialize(m.registry->Collect());
  EXPECT_NE(
      text.find(
          "edgevision_line_crossings_total{camera=\"lobby\",class=\"person\",direction=\"in\","
          "line=\"door\"} 2"),
      std::string::npos)
      << text;
  EXPECT_NE(text.find("edgevision_zone_occupancy{camera=\"lobby\",zone=\"bay\"} 2"),
            std::string::npos)
      << text;
}

}  // namespace
}  // namespace ev
