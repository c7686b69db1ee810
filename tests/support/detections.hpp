// A detection built in one line for tracker tests: class 0 is a person, any other a car.
#pragma once

#include "edgevision/detect.hpp"

namespace ev::test {

inline Detection det(float x, float y, float w, float h, float score, int cls = 0) {
  Detection d;
  d.box = cv::Rect2f(x, y, w, h);
  d.score = score;
  d.class_id = cls;
  d.label = cls == 0 ? "person" : "car";
  return d;
}

}  // namespace ev::test
