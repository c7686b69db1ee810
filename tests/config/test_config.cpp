#include <gtest/gtest.h>

#include <fstream>

#include "edgevision/config.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

Result<Config> parse(const std::string& text) {
  return parse_config(text, "cfg.yaml", "/base");
}

TEST(Config, MinimalGetsDefaults) {
  auto cfg = parse("cameras:\n  - id: door\n    source: video.avi\n");
  ASSERT_TRUE(cfg) << cfg.error();
  ASSERT_EQ(cfg->cameras.size(), 1u);
  const CameraConfig& c = cfg->cameras[0];
  EXPECT_EQ(c.id, "door");
  EXPECT_EQ(c.source, "/base/video.avi");  // relative to the config file
  EXPECT_EQ(c.fps, 0);
  EXPECT_FALSE(c.loop);
  EXPECT_TRUE(c.enabled);
  EXPECT_TRUE(c.detect);
  EXPECT_EQ(c.queue_size, 4);
  EXPECT_TRUE(c.roi.empty());
  EXPECT_EQ(cfg->privacy.detector, "yunet");
  EXPECT_EQ(cfg->privacy.method, "blur");
  EXPECT_EQ(cfg->privacy.level, "medium");
  EXPECT_EQ(cfg->detection.model, "yolox-nano");
  EXPECT_EQ(cfg->detection.every_n, 1);
  EXPECT_FALSE(cfg->detection.motion_gating);
  EXPECT_TRUE(cfg->detection.skip_when_behind);
  EXPECT_EQ(cfg->tracking.max_lost, 30);
  EXPECT_FALSE(cfg->events.mqtt.enabled);
  EXPECT_FALSE(cfg->events.webhook.enabled);
  EXPECT_FALSE(cfg->events.jsonl.enabled);
  EXPECT_EQ(cfg->events.spool_dir, "/base/spool");
  EXPECT_EQ(cfg->events.mqtt.spool.dir, "/base/spool/mqtt");
  EXPECT_EQ(cfg->events.mqtt.spool.max_bytes, 64ull << 20);
  EXPECT_EQ(cfg->events.mqtt.qos, 1);
  EXPECT_EQ(cfg->api.listen, "127.0.0.1");
  EXPECT_EQ(cfg->api.port, 8080);
  EXPECT_TRUE(cfg->api.token.empty());
  EXPECT_FALSE(cfg->models.allow_download);
}

TEST(Config, FullExampleParses) {
  auto cfg = load_config(std::filesystem::path(EV_SOURCE_DIR) / "examples/edgevision.yaml");
  ASSERT_TRUE(cfg) << cfg.error();
  ASSERT_FALSE(cfg->cameras.empty());
  EXPECT_TRUE(cfg->cameras[0].loop);
  EXPECT_TRUE(cfg->events.mqtt.enabled);
  EXPECT_TRUE(cfg->events.jsonl.enabled);
}

TEST(Config, AllSectionsRoundTrip) {
  auto cfg = parse(R"(cameras:
  - id: cam-1
    source: rtsp://10.0.0.2/stream
    fps: 12.5
    roi: [10, 20, 300, 200]
    loop: false
    enabled: false
    detect: false
    queue_size: 8
privacy: {detector: haar, mode: fast, method: pixelate, level: high}
detection:
  model: /models/x.onnx
  classes: [person, car]
  conf: 0.4
  nms: 0.5
  threads: 2
  every_n: 3
  motion_gating: true
  motion_threshold: 0.01
  rect: false
  skip_when_behind: false
tracking: {track_thresh: 0.6, match_thresh: 0.7, new_track_thresh: 0.65, max_lost: 50, min_hits: 3, max_tracks: 100}
events:
  spool_dir: /var/spool/ev
  log: false
  mqtt: {host: broker, port: 1884, topic_prefix: site/a, client_id: box1, keepalive_s: 10,
         spool: {max_bytes: 1MiB}}
  webhook: {url: "http://hooks.local:9000/ev", timeout_ms: 2000}
  jsonl: {path: events.jsonl, rotate_bytes: 10MiB, keep: 5}
api: {listen: 0.0.0.0, port: 9090, token: secret, max_body_bytes: 1MiB}
models: {dirs: [m1, /m2], cache_dir: /cache, allow_download: true}
)");
  ASSERT_TRUE(cfg) << cfg.error();
  const CameraConfig& c = cfg->cameras[0];
  EXPECT_EQ(c.source, "rtsp://10.0.0.2/stream");
  EXPECT_DOUBLE_EQ(c.fps, 12.5);
  EXPECT_EQ(c.roi, cv::Rect(10, 20, 300, 200));
  EXPECT_FALSE(c.enabled);
  EXPECT_FALSE(c.detect);
  EXPECT_EQ(c.queue_size, 8);
  EXPECT_EQ(cfg->privacy.method, "pixelate");
  EXPECT_EQ(cfg->detection.classes, (std::vector<std::string>{"person", "car"}));
  EXPECT_EQ(cfg->detection.every_n, 3);
  EXPECT_TRUE(cfg->detection.motion_gating);
  EXPECT_FALSE(cfg->detection.rect);
  EXPECT_FALSE(cfg->detection.skip_when_behind);
  EXPECT_TRUE(DetectionConfig{}.rect);
  EXPECT_EQ(cfg->tracking.max_tracks, 100);
  EXPECT_FALSE(cfg->events.log);
  EXPECT_TRUE(cfg->events.mqtt.enabled);
  EXPECT_EQ(cfg->events.mqtt.port, 1884);
  EXPECT_EQ(cfg->events.mqtt.topic_prefix, "site/a");
  EXPECT_EQ(cfg->events.mqtt.spool.max_bytes, 1u << 20);
  EXPECT_EQ(cfg->events.mqtt.spool.dir, "/var/spool/ev/mqtt");
  EXPECT_TRUE(cfg->events.webhook.enabled);
  EXPECT_EQ(cfg->events.jsonl.path, "/base/events.jsonl");
  EXPECT_EQ(cfg->events.jsonl.rotate_bytes, 10u << 20);
  EXPECT_EQ(cfg->api.port, 9090);
  EXPECT_EQ(cfg->models.dirs, (std::vector<std::filesystem::path>{"/base/m1", "/m2"}));
  EXPECT_TRUE(cfg->models.allow_download);
}

// Every error names the file, the line, the key and what was expected.
void expect_error(const std::string& text, const std::string& line, const std::string& key,
                  const std::string& what) {
  auto cfg = parse(text);
  ASSERT_FALSE(cfg) << "accepted:\n" << text;
  const std::string& e = cfg.error();
  EXPECT_NE(e.find("cfg.yaml:" + line + ":"), std::string::npos) << e;
  EXPECT_NE(e.find("'" + key + "'"), std::string::npos) << e;
  EXPECT_NE(e.find(what), std::string::npos) << e;
}

TEST(Config, DetectionDevice) {
  auto cfg = parse("cameras: []\n");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->detection.device, "cpu");
  cfg = parse("cameras: []\ndetection:\n  device: cuda\n");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->detection.device, "cuda");
  expect_error("cameras: []\ndetection:\n  device: tpu\n", "3", "detection.device",
               "expected one of");
}

TEST(ConfigErrors, UnknownKey) {
  expect_error("cameras:\n  - id: a\n    source: x.avi\n    fsp: 10\n", "4", "cameras[0].fsp",
               "unknown key");
  expect_error("cameras: []\nprivcy: {}\n", "2", "privcy", "unknown key");
  expect_error("cameras: []\nevents:\n  mqtt:\n    hots: x\n", "4", "events.mqtt.hots",
               "expected one of");
}

TEST(ConfigErrors, WrongType) {
  expect_error("cameras:\n  - id: a\n    source: x.avi\n    fps: fast\n", "4", "cameras[0].fps",
               "expected a number");
  expect_error("cameras:\n  - id: a\n    source: x.avi\n    loop: maybe\n", "4", "cameras[0].loop",
               "expected true or false");
  expect_error("cameras: []\ndetection:\n  classes: person\n", "3", "detection.classes",
               "expected a list");
  expect_error("cameras: []\ndetection:\n  every_n: 1.5\n", "3", "detection.every_n",
               "expected an integer");
  expect_error("cameras: []\nevents:\n  jsonl: {path: a, rotate_bytes: lots}\n", "3",
               "events.jsonl.rotate_bytes", "expected a size");
  expect_error("cameras:\n  - id: a\n    source: x.avi\n    roi: [1, 2]\n", "4", "cameras[0].roi",
               "expected [x, y, width, height]");
}

TEST(ConfigErrors, MissingRequired) {
  expect_error("cameras:\n  - id: a\n", "2", "cameras[0].source", "missing required key");
  expect_error("cameras:\n  - source: a.avi\n", "2", "cameras[0].id", "missing required key");
  expect_error("privacy: {}\n", "1", "cameras", "missing required key");
  expect_error("cameras: []\nevents:\n  jsonl: {rotate_bytes: 1MiB}\n", "3", "events.jsonl.path",
               "missing required key");
}

TEST(ConfigErrors, BadEnumOrRange) {
  expect_error("cameras: []\nprivacy:\n  method: smudge\n", "3", "privacy.method",
               "expected one of blur, pixelate, blackbox, emoji");
  expect_error("cameras: []\nprivacy:\n  level: extreme\n", "3", "privacy.level",
               "expected one of");
  expect_error("cameras: []\nevents:\n  mqtt: {qos: 0}\n", "3", "events.mqtt.qos", "expected 1");
  expect_error("cameras: []\nevents:\n  mqtt: {port: 70000}\n", "3", "events.mqtt.port",
               "expected a number in [1, 65535]");
  expect_error("cameras: []\ndetection:\n  conf: 1.5\n", "3", "detection.conf", "[0, 1]");
}

TEST(ConfigErrors, SemanticChecks) {
  expect_error("cameras:\n  - {id: a, source: x.avi}\n  - {id: a, source: y.avi}\n", "3",
               "cameras[1].id", "duplicate camera id");
  expect_error("cameras:\n  - {id: 'a b', source: x.avi}\n", "2", "cameras[0].id",
               "expected 1-64 characters");
  expect_error("cameras: []\napi:\n  listen: 0.0.0.0\n", "3", "api.listen", "requires api.token");
  expect_error("cameras: []\nevents:\n  webhook: {url: 'ftp://x'}\n", "3", "events.webhook.url",
               "expected an http");
  expect_error("cameras: []\nevents:\n  mqtt: {topic_prefix: 'a/#'}\n", "3",
               "events.mqtt.topic_prefix", "without wildcards");
}

TEST(ConfigErrors, InvalidYamlAndFiles) {
  auto bad = parse("cameras:\n  - id: a\n   source: [\n");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("cfg.yaml:"), std::string::npos) << bad.error();
  EXPECT_NE(bad.error().find("invalid YAML"), std::string::npos) << bad.error();
  auto empty = parse("");
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().find("empty"), std::string::npos) << empty.error();
  auto missing = load_config("/nonexistent/edgevision.yaml");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().find("/nonexistent/edgevision.yaml"), std::string::npos);
}

TEST(ConfigCli, CheckExitCodes) {
  const auto bin = test::edgevision_binary();
  ASSERT_TRUE(std::filesystem::exists(bin)) << "edgevision binary not built";
  const auto dir = test::temp_dir("config_cli");
  {
    std::ofstream(dir / "bad.yaml") << "cameras:\n  - id: a\n    source: x.avi\n    colour: red\n";
  }
  const std::string example = std::string(EV_SOURCE_DIR) + "/examples/edgevision.yaml";
  const auto empty_cache = dir / "empty_cache";
  std::filesystem::create_directories(empty_cache);
  // The example names yolox-nano with downloads off: without a local copy it cannot start,
  // and `config check` must say so rather than "OK".
  auto offline =
      test::run_command("env -u EDGEVISION_MODELS EDGEVISION_CACHE=" + empty_cache.string() + " " +
                        bin.string() + " config check " + example);
  EXPECT_EQ(offline.exit_code, 1) << offline.out << offline.err;
  EXPECT_NE(offline.out.find("error: detection.model: model 'yolox-nano' not available"),
            std::string::npos)
      << offline.out;
  EXPECT_NE(offline.out.find("cannot be had offline"), std::string::npos) << offline.out;
  EXPECT_EQ(offline.out.find(": OK"), std::string::npos) << offline.out;
  // With the models where the manager looks, the example checks clean.
  auto ok = test::run_command("EDGEVISION_MODELS=" + test::shared_models_dir().string() +
                              " EDGEVISION_CACHE=" + empty_cache.string() + " " + bin.string() +
                              " config check " + example);
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find(": OK"), std::string::npos) << ok.out;
  EXPECT_EQ(ok.out.find("error:"), std::string::npos) << ok.out;
  auto bad = test::run_command(bin.string() + " config check " + (dir / "bad.yaml").string());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("bad.yaml:4:5: key 'cameras[0].colour': unknown key"), std::string::npos)
      << bad.err;
}

// Models resolved the way the service will, file sources checked, streams opened with --deep.
TEST(ConfigCli, CheckResolvesModelsAndSources) {
  const auto bin = test::edgevision_binary();
  ASSERT_TRUE(std::filesystem::exists(bin)) << "edgevision binary not built";
  const auto dir = test::temp_dir("config_check_resources");
  const auto video = test::data("video/warehouse_one_person.mp4");
  ASSERT_TRUE(std::filesystem::exists(video)) << video;
  const auto cache = dir / "cache";
  std::filesystem::create_directories(cache);
  auto write = [&](const std::string& name, const std::string& cameras, const std::string& models) {
    std::ofstream(dir / name) << "cameras:\n" << cameras << "models:\n" << models;
    return "env -u EDGEVISION_MODELS " + bin.string() + " config check " + (dir / name).string();
  };
  const std::string good_cam = "  - id: good\n    source: " + video.string() + "\n";
  const std::string local_models =
      "  dirs: [" + test::shared_models_dir().string() + "]\n  cache_dir: " + cache.string() + "\n";
  const std::string no_models = "  cache_dir: " + cache.string() + "\n  allow_download: false\n";

  // A missing file source is an error naming the camera; a disabled camera is not checked.
  auto missing = test::run_command(
      write("missing.yaml",
            good_cam + "  - id: gone\n    source: nowhere/lost.mp4\n"
                       "  - id: off\n    enabled: false\n    source: nowhere/off.mp4\n",
            local_models));
  EXPECT_EQ(missing.exit_code, 1) << missing.out << missing.err;
  EXPECT_NE(missing.out.find("error: cameras[1] 'gone': source not found: " +
                             (dir / "nowhere/lost.mp4").string()),
            std::string::npos)
      << missing.out;
  EXPECT_EQ(missing.out.find("'off'"), std::string::npos) << missing.out;
  EXPECT_EQ(missing.out.find("model"), std::string::npos) << missing.out;

  // Models found locally with the right hash: clean.
  auto clean = test::run_command(write("clean.yaml", good_cam, local_models));
  EXPECT_EQ(clean.exit_code, 0) << clean.out << clean.err;
  EXPECT_NE(clean.out.find(": OK"), std::string::npos) << clean.out;

  // Not here, downloads off: an error. Not here, downloads on: a warning, exit 0.
  auto offline = test::run_command(write("offline.yaml", good_cam, no_models));
  EXPECT_EQ(offline.exit_code, 1) << offline.out;
  EXPECT_NE(offline.out.find("error: detection.model"), std::string::npos) << offline.out;
  // The face model ships beside the binary, so it resolves offline; without the shipped
  // folder it is a warning (the face stage falls back to a weaker detector).
  EXPECT_EQ(offline.out.find("privacy.detector"), std::string::npos) << offline.out;
  auto unshipped = test::run_command("EDGEVISION_SHIPPED_MODELS= " +
                                     write("unshipped.yaml", good_cam, no_models));
  EXPECT_EQ(unshipped.exit_code, 1) << unshipped.out;
  EXPECT_NE(unshipped.out.find("warning: privacy.detector"), std::string::npos) << unshipped.out;
  auto download = test::run_command(write(
      "download.yaml", good_cam, "  cache_dir: " + cache.string() + "\n  allow_download: true\n"));
  EXPECT_EQ(download.exit_code, 0) << download.out << download.err;
  EXPECT_NE(download.out.find("warning: detection.model: model 'yolox-nano' is not here; it will "
                              "be downloaded at start"),
            std::string::npos)
      << download.out;

  // A copy with the wrong hash does not count.
  std::filesystem::create_directories(dir / "badmodels");
  std::ofstream(dir / "badmodels" / "yolox_nano.onnx") << "truncated";
  auto bad_hash = test::run_command(write(
      "badhash.yaml", good_cam, "  dirs: [" + (dir / "badmodels").string() + "]\n" + no_models));
  EXPECT_EQ(bad_hash.exit_code, 1) << bad_hash.out;
  EXPECT_NE(bad_hash.out.find("yolox_nano.onnx (only copies with a wrong hash)"), std::string::npos)
      << bad_hash.out;

  // Streams are only opened with --deep; the failure names the camera, credentials redacted.
  const std::string stream_cam =
      good_cam + "  - id: cam2\n    source: http://admin:Secret99@127.0.0.1:1/video\n";
  auto shallow = test::run_command(write("stream.yaml", stream_cam, local_models));
  EXPECT_EQ(shallow.exit_code, 0) << shallow.out << shallow.err;
  auto deep = test::run_command(write("stream.yaml", stream_cam, local_models) + " --deep");
  EXPECT_EQ(deep.exit_code, 1) << deep.out << deep.err;
  EXPECT_NE(deep.out.find("error: cameras[1] 'cam2': cannot open"), std::string::npos) << deep.out;
  EXPECT_EQ(deep.out.find("Secret99"), std::string::npos) << deep.out;
  EXPECT_EQ(deep.err.find("Secret99"), std::string::npos) << deep.err;
}

}  // namespace
}  // namespace ev

namespace ev {
namespace {

TEST(Config, RuntimeAndMotionRegions) {
  auto defaults = parse_config("cameras: []\n", "cfg.yaml", "/base");
  ASSERT_TRUE(defaults) << defaults.error();
  EXPECT_EQ(defaults->runtime.threads, 0);
  EXPECT_TRUE(defaults->runtime.share_sessions);
  EXPECT_FALSE(defaults->runtime.allow_spinning);
  EXPECT_FALSE(defaults->privacy.motion_regions);
  EXPECT_EQ(defaults->privacy.full_pass_every, 10);
  auto cfg = parse_config(
      "cameras: []\nprivacy:\n  motion_regions: true\n  full_pass_every: 5\nruntime:\n"
      "  threads: 2\n  share_sessions: false\n  allow_spinning: true\n",
      "cfg.yaml", "/base");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_TRUE(cfg->privacy.motion_regions);
  EXPECT_EQ(cfg->privacy.full_pass_every, 5);
  EXPECT_EQ(cfg->runtime.threads, 2);
  EXPECT_FALSE(cfg->runtime.share_sessions);
  EXPECT_TRUE(cfg->runtime.allow_spinning);
  auto bad = parse_config("cameras: []\nruntime:\n  thread: 2\n", "cfg.yaml", "/base");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("runtime.thread"), std::string::npos) << bad.error();
  auto zero = parse_config("cameras: []\nprivacy:\n  full_pass_every: 0\n", "cfg.yaml", "/base");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().find("privacy.full_pass_every"), std::string::npos) << zero.error();
}

TEST(Config, RuntimeRunsPerSessionAndArena) {
  auto defaults = parse_config("cameras: []\n", "cfg.yaml", "/base");
  ASSERT_TRUE(defaults) << defaults.error();
  EXPECT_EQ(defaults->runtime.runs_per_session, 0);  // auto
  EXPECT_TRUE(defaults->runtime.session_arena);
  auto cfg = parse_config("cameras: []\nruntime:\n  runs_per_session: 2\n  session_arena: false\n",
                          "cfg.yaml", "/base");
  ASSERT_TRUE(cfg) << cfg.error();
  EXPECT_EQ(cfg->runtime.runs_per_session, 2);
  EXPECT_FALSE(cfg->runtime.session_arena);
  auto bad = parse_config("cameras: []\nruntime:\n  runs_per_session: -1\n", "cfg.yaml", "/base");
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().find("runtime.runs_per_session"), std::string::npos) << bad.error();
}

}  // namespace
}  // namespace ev
