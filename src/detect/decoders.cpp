// The one place detection decoders are registered, and the rules that recognise a layout from
// output shapes when the manifest does not name it (documented in docs/detection.md).
#include <array>

#include "detect/decoder.hpp"
#include "edgevision/detect.hpp"

namespace ev {
namespace detect_internal {
namespace {

struct DecoderEntry {
  const char* name;
  std::unique_ptr<Decoder> (*make)();
};

constexpr std::array<DecoderEntry, 5> kDecoders = {{
    {"yolox", make_yolox_decoder},
    {"yolov5", make_yolov5_decoder},
    {"yolov8", make_yolov8_decoder},
    {"yolo_e2e", make_yolo_e2e_decoder},
    {"darknet", make_darknet_decoder},
}};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const std::string& name) {
  // Aliases users are likely to write in a manifest.
  const std::string n = name == "yolo11" || name == "yolov11"   ? "yolov8"
                        : name == "yolo26" || name == "yolov10" ? "yolo_e2e"
                        : name == "yolov7"                      ? "yolov5"
                                                                : name;
  for (const auto& e : kDecoders)
    if (n == e.name) return e.make();
  return nullptr;
}

}  // namespace detect_internal

std::vector<std::string> detection_decoders() {
  std::vector<std::string> names;
  for (const auto& e : detect_internal::kDecoders) names.emplace_back(e.name);
  return names;
}

Result<std::string> recognise_decoder(const std::vector<TensorInfo>& outputs, int net_w,
                                      int net_h) {
  auto shape_text = [](const std::vector<int64_t>& s) {
    std::string t = "[";
    for (size_t i = 0; i < s.size(); ++i) {
      if (i) t.push_back(',');
      t.append(std::to_string(s[i]));
    }
    t.push_back(']');
    return t;
  };
  if (outputs.empty()) return Result<std::string>::Error("model has no outputs");
  const auto& s = outputs[0].shape;
  // Darknet through OpenCV: every output is a 2-D [N, 5+C] table.
  bool all_2d = true;
  for (const auto& o : outputs) all_2d = all_2d && o.shape.size() == 2 && o.shape[1] >= 6;
  if (all_2d) return std::string("darknet");
  if (outputs.size() != 1 || s.size() != 3 || (s[0] != 1 && s[0] != -1))
    return Result<std::string>::Error("unrecognised detector outputs (first " + shape_text(s) +
                                      "); set `decoder:` in the manifest");
  const int64_t a = s[1], b = s[2];
  // Cells of a one-anchor grid over strides 8/16/32; YOLOv5 has 3 anchors per cell.
  int64_t cells = 0;
  if (net_w > 0 && net_h > 0)
    for (int st : {8, 16, 32}) cells += static_cast<int64_t>(net_w / st) * (net_h / st);
  // With a known input size the row count decides: one row per grid cell (YOLOX), three
  // (YOLOv5), or the cells along the last axis (YOLOv8/11, channels first).
  if (cells > 0) {
    if (a == cells && b >= 6) return std::string("yolox");
    if (a == 3 * cells && b >= 6) return std::string("yolov5");
    if (b == cells && a >= 5) return std::string("yolov8");
  }
  if (b == 6) return std::string("yolo_e2e");
  // Channels first ([1, 4+C, N]): the class axis is the shorter one for any real model.
  if (b < 0 || (a > 0 && a < b)) {
    if (a >= 5) return std::string("yolov8");
    return Result<std::string>::Error("output " + shape_text(s) + " has too few channels");
  }
  return Result<std::string>::Error("output " + shape_text(s) +
                                    " is ambiguous (YOLOX and YOLOv5 share [1,N,5+C] and N fits "
                                    "neither grid); set `decoder:` in the manifest");
}

}  // namespace ev
