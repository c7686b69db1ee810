// The service on real clips with real models and a real mosquitto broker on 127.0.0.1.
#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/videoio.hpp>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "edgevision/ota.hpp"
#include "edgevision/pipeline.hpp"
#include "events/mqtt_test_util.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

namespace fs = std::filesystem;
using test::wait_until;

// The first `frames` frames of a video as an MJPG .avi (short, deterministic test cameras).
fs::path make_clip(const fs::path& src, const fs::path& dst, int frames) {
  if (fs::exists(dst)) return dst;
  cv::VideoCapture in(src.string());
  EXPECT_TRUE(in.isOpened()) << src;
  cv::Mat f;
  cv::VideoWriter out;
  for (int i = 0; i < frames && in.read(f); ++i) {
    if (!out.isOpened()) {
      out.open(dst.string(), cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), 10, f.size());
    }
    out.write(f);
  }
  return dst;
}

fs::path clips_dir() {
  // Per process: CTest runs these cases in parallel and a clip being written must not be read.
  const fs::path d = fs::path(EV_BINARY_DIR) / "test-tmp" / ("clips-" + std::to_string(getpid()));
  fs::create_directories(d);
  return d;
}

Config service_config(const fs::path& dir, int mqtt_port, int frames) {
  Config cfg;
  const fs::path clips = clips_dir();
  CameraConfig a;
  a.id = "crossing";
  a.source = make_clip(test::data("video/otb_crossing/crossing.avi"),
                       clips / ("crossing_" + std::to_string(frames) + ".avi"), frames);
  CameraConfig b;
  b.id = "pets";
  b.source = make_clip(test::data("video/pets09_s2l1/vtest.avi"),
                       clips / ("pets_" + std::to_string(frames) + ".avi"), frames);
  cfg.cameras = {a, b};
  cfg.detection.classes = {"person"};
  cfg.detection.threads = 1;
  cfg.models.dirs = {test::shared_models_dir()};
  cfg.models.allow_download = false;
  cfg.events.spool_dir = dir / "spool";
  cfg.events.log = false;
  cfg.events.mqtt.enabled = true;
  cfg.events.mqtt.port = mqtt_port;
  cfg.events.mqtt.topic_prefix = "evtest";
  cfg.events.mqtt.client_id = "edgevision-service-test";
  cfg.events.mqtt.spool.dir = dir / "spool/mqtt";
  cfg.events.jsonl.enabled = true;
  cfg.events.jsonl.path = dir / "events.jsonl";
  cfg.events.jsonl.spool.dir = dir / "spool/jsonl";
  cfg.events.webhook.spool.dir = dir / "spool/webhook";
  return cfg;
}

// The two cameras of service_config looping at `fps`, no MQTT: a service that runs until stopped.
Config looping_config(const fs::path& dir, int frames, double fps, bool detect) {
  Config cfg = service_config(dir, 1, frames);
  cfg.events.mqtt.enabled = false;
  for (auto& c : cfg.cameras) {
    c.loop = true;
    c.fps = fps;
    c.detect = detect;
  }
  return cfg;
}

uint64_t seq_of(const std::string& payload) {
  return nlohmann::json::parse(payload).at("seq").get<uint64_t>();
}

std::vector<uint64_t> first_seqs(const std::vector<std::string>& payloads) {
  std::vector<uint64_t> out;
  std::set<uint64_t> seen;
  for (const auto& p : payloads) {
    if (seen.insert(seq_of(p)).second) out.push_back(seq_of(p));
  }
  return out;
}

// The first sequence numbers of the events a subscriber has received, in arrival order.
std::vector<uint64_t> received_seqs(const test::Subscriber& sub) {
  std::vector<std::string> payloads;
  for (const auto& m : sub.event_messages()) payloads.push_back(m.payload);
  return first_seqs(payloads);
}

SinkStats sink(Service& s, const std::string& name) {
  for (const auto& st : s.sink_stats()) {
    if (st.name == name) return st;
  }
  return {};
}

TEST(Service, TwoFileCamerasEventsArriveOnTheirTopics) {
  const fs::path dir = test::temp_dir("service_two_cameras");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  test::Subscriber sub(broker.port(), "evtest/#");
  ASSERT_TRUE(sub.wait_subscribed(5));

  // EV_TEST_FRAMES shortens the clips (e.g. to run this test under valgrind).
  const int frames = std::getenv("EV_TEST_FRAMES") ? std::atoi(std::getenv("EV_TEST_FRAMES")) : 40;
  auto service = Service::create(service_config(dir, broker.port(), frames));
  ASSERT_TRUE(service) << service.error();
  std::atomic<int> fed{0};
  (*service)->subscribe([&](const nlohmann::json&) { ++fed; });
  ASSERT_TRUE((*service)->start());
  ASSERT_TRUE(wait_until([&] { return (*service)->all_finished(); }, 60));
  ASSERT_TRUE(wait_until([&] { return sink(**service, "mqtt").spool.pending == 0; }, 10));

  for (const auto& c : (*service)->cameras()) {
    EXPECT_EQ(c.frames_in, static_cast<uint64_t>(frames)) << c.id;
    EXPECT_EQ(c.frames_out, c.frames_in) << c.id;  // files never drop
    EXPECT_EQ(c.frames_dropped, 0u) << c.id;
    EXPECT_EQ(c.frames_failed, 0u) << c.id;
    // The snapshot is a decodable JPEG of the (anonymized) frame.
    auto jpeg = (*service)->snapshot_jpeg(c.id);
    ASSERT_TRUE(jpeg) << c.id;
    EXPECT_FALSE(cv::imdecode(*jpeg, cv::IMREAD_COLOR).empty());
  }
  EXPECT_FALSE((*service)->snapshot_jpeg("nope"));

  // Metrics: the registry serializes with per-camera series.
  prometheus::TextSerializer serializer;
  const std::string text = serializer.Serialize((*service)->metrics().Collect());
  EXPECT_NE(text.find("edgevision_frames_in_total{camera=\"pets\"}"), std::string::npos);
  EXPECT_NE(text.find("edgevision_stage_latency_seconds_bucket"), std::string::npos);
  EXPECT_NE(text.find("edgevision_inference_seconds"), std::string::npos);

  (*service)->stop(2000);
  const auto jsonl = test::read_lines(dir / "events.jsonl");
  ASSERT_GT(jsonl.size(), 2u);
  EXPECT_EQ(fed.load(), static_cast<int>(jsonl.size()));
  std::map<std::string, int> per_camera;
  std::map<int64_t, int> balance;  // per (camera, track): appeared +1, left -1
  for (const auto& line : jsonl) {
    const auto e = nlohmann::json::parse(line);
    EXPECT_EQ(e["schema"], "edgevision.event/1");
    EXPECT_TRUE(e.contains("track_id") && e.contains("box") && e.contains("score") &&
                e.contains("frame_time_ms") && e.contains("class"));
    EXPECT_EQ(e["class"], "person");
    ++per_camera[e["camera"]];
    const int64_t key = e["track_id"].get<int64_t>() * 2 + (e["camera"] == "pets" ? 1 : 0);
    // Scene analytics (activities) adds other types; appear/leave must still pair up.
    if (e["type"] == "object_appeared") ++balance[key];
    if (e["type"] == "object_left") --balance[key];
  }
  EXPECT_GT(per_camera["pets"], 0);
  EXPECT_GT(per_camera["crossing"], 0);
  for (const auto& [k, v] : balance) EXPECT_EQ(v, 0) << "track key " << k;

  // The service's MQTT spool is empty once the broker has acknowledged every event; the
  // broker hands them to this subscriber a moment later (longer on a loaded machine).
  EXPECT_TRUE(
      wait_until([&] { return received_seqs(sub).size() >= first_seqs(jsonl).size(); }, 10));
  const auto msgs = sub.event_messages();
  std::vector<std::string> payloads;
  for (const auto& m : msgs) {
    const auto e = nlohmann::json::parse(m.payload);
    EXPECT_EQ(m.topic,
              "evtest/" + e["camera"].get<std::string>() + "/" + e["type"].get<std::string>());
    payloads.push_back(m.payload);
  }
  EXPECT_EQ(first_seqs(payloads), first_seqs(jsonl));

  // MQTT state beside the events: availability, stats, and the per-camera counts of confirmed
  // tracks (PETS has several people in view at once). Every event names its device.
  int max_people = 0;
  for (const auto& m : sub.messages()) {
    if (m.topic != "evtest/pets/counts") continue;
    const auto c = nlohmann::json::parse(m.payload);
    max_people = std::max(max_people, c["objects"].value("person", 0));
  }
  EXPECT_GE(max_people, 2) << "retained evtest/pets/counts";
  EXPECT_FALSE(sub.last("evtest/stats").empty());
  {
    const auto stats = nlohmann::json::parse(sub.last("evtest/stats"), nullptr, false);
    ASSERT_TRUE(stats.is_object()) << sub.last("evtest/stats");
    ASSERT_EQ(stats["cameras"].size(), 2u);
    for (const auto& c : stats["cameras"]) EXPECT_EQ(c.value("reconnects", -1), 0) << c;  // files
  }
  // stop() publishes "offline"; the broker delivers it to the subscriber a moment later.
  wait_until([&] { return sub.last("evtest/available") == "offline"; }, 3);
  EXPECT_EQ(sub.last("evtest/available"), "offline");
  for (const auto& line : jsonl) EXPECT_FALSE(nlohmann::json::parse(line)["device"].empty());
  std::printf("[ info ] %zu events (%d crossing, %d pets), %zu MQTT messages\n", jsonl.size(),
              per_camera["crossing"], per_camera["pets"], msgs.size());
}

TEST(Service, BrokerStoppedMidRunEveryEventDeliveredInOrder) {
  const fs::path dir = test::temp_dir("service_broker_restart");
  test::MosquittoBroker broker(dir / "broker");
  ASSERT_TRUE(broker.start());
  auto sub = std::make_unique<test::Subscriber>(broker.port(), "evtest/#");
  ASSERT_TRUE(sub->wait_subscribed(5));

  auto service = Service::create(service_config(dir, broker.port(), 40));
  ASSERT_TRUE(service) << service.error();
  ASSERT_TRUE((*service)->start());
  // Take the broker down as soon as the first event got through, keep it down until every
  // event of the run exists (the last ones only on disk), then bring it back.
  ASSERT_TRUE(wait_until([&] { return sub->event_count() >= 1; }, 60));
  broker.stop();
  const size_t before = sub->event_count();
  ASSERT_TRUE(wait_until([&] { return (*service)->all_finished(); }, 60));
  const uint64_t spooled = sink(**service, "mqtt").spool.pending;
  EXPECT_GT(spooled, 0u);
  ASSERT_TRUE(broker.start());
  ASSERT_TRUE(wait_until([&] { return sink(**service, "mqtt").spool.pending == 0; }, 40));
  (*service)->stop(2000);

  const auto jsonl = test::read_lines(dir / "events.jsonl");
  ASSERT_TRUE(
      wait_until([&] { return received_seqs(*sub).size() >= first_seqs(jsonl).size(); }, 10));
  EXPECT_EQ(received_seqs(*sub), first_seqs(jsonl));
  std::printf(
      "[ info ] broker restart: %zu events in total, %zu received before the outage, "
      "%llu spooled during it, %zu delivered after the restart\n",
      jsonl.size(), before, static_cast<unsigned long long>(spooled),
      received_seqs(*sub).size() - before);
}

// Each camera's stages run on threads named for the stage and the camera (top -H, perf
// --sort comm). Looping cameras, so every stage is still running when the names are read.
TEST(Service, CameraStagesRunOnThreadsNamedForStageAndCamera) {
  const fs::path dir = test::temp_dir("service_thread_names");
  const Config cfg = looping_config(dir, 10, 5, /*detect=*/true);
  auto service = Service::create(cfg);
  ASSERT_TRUE(service) << service.error();
  ASSERT_TRUE((*service)->start());
  const auto thread_names = [] {
    std::set<std::string> names;
    for (const auto& task : fs::directory_iterator("/proc/self/task")) {
      std::ifstream in(task.path() / "comm");
      std::string name;
      if (std::getline(in, name)) names.insert(name);
    }
    return names;
  };
  std::set<std::string> names;
  const bool all = wait_until(
      [&] {
        names = thread_names();
        for (const char* cam : {"crossing", "pets"})
          for (const char* stage : {"src-", "anon-", "det-", "track-"})
            if (!names.count(std::string(stage) + cam)) return false;
        // The service's own stats thread, which names itself once it runs.
        return names.count("stats") > 0;
      },
      20);
  (*service)->stop(2000);
  EXPECT_TRUE(all) << "threads: " << ::testing::PrintToString(names);
}

TEST(Service, ReloadRestartsOnlyChangedCameras) {
  const fs::path dir = test::temp_dir("service_reload");
  Config cfg = looping_config(dir, 20, 20, /*detect=*/false);  // anonymize only: cheap
  auto service = Service::create(cfg);
  ASSERT_TRUE(service) << service.error();
  ASSERT_TRUE((*service)->start());
  auto status = [&](const std::string& id) -> std::optional<CameraStatus> {
    for (const auto& c : (*service)->cameras()) {
      if (c.id == id) return c;
    }
    return std::nullopt;
  };
  ASSERT_TRUE(wait_until([&] { return status("pets") && status("pets")->frames_in >= 10; }, 30));

  Config next = cfg;
  next.cameras[0].fps = 15;                      // crossing changed -> restarted
  next.cameras.erase(next.cameras.begin() + 1);  // pets removed
  CameraConfig extra = cfg.cameras[1];
  extra.id = "pets2";  // added
  next.cameras.push_back(extra);
  const uint64_t crossing_before = status("crossing")->frames_in;
  ASSERT_TRUE((*service)->reload(next));
  EXPECT_FALSE(status("pets"));
  ASSERT_TRUE(status("pets2"));
  EXPECT_LT(status("crossing")->frames_in, crossing_before);  // counters restarted

  // Unchanged camera keeps running (its counters keep growing from where they were).
  ASSERT_TRUE(wait_until([&] { return status("pets2")->frames_in >= 10; }, 30));
  const uint64_t pets2_before = status("pets2")->frames_in;
  Config same = next;
  same.cameras[0].enabled = false;  // crossing disabled
  ASSERT_TRUE((*service)->reload(same));
  EXPECT_GE(status("pets2")->frames_in, pets2_before);
  EXPECT_EQ(status("crossing")->state, "stopped");
  (*service)->stop(500);
}

TEST(Service, OtaModelUpdateSwitchesCamerasWithoutStopping) {
  const fs::path dir = test::temp_dir("service_ota");
  Config cfg = service_config(dir, 1, 20);
  cfg.events.mqtt.enabled = false;
  cfg.models.cache_dir = dir / "cache";
  cfg.cameras.resize(1);
  cfg.cameras[0].loop = true;
  cfg.cameras[0].fps = 20;
  auto service = Service::create(cfg);
  ASSERT_TRUE(service) << service.error();
  ASSERT_TRUE((*service)->start());
  auto camera = [&] { return (*service)->cameras().at(0); };
  ASSERT_TRUE(wait_until([&] { return camera().frames_out >= 5; }, 30));
  const std::string before = camera().model_version;
  EXPECT_FALSE(before.empty());

  // `edgevision models update` from another process does exactly this.
  ota::ModelStore store(dir / "cache" / "ota");
  ota::UpdateRequest req;
  req.name = cfg.detection.model;
  req.version = "ota-test-2";
  req.file_source = "file://" + (test::shared_models_dir() / "detect" / "yolox_nano.onnx").string();
  req.sha256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14";
  req.size = 3660092;
  auto installed = store.update(req, builtin_manifest());
  ASSERT_TRUE(installed) << installed.error();

  ASSERT_TRUE(wait_until([&] { return camera().model_version == "ota-test-2"; }, 20));
  // The camera never stopped: it keeps processing frames with the new model.
  const uint64_t out_after_switch = camera().frames_out;
  ASSERT_TRUE(wait_until([&] { return camera().frames_out >= out_after_switch + 5; }, 20));
  EXPECT_EQ(camera().state, "running");
  EXPECT_EQ(camera().frames_failed, 0u);
  (*service)->stop(500);
}

}  // namespace
}  // namespace ev
