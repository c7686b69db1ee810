// The REST server of `edgevision run` (cpp-httplib): health, Prometheus metrics, cameras and
// their anonymized snapshots, an SSE event stream, one-shot detection and the dashboard (web/).
// It only reads the service through ServiceView (service.hpp) and never owns models: detection
// is injected as DetectHandlers. See docs/api.md for every endpoint.
//
// Security model: binds 127.0.0.1 by default; start() refuses a non-loopback address without a
// token; with a token every endpoint except GET /health and the dashboard's static files (which
// hold no data) needs `Authorization: Bearer <token>`. Request bodies are capped
// (max_body_bytes -> 413) and every error is a JSON body {"error": "..."}.
//
// GET /metrics serializes ServiceView::metrics() followed by the server's own families:
// edgevision_http_requests_total, edgevision_sse_clients, edgevision_sse_events_dropped_total
// and process_resident_memory_bytes; the service's registry must not define those names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/detect.hpp"
#include "edgevision/service.hpp"
#include "edgevision/status.hpp"

namespace ev {

class Anonymizer;

// What POST /detect runs. The server calls anonymize() first (refusing the request if it
// fails), then detect() on a copy of the original image kept in memory (masks would cost the
// detector people); only the anonymized image is ever answered.
struct DetectHandlers {
  // Masks faces in place; returns the number of faces masked. Must fail closed: an error means
  // faces could not be looked for, and the server then returns 503 and no image.
  std::function<Result<int>(cv::Mat& bgr)> anonymize;
  // Objects in the original image. May be empty: /detect then only anonymizes.
  std::function<Result<std::vector<Detection>>(const cv::Mat& bgr)> detect;
  bool valid() const { return static_cast<bool>(anonymize); }
};

// Handlers over one anonymizer and one (optional) detector, serialized by a mutex because
// neither is thread-safe. The anonymizer's face tracking is reset per request (unrelated images).
DetectHandlers make_detect_handlers(std::shared_ptr<Anonymizer> anonymizer,
                                    std::shared_ptr<ObjectDetector> detector);

struct ServerParams {
  std::string listen_address = "127.0.0.1";
  int port = 8080;                        // 0: any free port (see Server::port())
  std::string token;                      // bearer token; required off loopback
  size_t max_body_bytes = 8u << 20;       // larger request bodies get 413
  int64_t max_image_pixels = 40'000'000;  // decoded image size limit for /detect (413)
  std::filesystem::path web_dir;          // dashboard files; empty: no dashboard
  int threads = 8;                        // worker threads (each SSE client holds one)
  int max_sse_clients = 4;                // further /events clients get 503
  size_t sse_buffer_events = 256;         // per-client queue; oldest dropped beyond it
  int sse_backlog_events = 50;            // recent events sent first to a new client
  int keep_alive_seconds = 2;
  int io_timeout_seconds = 5;  // read/write timeout per socket operation
  // Applied to every connection before authentication (see docs/api.md, "Limits"): one thread
  // collects request heads, so idle and slow clients never hold a worker.
  size_t max_request_line = 8192;       // 414 beyond
  size_t max_header_bytes = 16384;      // request line + headers; 431 beyond
  int max_headers = 64;                 // 431 beyond
  int head_timeout_ms = 5000;           // whole request head; 408 and closed after
  int max_connections = 256;            // open connections in all
  int max_connections_per_client = 64;  // per client address
  // Anonymized images kept per event for the dashboard (GET /events/{id}/thumb.jpg and
  // /snapshot.jpg): the newest event_images events, at most event_image_bytes in all.
  size_t event_images = 200;
  size_t event_image_bytes = 32u << 20;
};

// What PUT /cameras/{id}/scene (the dashboard's zone editor) runs. Absent: the editor only
// copies YAML. The server refuses a save unless it has a token (a save rewrites the config file
// and restarts the camera).
struct SceneEditor {
  std::function<bool()> writable;  // the config file can be rewritten now
  // Replaces the camera's zones/lines ({"zones":[{name,polygon}],"lines":[{name,points}]}),
  // validated by the normal config parser before anything is written, then reloads.
  std::function<Status(const std::string& camera_id, const nlohmann::json& scene)> save;
  bool valid() const { return writable && save; }
};

// Counters the tests and /metrics read.
struct ServerStats {
  uint64_t requests = 0;
  uint64_t sse_clients = 0;  // connected now
  uint64_t sse_events_sent = 0;
  uint64_t sse_events_dropped = 0;  // slow clients: buffer full, oldest dropped
  size_t sse_buffered_max = 0;      // largest per-client queue ever seen (<= sse_buffer_events)
};

// True for an address literal in 127.0.0.0/8 or ::1 (parsed, not matched by prefix) and
// "localhost"; start() decides on the address it actually bound.
bool is_loopback_address(const std::string& address);

class Server {
 public:
  // Validates params and binds (so port() is known and a busy port is an error here), then
  // serves on its own threads. The view must outlive the server.
  static Result<std::unique_ptr<Server>> start(const ServerParams& params, ServiceView& view,
                                               DetectHandlers detect = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Stops accepting, ends SSE streams and joins every thread. Idempotent.
  void stop();
  int port() const;
  const std::string& address() const;
  ServerStats stats() const;
  // Replaces the detection handlers (e.g. after a model update) without a restart.
  void set_detect_handlers(DetectHandlers detect);
  void set_scene_editor(SceneEditor editor);

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ev
