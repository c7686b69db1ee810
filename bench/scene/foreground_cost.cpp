// The falls foreground model (ForegroundModel, docs/scene_analytics.md) on a clip without people:
// update() on every frame (what a camera paid before) vs update_while(frame, false), which
// releases the model after idle_frames (100 here; 750 in the pipeline). Prints the median
// ms/frame before and after the release point and the process RSS (/proc/self/statm) at
// frame 90 and at the end. See bench/README.md "Falls: ...".
//   build/bench/bench_foreground_cost [clip]   (default: ../shared/data/video/highway_cars.mp4)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <opencv2/videoio.hpp>

#include "edgevision/foreground.hpp"

namespace {
double rss_mb() {
  std::ifstream f("/proc/self/statm");
  long size = 0, resident = 0;
  f >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  const std::string clip =
      argc > 1 ? argv[1] : std::string(EV_SHARED_DIR) + "/data/video/highway_cars.mp4";
  std::vector<cv::Mat> frames;
  {
    cv::VideoCapture cap(clip);
    cv::Mat f;
    while (cap.read(f)) frames.push_back(f.clone());
  }
  if (frames.size() < 200) {
    std::fprintf(stderr, "%s: need >= 200 frames, got %zu\n", clip.c_str(), frames.size());
    return 1;
  }
  constexpr int kIdle = 100;
  for (int mode = 0; mode < 2; ++mode) {
    ev::ForegroundParams p;
    p.idle_frames = kIdle;
    ev::ForegroundModel fg(p);
    std::vector<double> early, late;
    double at90 = 0;
    for (size_t i = 0; i < frames.size(); ++i) {
      const auto t0 = std::chrono::steady_clock::now();
      if (mode == 0)
        fg.update(frames[i]);
      else
        fg.update_while(frames[i], false);
      const double ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      (i < static_cast<size_t>(kIdle) ? early : late).push_back(ms);
      if (i == 90) at90 = rss_mb();
    }
    std::printf(
        "%-20s median ms/frame: frames < %d %.2f, after %.3f; RSS MB at 90 %.1f, end %.1f\n",
        mode == 0 ? "update()" : "update_while(false)", kIdle, median(early), median(late), at90,
        rss_mb());
  }
  return 0;
}
