// The dashboard's view of a camera's scene: its configured zones and lines with the counts the
// scene events carry (crossings per direction since start, objects in each zone now).
#include <algorithm>
#include <cmath>

#include "edgevision/pipeline.hpp"

namespace ev {

void Service::count_scene(const nlohmann::json& event) {
  const std::string type = event.value("type", "");
  if (type != "line_cross" && type != "zone_enter" && type != "zone_exit") return;
  const std::string camera = event.value("camera", "");
  std::lock_guard lock(scene_counts_.mutex);
  if (type == "line_cross") {
    const std::string direction = event.value("direction", "");
    if (direction == "in" || direction == "out")
      ++scene_counts_.lines[camera][event.value("line", "")][direction];
    return;
  }
  if (event.contains("occupancy") && event["occupancy"].is_number_integer())
    scene_counts_.zones[camera][event.value("zone", "")] =
        std::max(0, event["occupancy"].get<int>());
}

nlohmann::json Service::scene(const std::string& camera_id) const {
  CameraConfig camera;
  {
    std::lock_guard lock(mutex_);
    const auto it = std::find_if(config_.cameras.begin(), config_.cameras.end(),
                                 [&](const CameraConfig& c) { return c.id == camera_id; });
    if (it == config_.cameras.end()) return nullptr;
    camera = *it;
  }
  auto point = [](const cv::Point2f& p) {
    return nlohmann::json::array({std::round(p.x * 10) / 10, std::round(p.y * 10) / 10});
  };
  nlohmann::json zones = nlohmann::json::array(), lines = nlohmann::json::array();
  std::lock_guard lock(scene_counts_.mutex);
  const auto zc = scene_counts_.zones.find(camera_id);
  const auto lc = scene_counts_.lines.find(camera_id);
  for (const auto& z : camera.scene.zones) {
    nlohmann::json polygon = nlohmann::json::array();
    for (const auto& p : z.polygon) polygon.push_back(point(p));
    int occupancy = 0;
    if (zc != scene_counts_.zones.end()) {
      const auto o = zc->second.find(z.name);
      if (o != zc->second.end()) occupancy = o->second;
    }
    zones.push_back({{"name", z.name}, {"polygon", polygon}, {"occupancy", occupancy}});
  }
  for (const auto& l : camera.scene.lines) {
    uint64_t in = 0, out = 0;
    if (lc != scene_counts_.lines.end()) {
      const auto c = lc->second.find(l.name);
      if (c != lc->second.end()) {
        if (const auto i = c->second.find("in"); i != c->second.end()) in = i->second;
        if (const auto o = c->second.find("out"); o != c->second.end()) out = o->second;
      }
    }
    lines.push_back(
        {{"name", l.name}, {"points", {point(l.p1), point(l.p2)}}, {"in", in}, {"out", out}});
  }
  const cv::Rect& r = camera.roi;
  return {{"roi", {r.x, r.y, r.width, r.height}}, {"zones", zones}, {"lines", lines}};
}

}  // namespace ev
