#include "support/test_support.hpp"

namespace ev::test {
namespace fs = std::filesystem;

fs::path shared_dir() { return fs::path(EV_SHARED_DIR); }
fs::path shared_models_dir() { return shared_dir() / "models"; }
fs::path data(const std::string& rel) { return shared_dir() / "data" / rel; }
fs::path edgevision_binary() { return fs::path(EV_BINARY_DIR) / "bin" / "edgevision"; }

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::path(EV_BINARY_DIR) / "test-tmp" / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}
}  // namespace ev::test
