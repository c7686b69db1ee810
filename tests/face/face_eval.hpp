// Shared by the face tests: the labelled photos in shared/data/faces and a recall count.
#pragma once

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/face.hpp"
#include "edgevision/preprocess.hpp"
#include "support/test_support.hpp"

namespace ev::test {

struct LabelledImage {
  std::string file;
  std::vector<cv::Rect2f> faces;
};

inline std::vector<LabelledImage> load_face_labels() {
  std::map<std::string, LabelledImage> by_file;
  std::ifstream in(data("faces/labels.csv"));
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::stringstream ss(line);
    std::string file, v;
    std::getline(ss, file, ',');
    float f[4];
    for (float& x : f) {
      std::getline(ss, v, ',');
      x = std::stof(v);
    }
    auto& img = by_file[file];
    img.file = file;
    img.faces.emplace_back(f[0], f[1], f[2], f[3]);
  }
  std::vector<LabelledImage> out;
  for (auto& [k, v] : by_file) out.push_back(std::move(v));
  return out;
}

// A labelled face counts as found when a detection overlaps it with IoU >= 0.3 or contains
// the centre 50% of it.
inline bool covers(const cv::Rect2f& det, const cv::Rect2f& label) {
  const cv::Rect2f centre(label.x + label.width / 4, label.y + label.height / 4, label.width / 2,
                          label.height / 2);
  return iou(det, label) >= 0.3f || (det & centre).area() >= 0.99f * centre.area();
}

struct Coverage {
  int labelled = 0;
  int found = 0;
  int unmatched = 0;  // detections covering no label (some are real, unlabelled faces)
  double recall() const { return labelled ? static_cast<double>(found) / labelled : 0.0; }
};

// Runs `det` over all labelled photos resized by `scale`.
inline Coverage measure_coverage(FaceDetector& det, double scale) {
  Coverage c;
  for (const auto& img : load_face_labels()) {
    cv::Mat bgr = cv::imread(data("faces/" + img.file).string());
    if (bgr.empty()) continue;
    if (scale != 1.0) cv::resize(bgr, bgr, cv::Size(), scale, scale, cv::INTER_AREA);
    auto faces = det.detect(bgr);
    if (!faces) continue;
    const float s = static_cast<float>(scale);
    for (const auto& l : img.faces) {
      const cv::Rect2f label(l.x * s, l.y * s, l.width * s, l.height * s);
      ++c.labelled;
      for (const auto& f : *faces)
        if (covers(f.box, label)) {
          ++c.found;
          break;
        }
    }
    for (const auto& f : *faces) {
      bool any = false;
      for (const auto& l : img.faces)
        any = any || covers(f.box, cv::Rect2f(l.x * s, l.y * s, l.width * s, l.height * s));
      if (!any) ++c.unmatched;
    }
  }
  return c;
}

}  // namespace ev::test
