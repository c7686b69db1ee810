// INT8 post-training quantization (static, QDQ format) and FP16 conversion.
//
// The writer produces the standard ONNX QDQ form (QuantizeLinear/DequantizeLinear pairs) that
// ONNX Runtime, TensorRT and OpenVINO read: activations asymmetric uint8 with a zero point,
// weights symmetric int8 (per output channel for Conv/Gemm), biases int32 with
// scale = input_scale * weight_scale. Activation ranges come from running the FP32 model in
// ONNX Runtime on calibration images, with min-max, percentile or entropy (KL) calibration.
// See docs/optimization.md.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "edgevision/backend.hpp"
#include "edgevision/models.hpp"
#include "edgevision/status.hpp"

namespace ev {

// ---------------------------------------------------------------- quantization arithmetic
struct QuantParams {
  float scale = 1.f;
  int32_t zero_point = 0;
};

// uint8 parameters covering [rmin, rmax] widened to include 0 (so 0 is exact: padding).
QuantParams asymmetric_uint8_params(float rmin, float rmax);
// int8 symmetric parameters (zero point 0) covering [-max_abs, max_abs] with levels -127..127.
QuantParams symmetric_int8_params(float max_abs);

uint8_t quantize_uint8(float x, QuantParams p);
int8_t quantize_int8(float x, QuantParams p);
inline float dequantize(int32_t q, QuantParams p) {
  return static_cast<float>(q - p.zero_point) * p.scale;
}

// Symmetric int8 weights, one scale per slice along `axis` (per_channel) or one for all.
struct QuantizedWeights {
  std::vector<int8_t> data;
  std::vector<float> scales;  // size = shape[axis] (per channel) or 1
  int axis = 0;
};
QuantizedWeights quantize_weights(const std::vector<float>& w, const std::vector<int64_t>& shape,
                                  int axis, bool per_channel);
std::vector<float> dequantize_weights(const QuantizedWeights& q, const std::vector<int64_t>& shape);

// ---------------------------------------------------------------- calibration
enum class CalibrationMethod { kMinMax, kPercentile, kEntropy };
Result<CalibrationMethod> parse_calibration_method(std::string_view name);
const char* to_string(CalibrationMethod method);

struct TensorRange {
  float min = 0.f;
  float max = 0.f;
};

// Statistics of one activation tensor over the calibration set. Two passes: observe_range()
// on every batch first, then (for percentile/entropy) observe_histogram() on every batch once
// the range is final, so the histograms have fixed bins and need no re-binning.
class TensorStats {
 public:
  static constexpr int kBins = 2048;
  void observe_range(const float* x, size_t n);
  void observe_histogram(const float* x, size_t n);
  float min() const { return min_; }
  float max() const { return max_; }
  float max_abs() const;
  bool has_range() const { return count_ > 0; }
  const std::vector<double>& signed_hist() const { return signed_; }  // over [min, max]
  const std::vector<double>& abs_hist() const { return abs_; }        // over [0, max_abs]
  TensorRange range(CalibrationMethod method, double percentile) const;

 private:
  float min_ = 0.f, max_ = 0.f;
  int64_t count_ = 0;
  std::vector<double> signed_, abs_;
};

// Range holding `percentile` % of the mass: lower bound at (100-p)% and upper at p% of the
// signed distribution, given as a histogram over [lo, hi].
TensorRange percentile_range(const std::vector<double>& hist, float lo, float hi,
                             double percentile);
// TensorRT-style entropy calibration: the clipping threshold T over |x| that minimises
// KL(P || Q) between the clipped reference distribution P and its `quant_levels`-level
// quantization Q. `hist` covers [0, max_abs].
float entropy_threshold(const std::vector<double>& hist, float max_abs, int quant_levels = 128);

// tensor name -> range, plus what produced it; saved as JSON (the calibration cache).
struct CalibrationTable {
  std::string method;
  double percentile = 0;
  int images = 0;
  std::string model_sha256;
  std::map<std::string, TensorRange> ranges;
};
Status save_calibration_table(const CalibrationTable& table, const std::filesystem::path& path);
Result<CalibrationTable> load_calibration_table(const std::filesystem::path& path);

// Images (jpg/jpeg/png/bmp/webp) in a folder, sorted by name, at most max_images (0 = all).
Result<std::vector<std::filesystem::path>> list_calibration_images(const std::filesystem::path& dir,
                                                                   int max_images);

struct CalibrationOptions {
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;
  int threads = 0;
  bool progress = true;
};
// Runs the FP32 model on `images` (pre-processed with `pre`) with `tensors` exposed as extra
// outputs and returns their ranges. Graph inputs are measured from the input tensor itself.
Result<CalibrationTable> calibrate(const std::filesystem::path& model,
                                   const std::vector<std::string>& tensors,
                                   const std::vector<std::filesystem::path>& images,
                                   const Preprocess& pre, const CalibrationOptions& options);

// ---------------------------------------------------------------- model writers
// Which nodes may become INT8 at all (before the accuracy guard picks among them).
enum class QuantPrecision {
  // Only dense (group 1) Conv with a 1x1 or 3x3 kernel, Gemm, MatMul, and a Relu/Clip(0, max)
  // fused into such a Conv. Depthwise and grouped Conv, SiLU, element-wise Add/Mul/Concat/Resize
  // and pooling stay float, and each quantized Conv is one Q -> QLinearConv -> DQ island
  // (bench/README.md, "Speed by op"): the default until the SiLU became one int8 table
  // (0.82x FP32 on YOLOX-nano).
  kSpeed,
  // Every op with an int8 form, the SiLU as one table lookup (QuantizeOptions::int8_silu), so
  // the graph stays int8 (and NHWC) from conv to conv; the accuracy guard keeps one float region
  // from the input rather than float islands (the default: YOLOX-nano 0.57x FP32 at 1 thread,
  // bench/README.md "INT8 SiLU as one table").
  kAll,
};
Result<QuantPrecision> parse_quant_precision(std::string_view name);
const char* to_string(QuantPrecision precision);

struct QuantizeOptions {
  std::filesystem::path model;   // FP32 ONNX input
  std::filesystem::path output;  // QDQ ONNX output
  std::filesystem::path calib_dir;
  CalibrationMethod method = CalibrationMethod::kMinMax;
  double percentile = 99.99;
  QuantPrecision precision = QuantPrecision::kAll;
  // A quantized SiLU becomes one uint8 table lookup (ai.edgevision:QLinearSiLU, registered on
  // every session edgevision creates) instead of QLinearSigmoid + QLinearMul. The file then
  // needs edgevision's runtime: false writes plain ONNX for other runtimes.
  bool int8_silu = true;
  // Node names, output tensor names or op types kept in float; shell-style wildcards (fnmatch)
  // allowed; "FIRST..LAST" keeps every node from FIRST to LAST (graph order) in float.
  std::vector<std::string> exclude;
  std::filesystem::path calib_cache;  // read when present and matching, written otherwise
  int max_images = 0;                 // 0: all images in calib_dir
  bool per_channel = true;
  int threads = 0;
  bool progress = true;
  Preprocess preprocess;  // how calibration images become input tensors

  // Accuracy guard ("accurate by default", docs/optimization.md). The last `holdout_images`
  // calibration images are held back from calibration; the written model must reach the
  // quality target on them, or quantize_model writes nothing (unless `force`).
  // Target: output SQNR vs FP32 (per output channel, dB) >= min_sqnr_db, or, with `metric`, a
  // real score (e.g. mAP in points on a val set) within max_drop of the FP32 model's.
  bool auto_float = true;     // search: keep the most sensitive nodes in float until on target
  bool check_quality = true;  // false: no guard at all (tests of the graph rewrite only)
  double min_sqnr_db = 26.0;
  int holdout_images = 0;  // 0: n/3, clamped to 4..48 (all images when there are too few)
  int probe_images = 4;    // calibration images used for the per-node sensitivity
  // Score of a model file (higher is better); also given the held-back images, so a task-aware
  // metric can judge on them (e.g. a detector's mAP against the FP32 model's detections).
  std::function<Result<double>(const std::filesystem::path& model,
                               const std::vector<std::filesystem::path>& holdout)>
      metric;
  std::string metric_name = "metric";  // how reports call the metric's numbers
  double max_drop = 1.0;
  bool force = false;  // write a model that misses the target anyway (loudly)
  // Node indices (graph order, after Constant nodes became initializers) kept in float on top
  // of `exclude`; and, when non-empty, the only nodes quantized (sensitivity probes).
  std::vector<int> float_nodes;
  std::vector<int> only_nodes;
};

// A node the accuracy guard kept in float, and why.
struct FloatNode {
  std::string node;  // name (or op_type#index)
  std::string op;
  int index = 0;
  double sqnr_db_alone = 0;  // output SQNR with only this node quantized (lower = more fragile)
  std::string reason;
};

struct QuantizeReport {
  int nodes_total = 0;
  int nodes_quantized = 0;
  std::vector<std::string> excluded_nodes;  // names (or op_type#index when unnamed)
  // Nodes the precision policy (QuantizeOptions::precision) left in float, by reason
  // ("depthwise Conv", "Sigmoid", ...) -> count.
  std::map<std::string, int> float_for_speed;
  // kSpeed: float SiLUs after a quantized Conv written as one com.microsoft QuickGelu (what ORT
  // fuses them into in a float graph, but cannot once a DequantizeLinear feeds them).
  int silu_fused = 0;
  // SiLU inputs whose calibrated minimum was raised to -8 (SiLU is ~0 below; the uint8 levels
  // go to the range that matters).
  int silu_inputs_floored = 0;
  // Quantized SiLUs written as one ai.edgevision:QLinearSiLU table lookup (QuantizeOptions::
  // int8_silu).
  int silu_tables = 0;
  int activations_quantized = 0;            // tensors with a Q/DQ pair
  // Relu/Clip outputs quantized together with the Conv/Gemm/MatMul/Add/Mul in front of them (no
  // Q/DQ between the two; ONNX Runtime folds the activation into the QLinear kernel).
  std::vector<std::string> fused_activations;
  int weights_quantized = 0;
  int images = 0;
  bool cache_used = false;
  double calibration_s = 0;
  int64_t input_bytes = 0;
  int64_t output_bytes = 0;
  int opset = 0;
  // Accuracy guard (QuantizeOptions::auto_float / check_quality).
  bool quality_checked = false;
  std::string quality_metric;    // "sqnr_db" or QuantizeOptions::metric_name
  double quality = 0;            // of the written (or refused) model
  double quality_target = 0;     // sqnr: min dB; metric: FP32 score - max_drop
  double reference_score = 0;    // metric mode: the FP32 model's score
  double full_int8_quality = 0;  // before any node was kept in float
  bool target_met = true;
  bool written = true;  // false: missed the target without `force`, nothing written
  int holdout_images = 0;
  int nodes_probed = 0;
  int candidates_evaluated = 0;
  double search_s = 0;
  std::vector<FloatNode> kept_float;                 // chosen by the search, most fragile first
  std::vector<std::pair<int, double>> search_steps;  // nodes kept in float -> quality
};

Result<QuantizeReport> quantize_model(const QuantizeOptions& options);
// The calibration images quantize_model holds back to judge its result: the last n/3 (4..48, or
// QuantizeOptions::holdout_images) by name; all of them when there are too few to split.
// holdout_split() removes them from `images`.
std::vector<std::filesystem::path> holdout_split(std::vector<std::filesystem::path>& images,
                                                 int holdout_images);
Result<std::vector<std::filesystem::path>> holdout_images(const QuantizeOptions& options);

// Same graph rewrite with ranges given directly (no calibration run); used by the tests and
// by quantize_model once it has its table.
Result<QuantizeReport> write_qdq_model(const std::filesystem::path& model,
                                       const std::filesystem::path& output,
                                       const CalibrationTable& table,
                                       const QuantizeOptions& options);
// Activation tensors write_qdq_model needs ranges for, given the exclusions.
Result<std::vector<std::string>> tensors_to_calibrate(const std::filesystem::path& model,
                                                      const QuantizeOptions& options);

// ---------------------------------------------------------------- output agreement
// FP32 outputs on a set of images, kept to compare candidate models against.
struct ReferenceRun {
  std::vector<std::vector<float>> inputs;  // pre-processed images
  std::vector<int64_t> shape;
  std::vector<std::vector<Tensor>> outputs;  // [image][output]
};
Result<ReferenceRun> reference_run(const std::filesystem::path& model,
                                   const std::vector<std::filesystem::path>& images,
                                   const Preprocess& pre, int threads);
// Signal-to-quantization-noise ratio of `got` against `ref`, in dB: per output channel (last
// axis of a tensor of rank >= 2, else the whole tensor) noise = sum (got - ref)^2 and signal =
// the channel's variance sum; the mean noise/signal ratio over all channels is the NMSE and
// SQNR = -10 log10(NMSE). Channel-balanced so a few large box coordinates cannot hide broken
// class scores. 120 dB when identical.
double output_sqnr_db(const std::vector<std::vector<Tensor>>& ref,
                      const std::vector<std::vector<Tensor>>& got);
// Runs `candidate` on the reference inputs and returns output_sqnr_db.
Result<double> candidate_sqnr_db(const std::filesystem::path& candidate, const ReferenceRun& ref,
                                 int threads);

// ---------------------------------------------------------------- FP16
enum class Fp16Mode {
  // The graph computes in float16: every float32 initializer, Constant, intermediate tensor and
  // Cast(to=FLOAT) becomes FLOAT16. Ops or inputs that have no float16 form in the ONNX schema
  // of the model's opset (Resize scales, for one), unknown ops and --exclude'd nodes stay
  // float32 behind Casts. For GPU execution providers and CPUs with FP16 arithmetic.
  kFull,
  // Float16 storage, float32 compute: initializers of 16+ elements become FLOAT16 followed by a
  // Cast back to FLOAT. Halves the file; every runtime runs it at FP32 speed.
  kWeightsOnly,
};

struct Fp16Options {
  Fp16Mode mode = Fp16Mode::kFull;
  // kFull: graph inputs/outputs become float16 too. Default: they stay float32 with one Cast
  // after each input and one before each output, under the original tensor names.
  bool fp16_io = false;
  // Same syntax as QuantizeOptions::exclude; those nodes stay float32 with Casts around them.
  std::vector<std::string> exclude;
  bool check_runtime = true;  // load the result in ONNX Runtime (CPU EP) before reporting success
};

struct Fp16Report {
  std::string mode;  // "fp16" or "fp16-weights"
  bool fp16_io = false;
  int opset = 0;
  int nodes_total = 0;
  int nodes_fp16 = 0;                       // nodes with float tensors that now compute in float16
  std::vector<std::string> excluded_nodes;  // by --exclude
  // Nodes with float tensors left in float32, as "label: reason" (--exclude'd ones included).
  std::vector<std::string> kept_fp32;
  int initializers_converted = 0;
  int initializers_kept_fp32 = 0;  // read only by float32 inputs (or < 16 elements, weights-only)
  int casts_inserted = 0;
  int64_t values_clamped = 0;     // finite values with |x| > 65504 clamped to +-65504
  int integer_casts_to_fp16 = 0;  // Cast(int -> float) now to float16: see the warning
  int64_t values_flushed = 0;     // non-zero values that round to (signed) zero in float16
  int64_t input_bytes = 0;
  int64_t output_bytes = 0;
};
Result<Fp16Report> convert_fp16(const std::filesystem::path& model,
                                const std::filesystem::path& output,
                                const Fp16Options& options = {});

// IEEE 754 binary16 bits of `x`, round to nearest even; values beyond the float16 range become
// +-inf (callers that want clamping clamp first).
uint16_t float_to_half(float x);
float half_to_float(uint16_t h);

// Pre-processing for a bare model file with no manifest entry: "yolo" (RGB, /255, letterbox),
// "raw" (BGR 0..255, letterbox), "imagenet" (RGB, mean/std, stretch). Size from the model input.
Result<Preprocess> preprocess_preset(std::string_view name);

}  // namespace ev
