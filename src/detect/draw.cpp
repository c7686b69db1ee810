#include <cstdio>

#include <opencv2/imgproc.hpp>

#include "edgevision/detect.hpp"

namespace ev {

void draw_detections(cv::Mat& bgr, const std::vector<Detection>& detections) {
  for (const auto& d : detections) {
    // A fixed colour per class keeps the same class recognisable across frames.
    const int c = d.class_id < 0 ? 0 : d.class_id;
    const cv::Scalar colour((c * 67 + 40) % 256, (c * 131 + 90) % 256, (c * 197 + 160) % 256);
    const cv::Rect box(cv::Point(cvRound(d.box.x), cvRound(d.box.y)),
                       cv::Point(cvRound(d.box.br().x), cvRound(d.box.br().y)));
    const int thickness = std::max(1, std::min(bgr.cols, bgr.rows) / 300);
    cv::rectangle(bgr, box, colour, thickness);
    char text[96];
    std::snprintf(text, sizeof(text), "%s %.2f",
                  d.label.empty() ? std::to_string(d.class_id).c_str() : d.label.c_str(), d.score);
    int baseline = 0;
    const double font = 0.5;
    const cv::Size ts = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font, 1, &baseline);
    const int ty = std::max(box.y, ts.height + baseline);
    cv::rectangle(bgr, cv::Rect(box.x, ty - ts.height - baseline, ts.width, ts.height + baseline),
                  colour, cv::FILLED);
    cv::putText(bgr, text, cv::Point(box.x, ty - baseline), cv::FONT_HERSHEY_SIMPLEX, font,
                cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  }
}

}  // namespace ev
