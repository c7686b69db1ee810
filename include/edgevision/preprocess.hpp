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
// `grow_only`: `out` keeps its size when it is already larger, for a caller that passes the
// tensor's shape itself and alternates sizes (YuNet's frame pass and small-face runs): a
// vector resized down and up again zero-fills what it regrows, 1.5% of `anonymize`'s CPU.
InputTransform make_input_tensor(const cv::Mat& bgr, const Preprocess& p, int width, int height,
                                 std::vector<float>& out, bool grow_only = false);

// The concrete shape of one image for a model whose 4-D image input is declared `declared`
// (NCHW, or NHWC when p.layout says so): batch 1, dynamic sizes from `p` (else 640), dynamic
// channels 3 (1 for gray). Empty when the input is not 4-D.
std::vector<int64_t> image_input_shape(std::vector<int64_t> declared, const Preprocess& p);
// Width and height of such a shape.
inline cv::Size image_input_size(const std::vector<int64_t>& shape, const Preprocess& p) {
  if (shape.size() != 4) return {};
  const bool nhwc = p.layout == "nhwc";
  return {static_cast<int>(nhwc ? shape[2] : shape[3]),
          static_cast<int>(nhwc ? shape[1] : shape[2])};
}

// Shrinks `src` to `size` as cv::INTER_AREA does (each pixel the mean of those it covers), by
// 2:1 bilinear steps while the ratio left is a whole even number (such a step is the mean of
// 2x2 pixels, rounded) and INTER_AREA for the rest: within 1 of INTER_AREA per step, and 720p
// to 320x180 costs 0.35 instead of 0.92 ms (bench/README.md).
void shrink_area(const cv::Mat& src, cv::Mat& dst, cv::Size size);

// Class-aware NMS (OpenCV 4.6 has no NMSBoxesBatched). Returns kept indices, best first.
std::vector<int> nms_boxes(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                           const std::vector<int>& class_ids, float score_threshold,
                           float iou_threshold, int top_k = 0);

float iou(const cv::Rect2f& a, const cv::Rect2f& b);

}  // namespace ev
