// REST server on cpp-httplib. Handlers run on httplib's worker pool; each SSE client holds one
// worker for as long as it is connected, which is why their number is capped.
#include "edgevision/server.hpp"

#include <httplib.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <sstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/jpeg.hpp"
#include "edgevision/redact.hpp"
#include "server/event_images.hpp"
#include "server/http_front.hpp"
#include "server/server_internal.hpp"

namespace ev {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace server_internal;

namespace {

constexpr const char* kJson = "application/json";

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), kJson);
}

void send_error(httplib::Response& res, int status, const std::string& message) {
  send_json(res, status, json{{"error", message}});
}

json to_json(const CameraStatus& c) {
  return json{{"id", c.id},
              {"source", redact_url(c.source)},
              {"state", c.state},
              {"error", redact_text(c.error)},
              {"fps_in", c.fps_in},
              {"fps_out", c.fps_out},
              {"frames_in", c.frames_in},
              {"frames_out", c.frames_out},
              {"frames_dropped", c.frames_dropped},
              {"frames_failed", c.frames_failed},
              {"motion_skipped", c.motion_skipped},
              {"behind_skipped", c.behind_skipped},
              {"faces_anonymized", c.faces_anonymized},
              {"latency_ms", c.latency_ms},
              {"active_tracks", c.active_tracks},
              {"model_version", c.model_version},
              {"fps_cap", c.fps_cap},
              {"reconnects", c.reconnects}};
}

// Media type without parameters, lower-case.
std::string media_type(const std::string& content_type) {
  std::string t = content_type.substr(0, content_type.find(';'));
  while (!t.empty() && t.back() == ' ') t.pop_back();
  for (auto& ch : t) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return t;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// One SSE subscriber: the feed pushes preformatted frames, the connection's worker drains them.
struct SseClient {
  std::mutex mutex;
  std::condition_variable cv;
  std::deque<std::string> queue;
  bool closed = false;
};

}  // namespace

// httplib parses and routes a request head that the front (http_front.hpp) has already bounded;
// process_request() and svr_sock_ are protected, so a subclass reaches them without touching
// httplib's own accept loop.
class GatedHttpServer : public httplib::Server {
 public:
  void serve(httplib::Stream& stream) {
    bool connection_closed = false;
    process_request(stream, /*close_connection=*/true, connection_closed, {});
  }
  // httplib ends chunked responses (SSE) once this is invalid.
  void set_serving(int fd) { svr_sock_ = fd; }
};

bool is_loopback_address(const std::string& address) {
  if (address == "localhost") return true;
  std::string a = address;
  if (a.size() > 2 && a.front() == '[' && a.back() == ']') a = a.substr(1, a.size() - 2);
  in_addr v4{};
  if (inet_pton(AF_INET, a.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, a.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

class Server::Impl {
 public:
  Impl(ServerParams params, ServiceView& view, DetectHandlers detect)
      : params_(std::move(params)),
        view_(view),
        detect_(std::make_shared<DetectHandlers>(std::move(detect))),
        registry_(std::make_shared<prometheus::Registry>()),
        requests_family_(prometheus::BuildCounter()
                             .Name("edgevision_http_requests_total")
                             .Help("HTTP requests served, by handler and status code")
                             .Register(*registry_)),
        sse_clients_gauge_(prometheus::BuildGauge()
                               .Name("edgevision_sse_clients")
                               .Help("Connected /events clients")
                               .Register(*registry_)
                               .Add({})),
        sse_dropped_counter_(prometheus::BuildCounter()
                                 .Name("edgevision_sse_events_dropped_total")
                                 .Help("Events dropped for slow /events clients")
                                 .Register(*registry_)
                                 .Add({})),
        rss_gauge_(prometheus::BuildGauge()
                       .Name("process_resident_memory_bytes")
                       .Help("Resident memory size in bytes")
                       .Register(*registry_)
                       .Add({})),
        cpu_counter_(prometheus::BuildCounter()
                         .Name("process_cpu_seconds_total")
                         .Help("User and system CPU time of the process in seconds")
                         .Register(*registry_)
                         .Add({})) {}

  Status start();
  void stop();

  ServerParams params_;
  ServiceView& view_;
  std::mutex detect_mutex_;
  std::shared_ptr<DetectHandlers> detect_;
  std::shared_ptr<SceneEditor> editor_;  // under detect_mutex_
  // Shared with the event feed's callback, which may still run once after unsubscribe().
  std::shared_ptr<server_internal::EventImages> images_;
  uint64_t images_subscription_ = 0;
  GatedHttpServer http_;
  std::unique_ptr<server_internal::HttpFront> front_;
  int port_ = 0;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;

  std::mutex clients_mutex_;
  std::list<std::weak_ptr<SseClient>> clients_;
  std::atomic<uint64_t> requests_{0}, sse_clients_{0}, sse_sent_{0}, sse_dropped_{0};
  std::atomic<size_t> sse_buffered_max_{0};

  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_family_;
  prometheus::Gauge& sse_clients_gauge_;
  prometheus::Counter& sse_dropped_counter_;
  prometheus::Gauge& rss_gauge_;
  prometheus::Counter& cpu_counter_;
  std::mutex cpu_mutex_;

 private:
  void routes();
  bool authorized(const httplib::Request& req) const;
  void handle_metrics(httplib::Response& res);
  void handle_snapshot(const httplib::Request& req, httplib::Response& res);
  void handle_events(httplib::Response& res);
  void handle_live(const httplib::Request& req, httplib::Response& res);
  void handle_detect(const httplib::Request& req, httplib::Response& res);
  void handle_static(const httplib::Request& req, httplib::Response& res);
  void handle_scene(const httplib::Request& req, httplib::Response& res);
  void handle_save_scene(const httplib::Request& req, httplib::Response& res);
  void handle_event_image(const httplib::Request& req, httplib::Response& res, bool thumb);
  void push_event(const std::shared_ptr<SseClient>& client, std::string frame);
};

bool Server::Impl::authorized(const httplib::Request& req) const {
  if (params_.token.empty()) return true;
  const std::string auth = req.get_header_value("Authorization");
  constexpr std::string_view kScheme = "bearer ";
  if (auth.size() <= kScheme.size()) return false;
  for (size_t i = 0; i < kScheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(auth[i])) != kScheme[i]) return false;
  return token_equals(std::string_view(auth).substr(kScheme.size()), params_.token);
}

void Server::Impl::routes() {
  http_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    ++requests_;
    if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const bool api = req.path == "/metrics" || req.path == "/detect" ||
                     req.path.rfind("/cameras", 0) == 0 || req.path.rfind("/events", 0) == 0 ||
                     req.path.rfind("/api/", 0) == 0;
    // Static dashboard files carry no data and a browser cannot attach a header to the page
    // load itself; everything the dashboard then fetches is authenticated.
    if (!api && params_.web_dir.empty() == false && req.method == "GET")
      return httplib::Server::HandlerResponse::Unhandled;
    if (!authorized(req)) {
      res.set_header("WWW-Authenticate", "Bearer realm=\"edgevision\"");
      send_error(res, 401,
                 req.has_header("Authorization") ? "invalid token" : "missing bearer token");
      return httplib::Server::HandlerResponse::Handled;
    }
    // httplib would read and discard an oversized body before answering 413; answer at once.
    if (std::strtoull(req.get_header_value("Content-Length").c_str(), nullptr, 10) >
        params_.max_body_bytes) {
      res.set_header("Connection", "close");
      send_error(
          res, 413,
          "request body too large (limit " + std::to_string(params_.max_body_bytes) + " bytes)");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  http_.set_error_handler(
      httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        std::string message = "HTTP error " + std::to_string(res.status);
        if (res.status == 400) message = "malformed request";
        if (res.status == 404) message = "not found";
        if (res.status == 405) message = "method not allowed";
        if (res.status == 413) message = "request body too large";
        if (res.status == 414) message = "URI too long";
        send_error(res, res.status, message);
        return httplib::Server::HandlerResponse::Handled;
      }));

  http_.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          if (ep) std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("http {} {}: internal error: {}", req.method, req.path, what);
        send_error(res, 500, "internal error");
      });

  http_.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    std::string handler = "static";
    if (req.path == "/health" || req.path == "/metrics" || req.path == "/detect" ||
        req.path == "/cameras" || req.path == "/events" || req.path == "/events/recent")
      handler = req.path;
    else if (req.path.rfind("/cameras/", 0) == 0 && req.path.ends_with("/live"))
      handler = "/cameras/{id}/live";
    else if (req.path.rfind("/cameras/", 0) == 0 && req.path.ends_with("/scene"))
      handler = "/cameras/{id}/scene";
    else if (req.path.rfind("/events/", 0) == 0 || req.path.rfind("/api/events/", 0) == 0)
      handler = "/events/{id}/image";
    else if (req.path.rfind("/cameras/", 0) == 0)
      handler = "/cameras/{id}/snapshot.jpg";
    requests_family_.Add({{"handler", handler}, {"code", std::to_string(res.status)}}).Increment();
    spdlog::debug("http {} {} -> {} ({} bytes)", req.method, req.path, res.status, res.body.size());
  });

  // Default headers go on every response, errors included.
  http_.set_default_headers({{"X-Content-Type-Options", "nosniff"},
                             {"Referrer-Policy", "no-referrer"},
                             {"Cache-Control", "no-store"}});

  http_.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
    json h = view_.health();
    redact_json(h);  // needs no token: nothing in it may carry a credential
    const std::string status = h.value("status", std::string("ok"));
    send_json(res, status == "ok" || status == "degraded" ? 200 : 503, h);
  });
  http_.Get("/metrics",
            [this](const httplib::Request&, httplib::Response& res) { handle_metrics(res); });
  http_.Get("/cameras", [this](const httplib::Request&, httplib::Response& res) {
    json out = json::array();
    for (const auto& c : view_.cameras()) out.push_back(to_json(c));
    send_json(res, 200, out);
  });
  http_.Get(
      R"(/cameras/([^/]+)/snapshot\.jpg)",
      [this](const httplib::Request& req, httplib::Response& res) { handle_snapshot(req, res); });
  http_.Get(R"(/cameras/([^/]+)/live)",
            [this](const httplib::Request& req, httplib::Response& res) { handle_live(req, res); });
  http_.Get("/events",
            [this](const httplib::Request&, httplib::Response& res) { handle_events(res); });
  http_.Get(
      R"(/cameras/([^/]+)/scene)",
      [this](const httplib::Request& req, httplib::Response& res) { handle_scene(req, res); });
  http_.Put(
      R"(/cameras/([^/]+)/scene)",
      [this](const httplib::Request& req, httplib::Response& res) { handle_save_scene(req, res); });
  http_.Get(R"(/events/([^/]+)/thumb\.jpg)",
            [this](const httplib::Request& req, httplib::Response& res) {
              handle_event_image(req, res, true);
            });
  // The `snapshot` reference scene events carry: the event's own frame, kept (anonymized) by its
  // camera's pipeline; else the frame the server stored when the event arrived.
  http_.Get(R"((?:/api)?/events/([^/]+)/snapshot\.jpg)",
            [this](const httplib::Request& req, httplib::Response& res) {
              if (auto jpeg = view_.event_snapshot_jpeg(req.matches[1])) {
                res.set_content(reinterpret_cast<const char*>(jpeg->data()), jpeg->size(),
                                "image/jpeg");
                return;
              }
              handle_event_image(req, res, false);
            });
  http_.Get("/events/recent", [this](const httplib::Request& req, httplib::Response& res) {
    size_t limit = 50;
    if (req.has_param("limit")) {
      try {
        limit = std::clamp<size_t>(std::stoul(req.get_param_value("limit")), 1, 1000);
      } catch (const std::exception&) {
        send_error(res, 400, "limit must be a number");
        return;
      }
    }
    send_json(res, 200, json(view_.events().recent(limit)));
  });
  http_.Post("/detect", [this](const httplib::Request& req, httplib::Response& res) {
    handle_detect(req, res);
  });
  http_.Get(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
    handle_static(req, res);
  });
}

void Server::Impl::handle_metrics(httplib::Response& res) {
  rss_gauge_.Set(static_cast<double>(process_rss_bytes()));
  {
    // A counter only goes up: add what the process used since the last scrape.
    rusage ru{};
    if (::getrusage(RUSAGE_SELF, &ru) == 0) {
      const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
      std::lock_guard lock(cpu_mutex_);
      if (cpu > cpu_counter_.Value()) cpu_counter_.Increment(cpu - cpu_counter_.Value());
    }
  }
  auto families = view_.metrics().Collect();
  auto own = registry_->Collect();
  // A family may be exported once only (promtool rejects a second HELP/TYPE): the server's own
  // (e.g. process_resident_memory_bytes, fresh at scrape time) replaces the service's.
  std::erase_if(families, [&](const prometheus::MetricFamily& f) {
    return std::any_of(own.begin(), own.end(),
                       [&](const prometheus::MetricFamily& o) { return o.name == f.name; });
  });
  families.insert(families.end(), std::make_move_iterator(own.begin()),
                  std::make_move_iterator(own.end()));
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  res.set_content(out.str(), "text/plain; version=0.0.4; charset=utf-8");
}

void Server::Impl::handle_snapshot(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  bool known = false;
  for (const auto& c : view_.cameras()) known = known || c.id == id;
  if (!known) return send_error(res, 404, "unknown camera '" + id + "'");
  auto jpeg = view_.snapshot_jpeg(id);
  if (!jpeg) {
    res.set_header("Retry-After", "1");
    return send_error(res, 503, "no frame from camera '" + id + "' yet");
  }
  res.set_content(reinterpret_cast<const char*>(jpeg->data()), jpeg->size(), "image/jpeg");
}

void Server::Impl::push_event(const std::shared_ptr<SseClient>& client, std::string frame) {
  size_t depth = 0;
  {
    std::lock_guard lock(client->mutex);
    if (client->closed) return;
    // Bounded: a client that does not keep up loses its oldest events, never our memory.
    while (client->queue.size() >= params_.sse_buffer_events) {
      client->queue.pop_front();
      ++sse_dropped_;
      sse_dropped_counter_.Increment();
    }
    client->queue.push_back(std::move(frame));
    depth = client->queue.size();
  }
  client->cv.notify_one();
  size_t seen = sse_buffered_max_.load();
  while (depth > seen && !sse_buffered_max_.compare_exchange_weak(seen, depth)) {
  }
}

void Server::Impl::handle_events(httplib::Response& res) {
  if (sse_clients_.fetch_add(1) >= static_cast<uint64_t>(params_.max_sse_clients)) {
    --sse_clients_;
    res.set_header("Retry-After", "5");
    return send_error(res, 503, "too many event stream clients");
  }
  sse_clients_gauge_.Increment();
  auto client = std::make_shared<SseClient>();
  {
    std::lock_guard lock(clients_mutex_);
    clients_.remove_if([](const auto& w) { return w.expired(); });
    clients_.push_back(client);
  }
  for (const auto& e : view_.events().recent(static_cast<size_t>(params_.sse_backlog_events)))
    push_event(client, "data: " + e.dump() + "\n\n");
  const uint64_t sub = view_.events().subscribe(
      [this, client](const json& e) { push_event(client, "data: " + e.dump() + "\n\n"); });
  spdlog::info("events: client connected ({} now)", sse_clients_.load());

  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, client, last_write = std::chrono::steady_clock::now()](
          size_t offset, httplib::DataSink& sink) mutable {
        if (offset == 0) {
          const std::string hello = "retry: 2000\n: edgevision events\n\n";
          if (!sink.write(hello.data(), hello.size())) return false;
        }
        std::deque<std::string> batch;
        {
          std::unique_lock lock(client->mutex);
          // Short waits keep shutdown prompt; httplib calls us again when we return true.
          client->cv.wait_for(lock, std::chrono::milliseconds(250), [&] {
            return !client->queue.empty() || client->closed || stopping_.load();
          });
          if (client->closed || stopping_.load()) return false;
          batch.swap(client->queue);
        }
        for (const auto& frame : batch) {
          if (!sink.write(frame.data(), frame.size())) return false;
          ++sse_sent_;
        }
        const auto now = std::chrono::steady_clock::now();
        if (!batch.empty()) {
          last_write = now;
        } else if (now - last_write > std::chrono::seconds(10)) {
          // A comment line: keeps proxies from timing out and finds dead peers.
          static constexpr std::string_view kPing = ": ping\n\n";
          if (!sink.write(kPing.data(), kPing.size())) return false;
          last_write = now;
        }
        return true;
      },
      [this, client, sub](bool) {
        view_.events().unsubscribe(sub);
        {
          std::lock_guard lock(client->mutex);
          client->closed = true;
          client->queue.clear();
        }
        --sse_clients_;
        sse_clients_gauge_.Decrement();
        spdlog::info("events: client disconnected ({} left)", sse_clients_.load());
      });
}

// Live view: the camera's anonymized frames pushed as multipart/x-mixed-replace (MJPEG) as
// they change, each part with an X-Tracks header holding the confirmed tracks of that moment.
// Only ServiceView::snapshot_jpeg() frames go out, which never skip the anonymizer. Streams
// share the event stream cap (each holds a worker thread).
void Server::Impl::handle_live(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  bool known = false;
  for (const auto& c : view_.cameras()) known = known || c.id == id;
  if (!known) return send_error(res, 404, "unknown camera '" + id + "'");
  if (sse_clients_.fetch_add(1) >= static_cast<uint64_t>(params_.max_sse_clients)) {
    --sse_clients_;
    res.set_header("Retry-After", "5");
    return send_error(res, 503, "too many stream clients");
  }
  sse_clients_gauge_.Increment();
  res.set_header("X-Accel-Buffering", "no");
  res.set_header("Cache-Control", "no-store");
  res.set_chunked_content_provider(
      "multipart/x-mixed-replace; boundary=evframe",
      [this, id, last = std::vector<uint8_t>(), last_write = std::chrono::steady_clock::now()](
          size_t, httplib::DataSink& sink) mutable {
        if (stopping_.load()) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(40));
        auto jpeg = view_.snapshot_jpeg(id);
        const auto now = std::chrono::steady_clock::now();
        if (!jpeg || *jpeg == last) {
          // No new frame: an empty part now and then finds dead peers.
          if (now - last_write < std::chrono::seconds(10)) return true;
          static constexpr std::string_view kPing =
              "--evframe\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n\r\n\r\n";
          last_write = now;
          return sink.write(kPing.data(), kPing.size());
        }
        last = std::move(*jpeg);
        last_write = now;
        const std::string head = "--evframe\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                 std::to_string(last.size()) +
                                 "\r\nX-Tracks: " + view_.live_tracks(id).dump() + "\r\n\r\n";
        return sink.write(head.data(), head.size()) &&
               sink.write(reinterpret_cast<const char*>(last.data()), last.size()) &&
               sink.write("\r\n", 2);
      },
      [this](bool) {
        --sse_clients_;
        sse_clients_gauge_.Decrement();
      });
}

void Server::Impl::handle_detect(const httplib::Request& req, httplib::Response& res) {
  const auto t0 = std::chrono::steady_clock::now();
  std::shared_ptr<DetectHandlers> handlers;
  {
    std::lock_guard lock(detect_mutex_);
    handlers = detect_;
  }
  if (!handlers || !handlers->valid())
    return send_error(res, 503, "detection is not configured on this server");
  if (req.is_multipart_form_data())
    return send_error(res, 415, "send the image as the raw body (image/jpeg or image/png)");
  const std::string type = media_type(req.get_header_value("Content-Type"));
  if (!type.empty() && type != "image/jpeg" && type != "image/jpg" && type != "image/png" &&
      type != "application/octet-stream")
    return send_error(res, 415,
                      "unsupported content type '" + type +
                          "' (use image/jpeg, image/png or application/octet-stream)");
  if (req.body.empty()) return send_error(res, 400, "empty body: send a JPEG or PNG image");

  auto probe = probe_image(req.body);
  if (!probe) return send_error(res, 400, probe.error());
  if (static_cast<int64_t>(probe->width) * probe->height > params_.max_image_pixels)
    return send_error(res, 413,
                      "image is " + std::to_string(probe->width) + "x" +
                          std::to_string(probe->height) + ", over the pixel limit");

  cv::Mat bytes(1, static_cast<int>(req.body.size()), CV_8U, const_cast<char*>(req.body.data()));
  cv::Mat image;
  try {
    image = cv::imdecode(bytes, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return send_error(res, 400, std::string("image could not be decoded: ") + e.what());
  }
  if (image.empty()) return send_error(res, 400, "image could not be decoded");
  const double decode_ms = ms_since(t0);

  // Anonymize first, so a request whose faces cannot be looked for is refused before any
  // work; objects are then found on the original, kept in memory only (masks over faces cost
  // the detector people), and only the anonymized image is answered.
  const auto t1 = std::chrono::steady_clock::now();
  cv::Mat original = handlers->detect ? image.clone() : cv::Mat();
  auto faces = handlers->anonymize(image);
  if (!faces) {
    spdlog::warn("detect: anonymization failed, refusing the request: {}", faces.error());
    return send_error(res, 503, "face anonymization failed: " + faces.error());
  }
  const double anonymize_ms = ms_since(t1);

  const auto t2 = std::chrono::steady_clock::now();
  std::vector<Detection> detections;
  if (handlers->detect) {
    auto d = handlers->detect(original);
    original.release();
    if (!d) return send_error(res, 500, "detection failed: " + d.error());
    detections = std::move(*d);
  }
  const double detect_ms = ms_since(t2);

  json list = json::array();
  for (const auto& d : detections)
    list.push_back(
        {{"label", d.label},
         {"class_id", d.class_id},
         {"score", d.score},
         {"box", {{"x", d.box.x}, {"y", d.box.y}, {"w", d.box.width}, {"h", d.box.height}}}});

  if (req.has_param("image") && req.get_param_value("image") != "0") {
    for (const auto& d : detections) {
      const cv::Rect r = d.box;
      cv::rectangle(image, r, cv::Scalar(0, 200, 255), 2);
      cv::putText(image, d.label + " " + std::to_string(static_cast<int>(d.score * 100)) + "%",
                  r.tl() + cv::Point(2, 14), cv::FONT_HERSHEY_SIMPLEX, 0.45,
                  cv::Scalar(0, 200, 255), 1);
    }
    std::vector<uint8_t> jpeg;
    if (Status enc = encode_jpeg(image, 85, jpeg); !enc)
      return send_error(res, 500, "could not encode the result image (" + enc.message() + ")");
    res.set_header("X-Faces-Anonymized", std::to_string(*faces));
    res.set_header("X-Detections", std::to_string(detections.size()));
    res.set_content(reinterpret_cast<const char*>(jpeg.data()), jpeg.size(), "image/jpeg");
    return;
  }
  send_json(res, 200,
            json{{"width", image.cols},
                 {"height", image.rows},
                 {"faces_anonymized", *faces},
                 {"detections", list},
                 {"timing_ms",
                  {{"decode", decode_ms}, {"anonymize", anonymize_ms}, {"detect", detect_ms}}}});
}

void Server::Impl::handle_scene(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  json scene = view_.scene(id);
  if (!scene.is_object()) return send_error(res, 404, "unknown camera '" + id + "'");
  std::shared_ptr<SceneEditor> editor;
  {
    std::lock_guard lock(detect_mutex_);
    editor = editor_;
  }
  // Why the editor can or cannot save, in words the dashboard shows.
  std::string why;
  if (!editor || !editor->valid())
    why = "the service was not started from a config file";
  else if (params_.token.empty())
    why = "saving needs api.token (it rewrites the config file)";
  else if (!editor->writable())
    why = "the config file is not writable by the service";
  scene["camera"] = id;
  scene["editable"] = why.empty();
  if (!why.empty()) scene["not_editable"] = why;
  send_json(res, 200, scene);
}

// Validates the shape only; the config parser validates the content before anything is written.
void Server::Impl::handle_save_scene(const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  if (!view_.scene(id).is_object()) return send_error(res, 404, "unknown camera '" + id + "'");
  std::shared_ptr<SceneEditor> editor;
  {
    std::lock_guard lock(detect_mutex_);
    editor = editor_;
  }
  if (params_.token.empty())
    return send_error(res, 403, "saving needs api.token (it rewrites the config file)");
  if (!editor || !editor->valid())
    return send_error(res, 409, "the service was not started from a config file");
  if (!editor->writable()) return send_error(res, 409, "the config file is not writable");
  if (media_type(req.get_header_value("Content-Type")) != "application/json")
    return send_error(res, 415, "send the scene as application/json");
  json body = json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object()) return send_error(res, 400, "body is not a JSON object");
  for (const char* key : {"zones", "lines"}) {
    if (!body.contains(key)) body[key] = json::array();
    if (!body[key].is_array()) return send_error(res, 400, std::string(key) + " must be a list");
    for (const auto& item : body[key]) {
      if (!item.is_object() || !item.contains("name") || !item["name"].is_string())
        return send_error(res, 400, std::string(key) + ": every entry needs a name");
    }
  }
  if (Status st = editor->save(id, json{{"zones", body["zones"]}, {"lines", body["lines"]}}); !st) {
    spdlog::warn("api: zone editor save for camera {} refused: {}", id, st.message());
    return send_error(res, 400, st.message());
  }
  spdlog::info("api: zones/lines of camera {} saved from the dashboard; reloading", id);
  send_json(res, 200, json{{"saved", true}, {"camera", id}});
}

void Server::Impl::handle_event_image(const httplib::Request& req, httplib::Response& res,
                                      bool thumb) {
  const std::string id = req.matches[1];
  auto bytes = images_ ? (thumb ? images_->thumbnail(id) : images_->frame(id)) : nullptr;
  if (!bytes) return send_error(res, 404, "no image kept for event '" + id + "'");
  res.set_content(reinterpret_cast<const char*>(bytes->data()), bytes->size(), "image/jpeg");
}

void Server::Impl::handle_static(const httplib::Request& req, httplib::Response& res) {
  if (params_.web_dir.empty()) return send_error(res, 404, "not found");
  auto file = resolve_static_path(params_.web_dir, req.path);
  if (!file) return send_error(res, 404, "not found");
  std::ifstream in(*file, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  if (!in && !in.eof()) return send_error(res, 500, "cannot read file");
  if (file->extension() == ".html") {
    res.set_header("Content-Security-Policy",
                   "default-src 'self'; img-src 'self' blob: data:; connect-src 'self'; "
                   "frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.set_header("X-Frame-Options", "DENY");
  }
  res.set_content(body.str(), content_type_for(*file));
}

Status Server::Impl::start() {
  if (params_.port < 0 || params_.port > 65535)
    return Status::Error("api: port " + std::to_string(params_.port) + " is out of range");
  if (params_.threads < 2) return Status::Error("api: threads must be at least 2");
  if (params_.max_sse_clients < 1 || params_.max_sse_clients >= params_.threads)
    return Status::Error("api: max_sse_clients must be between 1 and threads-1");
  if (params_.sse_buffer_events == 0) return Status::Error("api: sse_buffer_events must be > 0");
  if (params_.max_body_bytes == 0) return Status::Error("api: max_body_bytes must be > 0");
  if (!is_loopback_address(params_.listen_address) && params_.token.empty())
    return Status::Error("api: refusing to listen on " + params_.listen_address +
                         " without a token (set api.token, or listen on 127.0.0.1)");
  if (!params_.web_dir.empty() && !fs::is_directory(params_.web_dir))
    return Status::Error("api: web dir " + params_.web_dir.string() + " is not a directory");

  server_internal::FrontLimits limits;
  limits.max_request_line = params_.max_request_line;
  limits.max_head_bytes = params_.max_header_bytes;
  limits.max_headers = params_.max_headers;
  limits.head_timeout_ms = params_.head_timeout_ms;
  limits.max_connections = params_.max_connections;
  limits.max_connections_per_client = params_.max_connections_per_client;
  limits.workers = params_.threads;
  limits.max_ready = static_cast<size_t>(std::max(16, params_.threads * 4));
  limits.io_timeout_ms = params_.io_timeout_seconds * 1000;
  auto front = server_internal::HttpFront::bind(params_.listen_address, params_.port, limits);
  if (!front) return front.status();
  // Decided on the address actually bound, not on how the name is spelt.
  if (!(*front)->bound_to_loopback() && params_.token.empty())
    return Status::Error("api: refusing to listen on " + params_.listen_address +
                         " without a token (set api.token, or listen on 127.0.0.1)");
  front_ = std::move(*front);
  port_ = front_->port();
  http_.set_payload_max_length(params_.max_body_bytes);
  http_.set_read_timeout(params_.io_timeout_seconds, 0);
  http_.set_write_timeout(params_.io_timeout_seconds, 0);
  routes();
  images_ = std::make_shared<server_internal::EventImages>(view_, params_.event_images,
                                                           params_.event_image_bytes);
  images_->start();
  images_subscription_ =
      view_.events().subscribe([images = images_](const json& e) { images->on_event(e); });
  http_.set_serving(front_->listen_fd());
  front_->run([this](httplib::Stream& stream) { http_.serve(stream); });
  spdlog::info("api: listening on http://{}:{}{}{}", params_.listen_address, port_,
               params_.token.empty() ? "" : " (token required)",
               params_.web_dir.empty() ? "" : ", dashboard at /");
  return Status::Ok();
}

void Server::Impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  {
    std::lock_guard lock(clients_mutex_);
    for (auto& w : clients_)
      if (auto c = w.lock()) c->cv.notify_all();
  }
  http_.set_serving(-1);
  if (front_) front_->stop();
  if (images_) {
    view_.events().unsubscribe(images_subscription_);
    images_->stop();
  }
  spdlog::info("api: stopped");
}

Result<std::unique_ptr<Server>> Server::start(const ServerParams& params, ServiceView& view,
                                              DetectHandlers detect) {
  auto impl = std::make_unique<Impl>(params, view, std::move(detect));
  if (Status s = impl->start(); !s.ok()) return s;
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  stop();
}
void Server::stop() {
  impl_->stop();
}
int Server::port() const {
  return impl_->port_;
}
const std::string& Server::address() const {
  return impl_->params_.listen_address;
}

void Server::set_scene_editor(SceneEditor editor) {
  auto next = std::make_shared<SceneEditor>(std::move(editor));
  std::lock_guard lock(impl_->detect_mutex_);
  impl_->editor_ = std::move(next);
}

ServerStats Server::stats() const {
  ServerStats s;
  s.requests = impl_->requests_.load();
  s.sse_clients = impl_->sse_clients_.load();
  s.sse_events_sent = impl_->sse_sent_.load();
  s.sse_events_dropped = impl_->sse_dropped_.load();
  s.sse_buffered_max = impl_->sse_buffered_max_.load();
  return s;
}

void Server::set_detect_handlers(DetectHandlers detect) {
  auto next = std::make_shared<DetectHandlers>(std::move(detect));
  std::lock_guard lock(impl_->detect_mutex_);
  impl_->detect_ = std::move(next);
}

}  // namespace ev
