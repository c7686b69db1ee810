// Static analysis of an ONNX graph (read with libonnx/protobuf): parameters, FLOPs, op
// histogram, weight bytes by precision, input/output shapes, activation memory, ops OpenCV DNN
// cannot run, and recommendations for device profiles derived from those numbers.
//
// Latency estimates are time-weighted: the graph's work is split into classes with different
// costs (dense conv/gemm FLOPs, depthwise conv FLOPs, bytes moved by memory-bound element-wise
// ops, SiLU patterns, kernel launches), and every device profile has a per-class FP32 rate and
// per-class INT8/FP16 factors. Only profiles with `calibrated == true` were fitted to
// measurements (see calibration_note); the others are documented rough figures.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgevision/models.hpp"
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
  int64_t bytes = 0;  // activation bytes read + written, for memory-bound ops
  bool silu = false;  // Sigmoid or Mul of a detected SiLU pattern
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
  // Cost classes for the latency model (see estimate_latency).
  int64_t dense_flops = 0;  // Conv (not depthwise), ConvTranspose, Gemm, MatMul: compute-bound
  int64_t stem_flops = 0;   // part of dense_flops: convs reading <= 4 channels (the RGB stem)
  // Bytes read + written (activations only, at the graph's own tensor types) by memory-bound
  // ops: element-wise/activations, Concat, Resize, Slice, Transpose, pooling, ... SiLU patterns
  // are counted apart (silu_*); pure views (Reshape, Flatten, Squeeze, ...) and Q/DQ move none.
  int64_t elementwise_bytes = 0;
  int silu_patterns = 0;        // Sigmoid(x) feeding only Mul(x, Sigmoid(x)), seen through Q/DQ
  int64_t silu_elements = 0;    // elements of those SiLU outputs (summed)
  int64_t silu_elem_bytes = 4;  // bytes per element of the SiLU tensors in this graph
  int kernel_nodes = 0;         // nodes that run a kernel (views, Q/DQ, constants excluded)
  int64_t relu_elements = 0;    // outputs of Relu/Clip/LeakyRelu, fused into a conv or not
  int64_t relu_bytes = 0;       // bytes moved by those not fused into a conv (not in elementwise)
  // Part of relu_bytes: Relu/Clip that are the only reader of an Add/Mul/MatMul output (and how
  // many). A pass in float; in INT8 `quantize` makes them one unit with that op and ONNX Runtime
  // folds them into QLinearAdd/QLinearMul/QLinearMatMul.
  int64_t relu_unit_bytes = 0;
  int relu_unit_nodes = 0;
  // Part of elementwise_bytes + relu_bytes: ops on 4-D tensors whose channel count is not a
  // multiple of 16. ONNX Runtime's x86 float path (NCHWc, 16-channel blocks) reorders around
  // them; its integer path (NHWC) does not.
  int64_t unaligned_bytes = 0;
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

// Per-class rates of one device in its usual runtime (sustained, not datasheet peaks) and the
// INT8/FP16 factors per class (time of the class in FP32 / time in that precision; < 1 means
// slower). FLOP rates are per second at `cores` threads.
struct PrecisionFactors {
  double dense = 1;        // dense conv / gemm
  double depthwise = 1;    // depthwise conv
  double elementwise = 1;  // per pass of a memory-bound op (same element count as FP32)
  bool fuses_silu = true;  // the runtime runs Sigmoid+Mul as one pass in this precision
  double stem = 1;         // dense convs reading <= 4 channels
  // Relu/Clip cost a float DequantizeLinear + QuantizeLinear pass (what ONNX Runtime left of
  // edgevision quantize's old Conv -> Q/DQ -> Relu -> Q/DQ layout) instead of nothing. quantize
  // now writes Conv/Gemm/MatMul/Add/Mul + Relu/Clip as one unit, which ORT fuses: no profile sets
  // it; kept for QDQ models from other quantizers with that layout.
  bool relu_as_qdq = false;
};
struct DeviceProfile {
  std::string name;
  std::string description;
  int cores = 4;
  std::string host_kind;    // what CPU this describes: x86-avx512-vnni, x86-avx2, arm64-dotprod,
                            // tegra (matched against the host by `analyze --measure`)
  double dense_gflops = 0;  // FP32 dense conv/gemm, sustained
  double stem_gflops = 0;   // FP32 convs reading <= 4 channels (0: dense_gflops)
  double depthwise_gflops = 0;
  double elementwise_gbps = 0;  // FP32 bytes read+written per second by memory-bound ops
  double node_overhead_us = 0;  // per kernel launch (scheduling, thread pool wake-up)
  // Float only: extra passes over unaligned_bytes for layout reorders (ORT NCHWc on x86).
  double float_reorder_passes = 0;
  PrecisionFactors fp32;  // factors 1 by definition; fuses_silu is what matters
  PrecisionFactors int8;
  PrecisionFactors fp16;
  bool fp16_kernels = false;  // the runtime has FP16 arithmetic (else FP16 is storage only)
  std::string engine;         // short runtime name for notes ("ORT CPU", "TensorRT")
  std::string runtime;        // what to run it with
  std::string int8_note;
  double memory_mb = 0;
  bool calibrated = false;       // constants fitted to measurements on such a machine
  std::string calibration_note;  // where the numbers come from
};
const std::vector<DeviceProfile>& device_profiles();
Result<DeviceProfile> find_device_profile(const std::string& name);

// Estimated latency of `a` on `d` in one precision (fp32 | int8 | fp16), by class. For an
// already-quantized model (a.quantized) pass "int8": the classes are counted on its float
// view (DQ -> op), so the same numbers apply.
struct LatencyEstimate {
  std::string precision;
  double dense_ms = 0, depthwise_ms = 0, elementwise_ms = 0, silu_ms = 0, overhead_ms = 0;
  double requant_ms = 0;  // Relu/Clip as DQ + Q passes (relu_as_qdq)
  double reorder_ms = 0;  // float layout reorders (float_reorder_passes)
  double total_ms = 0;
};
LatencyEstimate estimate_latency(const ModelAnalysis& a, const DeviceProfile& d,
                                 const std::string& precision);

struct Recommendation {
  std::string device;
  std::string precision;  // fp32 | fp16 | int8
  int threads = 0;
  int input_size = 0;         // square side suggested (multiple of 32)
  double est_latency_ms = 0;  // at the current input size with the suggested precision
  double est_latency_at_suggested_ms = 0;
  LatencyEstimate fp32, int8, fp16;  // all three, for the record
  double int8_speedup = 0;           // fp32 / int8 estimate (< 1: INT8 slower)
  double fp16_speedup = 0;
  bool calibrated = false;  // the profile's constants were fitted to measurements
  std::vector<std::string> notes;
};
// target_ms: frame budget (33 ms = 30 FPS).
Recommendation recommend(const ModelAnalysis& a, const DeviceProfile& device,
                         double target_ms = 33.0);

// `analyze --measure`: the model timed on this host with ONNX Runtime (ev::benchmark_model),
// compared with the estimate of every profile whose host_kind matches this CPU.
struct HostCpu {
  std::string model_name;  // /proc/cpuinfo "model name" (lscpu's Model name)
  std::string kind;        // x86-avx512-vnni | x86-avx2 | x86 | arm64-dotprod | arm64 | tegra
  int logical_cpus = 0;
};
HostCpu detect_host_cpu();
double load_average_1m();  // /proc/loadavg; -1 when unreadable

struct ProfileError {
  std::string device;
  std::string precision;
  bool calibrated = false;
  int profile_threads = 0;
  double est_ms = 0;
  double error_pct = 0;  // (estimate - measured) / measured * 100
};
struct HostMeasurement {
  HostCpu cpu;
  double load_avg_1m = -1;  // before the timed runs
  int threads = 0;
  int runs = 0, warmup = 0;
  std::vector<int64_t> input_shape;
  std::string precision;  // of the model measured (fp32, or int8 when already quantized)
  double median_ms = 0, min_ms = 0, p95_ms = 0;
  double cpu_percent = 0;
  double implied_gflops = 0;  // model FLOPs / median
  std::vector<ProfileError> profiles;
};
struct MeasureOptions {
  int runs = 30;
  int warmup = 5;
  int threads = 0;  // 0: hardware cores
  bool progress = true;
};
// `pre` (may be null) gives dynamic dims; the analysis's input shape wins when it is 4-D.
Result<HostMeasurement> measure_on_host(const ModelAnalysis& a, const std::filesystem::path& model,
                                        const Preprocess* pre, const MeasureOptions& options);
// Fills `m.profiles` (called by measure_on_host; public for tests).
void compare_with_profiles(const ModelAnalysis& a, HostMeasurement& m);

nlohmann::json to_json(const ModelAnalysis& a);
nlohmann::json to_json(const LatencyEstimate& e);
nlohmann::json to_json(const Recommendation& r);
nlohmann::json to_json(const HostMeasurement& m);
std::string format_analysis(const ModelAnalysis& a);  // human-readable table

}  // namespace ev
