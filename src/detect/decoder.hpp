// Internal decoder interface: one YOLO output layout per decoder, each in its own file and
// registered in decoders.cpp.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/backend.hpp"
#include "edgevision/status.hpp"

namespace ev::detect_internal {

// One scored box before NMS, in network-input pixels (top-left + size).
struct Candidate {
  cv::Rect2f box;
  float score = 0.f;
  int class_id = -1;
};

struct DecodeParams {
  int net_w = 0, net_h = 0;
  float conf = 0.25f;
  // Per class id: 1 = keep. Empty keeps all. Decoders take the best *allowed* class so a
  // filtered-out class never hides an allowed one on the same box.
  const std::vector<uint8_t>* allowed = nullptr;
  bool is_allowed(int c) const {
    return !allowed || allowed->empty() ||
           (c >= 0 && c < static_cast<int>(allowed->size()) && (*allowed)[c]);
  }
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual std::string_view name() const = 0;
  // False for end-to-end models whose outputs are already de-duplicated.
  virtual bool needs_nms() const { return true; }
  // Number of classes implied by the output shapes (0 if unknown).
  virtual int num_classes(const std::vector<TensorInfo>& outputs) const = 0;
  // Appends candidates with score >= conf.
  virtual Status decode(const std::vector<Tensor>& outputs, const DecodeParams& p,
                        std::vector<Candidate>& out) = 0;
};

std::unique_ptr<Decoder> make_yolox_decoder();
std::unique_ptr<Decoder> make_yolov5_decoder();
std::unique_ptr<Decoder> make_yolov8_decoder();
std::unique_ptr<Decoder> make_yolo_e2e_decoder();
std::unique_ptr<Decoder> make_darknet_decoder();

// By registered name; null if unknown.
std::unique_ptr<Decoder> make_decoder(const std::string& name);

// Best allowed class among `n` scores starting at `scores` (stride between classes `step`).
inline int best_class(const float* scores, int n, size_t step, const DecodeParams& p, float& best) {
  int arg = -1;
  best = -1.f;
  for (int c = 0; c < n; ++c) {
    const float s = scores[c * step];
    if (s > best && p.is_allowed(c)) {
      best = s;
      arg = c;
    }
  }
  return arg;
}

}  // namespace ev::detect_internal
