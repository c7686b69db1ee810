// Graph analysis over the ONNX protobuf (libonnx) with ONNX's own shape inference.
// FLOPs convention (as thop/fvcore/Ultralytics): Conv/ConvTranspose/Gemm/MatMul count
// 2 x multiply-accumulates (bias ignored); pooling counts one op per window element per output;
// element-wise ops count one per output element (BatchNormalization two).
#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "edgevision/analyze.hpp"
#include "edgevision/backend.hpp"
#include "optimize/onnx_util.hpp"

namespace ev {
namespace {

const std::set<std::string> kElementwise{"Add",
                                         "Sub",
                                         "Mul",
                                         "Div",
                                         "Relu",
                                         "Sigmoid",
                                         "Tanh",
                                         "LeakyRelu",
                                         "Clip",
                                         "Exp",
                                         "Log",
                                         "Sqrt",
                                         "Pow",
                                         "HardSwish",
                                         "HardSigmoid",
                                         "Softmax",
                                         "LogSoftmax",
                                         "Elu",
                                         "Selu",
                                         "PRelu",
                                         "Erf",
                                         "Neg",
                                         "Abs",
                                         "Reciprocal",
                                         "Max",
                                         "Min",
                                         "Sum",
                                         "Mish",
                                         "Softplus",
                                         "Gelu",
                                         "Where",
                                         "Not",
                                         "Equal",
                                         "Greater",
                                         "Less",
                                         "Floor",
                                         "Ceil",
                                         "Round",
                                         "Sin",
                                         "Cos",
                                         "ThresholdedRelu",
                                         "Swish"};

// Op types OpenCV 4.6's ONNX importer dispatches (modules/dnn/src/onnx/onnx_importer.cpp,
// 4.6.0), plus the int8 QLinear/QDQ ops it imports. A model can still fail on an op listed
// here (unsupported attribute, dynamic shape), hence the real load in analyze_model.
const std::set<std::string> kOpenCvOps{"Abs",
                                       "Acos",
                                       "Acosh",
                                       "Add",
                                       "ArgMax",
                                       "ArgMin",
                                       "Asin",
                                       "Asinh",
                                       "Atan",
                                       "Atanh",
                                       "AveragePool",
                                       "BatchNormalization",
                                       "Cast",
                                       "Ceil",
                                       "Celu",
                                       "Clip",
                                       "Concat",
                                       "Constant",
                                       "ConstantFill",
                                       "ConstantOfShape",
                                       "Conv",
                                       "ConvTranspose",
                                       "Cos",
                                       "Cosh",
                                       "CumSum",
                                       "DepthToSpace",
                                       "DequantizeLinear",
                                       "Div",
                                       "Dropout",
                                       "Einsum",
                                       "Elu",
                                       "Equal",
                                       "Erf",
                                       "Exp",
                                       "Expand",
                                       "Flatten",
                                       "Floor",
                                       "GRU",
                                       "Gather",
                                       "Gemm",
                                       "GlobalAveragePool",
                                       "GlobalMaxPool",
                                       "Greater",
                                       "GreaterOrEqual",
                                       "HardSigmoid",
                                       "HardSwish",
                                       "Identity",
                                       "ImageScaler",
                                       "InstanceNormalization",
                                       "LRN",
                                       "LSTM",
                                       "LeakyRelu",
                                       "Less",
                                       "LessOrEqual",
                                       "Log",
                                       "LogSoftmax",
                                       "MatMul",
                                       "Max",
                                       "MaxPool",
                                       "MaxUnpool",
                                       "Mean",
                                       "Min",
                                       "Mish",
                                       "Mul",
                                       "Neg",
                                       "Pad",
                                       "Pow",
                                       "PRelu",
                                       "QGemm",
                                       "QLinearAdd",
                                       "QLinearAveragePool",
                                       "QLinearConcat",
                                       "QLinearConv",
                                       "QLinearGlobalAveragePool",
                                       "QLinearLeakyRelu",
                                       "QLinearMatMul",
                                       "QLinearMul",
                                       "QLinearSigmoid",
                                       "QLinearSoftmax",
                                       "QuantizeLinear",
                                       "Reciprocal",
                                       "ReduceL1",
                                       "ReduceL2",
                                       "ReduceLogSum",
                                       "ReduceLogSumExp",
                                       "ReduceMax",
                                       "ReduceMean",
                                       "ReduceMin",
                                       "ReduceProd",
                                       "ReduceSum",
                                       "ReduceSumSquare",
                                       "Relu",
                                       "Reshape",
                                       "Resize",
                                       "Round",
                                       "Selu",
                                       "Shape",
                                       "Sigmoid",
                                       "Sign",
                                       "Sin",
                                       "Sinh",
                                       "Slice",
                                       "Softmax",
                                       "Softplus",
                                       "Softsign",
                                       "SpaceToDepth",
                                       "Split",
                                       "Sqrt",
                                       "Squeeze",
                                       "Sub",
                                       "Sum",
                                       "Tan",
                                       "Tanh",
                                       "ThresholdedRelu",
                                       "Tile",
                                       "Transpose",
                                       "Unsqueeze",
                                       "Upsample"};

// Input slots that hold shapes, indices or quantization parameters rather than weights.
bool is_control_slot(const std::string& op, int slot) {
  if (op == "QuantizeLinear" || op == "DequantizeLinear") return slot >= 1;
  if (op == "Reshape" || op == "Expand" || op == "Tile" || op == "Gather" || op == "Pad" ||
      op == "Upsample" || op == "Squeeze" || op == "Unsqueeze" || op == "Split" ||
      op == "ConstantOfShape" || op == "TopK")
    return slot >= 1;
  if (op == "Resize" || op == "Slice" || op == "Clip" || op == "NonMaxSuppression")
    return slot >= 1;
  if (op.rfind("QLinear", 0) == 0) return slot != 3 && slot != 0;  // QLinearConv: w at 3
  return false;
}

int64_t prod(const std::vector<int64_t>& v, size_t from = 0) {
  int64_t p = 1;
  for (size_t i = from; i < v.size(); ++i) p *= std::max<int64_t>(v[i], 0);
  return p;
}

int64_t attr_i(const onnx::NodeProto& n, const std::string& name, int64_t def) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return a.i();
  return def;
}

std::vector<int64_t> attr_ints(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return {a.ints().begin(), a.ints().end()};
  return {};
}

bool known(const std::vector<int64_t>& s) {
  return std::all_of(s.begin(), s.end(), [](int64_t d) { return d >= 0; });
}

}  // namespace

Result<ModelAnalysis> analyze_model(const std::filesystem::path& path,
                                    const AnalyzeOptions& options) {
  using R = Result<ModelAnalysis>;
  auto loaded = onnxu::load(path);
  if (!loaded) return loaded.status();
  onnx::ModelProto model = std::move(*loaded);
  onnxu::constants_to_initializers(*model.mutable_graph());
  const auto& g = model.graph();
  ModelAnalysis a;
  a.path = path.string();
  std::error_code ec;
  a.file_bytes = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  a.opset = onnxu::default_opset(model);
  a.producer = model.producer_name();

  // Concrete input shapes: the caller's, else batch 1 and 640 for other dynamic dims.
  std::map<std::string, std::vector<int64_t>> fixed;
  auto inputs = onnxu::real_inputs(g);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const auto* in = inputs[k];
    std::vector<int64_t> s;
    const auto& tt = in->type().tensor_type();
    for (int d = 0; d < tt.shape().dim_size(); ++d) {
      const auto& dim = tt.shape().dim(d);
      s.push_back(dim.has_dim_value() ? dim.dim_value() : (d == 0 ? 1 : 640));
    }
    if (k == 0 && !options.input_shape.empty()) {
      if (options.input_shape.size() != s.size() && !s.empty())
        return R::Error(fmt::format("--input-shape has {} dims, the model input '{}' has {}",
                                    options.input_shape.size(), in->name(), s.size()));
      s = options.input_shape;
    }
    fixed[in->name()] = s;
  }
  int unknown = 0;
  auto types = onnxu::infer_types(model, fixed, &unknown);
  if (!types) return types.status();
  a.unknown_shape_tensors = unknown;
  auto shape_of = [&](const std::string& name) -> std::vector<int64_t> {
    auto it = types->find(name);
    if (it == types->end() || !it->second.has_shape) return {};
    return it->second.shape;
  };
  auto tensor_of = [&](const std::string& name) {
    AnalyzedTensor t;
    t.name = name;
    auto it = types->find(name);
    if (it != types->end()) {
      t.dtype = onnxu::dtype_name(it->second.elem_type);
      t.shape = it->second.shape;
    }
    return t;
  };
  for (const auto* in : inputs) a.inputs.push_back(tensor_of(in->name()));
  for (const auto& out : g.output()) a.outputs.push_back(tensor_of(out.name()));

  // Parameters and weight bytes.
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : g.initializer()) inits[t.name()] = &t;
  std::set<std::string> control;
  for (const auto& n : g.node())
    for (int i = 0; i < n.input_size(); ++i)
      if (inits.count(n.input(i)) && is_control_slot(n.op_type(), i)) control.insert(n.input(i));
  static const std::set<int32_t> weight_types{
      onnx::TensorProto::FLOAT,  onnx::TensorProto::FLOAT16, onnx::TensorProto::BFLOAT16,
      onnx::TensorProto::DOUBLE, onnx::TensorProto::INT8,    onnx::TensorProto::UINT8,
      onnx::TensorProto::INT32};
  for (const auto& [name, t] : inits) {
    const int64_t n = onnxu::elements(*t);
    a.weight_bytes[onnxu::dtype_name(t->data_type())] +=
        n * static_cast<int64_t>(onnxu::dtype_size(t->data_type()));
    if (weight_types.count(t->data_type()) && !control.count(name)) a.params += n;
  }

  // Per-node cost.
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    const auto& op = n.op_type();
    a.op_histogram[op]++;
    if (op == "QuantizeLinear" || op == "DequantizeLinear" || op.rfind("QLinear", 0) == 0)
      a.quantized = true;
    NodeCost c;
    c.name = onnxu::node_label(n, i);
    c.op_type = op;
    const auto out = n.output_size() ? shape_of(n.output(0)) : std::vector<int64_t>{};
    const bool out_known = !out.empty() && known(out);
    if ((op == "Conv" || op == "ConvInteger") && out_known && n.input_size() > 1) {
      const auto w = shape_of(n.input(1));
      const auto x = shape_of(n.input(0));
      if (w.size() >= 3 && known(w)) {
        const int64_t group = attr_i(n, "group", 1);
        c.macs = prod(out) * prod(w, 1);  // N*M*spatial_out * (C/g)*k...
        c.depthwise = group > 1 && x.size() >= 2 && group == x[1] && w[1] == 1;
      }
    } else if (op == "ConvTranspose" && n.input_size() > 1) {
      const auto w = shape_of(n.input(1));
      const auto x = shape_of(n.input(0));
      if (known(w) && known(x) && w.size() >= 3 && x.size() >= 3) {
        // x: N*C*spatial; each input element meets (M/g)*k weights: w is [C, M/g, k...].
        c.macs = prod(x) * prod(w, 1);
      }
    } else if (op == "Gemm" && out_known && n.input_size() > 1) {
      const auto A = shape_of(n.input(0));
      if (A.size() == 2 && known(A)) {
        const int64_t K = attr_i(n, "transA", 0) ? A[0] : A[1];
        c.macs = prod(out) * K;
      }
    } else if (op == "MatMul" && out_known) {
      const auto A = shape_of(n.input(0));
      if (!A.empty() && known(A)) c.macs = prod(out) * A.back();
    } else if ((op == "MaxPool" || op == "AveragePool" || op == "LpPool") && out_known) {
      c.flops = prod(out) * prod(attr_ints(n, "kernel_shape"));
    } else if ((op == "GlobalAveragePool" || op == "GlobalMaxPool") && n.input_size() > 0) {
      const auto x = shape_of(n.input(0));
      if (known(x)) c.flops = prod(x);
    } else if (op == "BatchNormalization" && out_known) {
      c.flops = 2 * prod(out);
    } else if (kElementwise.count(op) && out_known) {
      c.flops = prod(out);
    }
    if (c.macs) c.flops = 2 * c.macs;
    a.macs += c.macs;
    a.flops += c.flops;
    if (c.depthwise) a.depthwise_flops += c.flops;
    a.op_flops[op] += c.flops;
    a.nodes.push_back(std::move(c));
  }

  // Activation memory: all at once, and the peak of a sequential run that frees each tensor
  // after its last reader (what an arena allocator approaches).
  auto bytes_of = [&](const std::string& name) -> int64_t {
    auto it = types->find(name);
    if (it == types->end() || !it->second.has_shape || !known(it->second.shape)) return 0;
    return prod(it->second.shape) * static_cast<int64_t>(onnxu::dtype_size(it->second.elem_type));
  };
  std::map<std::string, int> last_use;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& in : g.node(i).input()) last_use[in] = i;
  std::set<std::string> outputs;
  for (const auto& o : g.output()) outputs.insert(o.name());
  int64_t live = 0;
  for (const auto* in : inputs) live += bytes_of(in->name());
  a.activation_bytes_peak = live;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    for (const auto& o : n.output()) {
      const int64_t b = bytes_of(o);
      a.activation_bytes_total += b;
      live += b;
    }
    a.activation_bytes_peak = std::max(a.activation_bytes_peak, live);
    std::set<std::string> freed;
    for (const auto& in : n.input())
      if (!inits.count(in) && last_use[in] == i && !outputs.count(in) && freed.insert(in).second)
        live -= bytes_of(in);
    for (const auto& o : n.output())
      if (!last_use.count(o) && !outputs.count(o)) live -= bytes_of(o);
  }

  for (const auto& [op, count] : a.op_histogram) {
    (void)count;
    if (!kOpenCvOps.count(op)) a.opencv_unsupported.push_back(op);
  }
  for (const auto& n : g.node())
    if (!n.domain().empty() && n.domain() != "ai.onnx" &&
        std::find(a.opencv_unsupported.begin(), a.opencv_unsupported.end(), n.op_type()) ==
            a.opencv_unsupported.end() &&
        kOpenCvOps.count(n.op_type()))
      a.opencv_unsupported.push_back(n.domain() + "." + n.op_type());
  if (options.check_opencv) {
    a.opencv_checked = true;
    auto be = create_backend("opencv", path, {});
    if (!be) a.opencv_load_error = be.error();
  }
  return a;
}

const std::vector<DeviceProfile>& device_profiles() {
  // Sustained throughput for small detection CNNs in the usual runtime, not datasheet peaks;
  // rough by design (they rank options, the bench command measures). Sources: vendor specs
  // (cores, ISA) and the seeds' figures (YOLO26n INT8 25-40 ms on a 4-core i7 with OpenVINO).
  static const std::vector<DeviceProfile> profiles{
      {"rpi5", "Raspberry Pi 5: 4x Cortex-A76 2.4 GHz, NEON + dot-product, FP16 arithmetic", 4,
       25.0, 1.4, 2.0, "ONNX Runtime CPU (XNNPACK/MLAS) or ncnn",
       "A76 has SDOT: int8 QDQ runs as QLinearConv with dot-product kernels", 8192},
      {"jetson-orin-nano", "Jetson Orin Nano: Ampere GPU 1024 CUDA / 32 tensor cores, 6x A78AE", 6,
       400.0, 2.0, 3.0, "TensorRT (ONNX Runtime TensorRT EP or trtexec)",
       "TensorRT builds INT8 engines from the QDQ model directly; FP16 needs no calibration", 8192},
      {"core-i5", "Intel Core i5 (4 cores, AVX2 + FMA, no VNNI)", 4, 90.0, 1.0, 1.3,
       "ONNX Runtime CPU or OpenVINO",
       "no VNNI: u8s8 kernels saturate without reduce-range; gains are small", 16384},
      {"x86-avx512-vnni", "x86 with AVX-512 VNNI (Ice Lake / Sapphire Rapids Xeon), per 2 cores", 2,
       70.0, 1.0, 2.5, "ONNX Runtime CPU (QDQ -> QLinearConv, VNNI) or OpenVINO",
       "VNNI (vpdpbusd) runs u8 x s8 dot products at 4x the FP32 rate", 8192},
  };
  return profiles;
}

Result<DeviceProfile> find_device_profile(const std::string& name) {
  for (const auto& p : device_profiles())
    if (p.name == name) return p;
  std::string names;
  for (const auto& p : device_profiles()) names += (names.empty() ? "" : ", ") + p.name;
  return Result<DeviceProfile>::Error("unknown device '" + name + "' (" + names + ")");
}

Recommendation recommend(const ModelAnalysis& a, const DeviceProfile& d, double target_ms) {
  Recommendation r;
  r.device = d.name;
  r.threads = d.cores;
  const double gflop = static_cast<double>(a.flops) / 1e9;
  const double dw_share = a.flops ? static_cast<double>(a.depthwise_flops) / a.flops : 0.0;
  // Depthwise convs are memory-bound: they gain little from narrower arithmetic.
  const double int8_gain = 1.0 + (d.int8_speedup - 1.0) * (1.0 - 0.7 * dw_share);
  const double fp16_gain = 1.0 + (d.fp16_speedup - 1.0) * (1.0 - 0.5 * dw_share);
  const double fp32_ms = gflop / d.fp32_gflops * 1000.0;
  double speed = 1.0;
  if (a.quantized) {
    r.precision = "int8";
    speed = int8_gain;
    r.notes.push_back("model is already quantized (QDQ/QLinear nodes)");
  } else if (int8_gain >= 1.25) {
    r.precision = "int8";
    speed = int8_gain;
    r.notes.push_back(fmt::format(
        "INT8 static quantization (edgevision quantize --method entropy|percentile), est. {:.1f}x "
        "over FP32; verify with validate --compare (target drop < 1 mAP point)",
        int8_gain));
  } else if (fp16_gain >= 1.2) {
    r.precision = "fp16";
    speed = fp16_gain;
    r.notes.push_back(
        fmt::format("FP16 (no calibration needed), est. {:.1f}x over FP32", fp16_gain));
  } else {
    r.precision = "fp32";
    r.notes.push_back("stay FP32: this device gains little from INT8/FP16 for this model");
  }
  r.notes.push_back(d.int8_note);
  r.est_latency_ms = fp32_ms / speed;
  // Input size: FLOPs scale with the pixel count, so the side scales with sqrt(budget ratio).
  int side = 0;
  for (const auto& in : a.inputs)
    if (in.shape.size() == 4) side = static_cast<int>(std::max(in.shape[2], in.shape[3]));
  if (side > 0) {
    if (r.est_latency_ms > target_ms) {
      double s = side * std::sqrt(target_ms / r.est_latency_ms);
      int suggested = std::max(160, static_cast<int>(s / 32) * 32);
      r.input_size = std::min(side, suggested);
      r.notes.push_back(fmt::format("est. {:.1f} ms > {:.0f} ms budget at {}px: use {}px input",
                                    r.est_latency_ms, target_ms, side, r.input_size));
    } else {
      r.input_size = side;
      r.notes.push_back(fmt::format("{}px input fits the {:.0f} ms budget (est. {:.1f} ms)", side,
                                    target_ms, r.est_latency_ms));
    }
    const double ratio = static_cast<double>(r.input_size) / side;
    r.est_latency_at_suggested_ms = r.est_latency_ms * ratio * ratio;
  }
  const double mem_mb = (a.activation_bytes_peak + a.file_bytes) / 1e6;
  if (mem_mb > d.memory_mb * 0.25)
    r.notes.push_back(
        fmt::format("model + activations ~{:.0f} MB: a large share of the device's "
                    "{:.0f} MB",
                    mem_mb, d.memory_mb));
  if (dw_share > 0.2)
    r.notes.push_back(
        fmt::format("{:.0f}% of FLOPs in depthwise convs: INT8 gains are smaller "
                    "than for dense convs",
                    dw_share * 100));
  if (!a.opencv_unsupported.empty() || !a.opencv_load_error.empty())
    r.notes.push_back("use the onnxruntime backend (OpenCV DNN cannot run this graph)");
  r.notes.push_back(
      fmt::format("threads: {} (one per physical core; runtime: {})", d.cores, d.runtime));
  return r;
}

nlohmann::json to_json(const ModelAnalysis& a) {
  auto tensors = [](const std::vector<AnalyzedTensor>& v) {
    nlohmann::json j = nlohmann::json::array();
    for (const auto& t : v) j.push_back({{"name", t.name}, {"dtype", t.dtype}, {"shape", t.shape}});
    return j;
  };
  nlohmann::json j{{"path", a.path},
                   {"file_bytes", a.file_bytes},
                   {"opset", a.opset},
                   {"producer", a.producer},
                   {"inputs", tensors(a.inputs)},
                   {"outputs", tensors(a.outputs)},
                   {"params", a.params},
                   {"macs", a.macs},
                   {"flops", a.flops},
                   {"gflops", a.flops / 1e9},
                   {"depthwise_flops", a.depthwise_flops},
                   {"op_histogram", a.op_histogram},
                   {"op_flops", a.op_flops},
                   {"weight_bytes", a.weight_bytes},
                   {"activation_bytes_total", a.activation_bytes_total},
                   {"activation_bytes_peak", a.activation_bytes_peak},
                   {"unknown_shape_tensors", a.unknown_shape_tensors},
                   {"quantized", a.quantized},
                   {"opencv_unsupported_ops", a.opencv_unsupported}};
  if (a.opencv_checked) {
    j["opencv_loads"] = a.opencv_load_error.empty();
    if (!a.opencv_load_error.empty()) j["opencv_load_error"] = a.opencv_load_error;
  }
  return j;
}

nlohmann::json to_json(const Recommendation& r) {
  return {{"device", r.device},
          {"precision", r.precision},
          {"threads", r.threads},
          {"input_size", r.input_size},
          {"est_latency_ms", r.est_latency_ms},
          {"est_latency_at_input_size_ms", r.est_latency_at_suggested_ms},
          {"notes", r.notes}};
}

std::string format_analysis(const ModelAnalysis& a) {
  std::ostringstream o;
  auto shape = [](const std::vector<int64_t>& s) {
    std::string t = "[";
    for (size_t i = 0; i < s.size(); ++i) {
      if (i) t += ',';
      t += s[i] < 0 ? std::string("?") : std::to_string(s[i]);
    }
    return t + "]";
  };
  o << fmt::format("model        {} ({:.2f} MB, opset {}, {})\n", a.path, a.file_bytes / 1e6,
                   a.opset, a.producer.empty() ? "unknown producer" : a.producer);
  for (const auto& t : a.inputs)
    o << fmt::format("input        {} {} {}\n", t.name, t.dtype, shape(t.shape));
  for (const auto& t : a.outputs)
    o << fmt::format("output       {} {} {}\n", t.name, t.dtype, shape(t.shape));
  o << fmt::format("parameters   {:.3f} M\n", a.params / 1e6);
  o << fmt::format("FLOPs        {:.3f} G ({:.3f} GMACs; depthwise {:.1f}%)\n", a.flops / 1e9,
                   a.macs / 1e9, a.flops ? 100.0 * a.depthwise_flops / a.flops : 0.0);
  o << "weights     ";
  for (const auto& [t, b] : a.weight_bytes) o << fmt::format(" {} {:.2f} MB;", t, b / 1e6);
  o << "\n";
  o << fmt::format("activations  peak {:.1f} MB live, {:.1f} MB if all kept\n",
                   a.activation_bytes_peak / 1e6, a.activation_bytes_total / 1e6);
  if (a.unknown_shape_tensors)
    o << fmt::format("             ({} tensors of unknown shape not counted)\n",
                     a.unknown_shape_tensors);
  o << "ops         ";
  std::vector<std::pair<int, std::string>> ops;
  for (const auto& [op, n] : a.op_histogram) ops.push_back({n, op});
  std::sort(ops.rbegin(), ops.rend());
  for (const auto& [n, op] : ops) {
    auto it = a.op_flops.find(op);
    const double gf = it == a.op_flops.end() ? 0.0 : it->second / 1e9;
    o << fmt::format(" {} x{}", op, n) << (gf > 0 ? fmt::format(" ({:.3f} GF)", gf) : "") << ";";
  }
  o << "\n";
  o << "OpenCV DNN   ";
  if (a.opencv_unsupported.empty() && a.opencv_load_error.empty())
    o << (a.opencv_checked ? "loads" : "all op types known");
  for (const auto& op : a.opencv_unsupported) o << op << " ";
  if (!a.opencv_load_error.empty()) o << "(load failed: " << a.opencv_load_error << ")";
  o << "\n";
  return o.str();
}

}  // namespace ev
