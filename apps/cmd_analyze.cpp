// `edgevision analyze MODEL [--device D] [--json]`: parameters, FLOPs, memory, op histogram,
// OpenCV DNN compatibility and per-device recommendations.
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/analyze.hpp"

namespace ev::cli {
namespace {

struct AnalyzeArgs {
  std::string model;
  std::vector<std::string> devices;
  std::vector<int64_t> input_shape;
  double target_ms = 33.0;
  bool json = false;
  bool no_opencv = false;
};

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
  if (args.json) {
    auto j = to_json(*a);
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
  cmd->callback([args, &global] { global.exit_code = run_analyze(*args, global); });
}

}  // namespace ev::cli
