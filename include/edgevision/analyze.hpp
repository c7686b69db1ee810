// Static analysis of an ONNX graph (read with libonnx/protobuf): parameters, FLOPs, op
// histogram, weight bytes by precision, input/output shapes, activation memory, ops OpenCV DNN
// cannot run, and recommendations for device profiles derived from those numbers.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgevision/status.hpp"

namespace ev {

struct AnalyzedTensor {
  std::string name;
  std::string dtype;           // float32, uint8, ...
  std::vector<int64_t> shape;  // -1: unknown
};

struct NodeCost {
  std::string name;
  std::string op_type;
  int64_t macs = 0;   // multiply-accumulates (Conv, Gemm, MatMul)
  int64_t flops = 0;  // 2*MACs for Conv/Gemm/MatMul (+bias), 1 per output element otherwise
  bool depthwise = false;
};

struct ModelAnalysis {
  std::string path;
  int64_t file_bytes = 0;
  int opset = 0;
  std::string producer;
  std::vector<AnalyzedTensor> inputs, outputs;
  int64_t params = 0;  // weight elements (scales/zero points excluded)
  int64_t macs = 0;
  int64_t flops = 0;
  int64_t depthwise_flops = 0;
  std::map<std::string, int> op_histogram;      // op type -> count
  std::map<std::string, int64_t> op_flops;      // op type -> FLOPs
  std::map<std::string, int64_t> weight_bytes;  // dtype -> bytes of initializers
  int64_t activation_bytes_total = 0;           // every intermediate tensor at once (upper bound)
  int64_t activation_bytes_peak = 0;  // live tensors at the worst point of a sequential run
  int unknown_shape_tensors = 0;      // tensors shape inference could not size
  std::vector<std::string> opencv_unsupported;  // op types OpenCV 4.6 DNN has no importer for
  std::string opencv_load_error;                // non-empty when OpenCV DNN failed to load it
  bool opencv_checked = false;
  bool quantized = false;  // has QuantizeLinear/DequantizeLinear or QLinear* nodes
  std::vector<NodeCost> nodes;
};

struct AnalyzeOptions {
  // Replaces dynamic input dims before shape inference (e.g. {1,3,640,640}); empty = use the
  // model's own, with dynamic batch -> 1 and dynamic spatial dims -> 640.
  std::vector<int64_t> input_shape;
  bool check_opencv = true;  // also try loading the file with OpenCV DNN
};

Result<ModelAnalysis> analyze_model(const std::filesystem::path& model,
                                    const AnalyzeOptions& options = {});

struct DeviceProfile {
  std::string name;
  std::string description;
  int cores = 4;
  double fp32_gflops = 0;   // sustained for small CNNs in the usual runtime (not peak)
  double fp16_speedup = 1;  // over fp32 in that runtime
  double int8_speedup = 1;  // over fp32, dense conv; depthwise gains less
  std::string runtime;      // what to run it with
  std::string int8_note;
  double memory_mb = 0;
};
const std::vector<DeviceProfile>& device_profiles();
Result<DeviceProfile> find_device_profile(const std::string& name);

struct Recommendation {
  std::string device;
  std::string precision;  // fp32 | fp16 | int8
  int threads = 0;
  int input_size = 0;         // square side suggested (multiple of 32)
  double est_latency_ms = 0;  // at the current input size with the suggested precision
  double est_latency_at_suggested_ms = 0;
  std::vector<std::string> notes;
};
// target_ms: frame budget (33 ms = 30 FPS).
Recommendation recommend(const ModelAnalysis& a, const DeviceProfile& device,
                         double target_ms = 33.0);

nlohmann::json to_json(const ModelAnalysis& a);
nlohmann::json to_json(const Recommendation& r);
std::string format_analysis(const ModelAnalysis& a);  // human-readable table

}  // namespace ev
