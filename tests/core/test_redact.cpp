// Credentials in source URLs never show in statuses, errors or logs.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <sstream>

#include "edgevision/redact.hpp"

namespace ev {
namespace {

TEST(Redact, UrlCredentials) {
  EXPECT_EQ(redact_url("rtsp://admin:SuperSecret99@10.0.0.5:554/stream1"),
            "rtsp://***@10.0.0.5:554/stream1");
  EXPECT_EQ(redact_url("rtsp://admin@cam/x"), "rtsp://***@cam/x");
  EXPECT_EQ(redact_url("http://u:p@ss@cam/x"), "http://***@cam/x");
  EXPECT_EQ(redact_url("rtsp://u:pa/ss@cam/x"), "rtsp://***@cam/x");
  EXPECT_EQ(redact_url("https://cam/x?user=a&password=b&fps=5"),
            "https://cam/x?user=***&password=***&fps=5");
  EXPECT_EQ(redact_url("https://cam/x?Token=abc#frag"), "https://cam/x?Token=***#frag");
  // Nothing secret: unchanged.
  EXPECT_EQ(redact_url("rtsp://10.0.0.5/stream"), "rtsp://10.0.0.5/stream");
  EXPECT_EQ(redact_url("/videos/door.mp4"), "/videos/door.mp4");
  EXPECT_EQ(redact_url("0"), "0");
  EXPECT_EQ(redact_url(""), "");
}

TEST(Redact, TextWithSeveralUrls) {
  EXPECT_EQ(redact_text("cannot open rtsp://admin:SuperSecret99@cam1/s: timeout; "
                        "fallback http://bob:hunter2@cam2:8080/video ok"),
            "cannot open rtsp://***@cam1/s: timeout; fallback http://***@cam2:8080/video ok");
  EXPECT_EQ(redact_text("no urls here"), "no urls here");
  EXPECT_EQ(redact_text("://x@y"), "://x@y");
  EXPECT_EQ(redact_text("'rtsp://a:b@h/p'"), "'rtsp://***@h/p'");
}

TEST(Redact, Json) {
  nlohmann::json j = {{"source", "rtsp://a:secret@h/p"},
                      {"cameras", {{{"error", "cannot open rtsp://a:secret@h/p"}}}},
                      {"n", 3}};
  redact_json(j);
  EXPECT_EQ(j.dump().find("secret"), std::string::npos) << j.dump();
  EXPECT_EQ(j["source"], "rtsp://***@h/p");
  EXPECT_EQ(j["n"], 3);
}

TEST(Redact, LogLinesAreRedactedWhateverLoggedThem) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>("redact-test", sink);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);
  install_log_redaction("%v");
  spdlog::warn("camera c1: cannot open {}", "rtsp://admin:SuperSecret99@10.0.0.5/s");
  spdlog::set_default_logger(previous);
  EXPECT_EQ(out.str().find("SuperSecret99"), std::string::npos) << out.str();
  EXPECT_NE(out.str().find("rtsp://***@10.0.0.5/s"), std::string::npos) << out.str();
}

TEST(Redact, RandomTextNeverCrashesAndNeverKeepsUserinfo) {
  uint32_t state = 7;
  auto next = [&] { return state = state * 1664525u + 1013904223u; };
  const std::string alphabet = "rtsp:/@?#&=:a1 .";
  for (int i = 0; i < 20000; ++i) {
    std::string s(next() % 64, ' ');
    for (auto& c : s) c = alphabet[next() % alphabet.size()];
    const std::string r = redact_text("x rtsp://u:SECRET@" + s);
    ASSERT_EQ(r.find("SECRET"), std::string::npos) << s << " -> " << r;
  }
}

}  // namespace
}  // namespace ev
