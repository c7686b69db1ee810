// The service's MQTT state beside the events: confirmed tracks per class (retained
// <prefix>/<camera>/counts, Home Assistant entities) and periodic <prefix>/stats.
#include <spdlog/spdlog.h>

#include <cmath>

#include "edgevision/pipeline.hpp"

namespace ev {

struct LiveCounts {
  std::mutex mutex;
  std::map<std::string, std::map<std::string, int>> cameras;  // camera -> class -> tracks
  std::map<std::string, nlohmann::json> tracks;               // camera -> live view overlay
};

namespace {

class CountsHook final : public AnalyticsHook {
 public:
  CountsHook(std::string camera, std::shared_ptr<LiveCounts> counts)
      : camera_(std::move(camera)), counts_(std::move(counts)) {}
  void on_frame(const AnalyticsFrame& frame, const EventEmitter&) override {
    // Frames the detector skipped carry predicted tracks only; the last measured count stands.
    if (!frame.detector_ran) return;
    std::map<std::string, int> now;
    nlohmann::json boxes = nlohmann::json::array();
    for (const auto& t : frame.tracks) {
      ++now[t.label];
      boxes.push_back({{"id", t.id},
                       {"class", t.label},
                       {"box",
                        {std::round(t.box.x), std::round(t.box.y), std::round(t.box.width),
                         std::round(t.box.height)}}});
    }
    std::lock_guard lock(counts_->mutex);
    counts_->cameras[camera_] = std::move(now);
    counts_->tracks[camera_] = std::move(boxes);
  }

 private:
  std::string camera_;
  std::shared_ptr<LiveCounts> counts_;
};

}  // namespace

nlohmann::json Service::live_tracks(const std::string& camera_id) const {
  std::lock_guard lock(live_counts_->mutex);
  const auto it = live_counts_->tracks.find(camera_id);
  return it == live_counts_->tracks.end() ? nlohmann::json::array() : it->second;
}

void Service::init_mqtt_state() {
  live_counts_ = std::make_shared<LiveCounts>();
  // The hook also feeds the dashboard's live view, so it runs without MQTT too.
  hooks_.push_back([counts = live_counts_](const CameraConfig& camera) {
    return std::make_unique<CountsHook>(camera.id, counts);
  });
  if (!config_.events.mqtt.enabled) return;
  // The configured classes show as 0 from the start (Home Assistant gets their entities at once).
  const std::vector<std::string> classes = config_.detection.classes.empty()
                                               ? std::vector<std::string>{"person"}
                                               : config_.detection.classes;
  for (const auto& c : config_.cameras) {
    if (!c.enabled || !c.detect) continue;
    auto& m = live_counts_->cameras[c.id];
    for (const auto& cls : classes) m[cls] = 0;
  }
}

void Service::publish_mqtt_state() {
  std::map<std::string, std::map<std::string, int>> counts;
  {
    std::lock_guard lock(live_counts_->mutex);
    counts = live_counts_->cameras;
  }
  const auto now = std::chrono::steady_clock::now();
  bool stats_due = false;
  int interval = 0;
  std::string device;
  {
    std::lock_guard lock(router_mutex_);
    if (!router_ || !router_->mqtt_state()) return;
    interval = router_->config().mqtt.stats_interval_s;
    device = router_->mqtt_state()->device_id();
    for (const auto& [camera, objects] : counts) router_->mqtt_state()->set_counts(camera, objects);
    stats_due = interval > 0 && (last_mqtt_stats_ == std::chrono::steady_clock::time_point{} ||
                                 now - last_mqtt_stats_ >= std::chrono::seconds(interval));
  }
  if (!stats_due) return;
  last_mqtt_stats_ = now;

  nlohmann::ordered_json stats;
  stats["device"] = device;
  stats["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(now - started_at_).count();
  nlohmann::ordered_json cams = nlohmann::ordered_json::array();
  for (const auto& c : cameras()) {
    cams.push_back({{"id", c.id},
                    {"state", c.state},
                    {"error", c.error},
                    {"fps_in", std::round(c.fps_in * 10) / 10},
                    {"fps_out", std::round(c.fps_out * 10) / 10},
                    {"latency_ms", std::round(c.latency_ms * 10) / 10},
                    {"frames_in", c.frames_in},
                    {"frames_out", c.frames_out},
                    {"frames_dropped", c.frames_dropped},
                    {"active_tracks", c.active_tracks},
                    {"reconnects", c.reconnects},
                    {"model_version", c.model_version}});
  }
  stats["cameras"] = cams;
  nlohmann::ordered_json sinks = nlohmann::ordered_json::array();
  for (const auto& s : sink_stats()) {
    sinks.push_back({{"name", s.name},
                     {"connected", s.connected},
                     {"spool_pending", s.spool.pending},
                     {"delivered", s.delivered}});
  }
  stats["sinks"] = sinks;
  stats["rss_bytes"] = process_rss_bytes();
  std::lock_guard lock(router_mutex_);
  if (router_ && router_->mqtt_state()) router_->mqtt_state()->set_stats(stats);
}

}  // namespace ev
