// A ModelManager for tests that finds models only in ../shared/models: offline, blind to
// $EDGEVISION_MODELS, with its own cache under the build tree. Header-only so that test
// binaries that do not link ev_models need not.
#pragma once

#include <string>

#include "edgevision/models.hpp"
#include "support/test_support.hpp"

namespace ev::test {

inline ModelManagerOptions shared_model_options(const std::string& cache_name) {
  ModelManagerOptions o;
  o.model_dirs = {shared_models_dir()};
  o.cache_dir = temp_dir(cache_name);
  o.allow_download = false;
  o.use_env = false;
  return o;
}

}  // namespace ev::test
