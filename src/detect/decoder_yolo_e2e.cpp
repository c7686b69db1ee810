// End-to-end NMS-free YOLO (YOLO26, YOLOv10): [1, K, 6] rows x1, y1, x2, y2, score, class in
// network-input pixels, already de-duplicated by the model, so no NMS runs after it.
#include <cmath>

#include "detect/decoder.hpp"

namespace ev::detect_internal {
namespace {

class YoloE2eDecoder final : public Decoder {
 public:
  std::string_view name() const override { return "yolo_e2e"; }
  bool needs_nms() const override { return false; }
  int num_classes(const std::vector<TensorInfo>&) const override { return 0; }

  Status decode(const std::vector<Tensor>& outputs, const DecodeParams& p,
                std::vector<Candidate>& out) override {
    if (outputs.empty() || outputs[0].shape.size() != 3 || outputs[0].shape[2] != 6)
      return Status::Error("yolo_e2e: expected one [1,K,6] output");
    const Tensor& t = outputs[0];
    const float* row = t.data.data();
    for (int64_t i = 0; i < t.shape[1]; ++i, row += 6) {
      const float score = row[4];
      const int c = static_cast<int>(std::lround(row[5]));
      if (score < p.conf || !p.is_allowed(c)) continue;
      out.push_back({cv::Rect2f(row[0], row[1], row[2] - row[0], row[3] - row[1]), score, c});
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Decoder> make_yolo_e2e_decoder() {
  return std::make_unique<YoloE2eDecoder>();
}

}  // namespace ev::detect_internal
