// YOLOv8 / YOLO11: [1, 4 + C, N] (channels first): cx, cy, w, h in network-input pixels, then C
// class scores; no objectness.
#include <algorithm>

#include "detect/decoder.hpp"

namespace ev::detect_internal {
namespace {

class Yolov8Decoder final : public Decoder {
 public:
  std::string_view name() const override { return "yolov8"; }
  int num_classes(const std::vector<TensorInfo>& outputs) const override {
    if (outputs.empty() || outputs[0].shape.size() != 3) return 0;
    return static_cast<int>(outputs[0].shape[1]) - 4;
  }

  Status decode(const std::vector<Tensor>& outputs, const DecodeParams& p,
                std::vector<Candidate>& out) override {
    if (outputs.empty() || outputs[0].shape.size() != 3 || outputs[0].shape[1] < 5)
      return Status::Error("yolov8: expected one [1,4+C,N] output");
    const Tensor& t = outputs[0];
    const int classes = static_cast<int>(t.shape[1]) - 4;
    const size_t n = static_cast<size_t>(t.shape[2]);
    const float* d = t.data.data();
    // Class-major sweep: each class row is contiguous, so walking rows keeps the argmax
    // cache-friendly instead of striding by N for every anchor.
    best_.assign(n, -1.f);
    arg_.assign(n, -1);
    for (int c = 0; c < classes; ++c) {
      if (!p.is_allowed(c)) continue;
      const float* s = d + (4 + static_cast<size_t>(c)) * n;
      for (size_t i = 0; i < n; ++i) {
        if (s[i] > best_[i]) {
          best_[i] = s[i];
          arg_[i] = c;
        }
      }
    }
    for (size_t i = 0; i < n; ++i) {
      if (arg_[i] < 0 || best_[i] < p.conf) continue;
      const float cx = d[i], cy = d[n + i], w = d[2 * n + i], h = d[3 * n + i];
      out.push_back({cv::Rect2f(cx - w / 2, cy - h / 2, w, h), best_[i], arg_[i]});
    }
    return Status::Ok();
  }

 private:
  std::vector<float> best_;
  std::vector<int> arg_;
};

}  // namespace

std::unique_ptr<Decoder> make_yolov8_decoder() {
  return std::make_unique<Yolov8Decoder>();
}

}  // namespace ev::detect_internal
