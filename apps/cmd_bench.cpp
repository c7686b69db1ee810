// `edgevision bench --model M [--compare M2 ...]`: latency percentiles, FPS, peak RSS, CPU%,
// load time; --json for machines, --report for people.
// `edgevision bench --video FILE | --pipeline CONFIG`: the same for each pipeline stage.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/benchmark.hpp"
#include "edgevision/pipeline.hpp"

namespace ev::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::string pipeline;  // service config file
  std::string video;
  std::string camera;  // camera id in the config (default: the first enabled one)
  int frames = 300;
  bool threaded = false;
  std::vector<std::string> compare;
  std::string op_profile;  // trace folder: per-op-type ORT profile of each model
  BenchOptions options;
  std::string image;
  std::string report;
  std::string ort_graph;  // folder for ORT's optimized graphs (debug)
  bool json = false;
};

// The camera to benchmark: from the config file (--pipeline), else the built-in defaults with
// --video as the source; --video / --model / --threads override the config. `models` gets
// where the models come from: the config's models section, else the global flags; `runtime`
// the config's runtime section.
Result<PipelineSettings> pipeline_settings(const BenchArgs& args, const GlobalOptions& global,
                                           ModelManagerOptions& models, RuntimeConfig& runtime) {
  using R = Result<PipelineSettings>;
  PipelineSettings s;
  if (!args.pipeline.empty()) {
    auto cfg = global.load_config(args.pipeline);
    if (!cfg) return R::Error(cfg.error());
    const CameraConfig* camera = nullptr;
    for (const auto& c : cfg->cameras) {
      if (args.camera.empty() ? c.enabled : c.id == args.camera) {
        camera = &c;
        break;
      }
    }
    if (!camera) {
      return R::Error(args.camera.empty()
                          ? args.pipeline + ": no enabled camera"
                          : args.pipeline + ": no camera with id '" + args.camera + "'");
    }
    s = {*camera, cfg->privacy, cfg->detection, cfg->tracking, cfg->alpr};
    models = model_manager_options(cfg->models);
    runtime = cfg->runtime;
  } else {
    s.camera.id = "bench";
    models = global.model_manager_options();
  }
  if (!args.video.empty()) s.camera.source = args.video;
  if (!args.model.empty()) s.detection.model = args.model;
  if (args.options.threads > 0) s.detection.threads = args.options.threads;
  if (s.camera.source.empty()) return R::Error("no source: give --video FILE");
  return s;
}

void print_pipeline_table(const PipelineBenchResult& r) {
  std::printf("pipeline %s: %d frames, face detector %s, detector %s, models loaded in %.0f ms\n",
              r.source.c_str(), r.frames, r.face_detector.c_str(),
              r.detector.empty() ? "off" : r.detector.c_str(), r.load_ms);
  std::printf("%-20s %-10s %6s %8s %8s %8s %8s %8s %7s\n", "stage", "thread", "runs", "mean",
              "median", "p95", "p99", "max", "share");
  double sum_total = r.total.mean_ms * r.frames;
  for (const auto& s : r.stages) {
    const auto& t = s.stats;
    const double share = sum_total > 0 ? t.mean_ms * t.runs / sum_total * 100.0 : 0.0;
    std::printf("%-20s %-10s %6d %8.2f %8.2f %8.2f %8.2f %8.2f %6.1f%%\n", s.name.c_str(),
                s.thread.c_str(), t.runs, t.mean_ms, t.median_ms, t.p95_ms, t.p99_ms, t.max_ms,
                share);
  }
  const auto& t = r.total;
  std::printf("%-20s %-10s %6d %8.2f %8.2f %8.2f %8.2f %8.2f\n", "total per frame", "", t.runs,
              t.mean_ms, t.median_ms, t.p95_ms, t.p99_ms, t.max_ms);
  std::printf(
      "%.1f FPS one stage after another; bottleneck: the %s thread at %.2f ms per frame "
      "(at most %.1f FPS with a core per stage thread)\n",
      t.fps, r.bottleneck.c_str(), r.bottleneck_ms,
      r.bottleneck_ms > 0 ? 1000.0 / r.bottleneck_ms : 0.0);
  std::printf(
      "peak RSS %.0f MB, CPU %.0f%%, %lld faces masked, %lld detections, %d frames "
      "withheld (face detection failed)\n",
      r.peak_rss_mb, r.cpu_percent, static_cast<long long>(r.faces),
      static_cast<long long>(r.detections), r.frames_failed);
  if (r.threaded.frames > 0) {
    std::printf(
        "threaded service pipeline (a thread per stage): %.1f FPS over %d frames, CPU "
        "%.0f%%, last frame %.1f ms from read to tracked, %lld frames dropped by "
        "back-pressure\n",
        r.threaded.fps, r.threaded.frames, r.threaded.cpu_percent, r.threaded.latency_ms,
        static_cast<long long>(r.threaded.frames_dropped));
  }
}

// One row per executed op type, one column per model: kernel ms per inference (node count).
void print_op_profiles(const std::vector<BenchResult>& results,
                       const std::vector<OpProfile>& profiles) {
  std::vector<std::string> ops;
  for (const auto& p : profiles)
    for (const auto& o : p.ops)
      if (std::find(ops.begin(), ops.end(), o.op) == ops.end()) ops.push_back(o.op);
  std::printf("\nkernel time per inference by op type (ONNX Runtime profile), ms (nodes)\n%-28s",
              "op");
  for (size_t i = 0; i < profiles.size(); ++i)
    std::printf(" %18s", results[i].label.substr(0, 18).c_str());
  std::printf("\n");
  for (const auto& op : ops) {
    std::printf("%-28s", op.substr(0, 28).c_str());
    for (const auto& p : profiles) {
      auto it =
          std::find_if(p.ops.begin(), p.ops.end(), [&](const OpTypeTime& o) { return o.op == op; });
      if (it == p.ops.end())
        std::printf(" %18s", "-");
      else
        std::printf(" %18s", fmt::format("{:.2f} ({})", it->ms, it->nodes).c_str());
    }
    std::printf("\n");
  }
  std::printf("%-28s", "total kernel time");
  for (const auto& p : profiles) std::printf(" %18.2f", p.kernel_ms);
  std::printf("\n");
}

int run_pipeline_bench(const BenchArgs& args, const GlobalOptions& global) {
  ModelManagerOptions model_options;
  RuntimeConfig runtime;
  auto settings = pipeline_settings(args, global, model_options, runtime);
  if (!settings) {
    spdlog::error("bench: {}", settings.error());
    return 2;
  }
  // Timed with the threads the camera gets in `run`, so that the stages add up to what the
  // service spends.
  set_runtime_options(runtime_options_for(runtime, settings->camera));
  ModelManager models(model_options);
  PipelineBenchOptions opts;
  opts.max_frames = args.frames;
  opts.warmup = args.options.warmup;
  opts.progress = args.options.progress;
  opts.threaded = args.threaded;
  auto r = benchmark_pipeline(*settings, models, opts);
  if (!r) {
    spdlog::error("bench: {}", r.error());
    return 1;
  }
  if (!args.report.empty()) {
    if (auto st = write_text_file(args.report, render_bench_report({}, &*r)); !st) {
      spdlog::error("{}", st.message());
      return 1;
    }
    spdlog::info("report written to {}", args.report);
  }
  if (args.json) {
    std::cout << to_json(*r).dump(2) << std::endl;
  } else {
    print_pipeline_table(*r);
  }
  return 0;
}

int run_bench(const BenchArgs& args, const GlobalOptions& global) {
  if (!args.pipeline.empty() || !args.video.empty()) {
    if (!args.compare.empty() || !args.ort_graph.empty() || !args.image.empty() ||
        !args.op_profile.empty()) {
      spdlog::error(
          "bench: --compare, --ort-graph, --op-profile and --image are for --model benchmarks, "
          "not --pipeline/--video");
      return 2;
    }
    return run_pipeline_bench(args, global);
  }
  if (args.model.empty()) {
    spdlog::error("bench: give --model M (one model) or --video FILE / --pipeline CONFIG (stages)");
    return 2;
  }
  ModelManager models(global.model_manager_options());
  std::vector<std::string> names{args.model};
  names.insert(names.end(), args.compare.begin(), args.compare.end());
  BenchOptions opts = args.options;
  opts.image = args.image;
  std::vector<BenchResult> results;
  std::vector<OpProfile> profiles;
  for (const auto& name : names) {
    auto resolved = models.resolve(name);
    if (!resolved) {
      spdlog::error("{}", resolved.error());
      return 1;
    }
    const Preprocess* pre = resolved->spec ? &resolved->spec->preprocess : nullptr;
    BenchOptions o = opts;
    if (o.backend == "auto" && resolved->spec && !resolved->spec->backend.empty())
      o.backend = resolved->spec->backend;
    auto r = benchmark_model(name, resolved->primary(), pre, o);
    if (!r) {
      spdlog::error("bench {}: {}", name, r.error());
      return 1;
    }
    if (!args.ort_graph.empty()) {
      const auto save_as = std::filesystem::path(args.ort_graph) /
                           (resolved->primary().stem().string() + ".ort_optimized.onnx");
      auto g = ort_optimized_graph(resolved->primary(), save_as, o.threads);
      if (!g) {
        spdlog::error("bench {}: {}", name, g.error());
        return 1;
      }
      spdlog::info(
          "ORT graph of {}: {} integer ops, {} QuantizeLinear, {} DequantizeLinear, {} float "
          "Conv left; saved to {}",
          name, g->integer_ops, g->quantize_linear, g->dequantize_linear, g->float_convs,
          g->saved.string());
      spdlog::info("ORT graph of {}: {}", name, format_op_counts(*g));
    }
    if (!args.op_profile.empty()) {
      auto p = ort_op_profile(resolved->primary(), args.op_profile, o.threads, o.runs, o.warmup);
      if (!p) {
        spdlog::error("bench {}: {}", name, p.error());
        return 1;
      }
      spdlog::info("op profile of {}: {:.2f} ms kernel time per inference; trace {}", name,
                   p->kernel_ms, p->trace.string());
      profiles.push_back(std::move(*p));
    }
    results.push_back(std::move(*r));
  }
  if (!args.report.empty()) {
    if (auto st = write_text_file(args.report, render_bench_report(results, nullptr)); !st) {
      spdlog::error("{}", st.message());
      return 1;
    }
    spdlog::info("report written to {}", args.report);
  }
  if (args.json) {
    auto j = to_json(results.front());
    for (size_t i = 1; i < results.size(); ++i) {
      auto c = to_json(results[i]);
      c["median_ratio"] = results[i].stats.median_ms / results.front().stats.median_ms;
      if (i < profiles.size()) c["op_profile"] = to_json(profiles[i]);
      j["compare"].push_back(c);
    }
    if (!profiles.empty()) j["op_profile"] = to_json(profiles.front());
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%-28s %8s %8s %8s %8s %8s %8s %7s %8s %7s %6s %7s\n", "model", "mean", "median",
              "p95", "p99", "min", "max", "FPS", "load ms", "RSS MB", "CPU%", "ratio");
  for (const auto& r : results) {
    const auto& s = r.stats;
    std::printf("%-28s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %7.1f %8.0f %7.0f %6.0f %6.2fx\n",
                r.label.substr(0, 28).c_str(), s.mean_ms, s.median_ms, s.p95_ms, s.p99_ms, s.min_ms,
                s.max_ms, s.fps, r.load_ms, r.peak_rss_mb, r.cpu_percent,
                s.median_ms / results.front().stats.median_ms);
  }
  if (!profiles.empty()) print_op_profiles(results, profiles);
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand(
      "bench", "latency, FPS, memory and CPU of models, or of the pipeline stage by stage");
  cmd->add_option("--model,-m", args->model,
                  "manifest name or model file (with --video/--pipeline: the detection model)");
  cmd->add_option("--video", args->video,
                  "time the pipeline stages on this video (or image folder, stream)");
  cmd->add_option("--pipeline", args->pipeline,
                  "time the stages of a camera of this service config (edgevision run --config)");
  cmd->add_option("--camera", args->camera, "camera id in the --pipeline config");
  cmd->add_option("--frames", args->frames,
                  "--video/--pipeline: timed frames (0: all; default 300)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--threaded", args->threaded,
                "--video/--pipeline: then run the real threaded pipeline on the same frames and "
                "report the FPS it sustains");
  cmd->add_option("--compare", args->compare, "more models benchmarked in the same run");
  cmd->add_option("--runs", args->options.runs, "timed runs (default 100)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->options.warmup, "untimed runs (frames) first (default 10)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", args->options.threads,
                  "inference threads (0: backend default; pipeline: the config's)");
  cmd->add_option("--backend", args->options.backend, "auto | onnxruntime | opencv");
  cmd->add_option("--image", args->image, "real input image instead of synthetic noise");
  cmd->add_option("--report", args->report, "write a self-contained HTML report with plots");
  cmd->add_option("--ort-graph", args->ort_graph,
                  "save ONNX Runtime's optimized graph of each model in DIR and log its op counts "
                  "(shows whether QDQ became QLinearConv & co.)");
  cmd->add_option("--op-profile", args->op_profile,
                  "profile each model with ONNX Runtime (EnableProfiling, traces in DIR) and print "
                  "the kernel time per op type side by side (why INT8 is or is not faster)");
  cmd->add_flag("--json", args->json, "one JSON object on stdout (others under \"compare\")");
  cmd->callback([args, &global] { global.exit_code = run_bench(*args, global); });
}

}  // namespace ev::cli
