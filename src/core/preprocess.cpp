#include "edgevision/preprocess.hpp"

#include <algorithm>
#include <cstdint>
#include <numeric>

#include <opencv2/imgproc.hpp>

namespace ev {
namespace {

// The image resized as `p.resize` says, and where it sits in the width x height canvas; the
// rest of the canvas is `pad`.
struct Placement {
  cv::Mat image;
  cv::Rect roi;
  float pad = 0.f;
};

Placement place_on_canvas(const cv::Mat& bgr, const Preprocess& p, int width, int height,
                          InputTransform& t) {
  Placement out;
  int rw = width, rh = height;
  if (p.resize == "stretch") {
    t.scale_x = static_cast<float>(width) / bgr.cols;
    t.scale_y = static_cast<float>(height) / bgr.rows;
  } else {
    float scale = 1.f;
    if (p.resize != "pad32")
      scale = std::min(static_cast<float>(width) / bgr.cols, static_cast<float>(height) / bgr.rows);
    rw = std::min(width, static_cast<int>(std::lround(bgr.cols * scale)));
    rh = std::min(height, static_cast<int>(std::lround(bgr.rows * scale)));
    t.scale_x = t.scale_y = scale;
    if (p.resize == "letterbox_center") {
      t.pad_x = static_cast<float>((width - rw) / 2);
      t.pad_y = static_cast<float>((height - rh) / 2);
    }
    out.pad = p.resize == "pad32" ? 0.f : p.pad_value;
  }
  out.roi = cv::Rect(static_cast<int>(t.pad_x), static_cast<int>(t.pad_y), rw, rh);
  if (rw == bgr.cols && rh == bgr.rows) {
    out.image = bgr;
  } else {
    // Bilinear, as the YOLO/YuNet reference pre-processing does; INTER_AREA is several times
    // slower.
    cv::resize(bgr, out.image, cv::Size(rw, rh), 0, 0, cv::INTER_LINEAR);
  }
  return out;
}

cv::Mat convert_color(const cv::Mat& image, const Preprocess& p) {
  cv::Mat color;
  if (p.color == "rgb") {
    cv::cvtColor(image, color, cv::COLOR_BGR2RGB);
  } else if (p.color == "gray") {
    cv::cvtColor(image, color, cv::COLOR_BGR2GRAY);
  } else {
    color = image;
  }
  return color;
}

// Fills what lies outside `roi` in a width x height float plane.
void fill_outside(float* plane, int width, int height, const cv::Rect& roi, float value) {
  for (int y = 0; y < height; ++y) {
    float* row = plane + static_cast<size_t>(y) * width;
    if (y < roi.y || y >= roi.y + roi.height) {
      std::fill(row, row + width, value);
    } else {
      std::fill(row, row + roi.x, value);
      std::fill(row + roi.x + roi.width, row + width, value);
    }
  }
}

void fit_tensor(std::vector<float>& out, size_t n, bool grow_only) {
  if (!grow_only || out.size() < n) out.resize(n);
}

}  // namespace

InputTransform make_input_tensor(const cv::Mat& bgr, const Preprocess& p, int width, int height,
                                 std::vector<float>& out, bool grow_only) {
  InputTransform t;
  const Placement placed = place_on_canvas(bgr, p, width, height, t);
  const bool whole = placed.roi == cv::Rect(0, 0, width, height);

  // x' = x * a + b per channel, with a = scale/std and b = -mean/std.
  float a[3], b[3];
  for (int c = 0; c < 3; ++c) {
    a[c] = p.scale / p.std[c];
    b[c] = -p.mean[c] / p.std[c];
  }
  const size_t plane = static_cast<size_t>(width) * height;
  if (p.layout == "nhwc" || placed.image.depth() != CV_8U) {
    cv::Mat canvas = placed.image;
    if (!whole) {
      canvas = cv::Mat(height, width, bgr.type(), cv::Scalar::all(placed.pad));
      placed.image.copyTo(canvas(placed.roi));
    }
    const cv::Mat color = convert_color(canvas, p);
    const int channels = color.channels();
    fit_tensor(out, plane * channels, grow_only);
    if (p.layout == "nhwc") {
      cv::Mat dst(height, width, CV_32FC(channels), out.data());
      color.convertTo(dst, CV_32F);
      float* d = out.data();
      for (size_t i = 0; i < plane; ++i)
        for (int c = 0; c < channels; ++c, ++d) *d = *d * a[c] + b[c];
      return t;
    }
    std::vector<cv::Mat> planes;
    cv::split(color, planes);
    for (int c = 0; c < channels; ++c) {
      cv::Mat dst(height, width, CV_32F, out.data() + plane * static_cast<size_t>(c));
      planes[c].convertTo(dst, CV_32F, a[std::min(c, 2)], b[std::min(c, 2)]);
    }
    return t;
  }

  // NCHW from 8-bit: the image goes straight into the tensor and only the padding around it
  // is filled, with no padded copy of the image. A gray pad stays the same in any colour order.
  const cv::Mat color = convert_color(placed.image, p);
  const int channels = color.channels();
  fit_tensor(out, plane * channels, grow_only);
  const cv::Rect& roi = placed.roi;
  const size_t step = static_cast<size_t>(width) * sizeof(float);
  const auto plane_roi = [&](int c, int y0, int rows) {
    float* first = out.data() + plane * static_cast<size_t>(c) +
                   static_cast<size_t>(roi.y + y0) * width + roi.x;
    return cv::Mat(rows, roi.width, CV_32F, first, step);
  };
  for (int c = 0; c < channels; ++c) {
    const int k = std::min(c, 2);
    if (!whole)
      fill_outside(out.data() + plane * static_cast<size_t>(c), width, height, roi,
                   static_cast<float>(cv::saturate_cast<uchar>(placed.pad)) * a[k] + b[k]);
  }
  if (channels == 1) {
    cv::Mat dst = plane_roi(0, 0, roi.height);
    color.convertTo(dst, CV_32F, a[0], b[0]);
    return t;
  }
  // HWC uint8 -> CHW float as split + convertTo (both OpenCV SIMD kernels; ~5x a scalar gather
  // loop), a band of rows at a time so the uint8 planes stay small and in cache.
  constexpr int kBand = 16;
  std::vector<cv::Mat> bands(channels);
  for (auto& m : bands) m.create(kBand, roi.width, CV_8U);
  std::vector<cv::Mat> parts(channels);
  for (int y0 = 0; y0 < roi.height; y0 += kBand) {
    const int rows = std::min(kBand, roi.height - y0);
    for (int c = 0; c < channels; ++c) parts[c] = bands[c].rowRange(0, rows);
    cv::split(color.rowRange(y0, y0 + rows), parts.data());
    for (int c = 0; c < channels; ++c) {
      cv::Mat dst = plane_roi(c, y0, rows);
      parts[c].convertTo(dst, CV_32F, a[std::min(c, 2)], b[std::min(c, 2)]);
    }
  }
  return t;
}

void shrink_area(const cv::Mat& src, cv::Mat& dst, cv::Size size) {
  cv::Mat current = src;
  // Only while the ratio left is a whole even number, so that every step averages equal blocks.
  while (size.width > 0 && size.height > 0 && current.cols % (2 * size.width) == 0 &&
         current.rows % (2 * size.height) == 0) {
    cv::Mat half;
    cv::resize(current, half, cv::Size(current.cols / 2, current.rows / 2), 0, 0, cv::INTER_LINEAR);
    current = half;
  }
  if (current.size() == size) {
    dst = current.data == src.data ? src.clone() : current;
  } else {
    cv::resize(current, dst, size, 0, 0, cv::INTER_AREA);
  }
}

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

std::vector<int> nms_boxes(const std::vector<cv::Rect2f>& boxes, const std::vector<float>& scores,
                           const std::vector<int>& class_ids, float score_threshold,
                           float iou_threshold, int top_k) {
  std::vector<int> order;
  order.reserve(boxes.size());
  for (size_t i = 0; i < boxes.size(); ++i)
    if (scores[i] >= score_threshold) order.push_back(static_cast<int>(i));
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return scores[x] > scores[y]; });
  std::vector<int> keep;
  for (int i : order) {
    bool suppressed = false;
    for (int k : keep) {
      if ((class_ids.empty() || class_ids[i] == class_ids[k]) &&
          iou(boxes[i], boxes[k]) > iou_threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) {
      keep.push_back(i);
      if (top_k > 0 && static_cast<int>(keep.size()) >= top_k) break;
    }
  }
  return keep;
}

std::vector<int64_t> image_input_shape(std::vector<int64_t> shape, const Preprocess& p) {
  if (shape.size() != 4) return {};
  const bool nhwc = p.layout == "nhwc";
  int64_t& h = nhwc ? shape[1] : shape[2];
  int64_t& w = nhwc ? shape[2] : shape[3];
  if (p.width > 0) w = p.width;
  if (p.height > 0) h = p.height;
  if (w <= 0) w = 640;
  if (h <= 0) h = 640;
  shape[0] = 1;
  int64_t& c = nhwc ? shape[3] : shape[1];
  if (c <= 0) c = p.color == "gray" ? 1 : 3;
  return shape;
}

}  // namespace ev
