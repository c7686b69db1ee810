// Rectangle helpers shared by the stages that work on regions of a frame.
#pragma once

#include <cstddef>
#include <vector>

#include <opencv2/core.hpp>

namespace ev {

// Merges overlapping rectangles (into their bounding box) until none overlap.
inline std::vector<cv::Rect> merge_overlapping_rects(std::vector<cv::Rect> rects) {
  bool merged = true;
  while (merged) {
    merged = false;
    for (size_t i = 0; i < rects.size() && !merged; ++i)
      for (size_t j = i + 1; j < rects.size(); ++j)
        if ((rects[i] & rects[j]).area() > 0) {
          rects[i] |= rects[j];
          rects.erase(rects.begin() + static_cast<std::ptrdiff_t>(j));
          merged = true;
          break;
        }
  }
  return rects;
}

}  // namespace ev
