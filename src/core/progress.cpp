#include "edgevision/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace ev {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

std::string format_bytes(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.1f} {}", bytes, units[u]);
}

bool ProgressBar::stderr_is_tty() {
  return isatty(STDERR_FILENO) == 1;
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : label_(std::move(label)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(stderr_is_tty()),
      start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() {
  finish();
}

std::string ProgressBar::render(double elapsed) const {
  const double rate = elapsed > 0 ? done_ / elapsed : 0.0;
  const bool bytes = unit_ == "B";
  auto amount = [&](double v) { return bytes ? format_bytes(v) : fmt::format("{:.0f}", v); };
  const std::string rate_text =
      bytes ? format_bytes(rate) + "/s"
            : fmt::format("{:.1f} {}/s", rate, unit_.empty() ? "it" : unit_);
  if (total_ <= 0) {
    return fmt::format("{} {} {} [{}]", label_, amount(done_), rate_text, format_duration(elapsed));
  }
  const double frac = std::min(1.0, static_cast<double>(done_) / total_);
  constexpr int kWidth = 30;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(filled, '#');
  bar.append(kWidth - filled, '.');
  const double eta = rate > 0 ? (total_ - done_) / rate : -1;
  return fmt::format("{} [{}] {:3.0f}% {}/{} {} elapsed {} ETA {}", label_, bar, frac * 100,
                     amount(done_), amount(total_), rate_text, format_duration(elapsed),
                     format_duration(eta));
}

void ProgressBar::update(int64_t done) {
  done_ = done;
  if (!enabled_ || finished_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_draw_ < std::chrono::milliseconds(100) && (total_ <= 0 || done_ < total_)) return;
  last_draw_ = now;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%s", render(elapsed).c_str());
  std::fflush(stderr);
}

void ProgressBar::finish() {
  if (finished_) return;
  if (enabled_) {
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    std::fprintf(stderr, "\r\033[K%s\n", render(elapsed).c_str());
  }
  finished_ = true;
}

}  // namespace ev
