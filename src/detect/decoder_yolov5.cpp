// YOLOv5 (and YOLOv7, the plate detector family): [1, N, 5 + C] already decoded by the export:
// cx, cy, w, h in network-input pixels, objectness, per-class scores (not yet × obj).
#include "detect/decoder.hpp"

namespace ev::detect_internal {
namespace {

class Yolov5Decoder final : public Decoder {
 public:
  std::string_view name() const override { return "yolov5"; }
  int num_classes(const std::vector<TensorInfo>& outputs) const override {
    if (outputs.empty() || outputs[0].shape.size() != 3) return 0;
    return static_cast<int>(outputs[0].shape[2]) - 5;
  }

  Status decode(const std::vector<Tensor>& outputs, const DecodeParams& p,
                std::vector<Candidate>& out) override {
    if (outputs.empty() || outputs[0].shape.size() != 3 || outputs[0].shape[2] < 6)
      return Status::Error("yolov5: expected one [1,N,5+C] output");
    const Tensor& t = outputs[0];
    const int64_t rows = t.shape[1];
    const int dims = static_cast<int>(t.shape[2]);
    const float* row = t.data.data();
    for (int64_t i = 0; i < rows; ++i, row += dims) {
      const float obj = row[4];
      if (obj < p.conf) continue;
      float cls = 0.f;
      const int c = best_class(row + 5, dims - 5, 1, p, cls);
      const float score = obj * cls;
      if (c < 0 || score < p.conf) continue;
      out.push_back(
          {cv::Rect2f(row[0] - row[2] / 2, row[1] - row[3] / 2, row[2], row[3]), score, c});
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Decoder> make_yolov5_decoder() {
  return std::make_unique<Yolov5Decoder>();
}

}  // namespace ev::detect_internal
