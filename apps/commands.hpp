// CLI subcommands. Each apps/cmd_<name>.cpp adds one subcommand to the app; main.cpp lists
// them. A command's callback stores its exit code in GlobalOptions::exit_code.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "edgevision/models.hpp"

namespace ev::cli {

struct GlobalOptions {
  std::vector<std::string> models_dirs;  // --models-dir (repeatable)
  std::string cache_dir;                 // --cache-dir
  bool offline = false;                  // --offline: never download
  std::string log_level = "info";
  int exit_code = 0;
  ModelManagerOptions model_manager_options() const;
};

void add_anonymize_command(CLI::App& app, GlobalOptions& global);
void add_models_command(CLI::App& app, GlobalOptions& global);
void add_coverage_command(CLI::App& app, GlobalOptions& global);

}  // namespace ev::cli
