// edgevision command-line entry point.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"

namespace ev::cli {
ModelManagerOptions GlobalOptions::model_manager_options() const {
  ModelManagerOptions o;
  for (const auto& d : models_dirs) o.model_dirs.emplace_back(d);
  o.cache_dir = cache_dir;
  o.allow_download = !offline;
  return o;
}

Result<Config> GlobalOptions::load_config(const std::string& file) const {
  auto cfg = ev::load_config(file);
  if (!cfg) return cfg;
  for (const auto& d : models_dirs) cfg->models.dirs.emplace_back(d);
  if (!cache_dir.empty()) cfg->models.cache_dir = cache_dir;
  if (offline) cfg->models.allow_download = false;
  return cfg;
}
}  // namespace ev::cli

int main(int argc, char** argv) {
  // Logs go to stderr so stdout stays clean for --json output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("edgevision"));
  spdlog::set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");

  ev::cli::GlobalOptions global;
  CLI::App app{"edgevision: privacy-first video analytics for edge devices"};
  app.require_subcommand(1);
  app.add_option(
      "--models-dir", global.models_dirs,
      "folder where model files are looked up by file name (repeatable; also $EDGEVISION_MODELS)");
  app.add_option("--cache-dir", global.cache_dir,
                 "model cache (default $EDGEVISION_CACHE or ~/.cache/edgevision/models)");
  app.add_flag("--offline", global.offline, "never download models");
  app.add_option("--log-level", global.log_level, "trace|debug|info|warn|error|off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.parse_complete_callback(
      [&] { spdlog::set_level(spdlog::level::from_str(global.log_level)); });

  ev::cli::add_anonymize_command(app, global);
  ev::cli::add_models_command(app, global);
  ev::cli::add_models_update_command(app, global);  // after add_models_command
  ev::cli::add_coverage_command(app, global);
  ev::cli::add_diagnose_command(app, global);
  ev::cli::add_bench_command(app, global);
  ev::cli::add_analyze_command(app, global);
  ev::cli::add_quantize_command(app, global);
  ev::cli::add_run_command(app, global);
  ev::cli::add_config_command(app, global);
  ev::cli::add_detect_command(app, global);
  ev::cli::add_validate_command(app, global);
  ev::cli::add_track_command(app, global);
  ev::cli::add_mot_eval_command(app, global);
  ev::cli::add_benchmark_command(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return global.exit_code;
}
