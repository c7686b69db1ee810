#include "support/test_support.hpp"

#include <unistd.h>

#include <fstream>

namespace ev::test {
namespace fs = std::filesystem;

fs::path shared_dir() {
  return fs::path(EV_SHARED_DIR);
}
fs::path shared_models_dir() {
  return shared_dir() / "models";
}
fs::path data(const std::string& rel) {
  return shared_dir() / "data" / rel;
}
fs::path edgevision_binary() {
  return fs::path(EV_BINARY_DIR) / "bin" / "edgevision";
}
fs::path ocr_models_dir() {
  return fs::path(EV_OCR_MODELS_DIR);
}

fs::path temp_dir(const std::string& name) {
  // CTest runs test cases of one suite in parallel processes: the pid keeps them apart.
  fs::path dir = fs::path(EV_BINARY_DIR) / "test-tmp" / (name + "-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

int one_labelled_photo(const std::string& name, const fs::path& dir) {
  const fs::path src = data("faces_wider");
  fs::create_directories((dir / name).parent_path());
  fs::copy_file(src / name, dir / name, fs::copy_options::overwrite_existing);
  std::ifstream in(src / "labels.csv");
  std::ofstream out(dir / "labels.csv");
  std::string line;
  if (std::getline(in, line)) out << line << '\n';  // the header
  int rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind(name + ",", 0) != 0) continue;
    out << line << '\n';
    ++rows;
  }
  return rows;
}
}  // namespace ev::test

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace ev::test {
CommandResult run_command(const std::string& command) {
  static int counter = 0;
  const fs::path err_file =
      fs::path(EV_BINARY_DIR) / "test-tmp" /
      ("stderr-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + ".txt");
  fs::create_directories(err_file.parent_path());
  CommandResult r;
  FILE* pipe = popen((command + " 2>" + err_file.string()).c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) r.out.append(buf, n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(err_file);
  std::stringstream ss;
  ss << in.rdbuf();
  r.err = ss.str();
  fs::remove(err_file);
  return r;
}
}  // namespace ev::test
