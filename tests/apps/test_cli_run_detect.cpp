// `edgevision run` with only the REST API: POST /detect answers an anonymized result, and its
// models load on the first request, not at start (a service whose API never detects does not
// hold them; the photo person pass at 832x832 alone was 47 MB of RSS).
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

int free_loopback_port() {
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

std::string file_text(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(CliRunDetect, RestModelsLoadOnTheFirstRequest) {
  const fs::path photo = test::data("faces/images/2008_002079.jpg");
  ASSERT_TRUE(fs::exists(photo)) << photo;
  const fs::path dir = test::temp_dir("cli_run_detect");
  const fs::path cfg = dir / "edgevision.yaml";
  const int port = free_loopback_port();
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
  const std::string before = file_text(dir / "before.err");
  const std::string after = file_text(log);
  EXPECT_NE(r.out.find("RC 0"), std::string::npos) << r.out << r.err << after;
  EXPECT_EQ(before.find("input=832x832"), std::string::npos)
      << "the photo person pass loaded at start: " << before;
  EXPECT_NE(after.find("input=832x832"), std::string::npos) << after;
  const auto answer = nlohmann::json::parse(file_text(dir / "answer.json"), nullptr, false);
  ASSERT_FALSE(answer.is_discarded()) << file_text(dir / "answer.json") << after;
  EXPECT_GE(answer.value("faces_anonymized", 0), 10) << answer.dump();
  int persons = 0;
  for (const auto& d : answer["detections"]) persons += d.value("label", "") == "person";
  EXPECT_GE(persons, 5) << answer.dump();
}

}  // namespace
}  // namespace ev
