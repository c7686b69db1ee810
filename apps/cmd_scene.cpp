// `edgevision scene INPUT [--config FILE] [--camera ID] [-o events.jsonl]`: one file through
// the same camera pipeline as `run` (anonymize -> detect -> track -> scene analytics), every
// frame, no loop, no fps cap; every event goes to a JSONL file so a clip can be scored offline.
// The camera's filters/zones/lines come from --config (first camera, or --camera).
#include <spdlog/spdlog.h>

#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "commands.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/pipeline.hpp"

namespace ev::cli {
namespace {

struct SceneArgs {
  std::string input;
  std::string config;
  std::string camera;
  std::string output;
  bool json = false;
};

int run_scene(const SceneArgs& args, const GlobalOptions& global) {
  Config cfg;
  if (!args.config.empty()) {
    auto loaded = global.load_config(args.config);
    if (!loaded) {
      spdlog::error("{}", loaded.error());
      return 1;
    }
    cfg = std::move(*loaded);
  }
  CameraConfig cam;
  cam.id = "file";
  if (!cfg.cameras.empty()) {
    auto it = std::find_if(cfg.cameras.begin(), cfg.cameras.end(),
                           [&](const CameraConfig& c) { return c.id == args.camera; });
    if (!args.camera.empty() && it == cfg.cameras.end()) {
      spdlog::error("--camera {}: not in {}", args.camera, args.config);
      return 2;
    }
    cam = it == cfg.cameras.end() ? cfg.cameras.front() : *it;
  } else if (!args.camera.empty()) {
    cam.id = args.camera;
  }
  // A file scored offline: every frame, once, as fast as the stages go.
  cam.source = args.input;
  cam.loop = false;
  cam.fps = 0;
  cam.enabled = true;
  cam.detect = true;

  // Scored with the threads the camera gets in `run`; ONNX Runtime's defaults would spin a
  // pool per model over every core.
  set_runtime_options(runtime_options_for(cfg.runtime, cam));

  ModelManagerOptions mo =
      args.config.empty() ? global.model_manager_options() : model_manager_options(cfg.models);
  ModelManager models(mo);

  std::ofstream out;
  if (!args.output.empty()) {
    out.open(args.output, std::ios::trunc);
    if (!out) {
      spdlog::error("{}: cannot write", args.output);
      return 1;
    }
  }
  std::mutex mutex;
  std::map<std::string, uint64_t> by_type;
  std::map<std::string, uint64_t> by_class;
  std::map<std::string, uint64_t> crossings;  // line/direction
  uint64_t events = 0;
  auto emit = [&](nlohmann::json e) {
    std::lock_guard lock(mutex);
    ++events;
    ++by_type[e.value("type", "")];
    if (e.contains("class")) ++by_class[e.value("class", "")];
    if (e.value("type", "") == "line_cross")
      ++crossings[e.value("line", "") + " " + e.value("direction", "")];
    if (out) out << e.dump() << '\n';
  };

  PipelineSettings ps{cam, cfg.privacy, cfg.detection, cfg.tracking, cfg.alpr};
  // No server here to answer a `snapshot` path: no references, no JPEG encoding.
  ps.camera.scene.snapshots = 0;
  auto pipeline = CameraPipeline::create(ps, models, emit);
  if (!pipeline) {
    spdlog::error("{}", pipeline.error());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  auto last_progress = t0;
  (*pipeline)->start();
  int rc = 0;
  while (!(*pipeline)->finished()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const auto now = std::chrono::steady_clock::now();
    const CameraStatus st = (*pipeline)->status();
    // A file that cannot be opened is retried like a stream; offline that is a failure.
    if (st.frames_in == 0 && st.state == "reconnecting" && now - t0 > std::chrono::seconds(10)) {
      spdlog::error("{}: {}", args.input, st.error.empty() ? "cannot be read" : st.error);
      rc = 1;
      break;
    }
    if (now - last_progress >= std::chrono::seconds(5)) {
      spdlog::info("scene: {} frames processed, {} events", st.frames_out, events);
      last_progress = now;
    }
  }
  (*pipeline)->stop();
  const CameraStatus st = (*pipeline)->status();
  if (out) out.flush();
  spdlog::info(
      "scene: {} frames read, {} processed, {} withheld (face detection failed), {} events",
      st.frames_in, st.frames_out, st.frames_failed, events);
  if (rc == 0 && st.frames_out == 0) {
    spdlog::error("{}: no frame was processed", args.input);
    rc = 1;
  }
  if (rc != 0) return rc;  // no results table for a run that failed
  if (args.json) {
    nlohmann::ordered_json j;
    j["input"] = args.input;
    j["frames_in"] = st.frames_in;
    j["frames_processed"] = st.frames_out;
    j["frames_withheld"] = st.frames_failed;
    j["events"] = events;
    j["by_type"] = by_type;
    j["by_class"] = by_class;
    j["line_crossings"] = crossings;
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%-24s %8s\n", "event type", "count");
    for (const auto& [k, v] : by_type)
      std::printf("%-24s %8llu\n", k.c_str(), static_cast<unsigned long long>(v));
    std::printf("\n%-24s %8s\n", "class", "events");
    for (const auto& [k, v] : by_class)
      std::printf("%-24s %8llu\n", k.c_str(), static_cast<unsigned long long>(v));
    if (!crossings.empty()) {
      std::printf("\n%-24s %8s\n", "line direction", "count");
      for (const auto& [k, v] : crossings)
        std::printf("%-24s %8llu\n", k.c_str(), static_cast<unsigned long long>(v));
    }
  }
  return rc;
}

}  // namespace

void add_scene_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<SceneArgs>();
  auto* cmd = app.add_subcommand("scene",
                                 "score one video file offline: every frame through the camera "
                                 "pipeline, every event to JSONL");
  cmd->add_option("input", args->input, "video file or image folder")->required();
  cmd->add_option(
      "-c,--config", args->config,
      "service YAML: the camera's filters/zones/lines and the privacy/detection/tracking sections");
  cmd->add_option("--camera", args->camera, "camera of --config to take (default: the first)");
  cmd->add_option("-o,--events", args->output, "write every event as one JSON line to this file");
  cmd->add_flag("--json", args->json, "summary as JSON on stdout");
  cmd->callback([args, &global] { global.exit_code = run_scene(*args, global); });
}

}  // namespace ev::cli
