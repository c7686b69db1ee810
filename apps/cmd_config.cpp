// `edgevision config check FILE`: parses and validates a configuration without starting
// anything. Exit 0 when valid, 1 with the error (file:line: key: expected ...) otherwise.
// It then checks that every model resolves and every file source exists (`--deep`: streams
// open too); problems are printed one per line, and any error makes the exit code 1.
#include <cstdio>

#include "commands.hpp"
#include "edgevision/config.hpp"
#include "edgevision/config_check.hpp"
#include "edgevision/pipeline.hpp"

namespace ev::cli {

void add_config_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("config", "work with the service configuration file");
  cmd->require_subcommand(1);
  auto* check = cmd->add_subcommand("check", "validate a configuration file (exit 0 if valid)");
  auto file = std::make_shared<std::string>();
  check->add_option("FILE", *file, "YAML configuration")->required();
  auto deep = std::make_shared<bool>(false);
  check->add_flag("--deep", *deep, "also open each stream/device source (5 s timeout each)");
  check->callback([file, deep, &global] {
    auto cfg = load_config(*file);
    if (!cfg) {
      std::fprintf(stderr, "%s\n", cfg.error().c_str());
      global.exit_code = 1;
      return;
    }
    int enabled = 0;
    for (const auto& c : cfg->cameras) enabled += c.enabled ? 1 : 0;
    std::string sinks;
    if (cfg->events.mqtt.enabled) sinks += " mqtt";
    if (cfg->events.webhook.enabled) sinks += " webhook";
    if (cfg->events.jsonl.enabled) sinks += " jsonl";
    ModelManager models(model_manager_options(cfg->models));
    ConfigCheckOptions options;
    options.deep = *deep;
    int errors = 0, warnings = 0;
    for (const auto& p : check_config_resources(*cfg, models, options)) {
      (p.level == ConfigProblem::Level::error ? errors : warnings) += 1;
      std::printf("%s: %s: %s: %s\n", file->c_str(), to_string(p.level), p.where.c_str(),
                  p.message.c_str());
    }
    if (errors > 0) {
      std::printf("%s: FAILED (%d errors, %d warnings)\n", file->c_str(), errors, warnings);
      global.exit_code = 1;
      return;
    }
    std::printf(
        "%s: OK (%zu cameras, %d enabled; sinks:%s; api %s)\n", file->c_str(), cfg->cameras.size(),
        enabled, sinks.empty() ? " none" : sinks.c_str(),
        cfg->api.enabled ? (cfg->api.listen + ":" + std::to_string(cfg->api.port)).c_str() : "off");
    global.exit_code = 0;
  });
}

}  // namespace ev::cli
