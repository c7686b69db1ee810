// The REST server against a fake ServiceView, over real sockets on 127.0.0.1.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <opencv2/imgcodecs.hpp>

#include "edgevision/server.hpp"
#include "server/fake_service.hpp"
#include "server/server_internal.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kToken = "s3cret-token-for-tests";

std::string jpeg_bytes(int w = 64, int h = 48) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(200, 180, 160));
  std::vector<uint8_t> out;
  cv::imencode(".jpg", img, out);
  return {out.begin(), out.end()};
}

std::string png_bytes(int w = 40, int h = 30) {
  cv::Mat img(h, w, CV_8UC3, cv::Scalar(10, 200, 10));
  std::vector<uint8_t> out;
  cv::imencode(".png", img, out);
  return {out.begin(), out.end()};
}

// Records what the detector saw, so tests can prove it got the original image while the
// answer is anonymized.
struct FakeDetect {
  std::atomic<int> anonymize_calls{0}, detect_calls{0};
  std::atomic<bool> detect_saw_masked{false}, fail_anonymize{false};
  DetectHandlers handlers() {
    DetectHandlers h;
    h.anonymize = [this](cv::Mat& bgr) -> Result<int> {
      ++anonymize_calls;
      if (fail_anonymize) return Result<int>::Error("face detector unavailable");
      // "Face" in the top-left quarter, masked black.
      bgr(cv::Rect(0, 0, bgr.cols / 2, bgr.rows / 2)).setTo(cv::Scalar(0, 0, 0));
      return 1;
    };
    h.detect = [this](const cv::Mat& bgr) -> Result<std::vector<Detection>> {
      ++detect_calls;
      detect_saw_masked = bgr.at<cv::Vec3b>(1, 1) == cv::Vec3b(0, 0, 0);
      Detection d;
      d.box = cv::Rect2f(5, 6, 20, 10);
      d.score = 0.9f;
      d.class_id = 0;
      d.label = "person";
      return std::vector<Detection>{d};
    };
    return h;
  }
};

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    service_.set_snapshot("front-door", test::synthetic_jpeg("front-door", 1));
    web_ = test::temp_dir("server_web");
    std::ofstream(web_ / "index.html") << "<!doctype html><title>t</title>";
    std::ofstream(web_ / "app.js") << "console.log(1)";
    std::ofstream(web_ / ".secret") << "hidden";
    std::ofstream(web_.parent_path() / "outside.txt") << "outside";
    fs::create_symlink(web_.parent_path() / "outside.txt", web_ / "link.txt");
  }
  void start(ServerParams p = {}) {
    p.port = 0;
    if (p.web_dir.empty()) p.web_dir = web_;
    auto s = Server::start(p, service_, detect_.handlers());
    ASSERT_TRUE(s.ok()) << s.error();
    server_ = std::move(*s);
  }
  httplib::Client client(bool with_token = true) {
    httplib::Client c("127.0.0.1", server_->port());
    c.set_connection_timeout(2);
    c.set_read_timeout(5);
    if (with_token) c.set_bearer_token_auth(kToken);
    return c;
  }
  ServerParams with_token() {
    ServerParams p;
    p.token = kToken;
    return p;
  }

  test::FakeService service_;
  FakeDetect detect_;
  fs::path web_;
  std::unique_ptr<Server> server_;
};

// Sends raw bytes and returns the whole response (until close or timeout).
std::string raw_request(int port, const std::string& request, int timeout_ms = 2000) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return {};
  }
  timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  (void)!send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string out;
  char buf[4096];
  // Read until the peer closes, the timeout, or one complete response (headers + Content-Length).
  for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) {
    out.append(buf, static_cast<size_t>(n));
    const size_t head_end = out.find("\r\n\r\n");
    if (head_end == std::string::npos) continue;
    const size_t cl = out.find("Content-Length: ");
    if (cl != std::string::npos && cl < head_end &&
        out.size() >= head_end + 4 + std::stoul(out.substr(cl + 16)))
      break;
  }
  close(fd);
  return out;
}

int status_of(const std::string& raw) {
  if (raw.size() < 12) return -1;
  return std::atoi(raw.substr(9, 3).c_str());
}

json body_json(const httplib::Result& r) {
  try {
    return json::parse(r->body);
  } catch (const std::exception&) {
    ADD_FAILURE() << "not JSON: " << r->body;
    return {};
  }
}

TEST_F(ServerTest, HealthNeedsNoToken) {
  start(with_token());
  auto r = client(false).Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(body_json(r)["status"], "ok");
  service_.set_health({{"status", "failed"}});
  EXPECT_EQ(client(false).Get("/health")->status, 503);
}

TEST_F(ServerTest, TokenRequiredEverywhereElse) {
  start(with_token());
  for (const char* path :
       {"/metrics", "/cameras", "/cameras/front-door/snapshot.jpg", "/events/recent"}) {
    auto r = client(false).Get(path);
    ASSERT_TRUE(r) << path;
    EXPECT_EQ(r->status, 401) << path;
    EXPECT_EQ(body_json(r)["error"], "missing bearer token") << path;
    EXPECT_EQ(r->get_header_value("WWW-Authenticate").rfind("Bearer", 0), 0u);
  }
  auto bad = client(false);
  bad.set_bearer_token_auth("wrong");
  EXPECT_EQ(bad.Get("/cameras")->status, 401);
  auto prefix = client(false);
  prefix.set_bearer_token_auth(std::string(kToken).substr(0, 5));
  EXPECT_EQ(prefix.Get("/cameras")->status, 401);
  httplib::Headers basic = {{"Authorization", std::string("Basic ") + kToken}};
  EXPECT_EQ(client(false).Get("/cameras", basic)->status, 401);
  auto post = client(false).Post("/detect", jpeg_bytes(), "image/jpeg");
  EXPECT_EQ(post->status, 401);
  EXPECT_EQ(detect_.anonymize_calls, 0);
  EXPECT_EQ(client().Get("/cameras")->status, 200);
  httplib::Headers lower = {{"Authorization", std::string("bearer ") + kToken}};
  EXPECT_EQ(client(false).Get("/cameras", lower)->status, 200);
}

TEST_F(ServerTest, RefusesNonLoopbackWithoutToken) {
  ServerParams p;
  p.listen_address = "0.0.0.0";
  p.port = 0;
  auto s = Server::start(p, service_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().find("without a token"), std::string::npos) << s.error();
  p.token = kToken;
  auto ok = Server::start(p, service_);
  EXPECT_TRUE(ok.ok()) << ok.error();
  EXPECT_TRUE(is_loopback_address("127.0.0.1"));
  EXPECT_TRUE(is_loopback_address("::1"));
  EXPECT_TRUE(is_loopback_address("localhost"));
  EXPECT_FALSE(is_loopback_address("0.0.0.0"));
  EXPECT_FALSE(is_loopback_address("192.168.1.10"));
}

TEST_F(ServerTest, BusyPortAndBadParamsAreErrors) {
  start();
  ServerParams p;
  p.port = server_->port();
  auto s = Server::start(p, service_);
  EXPECT_FALSE(s.ok());
  p.port = 0;
  p.web_dir = web_ / "missing";
  EXPECT_FALSE(Server::start(p, service_).ok());
  p.web_dir.clear();
  p.threads = 1;
  EXPECT_FALSE(Server::start(p, service_).ok());
}

TEST_F(ServerTest, MetricsArePrometheusText) {
  start(with_token());
  client().Get("/cameras");
  // The request counter is bumped after the response is sent: give it a moment.
  httplib::Result r = client().Get("/metrics");
  for (int i = 0; i < 50 && r && r->body.find("handler=\"/cameras\"") == std::string::npos; ++i) {
    std::this_thread::sleep_for(20ms);
    r = client().Get("/metrics");
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type").rfind("text/plain; version=0.0.4", 0), 0u);
  EXPECT_NE(r->body.find("# TYPE edgevision_camera_fps gauge"), std::string::npos) << r->body;
  EXPECT_NE(r->body.find("edgevision_camera_fps{camera=\"front-door\"} 12.5"), std::string::npos);
  EXPECT_NE(r->body.find("edgevision_frames_dropped_total"), std::string::npos);
  EXPECT_NE(r->body.find("process_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(r->body.find("edgevision_http_requests_total{"), std::string::npos);
  EXPECT_NE(r->body.find("handler=\"/cameras\""), std::string::npos);
}

TEST_F(ServerTest, CamerasAndSnapshots) {
  start();
  auto r = client(false).Get("/cameras");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json cams = body_json(r);
  ASSERT_EQ(cams.size(), 2u);
  EXPECT_EQ(cams[0]["id"], "front-door");
  EXPECT_EQ(cams[0]["frames_dropped"], 3);
  EXPECT_DOUBLE_EQ(cams[1]["latency_ms"].get<double>(), 55.1);

  auto snap = client(false).Get("/cameras/front-door/snapshot.jpg");
  ASSERT_EQ(snap->status, 200);
  EXPECT_EQ(snap->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(snap->get_header_value("Cache-Control"), "no-store");
  cv::Mat img =
      cv::imdecode(std::vector<uint8_t>(snap->body.begin(), snap->body.end()), cv::IMREAD_COLOR);
  EXPECT_EQ(img.cols, 320);

  auto nyet = client(false).Get("/cameras/car-park/snapshot.jpg");
  EXPECT_EQ(nyet->status, 503);
  EXPECT_NE(body_json(nyet)["error"].get<std::string>().find("no frame"), std::string::npos);
  auto unknown = client(false).Get("/cameras/nope/snapshot.jpg");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(body_json(unknown)["error"].get<std::string>().find("unknown camera"),
            std::string::npos);
}

// An event's `snapshot` field is a path on this server (scene analytics, issue 10).
TEST_F(ServerTest, EventSnapshotIsServedBehindTheToken) {
  service_.set_snapshot("event:front-door-ab12-7", test::synthetic_jpeg("event", 2));
  start(with_token());
  auto denied = client(false).Get("/events/front-door-ab12-7/snapshot.jpg");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  auto snap = client().Get("/events/front-door-ab12-7/snapshot.jpg");
  ASSERT_TRUE(snap);
  ASSERT_EQ(snap->status, 200);
  EXPECT_EQ(snap->get_header_value("Content-Type"), "image/jpeg");
  const cv::Mat img =
      cv::imdecode(std::vector<uint8_t>(snap->body.begin(), snap->body.end()), cv::IMREAD_COLOR);
  EXPECT_FALSE(img.empty());
  auto gone = client().Get("/events/front-door-ab12-8/snapshot.jpg");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404);
}

TEST_F(ServerTest, DetectOnOriginalAnswersAnonymized) {
  start();
  auto r = client(false).Post("/detect", jpeg_bytes(), "image/jpeg");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = body_json(r);
  EXPECT_EQ(j["width"], 64);
  EXPECT_EQ(j["faces_anonymized"], 1);
  ASSERT_EQ(j["detections"].size(), 1u);
  EXPECT_EQ(j["detections"][0]["label"], "person");
  EXPECT_FLOAT_EQ(j["detections"][0]["box"]["w"].get<float>(), 20.f);
  // Objects are found on the original (a mask would cost the detector people) ...
  EXPECT_FALSE(detect_.detect_saw_masked) << "detector saw the anonymized image";

  auto png = client(false).Post("/detect", png_bytes(), "image/png");
  ASSERT_EQ(png->status, 200) << png->body;
  EXPECT_EQ(body_json(png)["height"], 30);

  auto img =
      client(false).Post("/detect?image=1", jpeg_bytes(200, 100), "application/octet-stream");
  ASSERT_EQ(img->status, 200);
  EXPECT_EQ(img->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(img->get_header_value("X-Faces-Anonymized"), "1");
  cv::Mat out =
      cv::imdecode(std::vector<uint8_t>(img->body.begin(), img->body.end()), cv::IMREAD_COLOR);
  ASSERT_FALSE(out.empty());
  const cv::Scalar masked =
      cv::mean(out(cv::Rect(40, 30, 50, 15)));  // inside the mask, off the box
  // ... and only the anonymized image is answered.
  EXPECT_LT(masked[0] + masked[1] + masked[2], 30) << "returned image is not anonymized";
  EXPECT_FALSE(detect_.detect_saw_masked);
}

TEST_F(ServerTest, DetectFailsClosed) {
  start();
  detect_.fail_anonymize = true;
  auto r = client(false).Post("/detect?image=1", jpeg_bytes(), "image/jpeg");
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
  EXPECT_EQ(detect_.detect_calls, 0);
  server_->set_detect_handlers({});
  EXPECT_EQ(client(false).Post("/detect", jpeg_bytes(), "image/jpeg")->status, 503);
}

TEST_F(ServerTest, MalformedDetectRequests) {
  ServerParams p;
  p.max_body_bytes = 64 * 1024;
  start(p);
  auto c = client(false);
  auto check = [&](httplib::Result r, int status, const std::string& what) {
    ASSERT_TRUE(r) << what;
    EXPECT_EQ(r->status, status) << what << ": " << r->body;
    EXPECT_EQ(r->get_header_value("Content-Type"), "application/json") << what;
    EXPECT_TRUE(body_json(r).contains("error")) << what;
  };
  check(c.Post("/detect", "this is not an image at all", "image/jpeg"), 400, "garbage");
  check(c.Post("/detect", std::string(5000, '\0'), "application/octet-stream"), 400, "zeros");
  check(c.Post("/detect", "", "image/jpeg"), 400, "empty");
  check(c.Post("/detect", jpeg_bytes(), "text/plain"), 415, "text/plain");
  check(c.Post("/detect", R"({"image": "x"})", "application/json"), 415, "json");
  httplib::MultipartFormDataItems items = {{"file", jpeg_bytes(), "a.jpg", "image/jpeg"}};
  check(c.Post("/detect", items), 415, "multipart");
  const std::string full = jpeg_bytes(320, 240);
  check(c.Post("/detect", full.substr(0, full.size() / 2), "image/jpeg"), 400, "truncated jpeg");
  check(c.Post("/detect", full.substr(0, 10), "image/jpeg"), 400, "jpeg header only");
  const std::string png = png_bytes();
  check(c.Post("/detect", png.substr(0, png.size() - 20), "image/png"), 400, "truncated png");
  check(c.Post("/detect", std::string(100 * 1024, 'x'), "image/jpeg"), 413, "oversized");
  // A tiny PNG that declares 100000 x 100000 pixels: refused before decoding.
  std::string bomb = png;
  const unsigned char dims[8] = {0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0};
  bomb.replace(16, 8, reinterpret_cast<const char*>(dims), 8);
  check(c.Post("/detect", bomb, "image/png"), 413, "pixel bomb");
  check(c.Get("/detect"), 404, "GET /detect");
  EXPECT_EQ(detect_.anonymize_calls, 0);
  // Still serving after all that.
  EXPECT_EQ(c.Post("/detect", jpeg_bytes(), "image/jpeg")->status, 200);
}

TEST_F(ServerTest, OversizedBodyRefusedWithoutReadingIt) {
  ServerParams p;
  p.max_body_bytes = 1024;
  start(p);
  const std::string raw = raw_request(server_->port(),
                                      "POST /detect HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                      "image/jpeg\r\nContent-Length: 999999999\r\n\r\nabc");
  EXPECT_EQ(status_of(raw), 413) << raw;
  EXPECT_NE(raw.find("\"error\""), std::string::npos);
}

TEST_F(ServerTest, GarbageRequestsGet4xx) {
  start();
  EXPECT_EQ(status_of(raw_request(server_->port(), "HELLO\r\n\r\n")), 400);
  EXPECT_EQ(status_of(raw_request(server_->port(), "GET / HTTP/9.9\r\n\r\n")) / 100, 4);
  const std::string long_uri = "GET /" + std::string(20000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(status_of(raw_request(server_->port(), long_uri)) / 100, 4);
  auto r = client(false).Get("/no/such/thing");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(body_json(r)["error"], "not found");
  EXPECT_EQ(client(false).Get("/health")->status, 200);
}

TEST_F(ServerTest, UnknownPathsWithoutDashboardAre404Json) {
  ServerParams p;
  p.port = 0;
  auto s = Server::start(p, service_);
  ASSERT_TRUE(s.ok());
  httplib::Client c("127.0.0.1", (*s)->port());
  auto r = c.Get("/index.html");
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(r->get_header_value("Content-Type"), "application/json");
}

TEST_F(ServerTest, StaticFilesAndTraversal) {
  start(with_token());
  auto index = client(false).Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->get_header_value("Content-Security-Policy").find("default-src 'self'"),
            std::string::npos);
  EXPECT_EQ(client(false).Get("/app.js")->get_header_value("Content-Type"),
            "text/javascript; charset=utf-8");
  for (const std::string path :
       {"/../outside.txt", "/%2e%2e/outside.txt", "/..%2foutside.txt", "/.secret", "/link.txt",
        "/app.js/", "//etc/passwd", "/a\\..\\outside.txt", "/%00index.html"}) {
    const std::string raw = raw_request(
        server_->port(), "GET " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(status_of(raw) / 100, 4) << path << ": " << raw.substr(0, 200);
    EXPECT_EQ(raw.find("outside"), std::string::npos) << path;
    EXPECT_EQ(raw.find("hidden"), std::string::npos) << path;
  }
  namespace si = server_internal;
  EXPECT_TRUE(si::resolve_static_path(web_, "/index.html"));
  EXPECT_FALSE(si::resolve_static_path(web_, "/../outside.txt"));
  EXPECT_FALSE(si::resolve_static_path(web_, "/link.txt"));
}

TEST_F(ServerTest, EventsRecentAndStream) {
  start(with_token());
  for (int i = 0; i < 3; ++i) service_.feed().publish(test::synthetic_event("front-door", i));
  auto recent = client().Get("/events/recent?limit=2");
  ASSERT_EQ(recent->status, 200);
  EXPECT_EQ(body_json(recent).size(), 2u);
  EXPECT_EQ(client().Get("/events/recent?limit=abc")->status, 400);

  std::mutex m;
  std::string received;
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    auto c = client();
    c.Get("/events", [&](const char* data, size_t n) {
      std::lock_guard lock(m);
      received.append(data, n);
      return !stop.load();
    });
  });
  auto count = [&](const std::string& needle) {
    std::lock_guard lock(m);
    size_t k = 0;
    for (size_t pos = 0; (pos = received.find(needle, pos)) != std::string::npos; ++pos) ++k;
    return k;
  };
  for (int i = 0; i < 200 && service_.feed().subscriber_count() < 2; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(service_.feed().subscriber_count(), 2u);  // the SSE client and event images
  for (int i = 3; i < 8; ++i) service_.feed().publish(test::synthetic_event("car-park", i));
  for (int i = 0; i < 300 && count("data: ") < 8; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(count("data: "), 8u) << "3 backlog + 5 live";
  EXPECT_EQ(count("\"camera\":\"car-park\""), 5u);
  {
    std::lock_guard lock(m);
    const size_t first = received.find("data: ");
    ASSERT_NE(first, std::string::npos);
    const size_t end = received.find("\n\n", first);
    json e = json::parse(received.substr(first + 6, end - first - 6));
    EXPECT_EQ(e["schema"], 1);
  }
  EXPECT_EQ(server_->stats().sse_clients, 1u);
  stop = true;
  service_.feed().publish(test::synthetic_event("car-park", 99));  // wakes the reader's callback
  reader.join();
  // The server notices a gone client on its next write; events (or the 10 s ping) cause one.
  for (int i = 0; i < 300 && server_->stats().sse_clients > 0; ++i) {
    service_.feed().publish(test::synthetic_event("car-park", 100 + i));
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server_->stats().sse_clients, 0u);
  // Only the server's own subscription (event images) is left.
  EXPECT_EQ(service_.feed().subscriber_count(), 1u);
}

TEST_F(ServerTest, SseClientLimit) {
  ServerParams p;
  p.threads = 3;
  p.max_sse_clients = 1;
  start(p);
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(send(fd, req.data(), req.size(), MSG_NOSIGNAL), 0);
  for (int i = 0; i < 200 && server_->stats().sse_clients == 0; ++i)
    std::this_thread::sleep_for(10ms);
  auto second = client(false).Get("/events");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 503);
  close(fd);
  // Stopping with a client attached must not hang.
  const auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST_F(ServerTest, SlowSseClientDoesNotGrowMemory) {
  ServerParams p;
  p.sse_buffer_events = 64;
  p.io_timeout_seconds = 2;
  start(p);
  // A client that sends the request and then never reads.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  const std::string req = "GET /events HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_GT(send(fd, req.data(), req.size(), MSG_NOSIGNAL), 0);
  for (int i = 0; i < 200 && service_.feed().subscriber_count() < 2; ++i)
    std::this_thread::sleep_for(10ms);
  ASSERT_EQ(service_.feed().subscriber_count(), 2u);  // the SSE client and event images

  const int64_t rss0 = server_internal::process_rss_bytes();
  json big = test::synthetic_event("front-door", 1);
  big["padding"] = std::string(4096, 'p');
  for (int i = 0; i < 20000; ++i) service_.feed().publish(big);  // ~80 MB if it were kept
  const int64_t rss1 = server_internal::process_rss_bytes();
  const ServerStats st = server_->stats();
  EXPECT_LE(st.sse_buffered_max, 64u);
  EXPECT_GT(st.sse_events_dropped, 10000u);
  EXPECT_LT(rss1 - rss0, 30 << 20) << "RSS grew by " << (rss1 - rss0) / 1024 << " KiB";
  close(fd);
  // The dead client is noticed and released.
  service_.feed().publish(big);
  for (int i = 0; i < 800 && server_->stats().sse_clients > 0; ++i) {
    service_.feed().publish(big);
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(server_->stats().sse_clients, 0u);
  // Only the server's own subscription (event images) is left.
  EXPECT_EQ(service_.feed().subscriber_count(), 1u);
}

TEST_F(ServerTest, ConcurrentClients) {
  start(with_token());
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      auto c = client();
      for (int i = 0; i < 25; ++i) {
        auto r = i % 2 ? c.Get("/cameras") : c.Post("/detect", jpeg_bytes(), "image/jpeg");
        if (r && r->status == 200) ++ok;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 100);
}

TEST(ServerUnits, ImageProbe) {
  namespace si = server_internal;
  auto j = si::probe_image(jpeg_bytes(64, 48));
  ASSERT_TRUE(j.ok()) << j.error();
  EXPECT_EQ(j->width, 64);
  EXPECT_EQ(j->height, 48);
  auto p = si::probe_image(png_bytes(40, 30));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->format, si::ImageFormat::kPng);
  EXPECT_EQ(p->width, 40);
  EXPECT_FALSE(si::probe_image("GIF89a....").ok());
  EXPECT_FALSE(si::probe_image(std::string("\xFF\xD8\xFF\xE0\x00\x10", 6)).ok());
  EXPECT_TRUE(si::token_equals("abc", "abc"));
  EXPECT_FALSE(si::token_equals("abd", "abc"));
  EXPECT_FALSE(si::token_equals("", ""));
}

}  // namespace
}  // namespace ev
