// edgevision command-line entry point.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/redact.hpp"

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

void add_global_options(CLI::App& app, GlobalOptions& global) {
  static const char* kGroup = "Global options (before or after the subcommand)";
  // A command that defines an option of the same name keeps its own.
  auto missing = [&](const char* name) { return app.get_option_no_throw(name) == nullptr; };
  if (missing("--models-dir"))
    app.add_option_function<std::vector<std::string>>(
           "--models-dir",
           [&global](const std::vector<std::string>& dirs) {
             global.models_dirs.insert(global.models_dirs.end(), dirs.begin(), dirs.end());
           },
           "folder where model files are looked up by file name (repeatable; also "
           "$EDGEVISION_MODELS)")
        ->allow_extra_args(false)
        ->group(kGroup);
  if (missing("--cache-dir"))
    app.add_option("--cache-dir", global.cache_dir,
                   "model cache (default $EDGEVISION_CACHE or ~/.cache/edgevision/models)")
        ->group(kGroup);
  if (missing("--offline"))
    app.add_flag("--offline", global.offline, "never download models")->group(kGroup);
  if (missing("--log-level"))
    app.add_option("--log-level", global.log_level, "trace|debug|info|warn|error|off")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
        ->group(kGroup);
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
    add_global_options(*sub, global);
}
}  // namespace ev::cli

int main(int argc, char** argv) {
  // Logs go to stderr so stdout stays clean for --json output.
  spdlog::set_default_logger(spdlog::stderr_color_mt("edgevision"));
  // Every line passes through the URL credential redaction, whatever logs it.
  ev::install_log_redaction("[%H:%M:%S.%e] [%^%l%$] %v");

  ev::cli::GlobalOptions global;
  CLI::App app{"edgevision: privacy-first video analytics for edge devices"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("edgevision ") + EDGEVISION_VERSION,
                       "print the version and exit");
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
  ev::cli::add_alpr_command(app, global);
  ev::cli::add_scene_command(app, global);
  ev::cli::add_benchmark_command(app, global);

  // Global options go on every (sub)command so they work before or after the subcommand name
  // and show in each --help.
  ev::cli::add_global_options(app, global);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help/--version exit 0; every other parse error is a usage error (2), not CLI11's own
    // codes (105, 106, 109...).
    const int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    return 1;
  }
  return global.exit_code;
}
