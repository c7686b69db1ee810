// Object detection (YOLO family). The detect helper extends this header.
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace ev {

struct Detection {
  cv::Rect2f box;  // frame pixels, top-left + size
  float score = 0.f;
  int class_id = -1;
  std::string label;
};

}  // namespace ev
