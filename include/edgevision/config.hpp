// Service configuration: one YAML file parsed and validated in one place (src/config) into
// plain structs with defaults. Every key is documented in docs/configuration.md. Errors name
// the file, line, key and what was expected; unknown keys are errors.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/status.hpp"

namespace ev {

// Scene analytics of one camera (src/activity, docs/configuration.md "Scene analytics").
// Coordinates are full-frame pixels (before the camera's roi crop).
struct ClassFilterConfig {
  float min_score = 0.5f;  // the median detection score of a track must reach this
  double min_area = 0;     // box area in pixels^2
  double max_area = 0;     // 0: no limit
  double min_age_s = 0.5;  // the track must be this old (Frigate's min_initialized: fps / 2)
  bool operator==(const ClassFilterConfig&) const = default;
};

struct ZoneSpeedConfig {
  // Four image points of a ground rectangle, in order around it: p0->p1 spans width_m,
  // p1->p2 spans length_m. Empty: the zone is not calibrated (no speed).
  std::vector<cv::Point2f> points;
  double width_m = 0;
  double length_m = 0;
  bool operator==(const ZoneSpeedConfig&) const = default;
};

struct ZoneConfig {
  std::string name;
  std::vector<cv::Point2f> polygon;  // >= 3 points
  std::vector<std::string> classes;  // empty: all
  double loitering_s = 0;            // 0: no loitering events
  int max_objects = 0;               // 0: no crowd events
  ZoneSpeedConfig speed;
  bool operator==(const ZoneConfig&) const = default;
};

struct LineConfig {
  std::string name;
  cv::Point2f p1, p2;
  std::vector<std::string> classes;  // empty: all
  bool operator==(const LineConfig&) const = default;
};

struct SceneConfig {
  // Per class; classes not named here use the documented built-in defaults (scene.hpp).
  std::vector<std::pair<std::string, ClassFilterConfig>> filters;
  std::vector<ZoneConfig> zones;
  std::vector<LineConfig> lines;
  bool activities = true;          // activity_started/ended, fall, fight
  double traffic_interval_s = 60;  // traffic summaries per zone; 0: off
  int snapshots = 32;  // anonymized event frames kept for GET /events/{id}/snapshot.jpg; 0: off
  // Background subtraction as posture evidence for falls where the detector lost the person.
  bool floor_evidence = true;
  bool operator==(const SceneConfig&) const = default;
};

struct CameraConfig {
  std::string id;      // [a-zA-Z0-9_-]+, unique; used in topics, metrics and URLs
  std::string source;  // file, folder, /dev/videoN, camera index, rtsp:// or http(s)://
  double fps = 0;      // cap on frames processed per second; 0: no cap
  cv::Rect roi;        // empty: whole frame
  bool loop = false;   // file sources restart at the end
  bool enabled = true;
  bool detect = true;  // run object detection + tracking (false: anonymize only)
  int queue_size = 4;  // frames between stages
  // MJPEG streams read as JPEG packets, decoded only when analysed (SourceOptions::raw_mjpeg).
  bool mjpeg_packets = true;
  SceneConfig scene;  // keys filters, zones, lines, analytics

  bool operator==(const CameraConfig&) const = default;
};

struct PrivacyConfig {
  std::string detector = "yunet";  // yunet | yunet2022 | ssd | blazeface | blazeface128 | haar
  std::string mode = "balanced";   // fast | balanced | accurate
  std::string method = "blur";     // blur | pixelate | blackbox | emoji
  std::string level = "medium";    // low | medium | high | maximum
  bool motion_regions = false;     // detect faces only where pixels changed (+ full passes)
  int full_pass_every = 10;        // frames between full-frame passes when motion_regions
  int small_face_interval = 1;     // PrivacyParams::small_face_interval (1: every frame)
  // Licence plates masked in every output image: unset follows alpr.enabled (plate masking
  // costs a plate detector pass per frame, so it comes with ALPR unless asked for).
  std::optional<bool> plates;
  // Head region of every person with no detected face masked: unset follows the level (on at
  // medium and above).
  std::optional<bool> head_fallback;
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
  // Live cameras: skip the detector on a frame while the next one already waits for this
  // camera's anonymize or detect stage (never on two frames in a row), instead of letting the
  // backlog drop whole frames. The frame is still anonymized, tracked and emitted.
  bool skip_when_behind = true;
  double motion_threshold = 0.002;  // fraction of changed pixels that counts as motion
  bool rect = true;                 // DetectorParams::rect: letterbox padded to 32, not the square
  std::string device = "cpu";       // ONNX Runtime execution provider: cpu|cuda|tensorrt|openvino
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
  // Secrets kept out of the YAML: the password is read at load time from this environment
  // variable or file (first line) into `password`.
  std::string password_env;
  std::filesystem::path password_file;  // resolved
  bool tls = false;                     // also on when ca_file is set
  std::filesystem::path ca_file;        // resolved; empty: the system's CA store
  std::filesystem::path cert_file;      // client certificate (with key_file)
  std::filesystem::path key_file;
  bool tls_insecure = false;  // skip the server host name check (self-signed test brokers)
  int stats_interval_s = 30;  // <prefix>/stats; 0: off
  bool ha_discovery = false;  // Home Assistant MQTT discovery entities
  std::string ha_discovery_prefix = "homeassistant";
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
  std::string device_id;            // "device" of every event sent out; default: host name
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

// The process's inference runtime (backend.hpp RuntimeOptions); docs/configuration.md.
struct RuntimeConfig {
  int threads = 0;              // cores inference may use; 0: every online core
  bool share_sessions = true;   // one model session for all cameras
  bool allow_spinning = false;  // ONNX Runtime workers spin-wait between operators
  // Runs one shared session may have in flight at once; 0: one per intra-op thread budget
  // (threads / intra-op threads per session, so the runs together fill the cores).
  int runs_per_session = 0;
  bool session_arena = true;  // shared sessions keep ONNX Runtime's CPU arena
  bool operator==(const RuntimeConfig&) const = default;
};

// Licence-plate recognition (docs/alpr.md). Plate masking is privacy.plates (on with ALPR).
struct AlprConfig {
  bool enabled = false;                      // read plates and emit plate_read / plate_updated
  std::string plate_model = "plate-yolov5";  // manifest name, file, or haar
  std::string ocr = "cct";                   // cct | tesseract | paddle
  std::string region;                        // format rules: br | eu | nl | us | "" (none)
  int queue_size = 4;                        // plate work waiting for OCR; the oldest is dropped
  double min_plate_area = 1000;              // px^2; smaller plates are masked, never read
  bool throttle = true;                      // stop reading a track once its vote is settled
  int read_variants = 3;                     // crops read per plate and voted (1..3)
  bool vehicle_pass = true;        // plates also searched in the latest tracked vehicles' boxes
  bool haar_second_chance = true;  // the Haar cascade when no plate is found in a frame
  std::vector<std::string> allow;  // known plates (exact or one character off)
  std::vector<std::string> deny;
  bool operator==(const AlprConfig&) const = default;
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
  RuntimeConfig runtime;
  AlprConfig alpr;
};

// Relative paths in the file are resolved against `base_dir` (the config file's folder).
Result<Config> parse_config(const std::string& yaml_text, const std::string& origin,
                            const std::filesystem::path& base_dir);
Result<Config> load_config(const std::filesystem::path& file);

}  // namespace ev
