// CLI subcommands. Each apps/cmd_<name>.cpp adds one subcommand to the app; main.cpp lists
// them. A command's callback stores its exit code in GlobalOptions::exit_code.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgevision/config.hpp"
#include "edgevision/models.hpp"
#include "edgevision/quantize.hpp"

namespace ev::cli {

struct GlobalOptions {
  std::vector<std::string> models_dirs;  // --models-dir (repeatable)
  std::string cache_dir;                 // --cache-dir
  bool offline = false;                  // --offline: never download
  std::string log_level = "info";
  int exit_code = 0;
  ModelManagerOptions model_manager_options() const;
  // A service config file with the --models-dir / --cache-dir / --offline flags applied.
  Result<Config> load_config(const std::string& file) const;
};

// Adds --models-dir, --cache-dir, --offline and --log-level to `app` and, recursively, to every
// subcommand: call after all subcommands are added.
void add_global_options(CLI::App& app, GlobalOptions& global);
void add_anonymize_command(CLI::App& app, GlobalOptions& global);
void add_models_command(CLI::App& app, GlobalOptions& global);
void add_coverage_command(CLI::App& app, GlobalOptions& global);
void add_diagnose_command(CLI::App& app, GlobalOptions& global);
// Adds `update` and `rollback` under `models`: call after add_models_command.
void add_models_update_command(CLI::App& app, GlobalOptions& global);
void add_bench_command(CLI::App& app, GlobalOptions& global);
void add_analyze_command(CLI::App& app, GlobalOptions& global);
void add_quantize_command(CLI::App& app, GlobalOptions& global);
void add_run_command(CLI::App& app, GlobalOptions& global);
void add_config_command(CLI::App& app, GlobalOptions& global);
void add_detect_command(CLI::App& app, GlobalOptions& global);
void add_validate_command(CLI::App& app, GlobalOptions& global);
void add_track_command(CLI::App& app, GlobalOptions& global);
void add_mot_eval_command(CLI::App& app, GlobalOptions& global);
void add_alpr_command(CLI::App& app, GlobalOptions& global);  // alpr and alpr-eval
void add_scene_command(CLI::App& app, GlobalOptions& global);
void add_benchmark_command(CLI::App& app, GlobalOptions& global);

// `quantize`'s default quality measure for detectors (mAP50-95 against the FP32 model's own
// detections on the held-back calibration images, within max_drop_points); `benchmark` makes
// its INT8 variant with it too.
void use_detector_agreement(QuantizeOptions& o, ModelManager& models, int threads,
                            double max_drop_points);
// Its default drop: since SiLU inputs are floored at -8 (quantize.cpp), 12 agreement points keep
// 2 of YOLOX-nano's dense convs float and lose 0.0 real mAP points on coco val (7: 43 float,
// -0.18; 10: 4 float, -0.88; 14: 1 float, -0.18; bench/README.md, "SiLU floor").
inline constexpr double kDefaultMaxDropVsFp32 = 12.0;

// A network input side: 0 (off / the model's own) or a multiple of 32 (the stride grid).
inline const CLI::Validator kNetworkSide(
    [](std::string& value) -> std::string {
      try {
        const int n = std::stoi(value);
        if (n >= 0 && n % 32 == 0) return {};
      } catch (const std::exception&) {
      }
      return "must be 0 or a multiple of 32, got " + value;
    },
    "0|32k");

}  // namespace ev::cli
