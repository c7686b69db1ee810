// A ServiceView with scripted cameras, synthetic frames and a hand-driven event feed, for the
// server tests and the ev_fake_service binary behind the dashboard test.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/service.hpp"

namespace ev::test {

class FakeEventFeed : public EventFeed {
 public:
  uint64_t subscribe(Callback callback) override {
    std::lock_guard lock(mutex_);
    subscribers_[next_id_] = std::move(callback);
    return next_id_++;
  }
  void unsubscribe(uint64_t id) override {
    std::lock_guard lock(mutex_);
    subscribers_.erase(id);
  }
  std::vector<nlohmann::json> recent(size_t max_events) const override {
    std::lock_guard lock(mutex_);
    const size_t n = std::min(max_events, recent_.size());
    return {recent_.end() - static_cast<std::ptrdiff_t>(n), recent_.end()};
  }
  void publish(const nlohmann::json& event) {
    std::vector<Callback> callbacks;
    {
      std::lock_guard lock(mutex_);
      recent_.push_back(event);
      if (recent_.size() > 200) recent_.pop_front();
      for (auto& [id, cb] : subscribers_) callbacks.push_back(cb);
    }
    for (auto& cb : callbacks) cb(event);
  }
  size_t subscriber_count() const {
    std::lock_guard lock(mutex_);
    return subscribers_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::map<uint64_t, Callback> subscribers_;
  std::deque<nlohmann::json> recent_;
  uint64_t next_id_ = 1;
};

// A frame that is obviously synthetic: gradient, moving box, camera name and frame number.
inline std::vector<uint8_t> synthetic_jpeg(const std::string& label, int n, int w = 320,
                                           int h = 180) {
  cv::Mat img(h, w, CV_8UC3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      img.at<cv::Vec3b>(y, x) = cv::Vec3b(static_cast<uint8_t>(80 + x * 100 / w),
                                          static_cast<uint8_t>(60 + y * 120 / h), 40);
  const int bx = (n * 7) % (w - 60);
  cv::rectangle(img, cv::Rect(bx, h / 2 - 25, 60, 50), cv::Scalar(30, 160, 240), cv::FILLED);
  cv::putText(img, label + " #" + std::to_string(n), cv::Point(8, 22), cv::FONT_HERSHEY_SIMPLEX,
              0.6, cv::Scalar(255, 255, 255), 2);
  std::vector<uint8_t> jpeg;
  cv::imencode(".jpg", img, jpeg);
  return jpeg;
}

class FakeService : public ServiceView {
 public:
  FakeService() : registry_(std::make_shared<prometheus::Registry>()) {
    auto& fps = prometheus::BuildGauge()
                    .Name("edgevision_camera_fps")
                    .Help("Frames processed per second")
                    .Register(*registry_);
    fps.Add({{"camera", "front-door"}}).Set(12.5);
    fps.Add({{"camera", "car-park"}}).Set(8);
    prometheus::BuildCounter()
        .Name("edgevision_frames_dropped_total")
        .Help("Frames dropped under back-pressure")
        .Register(*registry_)
        .Add({{"camera", "front-door"}})
        .Increment(3);
    CameraStatus a;
    a.id = "front-door";
    a.source = "file:///videos/door.mp4";
    a.state = "running";
    a.fps_in = 12.5;
    a.fps_out = 12.4;
    a.frames_in = 1000;
    a.frames_out = 990;
    a.frames_dropped = 3;
    a.faces_anonymized = 42;
    a.latency_ms = 31.5;
    a.active_tracks = 2;
    CameraStatus b = a;
    b.id = "car-park";
    b.source = "rtsp://10.0.0.5/stream";
    b.fps_in = b.fps_out = 8;
    b.frames_dropped = 0;
    b.latency_ms = 55.1;
    cameras_ = {a, b};
  }

  std::vector<CameraStatus> cameras() const override {
    std::lock_guard lock(mutex_);
    return cameras_;
  }
  std::optional<std::vector<uint8_t>> snapshot_jpeg(const std::string& id) const override {
    std::lock_guard lock(mutex_);
    auto it = snapshots_.find(id);
    if (it == snapshots_.end()) return std::nullopt;
    return it->second;
  }
  std::optional<std::vector<uint8_t>> event_snapshot_jpeg(const std::string& id) const override {
    return snapshot_jpeg("event:" + id);  // set_snapshot("event:<event_id>", ...)
  }
  EventFeed& events() override { return feed_; }
  prometheus::Registry& metrics() override { return *registry_; }
  nlohmann::json health() const override {
    std::lock_guard lock(mutex_);
    return health_;
  }

  void set_snapshot(const std::string& id, std::vector<uint8_t> jpeg) {
    std::lock_guard lock(mutex_);
    snapshots_[id] = std::move(jpeg);
  }
  void set_health(nlohmann::json h) {
    std::lock_guard lock(mutex_);
    health_ = std::move(h);
  }
  nlohmann::json live_tracks(const std::string& id) const override {
    std::lock_guard lock(mutex_);
    auto it = tracks_.find(id);
    return it == tracks_.end() ? nlohmann::json::array() : it->second;
  }
  nlohmann::json scene(const std::string& id) const override {
    std::lock_guard lock(mutex_);
    auto it = scenes_.find(id);
    if (it != scenes_.end()) return it->second;
    for (const auto& c : cameras_)
      if (c.id == id) return ServiceView::scene(id);
    return nullptr;
  }
  void set_scene(const std::string& id, nlohmann::json scene) {
    std::lock_guard lock(mutex_);
    scenes_[id] = std::move(scene);
  }
  void set_tracks(const std::string& id, nlohmann::json tracks) {
    std::lock_guard lock(mutex_);
    tracks_[id] = std::move(tracks);
  }
  void add_camera(const CameraStatus& c) {
    std::lock_guard lock(mutex_);
    cameras_.push_back(c);
  }
  void update_camera(const CameraStatus& c) {
    std::lock_guard lock(mutex_);
    for (auto& x : cameras_)
      if (x.id == c.id) x = c;
  }
  FakeEventFeed& feed() { return feed_; }

 private:
  mutable std::mutex mutex_;
  std::vector<CameraStatus> cameras_;
  std::map<std::string, std::vector<uint8_t>> snapshots_;
  std::map<std::string, nlohmann::json> tracks_;
  std::map<std::string, nlohmann::json> scenes_;
  nlohmann::json health_ = {{"status", "ok"}, {"cameras", 2}};
  FakeEventFeed feed_;
  std::shared_ptr<prometheus::Registry> registry_;
};

inline nlohmann::json synthetic_event(const std::string& camera, int n) {
  return {{"schema", 1},
          {"event_id", camera + "-t-" + std::to_string(n)},
          {"type", n % 2 ? "object_left" : "object_appeared"},
          {"camera", camera},
          {"track_id", n},
          {"class", n % 3 ? "person" : "car"},
          {"score", 0.8},
          {"box", {10 + n % 50, 20, 60, 120}},
          {"frame_time", 1700000000.0 + n}};
}

}  // namespace ev::test
