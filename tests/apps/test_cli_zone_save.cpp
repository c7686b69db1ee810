// `edgevision run` end to end: the dashboard's zone editor save (PUT /cameras/{id}/scene)
// rewrites the config file and the service reloads it through its SIGHUP path, after which the
// camera's scene (GET) shows the saved zone; /cameras carries the reconnect count. With only
// the REST API, POST /detect answers an anonymized result and its models load on the first
// request, not at start (the photo person pass at 832x832 alone was 47 MB of RSS).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CliZoneSave, SavedZonesAreWrittenAndReloadedByTheRunningService) {
  const fs::path video = test::data("video/otb_crossing/crossing.avi");
  ASSERT_TRUE(fs::exists(video)) << video;
  const fs::path dir = test::temp_dir("cli_zone_save");
  const fs::path cfg = dir / "edgevision.yaml";
  const int port = free_port();
  std::ofstream(cfg) << "# the editor's save drops comments\n"
                        "cameras:\n"
                        "  - id: door\n"
                        "    source: "
                     << video.string()
                     << "\n"
                        "    loop: true\n"
                        "    detect: false\n"
                        "events:\n"
                        "  spool_dir: "
                     << (dir / "spool").string()
                     << "\n"
                        "api:\n"
                        "  enabled: true\n"
                        "  listen: 127.0.0.1\n"
                        "  port: "
                     << port
                     << "\n"
                        "  token: zone-save-token\n";
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const std::string auth = " -H 'Authorization: Bearer zone-save-token' ";
  // The service in the background; the script talks to it with curl and stops it.
  const std::string script =
      test::edgevision_binary().string() + " run --config " + cfg.string() + " --duration 30 >" +
      (dir / "run.out").string() + " 2>" + (dir / "run.err").string() +
      " & pid=$!\n"
      "for i in $(seq 1 100); do curl -sf " +
      url +
      "/health >/dev/null && break; sleep 0.1; done\n"
      "echo \"BEFORE $(curl -s" +
      auth + url +
      "/cameras/door/scene)\"\n"
      "echo \"CAMERAS $(curl -s" +
      auth + url +
      "/cameras)\"\n"
      "echo \"PUT $(curl -s -o /dev/null -w '%{http_code}' -X PUT" +
      auth +
      "-H 'Content-Type: application/json' -d '{\"zones\":[{\"name\":\"bay\",\"polygon\":[[0,0],"
      "[100,0],[100,80]]}],\"lines\":[{\"name\":\"door\",\"points\":[[50,0],[50,200]]}]}' " +
      url +
      "/cameras/door/scene)\"\n"
      "for i in $(seq 1 100); do s=$(curl -s" +
      auth + url +
      "/cameras/door/scene);"
      " case \"$s\" in *bay*) break;; esac; sleep 0.1; done\n"
      "echo \"AFTER $s\"\n"
      "kill -TERM $pid; wait $pid; echo \"RC $?\"\n";
  auto r = test::run_command("bash -c '" + [&] {
    std::string quoted;
    for (char c : script) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return quoted;
  }() + "'");
  const std::string log = read_file(dir / "run.err");
  ASSERT_NE(r.out.find("BEFORE {"), std::string::npos) << r.out << r.err << log;
  EXPECT_NE(r.out.find("\"zones\":[]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"editable\":true"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"reconnects\":0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PUT 200"), std::string::npos) << r.out << log;
  const size_t after = r.out.find("AFTER ");
  ASSERT_NE(after, std::string::npos) << r.out;
  const std::string scene = r.out.substr(after);
  EXPECT_NE(scene.find("\"name\":\"bay\""), std::string::npos) << scene << log;
  EXPECT_NE(scene.find("[100.0,80.0]"), std::string::npos) << scene;
  EXPECT_NE(scene.find("\"name\":\"door\""), std::string::npos) << scene;
  EXPECT_NE(log.find("SIGHUP received, reloading"), std::string::npos) << log;
  EXPECT_NE(r.out.find("RC 0"), std::string::npos) << r.out << log;
  const std::string saved = read_file(cfg);
  EXPECT_NE(saved.find("name: bay"), std::string::npos) << saved;
  EXPECT_NE(saved.find("token: zone-save-token"), std::string::npos) << saved;  // rest kept
}

TEST(CliRunDetect, RestModelsLoadOnTheFirstRequest) {
  const fs::path photo = test::data("faces/images/2008_002079.jpg");
  ASSERT_TRUE(fs::exists(photo)) << photo;
  const fs::path dir = test::temp_dir("cli_run_detect");
  const fs::path cfg = dir / "edgevision.yaml";
  const int port = free_port();
  std::ofstream(cfg) << "cameras: []\nevents:\n  spool_dir: " << (dir / "spool").string()
                     << "\napi:\n  enabled: true\n  listen: 127.0.0.1\n  port: " << port << "\n";
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  const fs::path log = dir / "run.err";
  const std::string script =
      test::edgevision_binary().string() + " --offline --models-dir " +
      test::shared_models_dir().string() + " run --config " + cfg.string() +
      " --duration 60 >/dev/null 2>" + log.string() +
      " & pid=$!\n"
      "for i in $(seq 1 200); do curl -sf " +
      url +
      "/health >/dev/null && break; sleep 0.1; done\n"
      "cp " +
      log.string() + " " + (dir / "before.err").string() +
      "\n"
      "curl -s -X POST -H \"Content-Type: image/jpeg\" --data-binary @" +
      photo.string() + " " + url +
      "/detect > " + (dir / "answer.json").string() +
      "\n"
      "kill -TERM $pid; wait $pid; echo \"RC $?\"\n";
  auto r = test::run_command("bash -c '" + script + "'");
  const std::string before = read_file(dir / "before.err");
  const std::string after = read_file(log);
  EXPECT_NE(r.out.find("RC 0"), std::string::npos) << r.out << r.err << after;
  EXPECT_EQ(before.find("input=832x832"), std::string::npos)
      << "the photo person pass loaded at start: " << before;
  EXPECT_NE(after.find("input=832x832"), std::string::npos) << after;
  const auto answer = nlohmann::json::parse(read_file(dir / "answer.json"), nullptr, false);
  ASSERT_FALSE(answer.is_discarded()) << read_file(dir / "answer.json") << after;
  EXPECT_GE(answer.value("faces_anonymized", 0), 10) << answer.dump();
  int persons = 0;
  for (const auto& d : answer["detections"]) persons += d.value("label", "") == "person";
  EXPECT_GE(persons, 5) << answer.dump();
}

}  // namespace
}  // namespace ev
