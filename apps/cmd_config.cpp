// `edgevision config check FILE`: parses and validates a configuration without starting
// anything. Exit 0 when valid, 1 with the error (file:line: key: expected ...) otherwise.
#include <cstdio>

#include "commands.hpp"
#include "edgevision/config.hpp"

namespace ev::cli {

void add_config_command(CLI::App& app, GlobalOptions& global) {
  auto* cmd = app.add_subcommand("config", "work with the service configuration file");
  cmd->require_subcommand(1);
  auto* check = cmd->add_subcommand("check", "validate a configuration file (exit 0 if valid)");
  auto file = std::make_shared<std::string>();
  check->add_option("FILE", *file, "YAML configuration")->required();
  check->callback([file, &global] {
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
    std::printf(
        "%s: OK (%zu cameras, %d enabled; sinks:%s; api %s)\n", file->c_str(), cfg->cameras.size(),
        enabled, sinks.empty() ? " none" : sinks.c_str(),
        cfg->api.enabled ? (cfg->api.listen + ":" + std::to_string(cfg->api.port)).c_str() : "off");
    global.exit_code = 0;
  });
}

}  // namespace ev::cli
