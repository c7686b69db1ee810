// Service configuration: one YAML file parsed and validated in one place (src/config) into
// plain structs with defaults. Every key is documented in docs/configuration.md. Errors name
// the file, line, key and what was expected; unknown keys are errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/status.hpp"

namespace ev {

struct CameraConfig {
  std::string id;      // [a-zA-Z0-9_-]+, unique; used in topics, metrics and URLs
  std::string source;  // file, folder, /dev/videoN, camera index, rtsp:// or http(s)://
  double fps = 0;      // cap on frames processed per second; 0: no cap
  cv::Rect roi;        // empty: whole frame
  bool loop = false;   // file sources restart at the end
  bool enabled = true;
  bool detect = true;  // run object detection + tracking (false: anonymize only)
  int queue_size = 4;  // frames between stages

  bool operator==(const CameraConfig&) const = default;
};

struct PrivacyConfig {
  std::string detector = "yunet";  // yunet | yunet2022 | ssd | blazeface | blazeface128 | haar
  std::string mode = "balanced";   // fast | balanced | accurate
  std::string method = "blur";     // blur | pixelate | blackbox | emoji
  std::string level = "medium";    // low | medium | high | maximum
  bool operator==(const PrivacyConfig&) const = default;
};

struct DetectionConfig {
  std::string model = "yolox-nano";  // manifest name or file path
  std::vector<std::string> classes;  // empty: all
  float conf = 0;                    // 0: model default
  float nms = 0;                     // 0: model default
  int threads = 1;                   // inference threads per camera
  int every_n = 1;                   // run the detector on every n-th frame
  bool motion_gating = false;        // skip the detector on frames without motion
  double motion_threshold = 0.002;   // fraction of changed pixels that counts as motion
  std::string device = "cpu";        // ONNX Runtime execution provider: cpu|cuda|tensorrt|openvino
  bool operator==(const DetectionConfig&) const = default;
};

struct TrackingConfig {
  float track_thresh = 0.5f;
  float match_thresh = 0.8f;
  float new_track_thresh = 0.6f;
  int max_lost = 30;
  int min_hits = 2;
  int max_tracks = 256;
  bool operator==(const TrackingConfig&) const = default;
};

struct SpoolConfig {
  std::filesystem::path dir;  // resolved; default <events.spool_dir>/<sink>
  uint64_t max_bytes = 64ull << 20;
  bool operator==(const SpoolConfig&) const = default;
};

struct MqttConfig {
  bool enabled = false;
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string topic_prefix = "edgevision";
  int qos = 1;
  std::string client_id = "edgevision";
  std::string username;
  std::string password;
  int keepalive_s = 30;
  SpoolConfig spool;
  bool operator==(const MqttConfig&) const = default;
};

struct WebhookConfig {
  bool enabled = false;
  std::string url;  // http://host[:port]/path (https when built with OpenSSL)
  int timeout_ms = 5000;
  std::string bearer_token;
  SpoolConfig spool;
  bool operator==(const WebhookConfig&) const = default;
};

struct JsonlConfig {
  bool enabled = false;
  std::filesystem::path path;           // resolved
  uint64_t rotate_bytes = 64ull << 20;  // rotate to <path>.1 .. <path>.<keep>
  int keep = 3;
  SpoolConfig spool;
  bool operator==(const JsonlConfig&) const = default;
};

struct EventsConfig {
  std::filesystem::path spool_dir;  // resolved; default <config dir>/spool
  bool log = true;                  // one log line per event
  MqttConfig mqtt;
  WebhookConfig webhook;
  JsonlConfig jsonl;
  bool operator==(const EventsConfig&) const = default;
};

struct ApiConfig {
  bool enabled = true;
  std::string listen = "127.0.0.1";
  int port = 8080;
  std::string token;  // required when listen is not a loopback address
  uint64_t max_body_bytes = 16ull << 20;
  std::filesystem::path web_dir;  // empty: built-in location
  bool operator==(const ApiConfig&) const = default;
};

struct ModelsConfig {
  std::vector<std::filesystem::path> dirs;  // resolved
  std::filesystem::path cache_dir;  // empty: $EDGEVISION_CACHE or ~/.cache/edgevision/models
  bool allow_download = false;
  bool operator==(const ModelsConfig&) const = default;
};

struct Config {
  std::filesystem::path file;  // where it was loaded from (empty for text)
  std::vector<CameraConfig> cameras;
  PrivacyConfig privacy;
  DetectionConfig detection;
  TrackingConfig tracking;
  EventsConfig events;
  ApiConfig api;
  ModelsConfig models;
};

// Relative paths in the file are resolved against `base_dir` (the config file's folder).
Result<Config> parse_config(const std::string& yaml_text, const std::string& origin,
                            const std::filesystem::path& base_dir);
Result<Config> load_config(const std::filesystem::path& file);

}  // namespace ev
