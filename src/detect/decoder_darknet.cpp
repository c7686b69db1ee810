// Darknet YOLO through OpenCV DNN: one [N, 5 + C] output per [yolo] layer, rows already decoded
// by OpenCV: cx, cy, w, h normalised to the input, objectness, class scores already × obj.
#include "detect/decoder.hpp"

namespace ev::detect_internal {
namespace {

class DarknetDecoder final : public Decoder {
 public:
  std::string_view name() const override { return "darknet"; }
  int num_classes(const std::vector<TensorInfo>& outputs) const override {
    if (outputs.empty() || outputs[0].shape.empty()) return 0;
    return static_cast<int>(outputs[0].shape.back()) - 5;
  }

  Status decode(const std::vector<Tensor>& outputs, const DecodeParams& p,
                std::vector<Candidate>& out) override {
    if (outputs.empty()) return Status::Error("darknet: no outputs");
    for (const Tensor& t : outputs) {
      if (t.shape.size() != 2 || t.shape[1] < 6)
        return Status::Error("darknet: output '" + t.name + "' is not [N,5+C]");
      const int dims = static_cast<int>(t.shape[1]);
      const float* row = t.data.data();
      for (int64_t i = 0; i < t.shape[0]; ++i, row += dims) {
        float score = 0.f;
        const int c = best_class(row + 5, dims - 5, 1, p, score);
        if (c < 0 || score < p.conf) continue;
        const float w = row[2] * p.net_w, h = row[3] * p.net_h;
        out.push_back(
            {cv::Rect2f(row[0] * p.net_w - w / 2, row[1] * p.net_h - h / 2, w, h), score, c});
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Decoder> make_darknet_decoder() {
  return std::make_unique<DarknetDecoder>();
}

}  // namespace ev::detect_internal
