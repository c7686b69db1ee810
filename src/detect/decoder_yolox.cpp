// YOLOX: [1, N, 5 + C] raw head outputs, one anchor per grid cell over strides 8/16/32
// (row-major, concatenated in stride order). Box = ((p0 + gx)·s, (p1 + gy)·s, e^p2·s, e^p3·s)
// in centre form; score = obj · cls (both already sigmoided by the export).
#include <cmath>

#include "detect/decoder.hpp"

namespace ev::detect_internal {
namespace {

class YoloxDecoder final : public Decoder {
 public:
  std::string_view name() const override { return "yolox"; }
  int num_classes(const std::vector<TensorInfo>& outputs) const override {
    if (outputs.empty() || outputs[0].shape.size() != 3) return 0;
    return static_cast<int>(outputs[0].shape[2]) - 5;
  }

  Status decode(const std::vector<Tensor>& outputs, const DecodeParams& p,
                std::vector<Candidate>& out) override {
    if (outputs.empty() || outputs[0].shape.size() != 3 || outputs[0].shape[2] < 6)
      return Status::Error("yolox: expected one [1,N,5+C] output");
    const Tensor& t = outputs[0];
    const int rows = static_cast<int>(t.shape[1]);
    const int dims = static_cast<int>(t.shape[2]);
    const int classes = dims - 5;
    static constexpr int kStrides[] = {8, 16, 32};
    int expected = 0;
    for (int s : kStrides) expected += (p.net_w / s) * (p.net_h / s);
    if (expected != rows)
      return Status::Error("yolox: " + std::to_string(rows) + " rows do not match the " +
                           std::to_string(expected) + " grid cells of a " +
                           std::to_string(p.net_w) + "x" + std::to_string(p.net_h) + " input");
    const float* row = t.data.data();
    for (int s : kStrides) {
      const int gw = p.net_w / s, gh = p.net_h / s;
      for (int gy = 0; gy < gh; ++gy) {
        for (int gx = 0; gx < gw; ++gx, row += dims) {
          const float obj = row[4];
          if (obj < p.conf) continue;  // obj·cls <= obj: cheap early out for most cells
          float cls = 0.f;
          const int c = best_class(row + 5, classes, 1, p, cls);
          const float score = obj * cls;
          if (c < 0 || score < p.conf) continue;
          const float cx = (row[0] + gx) * s, cy = (row[1] + gy) * s;
          const float w = std::exp(row[2]) * s, h = std::exp(row[3]) * s;
          out.push_back({cv::Rect2f(cx - w / 2, cy - h / 2, w, h), score, c});
        }
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<Decoder> make_yolox_decoder() {
  return std::make_unique<YoloxDecoder>();
}

}  // namespace ev::detect_internal
