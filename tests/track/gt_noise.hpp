// Detections derived from MOT ground truth with noise, drops, low scores and clutter, from a
// fixed seed. Shared by tests/track and tests/tools. The normal deviates come from our own
// Box-Muller on std::mt19937 (whose output is fixed by the standard) because
// std::normal_distribution differs between standard libraries.
#pragma once

#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "edgevision/detect.hpp"
#include "edgevision/track.hpp"

namespace ev::test {

class Rng {
 public:
  explicit Rng(uint32_t seed) : g_(seed) {}
  double uniform() { return (g_() + 0.5) / 4294967296.0; }  // (0,1)
  double uniform(double a, double b) { return a + (b - a) * uniform(); }
  double normal() {
    const double u1 = uniform(), u2 = uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  std::mt19937 g_;
};

struct NoiseModel {
  double drop = 0.10;        // a gt box is missed
  double low_score = 0.10;   // a kept box scores in [0.2, 0.45] (needs the 2nd association)
  double pos_sigma = 0.04;   // centre noise, fraction of the box size
  double size_sigma = 0.04;  // size noise, fraction
  double clutter = 0.15;     // probability per frame of one false positive somewhere
};

// frame (1-based) -> detections, for every frame in [1, last_frame].
inline std::map<int, std::vector<Detection>> noisy_detections(const std::vector<MotRecord>& gt,
                                                              int last_frame, uint32_t seed,
                                                              const NoiseModel& nm = {}) {
  Rng rng(seed);
  std::map<int, std::vector<Detection>> out;
  for (int f = 1; f <= last_frame; ++f) out[f];
  for (const auto& r : gt) {
    if (r.frame < 1 || r.frame > last_frame) continue;
    if (rng.uniform() < nm.drop) continue;
    const double w = r.box.width * (1.0 + nm.size_sigma * rng.normal());
    const double h = r.box.height * (1.0 + nm.size_sigma * rng.normal());
    const double cx = r.box.x + r.box.width / 2.0 + nm.pos_sigma * r.box.width * rng.normal();
    const double cy = r.box.y + r.box.height / 2.0 + nm.pos_sigma * r.box.height * rng.normal();
    Detection d;
    d.box = cv::Rect2f(static_cast<float>(cx - w / 2), static_cast<float>(cy - h / 2),
                       static_cast<float>(w), static_cast<float>(h));
    d.score = static_cast<float>(rng.uniform() < nm.low_score ? rng.uniform(0.2, 0.45)
                                                              : rng.uniform(0.6, 0.95));
    d.class_id = 0;
    d.label = "person";
    out[r.frame].push_back(d);
  }
  for (int f = 1; f <= last_frame; ++f) {
    if (rng.uniform() >= nm.clutter) continue;
    Detection d;
    d.box = cv::Rect2f(
        static_cast<float>(rng.uniform(0, 700)), static_cast<float>(rng.uniform(0, 480)),
        static_cast<float>(rng.uniform(20, 40)), static_cast<float>(rng.uniform(50, 90)));
    d.score = static_cast<float>(rng.uniform(0.2, 0.65));
    d.class_id = 0;
    d.label = "person";
    out[f].push_back(d);
  }
  return out;
}

}  // namespace ev::test
