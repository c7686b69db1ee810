// The contract between the pipeline runtime (src/pipeline, src/events) and the REST server
// (src/server): what the server can see of a running service. The pipeline side implements
// ServiceView; the server only reads through it, so each side is testable with a fake.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace prometheus {
class Registry;
}

namespace ev {

struct CameraStatus {
  std::string id;
  std::string source;
  std::string state;   // starting | running | reconnecting | stopped | failed
  std::string error;   // last error, empty if none
  double fps_in = 0;   // frames read per second (recent)
  double fps_out = 0;  // frames fully processed per second (recent)
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t frames_dropped = 0;  // back-pressure drops
  uint64_t frames_failed = 0;   // fail-closed (face detection failed)
  uint64_t motion_skipped = 0;  // detector skipped: no motion
  uint64_t behind_skipped = 0;  // detector skipped: the camera was behind (skip_when_behind)
  uint64_t faces_anonymized = 0;
  double latency_ms = 0;  // recent end-to-end per-frame latency
  int active_tracks = 0;
  std::string model_version;  // object detector version being served (OTA or manifest)
  double fps_cap = 0;         // the camera's configured fps cap (0: none)
  uint64_t reconnects = 0;    // times the source was reopened after a failed open or a drop
};

// Bounded fan-out of events (JSON objects with a "schema" field) to in-process subscribers
// such as the SSE endpoint. Subscribers must return quickly; slow ones are the server's
// problem to buffer (boundedly).
class EventFeed {
 public:
  using Callback = std::function<void(const nlohmann::json& event)>;
  virtual ~EventFeed() = default;
  virtual uint64_t subscribe(Callback callback) = 0;
  virtual void unsubscribe(uint64_t id) = 0;
  virtual std::vector<nlohmann::json> recent(size_t max_events) const = 0;  // newest last
};

class ServiceView {
 public:
  virtual ~ServiceView() = default;
  virtual std::vector<CameraStatus> cameras() const = 0;
  // Latest anonymized frame of a camera as JPEG; nullopt if unknown camera or no frame yet.
  // Never returns a frame that did not pass the anonymizer.
  virtual std::optional<std::vector<uint8_t>> snapshot_jpeg(const std::string& camera_id) const = 0;
  // The anonymized frame an event's `snapshot` field refers to; nullopt when unknown or
  // already dropped (bounded per camera).
  virtual std::optional<std::vector<uint8_t>> event_snapshot_jpeg(
      const std::string& event_id) const {
    (void)event_id;
    return std::nullopt;
  }
  virtual EventFeed& events() = 0;
  virtual prometheus::Registry& metrics() = 0;
  virtual nlohmann::json health() const = 0;  // {"status":"ok"|"degraded", ...}
  // Confirmed tracks of the camera's latest analysed frame, for the live view's overlay:
  // [{"id","class","box":[x,y,w,h]}] in frame pixels. Boxes only, never image data.
  virtual nlohmann::json live_tracks(const std::string& camera_id) const {
    (void)camera_id;
    return nlohmann::json::array();
  }
  // The camera's configured zones and lines with their counts, for the live view's overlay:
  // {"roi":[x,y,w,h], "zones":[{"name","polygon":[[x,y],..],"occupancy"}],
  //  "lines":[{"name","points":[[x1,y1],[x2,y2]],"in","out"}]} in full-frame pixels (the
  // snapshot is the roi crop). Null for an unknown camera.
  virtual nlohmann::json scene(const std::string& camera_id) const {
    (void)camera_id;
    return {{"roi", {0, 0, 0, 0}},
            {"zones", nlohmann::json::array()},
            {"lines", nlohmann::json::array()}};
  }
};

}  // namespace ev
