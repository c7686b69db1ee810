// GET /cameras/{id}/live: multipart JPEG parts of the anonymized snapshots as they change, each
// with the tracks of that moment in X-Tracks; token required, unknown camera 404, bounded.
#include <gtest/gtest.h>
#include <httplib.h>

#include <thread>

#include "edgevision/server.hpp"
#include "server/fake_service.hpp"

namespace ev {
namespace {
using namespace std::chrono_literals;

TEST(LiveStream, PushesChangedFramesWithTheirTracks) {
  test::FakeService service;
  service.set_snapshot("front-door", test::synthetic_jpeg("front-door", 0));
  service.set_tracks("front-door", nlohmann::json::array(
                                       {{{"id", 3}, {"class", "person"}, {"box", {1, 2, 3, 4}}}}));
  ServerParams p;
  p.port = 0;
  p.token = "tok-live-1234";
  p.max_sse_clients = 1;
  p.threads = 3;
  auto server = Server::start(p, service);
  ASSERT_TRUE(server.ok()) << server.error();
  const int port = (*server)->port();

  {
    httplib::Client anon("127.0.0.1", port);
    auto r = anon.Get("/cameras/front-door/live");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401);
  }
  httplib::Client c("127.0.0.1", port);
  c.set_bearer_token_auth("tok-live-1234");
  c.set_read_timeout(5);
  auto unknown = c.Get("/cameras/nope/live");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);

  // A producer changes the frame while the client reads; the client stops after 3 parts.
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int n = 1; !done && n < 200; ++n) {
      std::this_thread::sleep_for(50ms);
      service.set_snapshot("front-door", test::synthetic_jpeg("front-door", n));
    }
  });
  std::string body, content_type;
  int status = 0;
  httplib::Headers h;
  auto r = c.Get(
      "/cameras/front-door/live", h,
      [&](const httplib::Response& res) {
        status = res.status;
        content_type = res.get_header_value("Content-Type");
        return true;
      },
      [&](const char* data, size_t len) {
        body.append(data, len);
        size_t parts = 0;
        for (size_t pos = 0;
             (pos = body.find("Content-Type: image/jpeg", pos)) != std::string::npos; ++pos)
          ++parts;
        return parts < 4;  // 3 complete parts, then hang up
      });
  done = true;
  producer.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(content_type, "multipart/x-mixed-replace; boundary=evframe");
  EXPECT_NE(body.find("--evframe\r\n"), std::string::npos);
  EXPECT_NE(body.find("X-Tracks: [{\"box\":[1,2,3,4],\"class\":\"person\",\"id\":3}]\r\n"),
            std::string::npos)
      << body.substr(0, 300);
  const size_t jpeg = body.find("\r\n\r\n\xFF\xD8");  // JPEG SOI right after the part headers
  EXPECT_NE(jpeg, std::string::npos);

  // The stream slot is freed when the client hangs up: a new stream is accepted again.
  bool accepted = false;
  for (int i = 0; i < 50 && !accepted; ++i) {
    std::this_thread::sleep_for(50ms);
    int st = 0;
    c.Get(
        "/cameras/front-door/live", h,
        [&](const httplib::Response& res) {
          st = res.status;
          return false;
        },
        [](const char*, size_t) { return false; });
    accepted = st == 200;
  }
  EXPECT_TRUE(accepted);
  (*server)->stop();
}

}  // namespace
}  // namespace ev
