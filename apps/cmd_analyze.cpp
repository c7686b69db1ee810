// `edgevision analyze MODEL [--device D] [--json] [--measure]`: parameters, FLOPs, memory, op
// histogram, OpenCV DNN compatibility, per-device recommendations and, with --measure, the
// model timed on this host next to the estimates of the profiles that describe it.
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/analyze.hpp"
#include "edgevision/benchmark.hpp"

namespace ev::cli {
namespace {

struct AnalyzeArgs {
  std::string model;
  std::vector<std::string> devices;
  std::vector<int64_t> input_shape;
  double target_ms = 33.0;
  bool json = false;
  bool no_opencv = false;
  bool measure = false;
  int threads = 0;
  int runs = 30;
  int warmup = 5;
};

void print_host(const HostMeasurement& m) {
  std::cout << fmt::format(
      "\nhost (measured): {} [{}], {} threads, load avg {:.2f}\n  {} median {:.2f} ms (min "
      "{:.2f}, p95 {:.2f}; {} runs after {} warm-up, CPU {:.0f}%), implied {:.1f} GFLOPS "
      "sustained\n",
      m.cpu.model_name.empty() ? "unknown CPU" : m.cpu.model_name, m.cpu.kind, m.threads,
      m.load_avg_1m, m.precision, m.median_ms, m.min_ms, m.p95_ms, m.runs, m.warmup, m.cpu_percent,
      m.implied_gflops);
  if (m.cpu_percent < 80.0 * m.threads)
    std::cout << fmt::format(
        "  WARNING: CPU {:.0f}% with {} threads: another process held the cores during the runs; "
        "this measurement is not comparable (check the load, run again)\n",
        m.cpu_percent, m.threads);
  if (m.profiles.empty()) std::cout << "  no device profile describes this CPU\n";
  for (const auto& p : m.profiles)
    std::cout << fmt::format("  {} estimate {:.2f} ms: error {:+.0f}% ({}{})\n", p.device, p.est_ms,
                             p.error_pct,
                             p.calibrated ? "calibrated profile" : "NOT calibrated by measurement",
                             p.profile_threads != m.threads
                                 ? fmt::format("; profile assumes {} threads", p.profile_threads)
                                 : "");
}

int run_analyze(const AnalyzeArgs& args, const GlobalOptions& global) {
  ModelManager models(global.model_manager_options());
  auto resolved = models.resolve(args.model);
  if (!resolved) {
    spdlog::error("{}", resolved.error());
    return 1;
  }
  if (resolved->primary().extension() != ".onnx") {
    spdlog::error("analyze reads ONNX graphs; {} is not an .onnx file",
                  resolved->primary().string());
    return 2;
  }
  AnalyzeOptions opts;
  opts.input_shape = args.input_shape;
  opts.check_opencv = !args.no_opencv;
  if (opts.input_shape.empty() && resolved->spec && resolved->spec->preprocess.width > 0 &&
      resolved->spec->preprocess.layout == "nchw")
    opts.input_shape = {1, 3, resolved->spec->preprocess.height, resolved->spec->preprocess.width};
  auto a = analyze_model(resolved->primary(), opts);
  if (!a) {
    spdlog::error("{}", a.error());
    return 1;
  }
  std::vector<DeviceProfile> devices;
  if (args.devices.empty()) {
    devices = device_profiles();
  } else {
    for (const auto& d : args.devices) {
      auto p = find_device_profile(d);
      if (!p) {
        spdlog::error("{}", p.error());
        return 2;
      }
      devices.push_back(*p);
    }
  }
  std::optional<HostMeasurement> host;
  if (args.measure) {
    MeasureOptions mo;
    mo.threads = args.threads;
    mo.runs = args.runs;
    mo.warmup = args.warmup;
    mo.progress = true;
    const Preprocess* pre = resolved->spec ? &resolved->spec->preprocess : nullptr;
    auto m = measure_on_host(*a, resolved->primary(), pre, mo);
    if (!m) {
      spdlog::error("analyze --measure: {}", m.error());
      return 1;
    }
    host = std::move(*m);
  }
  if (args.json) {
    auto j = to_json(*a);
    if (host) j["host"] = to_json(*host);
    for (const auto& d : devices)
      j["recommendations"].push_back(to_json(recommend(*a, d, args.target_ms)));
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::cout << format_analysis(*a);
  for (const auto& d : devices) {
    auto r = recommend(*a, d, args.target_ms);
    std::cout << "\n" << d.name << " (" << d.description << ")\n";
    std::cout << "  precision " << r.precision << ", threads " << r.threads << ", input "
              << r.input_size << "px\n";
    for (const auto& n : r.notes) std::cout << "  - " << n << "\n";
  }
  if (host) print_host(*host);
  return 0;
}

}  // namespace

void add_analyze_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<AnalyzeArgs>();
  auto* cmd =
      app.add_subcommand("analyze", "parameters, FLOPs, memory, ops; device recommendations");
  cmd->add_option("model", args->model, "manifest name or .onnx file")->required();
  cmd->add_option(
      "--device", args->devices,
      "device profile(s): rpi5, jetson-orin-nano, core-i5, x86-avx512-vnni (default: all)");
  cmd->add_option("--input-shape", args->input_shape,
                  "input shape for dynamic models, e.g. 1,3,640,640")
      ->delimiter(',');
  cmd->add_option("--target-ms", args->target_ms,
                  "frame budget for the input-size advice (33 = 30 FPS)");
  cmd->add_flag("--json", args->json, "one JSON object on stdout");
  cmd->add_flag("--no-opencv-check", args->no_opencv, "skip the OpenCV DNN load test");
  cmd->add_flag("--measure", args->measure,
                "also time the model on this host with ONNX Runtime and show the error of the "
                "matching profiles' estimates");
  cmd->add_option("--threads", args->threads, "threads for --measure (default: hardware cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--runs", args->runs, "timed runs for --measure")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "warm-up runs for --measure")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args, &global] { global.exit_code = run_analyze(*args, global); });
}

}  // namespace ev::cli
