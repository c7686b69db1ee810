// Paths to test assets. The product never reads ../shared; tests may.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>

namespace ev::test {
std::filesystem::path shared_dir();                  // EV_SHARED_DIR
std::filesystem::path shared_models_dir();           // <shared>/models
std::filesystem::path data(const std::string& rel);  // <shared>/data/<rel>
std::filesystem::path edgevision_binary();           // <build>/bin/edgevision
// PaddleOCR models unpacked by scripts/fetch_ocr_models.sh at configure time ("" if that failed).
std::filesystem::path ocr_models_dir();
// A fresh empty directory under the build tree for one test.
std::filesystem::path temp_dir(const std::string& name);
// A labelled set of one faces_wider photo in `dir` (`name` as labels.csv names it, e.g.
// "images/x.jpg"): the image and labels.csv with its rows. Returns the number of faces.
int one_labelled_photo(const std::string& name, const std::filesystem::path& dir);
}  // namespace ev::test

namespace ev::test {
struct CommandResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};
// Runs `command` through /bin/sh, capturing stdout and stderr separately.
CommandResult run_command(const std::string& command);

// Polls `pred` every 20 ms for up to `seconds`; its last answer.
template <typename Pred>
bool wait_until(Pred pred, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}
}  // namespace ev::test
