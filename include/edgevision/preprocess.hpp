// Turning a frame into a network input tensor, and mapping boxes back.
#pragma once

#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/models.hpp"

namespace ev {

// net_xy = frame_xy * scale + pad
struct InputTransform {
  float scale_x = 1.f;
  float scale_y = 1.f;
  float pad_x = 0.f;
  float pad_y = 0.f;
  cv::Rect2f to_frame(const cv::Rect2f& net_box) const {
    return {(net_box.x - pad_x) / scale_x, (net_box.y - pad_y) / scale_y, net_box.width / scale_x,
            net_box.height / scale_y};
  }
  cv::Point2f to_frame(const cv::Point2f& p) const {
    return {(p.x - pad_x) / scale_x, (p.y - pad_y) / scale_y};
  }
};

// Resizes/pads `bgr` to width x height as `p.resize` says, converts colour, normalizes
// ((x*scale-mean)/std) and writes a float tensor in `p.layout` to `out` (resized as needed).
InputTransform make_input_tensor(const cv::Mat& bgr, const Preprocess& p, int width, int height,
                                 std::vector<float>& out);

// Class-aware NMS (OpenCV 4.6 has no NMSBoxesBatched). Returns kept indices, best first.
std::vector<int> nms_boxes(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                           const std::vector<int>& class_ids, float score_threshold,
                           float iou_threshold, int top_k = 0);

float iou(const cv::Rect2f& a, const cv::Rect2f& b);

}  // namespace ev
