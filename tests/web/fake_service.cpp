// ev_fake_service: the REST server over a fake ServiceView with two cameras, moving synthetic
// frames and a steady trickle of events. The dashboard test (tests/web) drives a browser at it.
// Prints "LISTENING <port>" on stdout once it accepts connections; runs until SIGTERM/SIGINT.
// With --config FILE the zone editor saves into FILE through the real save path
// (save_camera_scene) and the fake "reloads" the saved zones/lines into its scene.
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include <prometheus/histogram.h>

#include "edgevision/config.hpp"
#include "edgevision/config_edit.hpp"
#include "edgevision/server.hpp"
#include "server/fake_service.hpp"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) {
  g_stop = 1;
}
}  // namespace

int main(int argc, char** argv) {
  ev::ServerParams params;
  params.port = 0;
  std::string config_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--port")
      params.port = std::atoi(value.c_str());
    else if (key == "--token")
      params.token = value;
    else if (key == "--web")
      params.web_dir = value;
    else if (key == "--config")
      config_file = value;
    else {
      std::fprintf(stderr,
                   "usage: ev_fake_service [--port N] [--token T] [--web DIR] [--config FILE]\n");
      return 2;
    }
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  // Live views, events and two more streams for the health cases: up to 5 streams at once.
  params.threads = 10;
  params.max_sse_clients = 6;
  ev::test::FakeService service;
  {
    // The health view's cases: a camera far below its cap and one that cannot start.
    auto cams = service.cameras();
    cams[0].fps_cap = 15;
    cams[1].fps_cap = 10;
    cams[1].model_version = "yolox-nano@2";
    service.update_camera(cams[0]);
    service.update_camera(cams[1]);
    ev::CameraStatus slow = cams[1];
    slow.id = "yard";
    slow.source = "rtsp://10.0.0.7/stream";
    slow.fps_in = slow.fps_out = 1.0;
    slow.fps_cap = 10;
    slow.latency_ms = 880;
    slow.reconnects = 3;
    slow.behind_skipped = 40;
    service.add_camera(slow);
    ev::CameraStatus failed;
    failed.id = "gate";
    failed.source = "rtsp://10.0.0.9/stream";
    failed.state = "failed";
    failed.error = "cannot open rtsp://10.0.0.9/stream: connection refused";
    failed.fps_cap = 10;
    failed.reconnects = 12;
    service.add_camera(failed);
  }
  // The service's metric families the dashboard charts (names as in src/pipeline/metrics.cpp).
  auto& reg = service.metrics();
  auto& fps_out = prometheus::BuildGauge().Name("edgevision_fps_out").Help("fps").Register(reg);
  auto& latency = prometheus::BuildHistogram()
                      .Name("edgevision_frame_latency_seconds")
                      .Help("latency")
                      .Register(reg);
  auto& inference = prometheus::BuildHistogram()
                        .Name("edgevision_inference_seconds")
                        .Help("inference")
                        .Register(reg);
  auto& spool = prometheus::BuildGauge().Name("edgevision_spool_depth").Help("spool").Register(reg);
  const prometheus::Histogram::BucketBoundaries buckets{0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,  1,     2.5};
  auto& lat_fd = latency.Add({{"camera", "front-door"}}, buckets);
  auto& lat_cp = latency.Add({{"camera", "car-park"}}, buckets);
  auto& inf_fd = inference.Add({{"camera", "front-door"}, {"model", "yolox-nano"}}, buckets);
  auto& spool_mqtt = spool.Add({{"sink", "mqtt"}});

  // front-door's zone and line (full-frame pixels = the 320x180 frame: no roi); the counts
  // move while the fake runs.
  struct SceneState {
    std::mutex mutex;
    nlohmann::json zones = nlohmann::json::array(
        {{{"name", "bay"}, {"polygon", {{180, 20}, {300, 20}, {300, 160}, {180, 160}}}}});
    nlohmann::json lines =
        nlohmann::json::array({{{"name", "door"}, {"points", {{120, 10}, {120, 170}}}}});
  };
  auto scene_state = std::make_shared<SceneState>();
  auto publish_scene = [&service, scene_state](int n) {
    std::lock_guard lock(scene_state->mutex);
    nlohmann::json zones = scene_state->zones, lines = scene_state->lines;
    for (auto& z : zones) z["occupancy"] = n / 10 % 4;
    for (auto& l : lines) {
      l["in"] = n / 5;
      l["out"] = n / 8;
    }
    service.set_scene("front-door", {{"roi", {0, 0, 0, 0}}, {"zones", zones}, {"lines", lines}});
  };
  publish_scene(0);

  ev::DetectHandlers detect;
  detect.anonymize = [](cv::Mat&) -> ev::Result<int> { return 0; };
  auto server = ev::Server::start(params, service, detect);
  if (!server) {
    std::fprintf(stderr, "ev_fake_service: %s\n", server.error().c_str());
    return 1;
  }
  if (!config_file.empty()) {
    ev::SceneEditor editor;
    editor.writable = [config_file] { return ev::config_file_writable(config_file); };
    editor.save = [config_file, scene_state](const std::string& camera,
                                             const nlohmann::json& scene) -> ev::Status {
      if (ev::Status st = ev::save_camera_scene(config_file, camera, scene); !st) return st;
      // What the service's reload would pick up: the file as saved.
      auto cfg = ev::load_config(config_file);
      if (!cfg) return ev::Status::Error(cfg.error());
      for (const auto& c : cfg->cameras) {
        if (c.id != "front-door") continue;
        std::lock_guard lock(scene_state->mutex);
        scene_state->zones = nlohmann::json::array();
        scene_state->lines = nlohmann::json::array();
        for (const auto& z : c.scene.zones) {
          nlohmann::json poly = nlohmann::json::array();
          for (const auto& p : z.polygon) poly.push_back({p.x, p.y});
          scene_state->zones.push_back({{"name", z.name}, {"polygon", poly}});
        }
        for (const auto& l : c.scene.lines)
          scene_state->lines.push_back(
              {{"name", l.name}, {"points", {{l.p1.x, l.p1.y}, {l.p2.x, l.p2.y}}}});
      }
      return ev::Status::Ok();
    };
    (*server)->set_scene_editor(editor);
  }
  std::printf("LISTENING %d\n", (*server)->port());
  std::fflush(stdout);

  int n = 0;
  while (!g_stop) {
    // car-park only gets frames after a while, so the dashboard shows the "no frame yet" state
    // first.
    service.set_snapshot("front-door", ev::test::synthetic_jpeg("front-door", n));
    // The moving box of synthetic_jpeg() as a tracked "person" (320x180 frames).
    const int bx = (n * 7) % (320 - 60);
    service.set_tracks(
        "front-door",
        nlohmann::json::array({{{"id", 7}, {"class", "person"}, {"box", {bx, 65, 60, 50}}}}));
    if (n > 3) service.set_snapshot("car-park", ev::test::synthetic_jpeg("car-park", n));
    service.set_snapshot("yard", ev::test::synthetic_jpeg("yard", n / 10));
    fps_out.Add({{"camera", "front-door"}}).Set(12 + (n % 5) * 0.1);
    fps_out.Add({{"camera", "car-park"}}).Set(8 + (n % 3) * 0.1);
    lat_fd.Observe(0.02 + (n % 7) * 0.004);
    lat_cp.Observe(0.05 + (n % 5) * 0.01);
    inf_fd.Observe(0.012 + (n % 4) * 0.002);
    spool_mqtt.Set(n % 20);
    publish_scene(n);
    if (n % 3 == 0)
      service.feed().publish(ev::test::synthetic_event(n % 2 ? "car-park" : "front-door", n / 3));
    auto cams = service.cameras();
    for (auto& c : cams) {
      if (c.id == "gate" || c.id == "yard") continue;
      c.frames_in += 25;
      c.frames_out += 24;
      c.fps_out = c.id == "front-door" ? 12 + (n % 5) * 0.1 : 8 + (n % 3) * 0.1;  // jitters
      service.update_camera(c);
    }
    ++n;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  (*server)->stop();
  return 0;
}
