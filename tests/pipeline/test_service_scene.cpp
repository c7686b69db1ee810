// What the dashboard reads of a running service beyond frames: each camera's zones and lines
// with the counts its scene events carry, and how often a camera's source was reopened.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "edgevision/pipeline.hpp"
#include "events/mqtt_test_util.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

Config base_config(const fs::path& dir) {
  Config cfg;
  cfg.models.dirs = {test::shared_models_dir()};
  cfg.models.allow_download = false;
  cfg.events.spool_dir = dir / "spool";
  cfg.events.log = false;
  cfg.events.mqtt.enabled = false;
  cfg.events.jsonl.spool.dir = dir / "spool/jsonl";
  cfg.events.mqtt.spool.dir = dir / "spool/mqtt";
  cfg.events.webhook.spool.dir = dir / "spool/webhook";
  cfg.api.enabled = false;
  return cfg;
}

TEST(ServiceScene, ZonesLinesAndCountsFromSceneEvents) {
  const fs::path dir = test::temp_dir("service_scene");
  Config cfg = base_config(dir);
  CameraConfig cam;
  cam.id = "lobby";
  cam.source = test::data("video/otb_crossing/crossing.avi").string();
  cam.roi = cv::Rect(10, 20, 300, 200);
  cam.scene.zones.push_back({"bay", {{0, 0}, {100, 0}, {100, 50}}, {}, 0, 0, {}});
  cam.scene.lines.push_back({"door", {5, 0}, {5, 90}, {}});
  cfg.cameras = {cam};
  auto service = Service::create(cfg);
  ASSERT_TRUE(service) << service.error();
  // Not started: publish() alone feeds the counts, as the cameras' scene analyzers would.
  json s = (*service)->scene("lobby");
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["roi"], json({10, 20, 300, 200}));
  EXPECT_EQ(s["zones"][0]["occupancy"], 0);
  EXPECT_EQ(s["lines"][0]["in"], 0);
  EXPECT_EQ(s["lines"][0]["points"], json({{5.0, 0.0}, {5.0, 90.0}}));
  for (const char* d : {"in", "in", "out"})
    (*service)->publish({{"type", "line_cross"},
                         {"camera", "lobby"},
                         {"line", "door"},
                         {"direction", d},
                         {"class", "person"}});
  (*service)->publish(
      {{"type", "zone_enter"}, {"camera", "lobby"}, {"zone", "bay"}, {"occupancy", 3}});
  (*service)->publish(
      {{"type", "zone_exit"}, {"camera", "lobby"}, {"zone", "bay"}, {"occupancy", 2}});
  (*service)->publish({{"type", "line_cross"},
                       {"camera", "other"},
                       {"line", "door"},
                       {"direction", "in"}});  // another camera's line: not counted here
  s = (*service)->scene("lobby");
  EXPECT_EQ(s["lines"][0]["in"], 2);
  EXPECT_EQ(s["lines"][0]["out"], 1);
  EXPECT_EQ(s["zones"][0]["occupancy"], 2);
  EXPECT_TRUE((*service)->scene("nope").is_null());
}

TEST(ServiceScene, ReconnectsCountReopenAttempts) {
  // A port nobody listens on: every open fails at once and the camera retries with back-off
  // (0.5 s, 1 s, 2 s ...).
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  const int port = ntohs(addr.sin_port);
  ::close(fd);

  const fs::path dir = test::temp_dir("service_reconnects");
  Config cfg = base_config(dir);
  CameraConfig cam;
  cam.id = "gone";
  cam.source = "http://127.0.0.1:" + std::to_string(port) + "/video.mjpg";
  cam.detect = false;
  cfg.cameras = {cam};
  auto service = Service::create(cfg);
  ASSERT_TRUE(service) << service.error();
  ASSERT_TRUE((*service)->start());
  ASSERT_TRUE(test::wait_until([&] { return (*service)->cameras().at(0).reconnects >= 2; }, 15));
  const CameraStatus c = (*service)->cameras().at(0);
  EXPECT_EQ(c.state, "reconnecting");
  EXPECT_FALSE(c.error.empty());
  (*service)->stop(200);
}

}  // namespace
}  // namespace ev
