// Graph analysis over the ONNX protobuf (libonnx) with ONNX's own shape inference.
// FLOPs convention (as thop/fvcore/Ultralytics): Conv/ConvTranspose/Gemm/MatMul count
// 2 x multiply-accumulates (bias ignored); pooling counts one op per window element per output;
// element-wise ops count one per output element (BatchNormalization two).
#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "edgevision/analyze.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/benchmark.hpp"
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

bool known(const std::vector<int64_t>& s) {
  return std::all_of(s.begin(), s.end(), [](int64_t d) { return d >= 0; });
}

// Memory-bound ops besides kElementwise: their time is the bytes they move, not arithmetic.
const std::set<std::string> kDataMovement{"Concat",
                                          "Resize",
                                          "Upsample",
                                          "Slice",
                                          "Transpose",
                                          "Split",
                                          "Pad",
                                          "MaxPool",
                                          "AveragePool",
                                          "LpPool",
                                          "GlobalAveragePool",
                                          "GlobalMaxPool",
                                          "BatchNormalization",
                                          "InstanceNormalization",
                                          "LayerNormalization",
                                          "Gather",
                                          "Expand",
                                          "Tile",
                                          "Cast",
                                          "ReduceMean",
                                          "ReduceMax",
                                          "ReduceMin",
                                          "ReduceSum",
                                          "ArgMax",
                                          "TopK",
                                          "DepthToSpace",
                                          "SpaceToDepth",
                                          "QLinearAdd",
                                          "QLinearMul",
                                          "QLinearSigmoid",
                                          "QLinearLeakyRelu",
                                          "QLinearConcat",
                                          "QLinearAveragePool",
                                          "QLinearGlobalAveragePool",
                                          "QLinearSoftmax"};
// Ops that run no kernel of their own: metadata views, constants, and the Q/DQ pairs a runtime
// folds into integer kernels.
const std::set<std::string> kNoKernel{"Reshape",  "Flatten", "Squeeze",        "Unsqueeze",
                                      "Identity", "Shape",   "Constant",       "ConstantOfShape",
                                      "Dropout",  "Size",    "QuantizeLinear", "DequantizeLinear"};
// Activations every usual runtime folds into the producing convolution's epilogue (ORT
// FusedConv / QLinearConv clamp, TensorRT, ncnn) when the conv output has no other reader.
const std::set<std::string> kConvFusedActivation{"Relu", "Clip", "LeakyRelu"};

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

  auto bytes_of = [&](const std::string& name) -> int64_t {
    auto it = types->find(name);
    if (it == types->end() || !it->second.has_shape || !known(it->second.shape)) return 0;
    return prod(it->second.shape) * static_cast<int64_t>(onnxu::dtype_size(it->second.elem_type));
  };

  // Graph links, seen through QuantizeLinear/DequantizeLinear so a QDQ model shows the same
  // patterns as its float original.
  std::map<std::string, int> producer;
  std::map<std::string, std::vector<int>> consumers;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) producer[o] = i;
    for (const auto& in : g.node(i).input())
      if (!in.empty()) consumers[in].push_back(i);
  }
  auto is_qdq = [&](int i) {
    const auto& op = g.node(i).op_type();
    return op == "QuantizeLinear" || op == "DequantizeLinear";
  };
  auto source_of = [&](std::string t) {
    for (int guard = 0; guard < 8; ++guard) {
      auto it = producer.find(t);
      if (it == producer.end() || !is_qdq(it->second) || g.node(it->second).input_size() == 0)
        break;
      t = g.node(it->second).input(0);
    }
    return t;
  };
  std::function<void(const std::string&, std::vector<int>&, int)> readers_of =
      [&](const std::string& t, std::vector<int>& out, int depth) {
        auto it = consumers.find(t);
        if (it == consumers.end()) return;
        for (int c : it->second) {
          if (is_qdq(c) && depth < 8) {
            for (const auto& o : g.node(c).output()) readers_of(o, out, depth + 1);
          } else if (std::find(out.begin(), out.end(), c) == out.end()) {
            out.push_back(c);
          }
        }
      };
  std::set<std::string> graph_outputs;
  for (const auto& o : g.output()) graph_outputs.insert(o.name());

  // SiLU: Sigmoid(x) read only by Mul(x, Sigmoid(x)). ONNX Runtime fuses it into one
  // QuickGelu pass in float; in a QDQ model it stays QLinearSigmoid + QLinearMul.
  std::set<int> silu_nodes;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (n.op_type() != "Sigmoid" || n.input_size() < 1 || n.output_size() < 1) continue;
    const std::string x = source_of(n.input(0));
    const std::string& sg = n.output(0);
    if (graph_outputs.count(sg)) continue;
    std::vector<int> readers;
    readers_of(sg, readers, 0);
    if (readers.size() != 1) continue;
    const auto& m = g.node(readers[0]);
    if (m.op_type() != "Mul" || m.input_size() != 2) continue;
    const std::string a0 = source_of(m.input(0)), a1 = source_of(m.input(1));
    if (!((a0 == x && a1 == sg) || (a0 == sg && a1 == x))) continue;
    silu_nodes.insert(i);
    silu_nodes.insert(readers[0]);
    ++a.silu_patterns;
    const auto s_shape = shape_of(sg);
    if (known(s_shape) && !s_shape.empty()) {
      a.silu_elements += prod(s_shape);
      auto it = types->find(sg);
      if (it != types->end())
        a.silu_elem_bytes = static_cast<int64_t>(onnxu::dtype_size(it->second.elem_type));
    }
  }
  auto is_conv = [&](const std::string& t) {
    auto it = producer.find(source_of(t));
    if (it == producer.end()) return false;
    const auto& op = g.node(it->second).op_type();
    return op == "Conv" || op == "ConvTranspose" || op == "QLinearConv" || op == "Gemm";
  };

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
    if ((op == "Conv" || op == "ConvInteger" || op == "QLinearConv") && out_known &&
        n.input_size() > (op == "QLinearConv" ? 3 : 1)) {
      const auto w = shape_of(n.input(op == "QLinearConv" ? 3 : 1));
      const auto x = shape_of(n.input(0));
      if (w.size() >= 3 && known(w)) {
        const int64_t group = onnxu::int_attr(n, "group", 1);
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
        const int64_t K = onnxu::int_attr(n, "transA", 0) ? A[0] : A[1];
        c.macs = prod(out) * K;
      }
    } else if (op == "MatMul" && out_known) {
      const auto A = shape_of(n.input(0));
      if (!A.empty() && known(A)) c.macs = prod(out) * A.back();
    } else if ((op == "MaxPool" || op == "AveragePool" || op == "LpPool") && out_known) {
      c.flops = prod(out) * prod(onnxu::ints_attr(n, "kernel_shape"));
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
    if (c.macs && !c.depthwise) a.dense_flops += c.flops;
    if (c.macs && !c.depthwise && op != "Gemm" && op != "MatMul" && n.input_size() > 0) {
      const auto x = shape_of(n.input(0));
      if (x.size() >= 3 && x[1] > 0 && x[1] <= 4) a.stem_flops += c.flops;
    }
    if (kConvFusedActivation.count(op) && out_known) a.relu_elements += prod(out);
    // Time classes: memory-bound ops cost the bytes they move; fused activations cost nothing.
    bool fused = false;
    if (kConvFusedActivation.count(op) && n.input_size() > 0 && is_conv(n.input(0))) {
      std::vector<int> readers;
      readers_of(source_of(n.input(0)), readers, 0);
      fused = readers.size() == 1 && !graph_outputs.count(source_of(n.input(0)));
    }
    const bool memory_bound = !c.macs && (kElementwise.count(op) || kDataMovement.count(op));
    if (memory_bound && !fused) {
      for (const auto& in : n.input())
        if (!in.empty() && !inits.count(in) && !inits.count(source_of(in))) c.bytes += bytes_of(in);
      for (const auto& o : n.output()) c.bytes += bytes_of(o);
    }
    c.silu = silu_nodes.count(i) > 0;
    if (kConvFusedActivation.count(op)) a.relu_bytes += c.bytes;  // 0 when fused into the conv
    // A Relu/Clip that is the only reader of an Add/Mul/MatMul output: float runs it as a pass,
    // but `quantize` puts no Q/DQ between the two and ORT folds it into QLinearAdd/Mul/MatMul.
    // Only a Clip whose min is 0 is fused by `quantize` (its output range then starts at 0).
    const bool fusable_activation = op == "Relu" || (op == "Clip" && [&] {
                                      auto b =
                                          onnxu::clip_bounds(n, inits, onnxu::default_opset(model));
                                      return b && b->first == 0.f;
                                    }());
    if (!fused && fusable_activation && n.input_size() > 0) {
      auto p = producer.find(source_of(n.input(0)));
      const std::string pop = p == producer.end() ? "" : g.node(p->second).op_type();
      std::vector<int> readers;
      if (pop == "Add" || pop == "Mul" || pop == "MatMul" || pop == "QLinearAdd" ||
          pop == "QLinearMul" || pop == "QLinearMatMul")
        readers_of(source_of(n.input(0)), readers, 0);
      if (readers.size() == 1 && !graph_outputs.count(source_of(n.input(0)))) {
        a.relu_unit_bytes += c.bytes;
        ++a.relu_unit_nodes;
      }
    } else if (!c.silu && !kConvFusedActivation.count(op)) {
      a.elementwise_bytes += c.bytes;  // activations are counted in relu_bytes above
    }
    if (!c.silu && c.bytes > 0 && out.size() == 4 && out_known && out[1] % 16 != 0 &&
        std::any_of(n.input().begin(), n.input().end(),
                    [&](const std::string& in) { return is_conv(in); }))
      a.unaligned_bytes += c.bytes;
    if (!fused && !kNoKernel.count(op)) ++a.kernel_nodes;
    a.op_flops[op] += c.flops;
    a.nodes.push_back(std::move(c));
  }

  // Activation memory: all at once, and the peak of a sequential run that frees each tensor
  // after its last reader (what an arena allocator approaches).
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

// x86-avx512-vnni constants, fitted to measurements on this project's build machine (Intel Xeon,
// 2 vCPU, AVX-512 VNNI, ONNX Runtime 1.29 CPU EP, 2 threads). How: ORT per-node kernel
// profiles of yolox-nano, yunet_s_640_640 and blazeface-back-256 in FP32 and INT8 QDQ, summed per
// class, then checked end to end against `bench` medians (docs/optimization.md,
// "analyze estimates vs measured").
constexpr double kX86DenseGflops = 220.0;
constexpr double kX86StemGflops = 130.0;
constexpr double kX86DepthwiseGflops = 75.0;
constexpr double kX86ElementwiseGBps = 35.0;
constexpr double kX86NodeOverheadUs = 2.0;
constexpr double kX86FloatReorderPasses = 0.5;
constexpr double kX86Int8Dense = 1.6;
constexpr double kX86Int8Depthwise = 0.4;
constexpr double kX86Int8Stem = 0.45;
constexpr double kX86Int8Elementwise = 1.2;

const std::vector<DeviceProfile>& device_profiles() {
  // Per-class rates in the usual runtime, not datasheet peaks. Only x86-avx512-vnni is fitted to
  // measurements (docs/optimization.md, "analyze estimates vs measured"); the others are rough
  // figures from vendor specs (cores, ISA, memory bandwidth) and what the runtimes are known to
  // fuse, and are labelled "not calibrated" in every output. `bench` measures.
  static const std::vector<DeviceProfile> profiles = [] {
    std::vector<DeviceProfile> v;
    DeviceProfile p;
    p.name = "rpi5";
    p.description = "Raspberry Pi 5: 4x Cortex-A76 2.4 GHz, NEON + dot-product, FP16 arithmetic";
    p.cores = 4;
    p.host_kind = "arm64-dotprod";
    p.dense_gflops = 25;
    p.depthwise_gflops = 6;
    p.elementwise_gbps = 5;
    p.node_overhead_us = 10;
    // ORT: SDOT QLinearConv; SiLU stays 2 QLinear passes; Relu fused into the QLinear op (the
    // graph-level behaviour measured on x86)
    p.int8 = {2.0, 1.2, 1.3, false, 0.5, false};
    p.fp16 = {1.4, 1.2, 1.3, true};
    p.fp16_kernels = true;
    p.engine = "ORT CPU";
    p.runtime = "ONNX Runtime CPU (XNNPACK/MLAS) or ncnn";
    p.int8_note = "A76 has SDOT: int8 QDQ runs as QLinearConv with dot-product kernels";
    p.memory_mb = 8192;
    p.calibration_note = "not calibrated by measurement: rough figures (specs, runtime behaviour)";
    v.push_back(p);

    p = {};
    p.name = "jetson-orin-nano";
    p.description = "Jetson Orin Nano: Ampere GPU 1024 CUDA / 32 tensor cores, 6x A78AE";
    p.cores = 6;
    p.host_kind = "tegra";
    p.dense_gflops = 400;
    p.depthwise_gflops = 100;
    p.elementwise_gbps = 40;
    p.node_overhead_us = 15;
    p.fp32.fuses_silu = true;  // TensorRT fuses point-wise chains in every precision
    p.int8 = {3.0, 1.5, 1.8, true};
    p.fp16 = {2.0, 1.6, 1.8, true};
    p.fp16_kernels = true;
    p.engine = "TensorRT";
    p.runtime = "TensorRT (ONNX Runtime TensorRT EP or trtexec)";
    p.int8_note =
        "TensorRT builds INT8 engines from the QDQ model directly; FP16 needs no calibration";
    p.memory_mb = 8192;
    p.calibration_note = "not calibrated by measurement: rough figures (specs, runtime behaviour)";
    v.push_back(p);

    p = {};
    p.name = "core-i5";
    p.description = "Intel Core i5 (4 cores, AVX2 + FMA, no VNNI)";
    p.cores = 4;
    p.host_kind = "x86-avx2";
    p.dense_gflops = 90;
    p.depthwise_gflops = 20;
    p.elementwise_gbps = 12;
    p.node_overhead_us = 6;
    // u8s8 without VNNI: pmaddubsw, small gains; graph-level behaviour as on x86 (ORT)
    p.int8 = {1.3, 0.5, 1.2, false, 0.5, false};
    p.fp16 = {1.0, 1.0, 1.0, true};
    p.engine = "ORT CPU";
    p.runtime = "ONNX Runtime CPU or OpenVINO";
    p.int8_note = "no VNNI: u8s8 kernels saturate without reduce-range; gains are small";
    p.memory_mb = 16384;
    p.calibration_note = "not calibrated by measurement: rough figures (specs, runtime behaviour)";
    v.push_back(p);

    p = {};
    p.name = "x86-avx512-vnni";
    p.description = "x86 with AVX-512 VNNI (Ice Lake / Sapphire Rapids Xeon), per 2 cores";
    p.cores = 2;
    p.host_kind = "x86-avx512-vnni";
    // Fitted to ORT 1.29 CPU EP, 2 threads, on a 2-vCPU Xeon with AVX-512 VNNI (per-class kernel
    // times from ORT profiling, checked end to end with `bench`; docs/optimization.md).
    p.dense_gflops = kX86DenseGflops;
    p.depthwise_gflops = kX86DepthwiseGflops;
    p.elementwise_gbps = kX86ElementwiseGBps;
    p.node_overhead_us = kX86NodeOverheadUs;
    p.float_reorder_passes = kX86FloatReorderPasses;
    p.stem_gflops = kX86StemGflops;
    // Relu/Clip: `quantize` writes Conv/Add + Relu as one unit and ORT folds the Relu into
    // QLinearConv/QLinearAdd (measured: no DQ/Q pair left, docs/optimization.md).
    // SiLU: `quantize` writes it as one uint8 table (ai.edgevision:QLinearSiLU, one pass; ORT's
    // own QLinearSigmoid + QLinearMul were two), so it counts as fused (bench/README.md, "INT8
    // SiLU as one table": yolox-nano measured 0.67x FP32 at 2 threads, estimated 0.82x).
    p.int8 = {kX86Int8Dense, kX86Int8Depthwise, kX86Int8Elementwise, true, kX86Int8Stem, false};
    p.fp16 = {1.0, 1.0, 1.0, true};  // no FP16 kernels: FP16 is a storage format here
    p.engine = "ORT CPU";
    p.runtime = "ONNX Runtime CPU (QDQ -> QLinearConv, VNNI) or OpenVINO";
    p.int8_note =
        "VNNI (vpdpbusd) speeds up dense u8 x s8 convs and edgevision quantize writes SiLU as "
        "one uint8 table; depthwise and element-wise ops gain little in ORT's MLAS kernels";
    p.memory_mb = 8192;
    p.calibrated = true;
    p.calibration_note =
        "calibrated: ORT 1.29 CPU EP, 2 threads, Intel Xeon (2 vCPU, AVX-512 VNNI); yolox-nano, "
        "yunet_s_640_640, blazeface-back 256 in FP32 and INT8 QDQ";
    v.push_back(p);
    return v;
  }();
  return profiles;
}

Result<DeviceProfile> find_device_profile(const std::string& name) {
  for (const auto& p : device_profiles())
    if (p.name == name) return p;
  std::string names;
  for (const auto& p : device_profiles()) names += (names.empty() ? "" : ", ") + p.name;
  return Result<DeviceProfile>::Error("unknown device '" + name + "' (" + names + ")");
}

LatencyEstimate estimate_latency(const ModelAnalysis& a, const DeviceProfile& d,
                                 const std::string& precision) {
  LatencyEstimate e;
  e.precision = precision;
  const PrecisionFactors& f = precision == "int8" ? d.int8 : precision == "fp16" ? d.fp16 : d.fp32;
  auto ms = [](double amount, double rate_per_s, double factor) {
    return rate_per_s > 0 && factor > 0 ? amount / rate_per_s / factor * 1e3 : 0.0;
  };
  const double stem_rate = d.stem_gflops > 0 ? d.stem_gflops : d.dense_gflops;
  e.dense_ms =
      ms(static_cast<double>(a.dense_flops - a.stem_flops), d.dense_gflops * 1e9, f.dense) +
      ms(static_cast<double>(a.stem_flops), stem_rate * 1e9, f.stem);
  e.depthwise_ms =
      ms(static_cast<double>(a.depthwise_flops), d.depthwise_gflops * 1e9, f.depthwise);
  e.elementwise_ms =
      ms(static_cast<double>(a.elementwise_bytes), d.elementwise_gbps * 1e9, f.elementwise);
  // SiLU fused: one pass (read x, write y). Unfused: Sigmoid (read x, write s) + Mul (read x
  // and s, write y) = 5 tensor passes instead of 2.
  const double silu_bytes =
      static_cast<double>(a.silu_elements * a.silu_elem_bytes) * (f.fuses_silu ? 2.0 : 5.0);
  e.silu_ms = ms(silu_bytes, d.elementwise_gbps * 1e9, f.elementwise);
  // Relu/Clip as DequantizeLinear (read 1 byte, write 4) + QuantizeLinear (read 4, write 1)
  // (about 16 FP32-equivalent bytes per element at the profile's element-wise rate, measured).
  // Otherwise a Relu/Clip not fused into its conv is one ordinary element-wise pass.
  // Since `quantize` writes Conv/Add/... + Relu as one unit (no Q/DQ between), an INT8 Relu/Clip
  // after an Add/Mul/MatMul is folded into the QLinear kernel too and costs nothing.
  const bool int8_units = precision == "int8" && !f.relu_as_qdq;
  if (f.relu_as_qdq)
    e.requant_ms = ms(static_cast<double>(a.relu_elements) * 16.0, d.elementwise_gbps * 1e9, 1.0);
  else
    e.elementwise_ms += ms(static_cast<double>(a.relu_bytes - (int8_units ? a.relu_unit_bytes : 0)),
                           d.elementwise_gbps * 1e9, f.elementwise);
  if (precision != "int8")
    e.reorder_ms = ms(static_cast<double>(a.unaligned_bytes) * d.float_reorder_passes,
                      d.elementwise_gbps * 1e9, f.elementwise);
  const int kernels =
      a.kernel_nodes - (f.fuses_silu ? a.silu_patterns : 0) - (int8_units ? a.relu_unit_nodes : 0);
  e.overhead_ms = std::max(0, kernels) * d.node_overhead_us / 1e3;
  e.total_ms = e.dense_ms + e.depthwise_ms + e.elementwise_ms + e.silu_ms + e.requant_ms +
               e.reorder_ms + e.overhead_ms;
  return e;
}

namespace {

// Why INT8 gains little (or loses) on `d`: the classes whose INT8 factor is poor, with their
// share of the FP32 time.
// Where INT8 loses or gains time on `d`, class by class (estimate deltas), largest loss first:
// "unfused SiLU +2.1 ms (...); depthwise +0.8 ms (...); dense -1.7 ms".
std::string int8_reasons(const ModelAnalysis& a, const DeviceProfile& d,
                         const LatencyEstimate& fp32, const LatencyEstimate& int8) {
  struct Delta {
    double ms;
    std::string text;
  };
  std::vector<Delta> v;
  auto add = [&](double f, double i, const std::string& what) {
    if (std::abs(i - f) >= 0.05 * std::max(fp32.total_ms, 1e-9) || std::abs(i - f) >= 1.0)
      v.push_back({i - f, fmt::format("{} {:+.1f} ms", what, i - f)});
  };
  std::string silu = "SiLU";
  if (a.silu_patterns > 0 && d.fp32.fuses_silu && !d.int8.fuses_silu)
    silu = fmt::format("unfused SiLU ({} Sigmoid+Mul pairs: 2 int8 passes vs 1 fused float pass)",
                       a.silu_patterns);
  add(fp32.silu_ms, int8.silu_ms, silu);
  add(fp32.depthwise_ms, int8.depthwise_ms,
      fmt::format("depthwise convs (int8 {:.2f}x)", d.int8.depthwise));
  add(fp32.requant_ms, int8.requant_ms, "Relu/Clip left as DequantizeLinear+QuantizeLinear");
  add(fp32.elementwise_ms + fp32.reorder_ms, int8.elementwise_ms + int8.reorder_ms,
      "element-wise ops");
  add(fp32.dense_ms, int8.dense_ms, fmt::format("dense convs (int8 {:.2f}x)", d.int8.dense));
  std::sort(v.begin(), v.end(), [](const Delta& x, const Delta& y) { return x.ms > y.ms; });
  std::string s;
  for (const auto& w : v) s += (s.empty() ? "" : "; ") + w.text;
  return s;
}

}  // namespace

Recommendation recommend(const ModelAnalysis& a, const DeviceProfile& d, double target_ms) {
  Recommendation r;
  r.device = d.name;
  r.threads = d.cores;
  r.calibrated = d.calibrated;
  r.fp32 = estimate_latency(a, d, "fp32");
  r.int8 = estimate_latency(a, d, "int8");
  r.fp16 = estimate_latency(a, d, "fp16");
  r.int8_speedup = r.int8.total_ms > 0 ? r.fp32.total_ms / r.int8.total_ms : 0;
  r.fp16_speedup = r.fp16.total_ms > 0 ? r.fp32.total_ms / r.fp16.total_ms : 0;
  // INT8 costs accuracy and a calibration step: it must win clearly to be recommended.
  constexpr double kWorthIt = 1.15;
  auto it_f32 = a.weight_bytes.find("float32");
  const double f32_weights = it_f32 == a.weight_bytes.end() ? 0.0 : it_f32->second;
  // Weights shrink 4x; every quantized tensor adds a Q/DQ pair with its scale and zero point
  // (~850 bytes each in edgevision quantize's output, measured on yolox-nano/yunet).
  const double int8_file =
      std::max(1.0, a.file_bytes - 0.75 * f32_weights + 850.0 * a.kernel_nodes);
  const std::string why = int8_reasons(a, d, r.fp32, r.int8);
  const LatencyEstimate* chosen = &r.fp32;
  if (a.quantized) {
    r.precision = "int8";
    chosen = &r.int8;
    r.notes.push_back("model is already quantized (QDQ/QLinear nodes)");
    if (r.int8_speedup < 0.95)
      r.notes.push_back(fmt::format(
          "its FP32 original is est. {:.2f}x faster on this profile ({}{}): INT8 pays here only "
          "for size",
          1 / r.int8_speedup, d.engine, why.empty() ? "" : ": " + why));
  } else if (r.int8_speedup >= kWorthIt && r.int8_speedup >= r.fp16_speedup) {
    r.precision = "int8";
    chosen = &r.int8;
    r.notes.push_back(fmt::format(
        // No calibration method is named: entropy (KL) calibration took YOLOX-nano to 0.1 mAP
        // on its own; the default (min-max + the accuracy guard, which keeps fragile nodes in
        // float and refuses a model below target) is the setting that cannot destroy accuracy.
        "INT8 static quantization (edgevision quantize MODEL -o OUT --calib DIR: defaults, whose "
        "accuracy guard keeps fragile layers in float and refuses a model below target; add "
        "--val data.yaml --max-drop 1 to hold the real mAP), est. {:.2f}x faster than FP32",
        r.int8_speedup));
  } else if (d.fp16_kernels && r.fp16_speedup >= kWorthIt) {
    r.precision = "fp16";
    chosen = &r.fp16;
    r.notes.push_back(
        fmt::format("FP16 (no calibration needed), est. {:.2f}x faster than FP32", r.fp16_speedup));
  } else {
    r.precision = "fp32";
    if (r.int8_speedup < 0.97)
      r.notes.push_back(fmt::format("stay FP32 (INT8 est. {:.2f}x slower in {}{})",
                                    1 / r.int8_speedup, d.engine, why.empty() ? "" : ": " + why));
    else
      r.notes.push_back(fmt::format("stay FP32 (INT8 est. only {:.2f}x in {}{})", r.int8_speedup,
                                    d.engine, why.empty() ? "" : ": " + why));
    if (f32_weights > 0)
      r.notes.push_back(fmt::format(
          "INT8 still cuts the file ~{:.1f}x ({:.2f} -> ~{:.2f} MB) if size or download matters",
          a.file_bytes / int8_file, a.file_bytes / 1e6, int8_file / 1e6));
  }
  r.notes.push_back(d.int8_note);
  r.est_latency_ms = chosen->total_ms;
  r.notes.push_back(fmt::format(
      "est. {} {:.1f} ms = dense {:.1f} + depthwise {:.1f} + element-wise {:.1f} + SiLU {:.1f} + "
      "requant {:.1f} + reorder {:.1f} + launch {:.1f} (FP32 {:.1f}, INT8 {:.1f} ms); {}",
      r.precision, chosen->total_ms, chosen->dense_ms, chosen->depthwise_ms, chosen->elementwise_ms,
      chosen->silu_ms, chosen->requant_ms, chosen->reorder_ms, chosen->overhead_ms, r.fp32.total_ms,
      r.int8.total_ms, d.calibration_note));
  // Input size: every class but the launch overhead scales with the pixel count.
  // The first 4-D image input; NHWC when the last dimension is the channel count.
  int side = 0;
  for (const auto& in : a.inputs) {
    if (in.shape.size() != 4) continue;
    const bool nhwc =
        (in.shape[3] == 1 || in.shape[3] == 3) && in.shape[1] != 1 && in.shape[1] != 3;
    const int64_t h = in.shape[nhwc ? 1 : 2], w = in.shape[nhwc ? 2 : 3];
    if (h > 0 && w > 0) side = static_cast<int>(std::max(h, w));
    break;
  }
  if (side > 0) {
    const double fixed = chosen->overhead_ms;
    const double scalable = std::max(1e-9, r.est_latency_ms - fixed);
    if (r.est_latency_ms > target_ms) {
      const double ratio = target_ms > fixed ? std::sqrt((target_ms - fixed) / scalable) : 0.25;
      int suggested = std::max(160, static_cast<int>(side * ratio / 32) * 32);
      r.input_size = std::min(side, suggested);
      r.notes.push_back(fmt::format("est. {:.1f} ms > {:.0f} ms budget at {}px: use {}px input",
                                    r.est_latency_ms, target_ms, side, r.input_size));
    } else {
      r.input_size = side;
      r.notes.push_back(fmt::format("{}px input fits the {:.0f} ms budget (est. {:.1f} ms)", side,
                                    target_ms, r.est_latency_ms));
    }
    const double ratio = static_cast<double>(r.input_size) / side;
    r.est_latency_at_suggested_ms = fixed + scalable * ratio * ratio;
  }
  const double mem_mb = (a.activation_bytes_peak + a.file_bytes) / 1e6;
  if (mem_mb > d.memory_mb * 0.25)
    r.notes.push_back(
        fmt::format("model + activations ~{:.0f} MB: a large share of the device's "
                    "{:.0f} MB",
                    mem_mb, d.memory_mb));
  if (!a.opencv_unsupported.empty() || !a.opencv_load_error.empty())
    r.notes.push_back("use the onnxruntime backend (OpenCV DNN cannot run this graph)");
  r.notes.push_back(
      fmt::format("threads: {} (one per physical core; runtime: {})", d.cores, d.runtime));
  return r;
}

HostCpu detect_host_cpu() {
  HostCpu h;
  h.logical_cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::ifstream in("/proc/cpuinfo");
  std::string line, flags, features;
  while (std::getline(in, line)) {
    auto value = [&] {
      auto c = line.find(':');
      std::string v = c == std::string::npos ? "" : line.substr(c + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    };
    if (h.model_name.empty() && line.rfind("model name", 0) == 0) h.model_name = value();
    if (flags.empty() && line.rfind("flags", 0) == 0) flags = " " + value() + " ";
    if (features.empty() && line.rfind("Features", 0) == 0) features = " " + value() + " ";
  }
  std::error_code ec;
  if (std::filesystem::exists("/etc/nv_tegra_release", ec)) {
    h.kind = "tegra";
  } else if (!flags.empty()) {
    if (flags.find(" avx512_vnni ") != std::string::npos ||
        flags.find(" avx_vnni ") != std::string::npos)
      h.kind = "x86-avx512-vnni";
    else if (flags.find(" avx2 ") != std::string::npos)
      h.kind = "x86-avx2";
    else
      h.kind = "x86";
  } else if (!features.empty()) {
    h.kind = features.find(" asimddp ") != std::string::npos ? "arm64-dotprod" : "arm64";
  }
  return h;
}

double load_average_1m() {
  std::ifstream in("/proc/loadavg");
  double l = -1;
  if (!(in >> l)) return -1;
  return l;
}

void compare_with_profiles(const ModelAnalysis& a, HostMeasurement& m) {
  m.profiles.clear();
  for (const auto& d : device_profiles()) {
    if (d.host_kind != m.cpu.kind) continue;
    ProfileError pe;
    pe.device = d.name;
    pe.precision = m.precision;
    pe.calibrated = d.calibrated;
    pe.profile_threads = d.cores;
    pe.est_ms = estimate_latency(a, d, m.precision).total_ms;
    pe.error_pct = m.median_ms > 0 ? (pe.est_ms - m.median_ms) / m.median_ms * 100 : 0;
    m.profiles.push_back(pe);
  }
}

Result<HostMeasurement> measure_on_host(const ModelAnalysis& a, const std::filesystem::path& model,
                                        const Preprocess* pre, const MeasureOptions& options) {
  HostMeasurement m;
  m.cpu = detect_host_cpu();
  auto fp16 = a.weight_bytes.find("float16");
  m.precision = a.quantized                                        ? "int8"
                : fp16 != a.weight_bytes.end() && fp16->second > 0 ? "fp16"
                                                                   : "fp32";
  Preprocess p = pre ? *pre : Preprocess{};
  if (!a.inputs.empty() && a.inputs[0].shape.size() == 4 && known(a.inputs[0].shape)) {
    const bool nhwc = p.layout == "nhwc";
    p.height = static_cast<int>(a.inputs[0].shape[nhwc ? 1 : 2]);
    p.width = static_cast<int>(a.inputs[0].shape[nhwc ? 2 : 3]);
  }
  BenchOptions bo;
  bo.runs = std::max(1, options.runs);
  bo.warmup = std::max(0, options.warmup);
  bo.threads = options.threads > 0 ? options.threads : m.cpu.logical_cpus;
  bo.backend = "onnxruntime";
  bo.progress = options.progress;
  m.load_avg_1m = load_average_1m();
  auto r =
      benchmark_model("analyze " + std::filesystem::path(model).filename().string(), model, &p, bo);
  if (!r) return r.status();
  m.threads = r->threads;
  m.runs = r->stats.runs;
  m.warmup = r->warmup;
  m.input_shape = r->input_shape;
  m.median_ms = r->stats.median_ms;
  m.min_ms = r->stats.min_ms;
  m.p95_ms = r->stats.p95_ms;
  m.cpu_percent = r->cpu_percent;
  m.implied_gflops = m.median_ms > 0 ? a.flops / (m.median_ms * 1e-3) / 1e9 : 0;
  compare_with_profiles(a, m);
  return m;
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
                   {"dense_flops", a.dense_flops},
                   {"stem_flops", a.stem_flops},
                   {"relu_elements", a.relu_elements},
                   {"relu_bytes", a.relu_bytes},
                   {"relu_unit_bytes", a.relu_unit_bytes},
                   {"unaligned_bytes", a.unaligned_bytes},
                   {"elementwise_bytes", a.elementwise_bytes},
                   {"silu_patterns", a.silu_patterns},
                   {"silu_elements", a.silu_elements},
                   {"kernel_nodes", a.kernel_nodes},
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

nlohmann::json to_json(const LatencyEstimate& e) {
  return {{"precision", e.precision},
          {"total_ms", e.total_ms},
          {"dense_ms", e.dense_ms},
          {"depthwise_ms", e.depthwise_ms},
          {"elementwise_ms", e.elementwise_ms},
          {"silu_ms", e.silu_ms},
          {"requant_ms", e.requant_ms},
          {"reorder_ms", e.reorder_ms},
          {"overhead_ms", e.overhead_ms}};
}

nlohmann::json to_json(const Recommendation& r) {
  return {{"device", r.device},
          {"precision", r.precision},
          {"threads", r.threads},
          {"input_size", r.input_size},
          {"est_latency_ms", r.est_latency_ms},
          {"est_latency_at_input_size_ms", r.est_latency_at_suggested_ms},
          {"calibrated", r.calibrated},
          {"int8_speedup", r.int8_speedup},
          {"fp16_speedup", r.fp16_speedup},
          {"estimates",
           {{"fp32", to_json(r.fp32)}, {"int8", to_json(r.int8)}, {"fp16", to_json(r.fp16)}}},
          {"notes", r.notes}};
}

nlohmann::json to_json(const HostMeasurement& m) {
  nlohmann::json profiles = nlohmann::json::array();
  for (const auto& p : m.profiles)
    profiles.push_back({{"device", p.device},
                        {"precision", p.precision},
                        {"calibrated", p.calibrated},
                        {"profile_threads", p.profile_threads},
                        {"est_ms", p.est_ms},
                        {"error_pct", p.error_pct}});
  return {{"cpu", m.cpu.model_name},
          {"cpu_kind", m.cpu.kind},
          {"logical_cpus", m.cpu.logical_cpus},
          {"load_avg_1m", m.load_avg_1m},
          {"runtime", "onnxruntime CPU"},
          {"threads", m.threads},
          {"runs", m.runs},
          {"warmup", m.warmup},
          {"input_shape", m.input_shape},
          {"precision", m.precision},
          {"median_ms", m.median_ms},
          {"min_ms", m.min_ms},
          {"p95_ms", m.p95_ms},
          {"cpu_percent", m.cpu_percent},
          {"implied_gflops", m.implied_gflops},
          {"contended", m.cpu_percent < 80.0 * m.threads},
          {"profiles", profiles}};
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
  o << fmt::format(
      "cost classes dense {:.3f} GF, depthwise {:.3f} GF, element-wise {:.1f} MB moved, "
      "{} SiLU (Sigmoid+Mul) over {:.2f} M elements, {} kernels\n",
      a.dense_flops / 1e9, a.depthwise_flops / 1e9, a.elementwise_bytes / 1e6, a.silu_patterns,
      a.silu_elements / 1e6, a.kernel_nodes);
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
