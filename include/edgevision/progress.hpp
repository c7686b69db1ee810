// Terminal progress bar with rate and ETA. Draws only when stderr is a terminal (or when
// forced), at most ~10 times a second, so it costs nothing in pipelines and logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace ev {

class ProgressBar {
 public:
  // total <= 0: unknown total (shows count and rate only). unit: "frames", "B", ...
  ProgressBar(std::string label, int64_t total, std::string unit = "");
  ~ProgressBar();
  void update(int64_t done);
  void add(int64_t n = 1) { update(done_ + n); }
  void set_total(int64_t total) { total_ = total; }
  void finish();
  // Text of the bar for the current state (used by tests and by update()).
  std::string render(double elapsed_s) const;
  static bool stderr_is_tty();
  void force_enabled(bool enabled) { enabled_ = enabled; }

 private:
  std::string label_;
  int64_t total_;
  std::string unit_;
  int64_t done_ = 0;
  bool enabled_;
  bool finished_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

std::string format_duration(double seconds);  // 75 -> "1:15", 3725 -> "1:02:05"
std::string format_bytes(double bytes);       // 1536 -> "1.5 KiB"

}  // namespace ev
