// Mask methods. Blur and pixelate work on a heavily downsampled copy of the region: it is
// cheaper than a large-kernel Gaussian and, unlike a mild blur, cannot be undone by
// deconvolution because the detail is gone.
#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#include "edgevision/anonymize.hpp"

namespace ev {
namespace {

void blur_region(cv::Mat& roi, float strength) {
  // About 6 samples across the face: features are gone, skin tone and shape remain.
  const int cells = std::max(3, static_cast<int>(std::lround(6.f / std::max(strength, 0.25f))));
  const double f = static_cast<double>(cells) / std::max(roi.cols, roi.rows);
  cv::Mat small;
  cv::resize(roi, small,
             cv::Size(std::max(1, static_cast<int>(roi.cols * f)),
                      std::max(1, static_cast<int>(roi.rows * f))),
             0, 0, cv::INTER_AREA);
  cv::resize(small, roi, roi.size(), 0, 0, cv::INTER_LINEAR);
  const int k = std::max(3, (std::max(roi.cols, roi.rows) / 6) | 1);
  cv::GaussianBlur(roi, roi, cv::Size(k, k), 0);
}

void pixelate_region(cv::Mat& roi) {
  const int blocks = 8;  // across the longer side
  const int block = std::max(2, std::max(roi.cols, roi.rows) / blocks);
  cv::Mat small;
  cv::resize(roi, small, cv::Size(std::max(1, roi.cols / block), std::max(1, roi.rows / block)), 0,
             0, cv::INTER_AREA);
  cv::resize(small, roi, roi.size(), 0, 0, cv::INTER_NEAREST);
}

// A drawn smiley, large enough to cover the whole rectangle (its circle circumscribes it).
void draw_emoji(cv::Mat& frame, const cv::Rect& r) {
  const cv::Point c(r.x + r.width / 2, r.y + r.height / 2);
  const int radius = static_cast<int>(std::ceil(0.5 * std::hypot(r.width, r.height)));
  frame(r).setTo(cv::Scalar(0, 200, 255));  // the rectangle itself is always fully covered
  cv::circle(frame, c, radius, cv::Scalar(0, 215, 255), cv::FILLED, cv::LINE_AA);
  cv::circle(frame, c, radius, cv::Scalar(0, 140, 200), std::max(1, radius / 20), cv::LINE_AA);
  const int eye_dx = radius * 35 / 100, eye_dy = radius * 25 / 100;
  const cv::Size eye(std::max(1, radius / 9), std::max(1, radius / 5));
  cv::ellipse(frame, c + cv::Point(-eye_dx, -eye_dy), eye, 0, 0, 360, cv::Scalar(40, 40, 40),
              cv::FILLED, cv::LINE_AA);
  cv::ellipse(frame, c + cv::Point(eye_dx, -eye_dy), eye, 0, 0, 360, cv::Scalar(40, 40, 40),
              cv::FILLED, cv::LINE_AA);
  cv::ellipse(frame, c + cv::Point(0, radius / 10), cv::Size(radius * 55 / 100, radius * 45 / 100),
              0, 20, 160, cv::Scalar(40, 40, 40), std::max(2, radius / 12), cv::LINE_AA);
}

}  // namespace

std::vector<cv::Rect> apply_masks(cv::Mat& frame, const std::vector<cv::Rect2f>& boxes,
                                  AnonymizeMethod method, const PrivacyParams& params) {
  std::vector<cv::Rect> applied;
  applied.reserve(boxes.size());
  const cv::Rect bounds(0, 0, frame.cols, frame.rows);
  for (const auto& b : boxes) {
    const float k = params.small_face > 0.f && b.height > 0.f
                        ? std::clamp(params.small_face / b.height, 1.f, 3.f)
                        : 1.f;
    const float px = b.width * params.padding * k, py = b.height * params.padding * k;
    // floor/ceil outward so rounding never shaves the face edge.
    const int x0 = static_cast<int>(std::floor(b.x - px)),
              y0 = static_cast<int>(std::floor(b.y - py));
    const int x1 = static_cast<int>(std::ceil(b.x + b.width + px)),
              y1 = static_cast<int>(std::ceil(b.y + b.height + py));
    const cv::Rect r = cv::Rect(x0, y0, x1 - x0, y1 - y0) & bounds;
    if (r.width <= 0 || r.height <= 0) continue;
    cv::Mat roi = frame(r);
    switch (method) {
      case AnonymizeMethod::kBlur:
        blur_region(roi, params.blur_strength);
        break;
      case AnonymizeMethod::kPixelate:
        pixelate_region(roi);
        break;
      case AnonymizeMethod::kBlackBox:
        roi.setTo(cv::Scalar::all(0));
        break;
      case AnonymizeMethod::kEmoji:
        draw_emoji(frame, r);
        break;
    }
    applied.push_back(r);
  }
  return applied;
}

}  // namespace ev
