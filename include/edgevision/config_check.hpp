// Checks that what a configuration names can actually be had on this machine, before start:
// every model the manager must resolve and every local file source; with `deep`, also opens
// each stream/device source. Used by `edgevision config check`.
#pragma once

#include <string>
#include <vector>

#include "edgevision/config.hpp"
#include "edgevision/models.hpp"

namespace ev {

struct ConfigProblem {
  enum class Level { warning, error };
  Level level = Level::error;
  std::string where;    // "cameras[0] 'gate'", "detection.model", "privacy.detector"
  std::string message;  // one line; stream URLs are redacted
};
const char* to_string(ConfigProblem::Level level);  // "warning" | "error"

struct ConfigCheckOptions {
  bool deep = false;             // also open stream and device sources
  int stream_timeout_ms = 5000;  // open/read timeout for each of them when deep
};

// A model that will be downloaded at start is a warning; one that cannot be had (offline,
// unknown, wrong hash) is an error, and so is a missing file source or a failed deep open.
// Disabled cameras are not checked (they never start).
std::vector<ConfigProblem> check_config_resources(const Config& config, ModelManager& models,
                                                  const ConfigCheckOptions& options = {});

}  // namespace ev
