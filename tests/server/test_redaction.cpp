// Credentials in camera URLs never reach /health (no token), /cameras or the dashboard's data.
#include <gtest/gtest.h>
#include <httplib.h>

#include "edgevision/server.hpp"
#include "server/fake_service.hpp"

namespace ev {
namespace {

TEST(ServerRedaction, HealthAndCamerasNeverShowCredentials) {
  test::FakeService service;
  CameraStatus c = service.cameras().front();
  c.source = "rtsp://admin:SuperSecret99@10.0.0.5:554/stream1";
  c.state = "reconnecting";
  c.error = "cannot open rtsp://admin:SuperSecret99@10.0.0.5:554/stream1: timeout";
  service.update_camera(c);
  service.set_health(
      {{"status", "degraded"}, {"cameras", {{c.id, {{"state", c.state}, {"error", c.error}}}}}});
  ServerParams p;
  p.port = 0;
  p.token = "t0ken-for-redaction";
  auto server = Server::start(p, service);
  ASSERT_TRUE(server.ok()) << server.error();
  httplib::Client client("127.0.0.1", (*server)->port());
  client.set_read_timeout(5);
  auto health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(health->body.find("SuperSecret99"), std::string::npos) << health->body;
  EXPECT_NE(health->body.find("rtsp://***@10.0.0.5:554/stream1"), std::string::npos)
      << health->body;
  client.set_bearer_token_auth(p.token);
  auto cams = client.Get("/cameras");
  ASSERT_TRUE(cams);
  EXPECT_EQ(cams->status, 200);
  EXPECT_EQ(cams->body.find("SuperSecret99"), std::string::npos) << cams->body;
  EXPECT_EQ(cams->body.find("admin"), std::string::npos) << cams->body;
  EXPECT_NE(cams->body.find("rtsp://***@10.0.0.5:554/stream1"), std::string::npos) << cams->body;
}

}  // namespace
}  // namespace ev
