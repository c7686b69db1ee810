// Values that used to be accepted silently: NaN/inf, duplicate keys, size overflow, host names
// that only look like loopback. Plus a bounded random-input run of the loader.
#include <gtest/gtest.h>

#include <random>

#include "edgevision/config.hpp"

namespace ev {
namespace {

void expect_refused(const std::string& text, const std::string& line, const std::string& key,
                    const std::string& what) {
  auto cfg = parse_config(text, "cfg.yaml", "/base");
  ASSERT_FALSE(cfg) << "accepted:\n" << text;
  const std::string& e = cfg.error();
  EXPECT_NE(e.find("cfg.yaml:" + line + ":"), std::string::npos) << e;
  EXPECT_NE(e.find("'" + key + "'"), std::string::npos) << e;
  EXPECT_NE(e.find(what), std::string::npos) << e;
}

TEST(ConfigHardening, NanAndInfinityRefusedWithLineAndKey) {
  for (const char* v : {"nan", "NaN", "-nan", "inf", "-inf", "infinity", "1e999"}) {
    const std::string text = std::string("cameras: []\ndetection:\n  conf: ") + v + "\n";
    auto cfg = parse_config(text, "cfg.yaml", "/base");
    ASSERT_FALSE(cfg) << "accepted conf: " << v;
    EXPECT_NE(cfg.error().find("cfg.yaml:3:"), std::string::npos) << cfg.error();
    EXPECT_NE(cfg.error().find("'detection.conf'"), std::string::npos) << cfg.error();
  }
  expect_refused("cameras: []\ntracking:\n  match_thresh: nan\n", "3", "tracking.match_thresh",
                 "finite");
  expect_refused("cameras:\n  - {id: a, source: x.avi, fps: inf}\n", "2", "cameras[0].fps",
                 "finite");
  expect_refused("cameras: []\nevents:\n  mqtt: {port: 1e300}\n", "3", "events.mqtt.port",
                 "expected a number in [1, 65535]");
}

TEST(ConfigHardening, DuplicateKeysRefused) {
  expect_refused("cameras: []\ndetection:\n  conf: 0.9\n  conf: 0.1\n", "4", "detection.conf",
                 "duplicate key");
  expect_refused("cameras: []\napi:\n  token: a\napi:\n  token: b\n", "4", "api", "duplicate key");
  expect_refused("cameras:\n  - id: a\n    source: x.avi\n    source: y.avi\n", "4",
                 "cameras[0].source", "duplicate key");
  EXPECT_TRUE(parse_config("cameras: []\ndetection:\n  conf: 0.9\n  nms: 0.4\n", "cfg.yaml", "/b"));
}

TEST(ConfigHardening, SizeOverflowRefused) {
  expect_refused("cameras: []\napi:\n  max_body_bytes: 17179869185GiB\n", "3", "api.max_body_bytes",
                 "too large");
  expect_refused("cameras: []\napi:\n  max_body_bytes: 99999999999999999999999\n", "3",
                 "api.max_body_bytes", "too large");
  auto ok = parse_config("cameras: []\napi:\n  max_body_bytes: 2GiB\n", "cfg.yaml", "/b");
  ASSERT_TRUE(ok) << ok.error();
  EXPECT_EQ(ok->api.max_body_bytes, uint64_t{2} << 30);
}

TEST(ConfigHardening, LoopbackDecidedByAddress) {
  expect_refused("cameras: []\napi:\n  listen: 127.evil.example\n", "3", "api.listen",
                 "requires api.token");
  expect_refused("cameras: []\napi:\n  listen: 127.0.0.1.nip.io\n", "3", "api.listen",
                 "requires api.token");
  for (const char* ok : {"127.0.0.1", "127.3.2.1", "::1", "localhost"}) {
    auto cfg = parse_config(std::string("cameras: []\napi:\n  listen: '") + ok + "'\n", "c", "/b");
    EXPECT_TRUE(cfg) << ok << ": " << cfg.error();
  }
}

// Bounded random mutations of a valid file: the loader returns a value or an error, never
// crashes or throws; every error names the file.
TEST(ConfigHardening, RandomInputFuzz) {
  const std::string seed =
      "cameras:\n  - id: door\n    source: rtsp://10.0.0.5/s\n    fps: 10\n    roi: [0, 0, 10, "
      "10]\ndetection:\n  conf: 0.5\n  classes: [person]\nevents:\n  mqtt: {host: h, port: 1883}\n"
      "  jsonl: {path: e.jsonl, rotate_bytes: 64MiB}\napi:\n  listen: 127.0.0.1\n  port: 8080\n";
  const std::string alphabet = ":- \n{}[],'\"#&*!|>%@`0123456789.eEnaif";
  std::mt19937 rng(42);
  int accepted = 0, refused = 0;
  constexpr int kIterations = 5000;
  for (int i = 0; i < kIterations; ++i) {
    std::string text = seed;
    const int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng() % (text.size() + 1);
      switch (rng() % 3) {
        case 0:
          text.insert(pos, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 1:
          if (pos < text.size()) text.erase(pos, 1 + rng() % 8);
          break;
        default:
          if (pos < text.size()) text[pos] = alphabet[rng() % alphabet.size()];
      }
    }
    auto cfg = parse_config(text, "fuzz.yaml", "/base");
    if (cfg) {
      ++accepted;
      EXPECT_TRUE(std::isfinite(cfg->detection.conf));
    } else {
      ++refused;
      ASSERT_EQ(cfg.error().rfind("fuzz.yaml", 0), 0u) << cfg.error();
    }
  }
  EXPECT_EQ(accepted + refused, kIterations);
  EXPECT_GT(accepted, 0);
  EXPECT_GT(refused, 0);
  std::printf("config fuzz: %d inputs, %d accepted, %d refused, 0 crashes\n", kIterations, accepted,
              refused);
}

}  // namespace
}  // namespace ev
