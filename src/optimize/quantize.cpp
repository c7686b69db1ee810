// QDQ graph rewrite: inserts QuantizeLinear/DequantizeLinear pairs around the activations that
// feed quantized nodes and replaces float weights/biases with int8/int32 initializers followed
// by DequantizeLinear. The layout follows what ONNX Runtime's QDQ transformers fuse into
// QLinearConv/QLinearMatMul/QLinearAdd/QLinearMul/QLinearSigmoid/QLinearConcat (and drop around
// MaxPool/Reshape/Transpose/Resize), which is also what TensorRT and OpenVINO expect.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>

#include <unistd.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>

#include "backend/ort_custom_ops.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/progress.hpp"
#include "edgevision/quantize.hpp"
#include "optimize/onnx_util.hpp"

namespace ev {
namespace {

// Weight at input 1, optional bias at input 2 (Conv, Gemm).
const std::set<std::string> kWeightOps{"Conv", "Gemm", "MatMul"};
// Data-movement ops: the output keeps the input's scale and zero point, so ONNX Runtime can drop
// the DQ/Q around them and run them on the 8-bit data.
const std::set<std::string> kPassThroughOps{
    "MaxPool", "Reshape", "Transpose", "Resize", "Slice",        "Squeeze",     "Unsqueeze",
    "Flatten", "Gather",  "Expand",    "Tile",   "DepthToSpace", "SpaceToDepth"};
// All float inputs quantized.
const std::set<std::string> kMultiInputOps{"Add", "Mul", "Concat"};
// Input 0 quantized.
const std::set<std::string> kUnaryOps{"Sigmoid",   "AveragePool", "GlobalAveragePool",
                                      "LeakyRelu", "Relu",        "Clip",
                                      "Softmax",   "HardSigmoid", "HardSwish"};
// Quantized ops ONNX Runtime fuses as DQ -> op -> Q (QLinearConv, QGemm, QLinearMatMul,
// QLinearAdd, QLinearMul): a Relu, or a Clip with min 0, that is their only reader joins the unit.
const std::set<std::string> kFusableProducers{"Conv", "Gemm", "MatMul", "Add", "Mul"};
// Ops whose definition changed between opset 11/12 and 13 (inputs vs attributes, semantics):
// the opset bump that per-channel DequantizeLinear needs would silently change them.
const std::set<std::string> kChangedIn13{"Squeeze", "Unsqueeze",  "Split",  "ReduceSum",
                                         "Softmax", "LogSoftmax", "Hardmax"};

bool is_quantizable_op(const onnx::NodeProto& n) {
  if (!n.domain().empty() && n.domain() != "ai.onnx") return false;
  const auto& op = n.op_type();
  return kWeightOps.count(op) || kPassThroughOps.count(op) || kMultiInputOps.count(op) ||
         kUnaryOps.count(op);
}

// Input slots of `n` that carry activations/constants to quantize (bias handled separately).
std::vector<int> quantized_slots(const onnx::NodeProto& n) {
  const auto& op = n.op_type();
  if (kWeightOps.count(op)) return {0, 1};
  if (kPassThroughOps.count(op) || kUnaryOps.count(op)) return {0};
  std::vector<int> all;
  for (int i = 0; i < n.input_size(); ++i) all.push_back(i);
  return all;
}

struct Plan {
  std::vector<bool> quantize_node;
  std::set<std::string> activations;  // non-initializer tensors that get a Q/DQ pair
  // Outputs of quantized Conv/Gemm (or of the activation fused after them, below): always given
  // a Q/DQ pair (ONNX Runtime only fuses DQ -> Conv -> Q into QLinearConv), and every consumer,
  // float or not, reads the DQ.
  std::set<std::string> weighted_outputs;
  // Conv/Gemm/MatMul/Add/Mul + Relu (or Clip with min 0) quantized as one unit, as ONNX Runtime's
  // own quantizer does: no Q/DQ on the producer's output (its only reader is the activation), one
  // Q/DQ on the activation's output, with zero point 0. ORT then drops the Relu/Clip in front of
  // the QuantizeLinear (ReluQuantFusion / ClipQuantFusion: the uint8 range already clamps at 0)
  // and fuses DQ -> op -> Q into one QLinear kernel. With a Q/DQ between them it would leave a
  // float DequantizeLinear + QuantizeLinear pass per activation. producer output -> activation
  // output.
  std::map<std::string, std::string> fused_activations;
  std::map<std::string, float>
      clip_max;  // fused Clip outputs (and what passes them through) -> the max
  std::vector<std::string> excluded;
  // QuantPrecision::kSpeed: Relu/Clip quantized only because the Conv in front of them is (they
  // follow it, and are not probed on their own); and what the policy left float, by reason.
  std::set<int> followers;
  std::map<std::string, int> float_for_speed;
  std::map<std::string, const onnx::TensorProto*> inits;
  std::map<std::string, onnxu::ValueType> types;
};

// Why QuantPrecision::kSpeed keeps `n` in float; empty when ONNX Runtime's int8 kernel for it is
// faster than the float one on CPU (measured per op type, bench/README.md "Speed by op"): dense
// 1x1/3x3 QLinearConv ~2x the float NCHWc Conv, while int8 depthwise Conv is ~2x slower and SiLU
// as QLinearSigmoid + QLinearMul ~2x the fused float QuickGelu.
std::string speed_float_reason(const onnx::NodeProto& n,
                               const std::map<std::string, const onnx::TensorProto*>& inits) {
  const auto& op = n.op_type();
  if (op == "Gemm" || op == "MatMul") return {};
  if (op != "Conv") return op;
  const int64_t group = onnxu::int_attr(n, "group", 1);
  auto w = n.input_size() > 1 ? inits.find(n.input(1)) : inits.end();
  if (w == inits.end() || w->second->dims_size() != 4) return "Conv without a 4-D weight";
  const auto& d = w->second->dims();
  if (group != 1) return d[1] == 1 ? "depthwise Conv" : "grouped Conv";
  if (!((d[2] == 1 && d[3] == 1) || (d[2] == 3 && d[3] == 3)))
    return fmt::format("Conv {}x{}", d[2], d[3]);
  return {};
}

Result<Plan> make_plan(const onnx::ModelProto& model, const QuantizeOptions& options) {
  Plan plan;
  const auto& g = model.graph();
  for (const auto& t : g.initializer()) plan.inits[t.name()] = &t;
  auto types = onnxu::infer_types(model, {});
  if (!types) return types.status();
  plan.types = std::move(*types);
  auto is_float = [&](const std::string& name) {
    auto it = plan.types.find(name);
    return it != plan.types.end() && it->second.elem_type == onnx::TensorProto::FLOAT;
  };
  std::set<std::string> graph_outputs;
  for (const auto& o : g.output()) graph_outputs.insert(o.name());
  for (const auto& n : g.node()) {
    const auto& op = n.op_type();
    if (op == "QuantizeLinear" || op == "DequantizeLinear" || op.rfind("QLinear", 0) == 0 ||
        op == "ConvInteger" || op == "MatMulInteger")
      return Status::Error("the model is already quantized (it has " + op + " nodes, e.g. '" +
                           n.name() + "'): quantize the float32 model instead");
  }
  auto excluded = onnxu::excluded_nodes(g, options.exclude);
  if (!excluded) return excluded.status();
  plan.quantize_node.assign(g.node_size(), false);
  const std::set<int> float_nodes(options.float_nodes.begin(), options.float_nodes.end());
  const std::set<int> only_nodes(options.only_nodes.begin(), options.only_nodes.end());
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!is_quantizable_op(n)) continue;
    if ((*excluded)[i] || float_nodes.count(i)) {
      plan.excluded.push_back(onnxu::node_label(n, i));
      continue;
    }
    if (!only_nodes.empty() && !only_nodes.count(i)) continue;
    if (options.precision == QuantPrecision::kSpeed && !speed_float_reason(n, plan.inits).empty())
      continue;
    if (n.input_size() == 0 || !is_float(n.input(0))) continue;
    if (kWeightOps.count(n.op_type()) && (n.input_size() < 2 || !is_float(n.input(1)))) continue;
    plan.quantize_node[i] = true;
    if ((n.op_type() == "Conv" || n.op_type() == "Gemm") && n.output_size() > 0 &&
        is_float(n.output(0)) && !graph_outputs.count(n.output(0))) {
      plan.weighted_outputs.insert(n.output(0));
      plan.activations.insert(n.output(0));
    }
    for (int slot : quantized_slots(n)) {
      if (slot >= n.input_size() || n.input(slot).empty()) continue;
      const auto& name = n.input(slot);
      if (!is_float(name) || plan.inits.count(name)) continue;
      plan.activations.insert(name);
    }
  }

  // Producer + activation units (see Plan::fused_activations).
  std::map<std::string, int> producer, readers;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& o : g.node(i).output()) producer[o] = i;
    for (const auto& in : g.node(i).input()) ++readers[in];
  }
  if (options.precision == QuantPrecision::kSpeed) {
    // A Relu/Clip(0, max) that is the only reader of a quantized Conv/Gemm/MatMul costs nothing
    // in int8 (ORT folds it into the QLinear kernel's output range): it follows its producer.
    // Any other stays float, with the reason counted.
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      if (!is_quantizable_op(n) || plan.quantize_node[i] || (*excluded)[i] || float_nodes.count(i))
        continue;
      const std::string why = speed_float_reason(n, plan.inits);
      if (why.empty()) continue;
      bool follows = false;
      if ((n.op_type() == "Relu" || n.op_type() == "Clip") && n.input_size() > 0 &&
          n.output_size() > 0 && is_float(n.output(0)) && !graph_outputs.count(n.output(0))) {
        auto p = producer.find(n.input(0));
        auto bounds = n.op_type() == "Clip"
                          ? onnxu::clip_bounds(n, plan.inits, onnxu::default_opset(model))
                          : std::optional<std::pair<float, float>>(std::pair{0.f, 0.f});
        follows = p != producer.end() && plan.quantize_node[p->second] &&
                  kWeightOps.count(g.node(p->second).op_type()) && readers[n.input(0)] == 1 &&
                  !graph_outputs.count(n.input(0)) && bounds && bounds->first == 0.f;
      }
      if (follows) {
        plan.quantize_node[i] = true;
        plan.followers.insert(i);
      } else if (only_nodes.empty()) {
        ++plan.float_for_speed[why];
      }
    }
  }
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!plan.quantize_node[i] || n.input_size() == 0 || n.output_size() == 0) continue;
    float max = std::numeric_limits<float>::infinity();
    if (n.op_type() == "Clip") {
      auto bounds = onnxu::clip_bounds(n, plan.inits, onnxu::default_opset(model));
      if (!bounds || bounds->first != 0.f) continue;  // ORT keeps a Clip with min != 0
      max = bounds->second;
    } else if (n.op_type() != "Relu") {
      continue;
    }
    const auto& x = n.input(0);
    const auto& y = n.output(0);
    auto p = producer.find(x);
    if (p == producer.end() || !plan.quantize_node[p->second] ||
        !kFusableProducers.count(g.node(p->second).op_type()) || readers[x] != 1 ||
        graph_outputs.count(x) || !is_float(y) || graph_outputs.count(y))
      continue;
    plan.activations.erase(x);
    plan.weighted_outputs.erase(x);
    plan.activations.insert(y);
    plan.weighted_outputs.insert(y);
    plan.fused_activations[x] = y;
    if (n.op_type() == "Clip" && std::isfinite(max)) plan.clip_max[y] = max;
  }
  return plan;
}

onnx::TensorProto make_tensor(const std::string& name, int32_t type,
                              const std::vector<int64_t>& dims, const void* data, size_t bytes) {
  onnx::TensorProto t;
  t.set_name(name);
  t.set_data_type(type);
  for (auto d : dims) t.add_dims(d);
  t.set_raw_data(std::string(static_cast<const char*>(data), bytes));
  return t;
}

onnx::NodeProto make_node(const std::string& op, const std::string& name,
                          const std::vector<std::string>& in, const std::vector<std::string>& out,
                          int axis = -1) {
  onnx::NodeProto n;
  n.set_op_type(op);
  n.set_name(name);
  for (const auto& i : in) n.add_input(i);
  for (const auto& o : out) n.add_output(o);
  if (axis >= 0) {
    auto* a = n.add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(axis);
  }
  return n;
}

// SiLU(x) = x * sigmoid(x) differs from SiLU(-8) = -0.0027 by at most 0.0027 for any x below -8:
// well under half a uint8 step of any SiLU input range that reaches -8 (>= 0.016).
constexpr float kSiluInputFloor = -8.f;

// Tensors whose only readers are one SiLU: Sigmoid(x) and Mul(x, Sigmoid(x)), the Sigmoid read by
// that Mul alone; graph outputs excluded.
std::set<std::string> silu_only_inputs(const onnx::GraphProto& g) {
  std::map<std::string, std::vector<int>> readers;
  for (int i = 0; i < g.node_size(); ++i)
    for (const auto& in : g.node(i).input()) readers[in].push_back(i);
  std::set<std::string> outputs;
  for (const auto& o : g.output()) outputs.insert(o.name());
  std::set<std::string> out;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& sig = g.node(i);
    if (sig.op_type() != "Sigmoid" || sig.input_size() != 1 || sig.output_size() != 1) continue;
    const std::string& x = sig.input(0);
    const auto& sr = readers[sig.output(0)];
    if (sr.size() != 1 || outputs.count(x) || outputs.count(sig.output(0))) continue;
    const auto& mul = g.node(sr[0]);
    if (mul.op_type() != "Mul" || mul.input_size() != 2) continue;
    if (!((mul.input(0) == x && mul.input(1) == sig.output(0)) ||
          (mul.input(1) == x && mul.input(0) == sig.output(0))))
      continue;
    const auto& xr = readers[x];
    if (xr.size() == 2 && std::count(xr.begin(), xr.end(), i) == 1 &&
        std::count(xr.begin(), xr.end(), sr[0]) == 1)
      out.insert(x);
  }
  return out;
}

// A float SiLU (x * Sigmoid(x)) that reads a quantized Conv's DequantizeLinear output becomes
// one com.microsoft QuickGelu (alpha 1) node. ORT fuses Sigmoid + Mul into QuickGelu itself in
// a float graph, but not here: it first gives every consumer of a DequantizeLinear its own copy
// (EnsureUniqueDQForNodeUnit), so the Sigmoid and the Mul no longer read the same tensor; the
// SiLU then costs two float passes and the DequantizeLinear two (ORT 1.29, bench/README.md
// "Speed by op"). Returns the number of SiLUs fused.
int fuse_silu_after_dq(std::vector<onnx::NodeProto>& body) {
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < body.size(); ++i)
    for (const auto& in : body[i].input()) readers[in].push_back(i);
  auto std_op = [](const onnx::NodeProto& n, const char* op) {
    return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx");
  };
  std::set<size_t> drop;
  int fused = 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const auto& sig = body[i];
    if (!std_op(sig, "Sigmoid") || sig.input_size() != 1 || sig.output_size() != 1) continue;
    const std::string& x = sig.input(0);
    const std::string suffix = "_dequantized";
    if (x.size() <= suffix.size() || x.compare(x.size() - suffix.size(), suffix.size(), suffix))
      continue;
    const auto& sr = readers[sig.output(0)];
    if (sr.size() != 1) continue;
    auto& mul = body[sr[0]];
    if (!std_op(mul, "Mul") || mul.input_size() != 2) continue;
    const bool pair = (mul.input(0) == x && mul.input(1) == sig.output(0)) ||
                      (mul.input(1) == x && mul.input(0) == sig.output(0));
    if (!pair) continue;
    onnx::NodeProto q;
    q.set_op_type("QuickGelu");
    q.set_domain("com.microsoft");
    q.set_name(mul.name().empty() ? sig.name() + "_silu" : mul.name());
    q.add_input(x);
    q.add_output(mul.output(0));
    auto* a = q.add_attribute();
    a->set_name("alpha");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(1.f);
    mul = std::move(q);
    drop.insert(i);
    ++fused;
  }
  if (!drop.empty()) {
    std::vector<onnx::NodeProto> kept;
    kept.reserve(body.size() - drop.size());
    for (size_t i = 0; i < body.size(); ++i)
      if (!drop.count(i)) kept.push_back(std::move(body[i]));
    body = std::move(kept);
  }
  return fused;
}

// A quantized SiLU, DQ(x) -> Sigmoid -> [Q/DQ] -> Mul(DQ(x), .) -> Q(y), becomes one uint8 table
// lookup, ai.edgevision:QLinearSiLU (src/backend/ort_custom_ops.hpp). ORT 1.29 would run it as
// QLinearSigmoid + QLinearMul, two requantizing passes that cost 4.6 ms of YOLOX-nano's 11.9 ms
// (bench/README.md "INT8 SiLU as one table"). On a 4-D tensor the lookup sits between a
// Transpose to NHWC and one back: ORT's transpose optimizer cannot move a Transpose through an
// op it does not know, but it cancels these pairs against the ones its NhwcTransformer puts
// around each QLinearConv, so the int8 graph stays NHWC from conv to conv. Returns the number
// of SiLUs rewritten; the Sigmoid and its Q/DQ go when nothing else reads them.
int silu_to_table(std::vector<onnx::NodeProto>& body,
                  const std::map<std::string, QuantParams>& params,
                  const std::map<std::string, onnxu::ValueType>& types,
                  const std::set<std::string>& graph_outputs) {
  auto std_op = [](const onnx::NodeProto& n, const char* op) {
    return n.op_type() == op && (n.domain().empty() || n.domain() == "ai.onnx");
  };
  std::map<std::string, size_t> producer;
  std::map<std::string, std::vector<size_t>> readers;
  for (size_t i = 0; i < body.size(); ++i) {
    for (const auto& o : body[i].output()) producer[o] = i;
    for (const auto& in : body[i].input()) readers[in].push_back(i);
  }
  const std::string qs = "_quantized";
  // The float tensor a per-tensor uint8 DequantizeLinear output stands for, or "".
  auto dq_source = [&](const std::string& t) -> std::string {
    auto p = producer.find(t);
    if (p == producer.end() || !std_op(body[p->second], "DequantizeLinear")) return {};
    const std::string& q = body[p->second].input(0);
    if (q.size() <= qs.size() || q.compare(q.size() - qs.size(), qs.size(), qs)) return {};
    std::string base = q.substr(0, q.size() - qs.size());
    return params.count(base) ? base : std::string();
  };
  auto sigmoid_of = [&](const std::string& t) -> const onnx::NodeProto* {
    std::string src = t;
    if (std::string base = dq_source(t); !base.empty()) src = base;
    auto p = producer.find(src);
    if (p == producer.end() || !std_op(body[p->second], "Sigmoid")) return nullptr;
    return &body[p->second];
  };
  std::map<size_t, std::vector<onnx::NodeProto>> replace;
  std::set<size_t> drop;
  for (size_t i = 0; i < body.size(); ++i) {
    const auto& mul = body[i];
    if (!std_op(mul, "Mul") || mul.input_size() != 2 || mul.output_size() != 1) continue;
    std::string x;
    for (int k = 0; k < 2 && x.empty(); ++k) {
      const auto* sig = sigmoid_of(mul.input(k));
      if (!sig || sig->input_size() != 1) continue;
      std::string a = dq_source(sig->input(0)), b = dq_source(mul.input(1 - k));
      if (!a.empty() && a == b) x = a;
    }
    const std::string& y = mul.output(0);
    if (x.empty() || graph_outputs.count(y) || !params.count(y)) continue;
    const auto& yr = readers[y];
    if (yr.size() != 1 || !std_op(body[yr[0]], "QuantizeLinear")) continue;
    const QuantParams px = params.at(x), py = params.at(y);
    onnx::NodeProto lut = make_node("QLinearSiLU", mul.name() + "_QLinearSiLU", {x + qs}, {y + qs});
    lut.set_domain(kEdgevisionOpDomain);
    auto attr_f = [&](const char* name, float v) {
      auto* a = lut.add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f(v);
    };
    auto attr_i = [&](const char* name, int64_t v) {
      auto* a = lut.add_attribute();
      a->set_name(name);
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(v);
    };
    attr_f("x_scale", px.scale);
    attr_i("x_zero_point", px.zero_point);
    attr_f("y_scale", py.scale);
    attr_i("y_zero_point", py.zero_point);
    auto type = types.find(x);
    const bool four_d =
        type != types.end() && type->second.has_shape && type->second.shape.size() == 4;
    std::vector<onnx::NodeProto> nodes;
    if (four_d) {
      auto transpose = [&](const std::string& name, const std::string& in, const std::string& out,
                           std::vector<int64_t> perm) {
        onnx::NodeProto t = make_node("Transpose", name, {in}, {out});
        auto* a = t.add_attribute();
        a->set_name("perm");
        a->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : perm) a->add_ints(v);
        return t;
      };
      lut.set_input(0, y + "_nhwc_in");
      lut.set_output(0, y + "_nhwc_out");
      nodes.push_back(transpose(lut.name() + "_to_nhwc", x + qs, y + "_nhwc_in", {0, 2, 3, 1}));
      nodes.push_back(lut);
      nodes.push_back(transpose(lut.name() + "_to_nchw", y + "_nhwc_out", y + qs, {0, 3, 1, 2}));
    } else {
      nodes.push_back(lut);
    }
    replace[i] = std::move(nodes);
    drop.insert(yr[0]);
  }
  if (replace.empty()) return 0;
  std::vector<onnx::NodeProto> out;
  out.reserve(body.size() + 2 * replace.size());
  for (size_t i = 0; i < body.size(); ++i) {
    if (auto r = replace.find(i); r != replace.end())
      for (auto& n : r->second) out.push_back(std::move(n));
    else if (!drop.count(i))
      out.push_back(std::move(body[i]));
  }
  // The Sigmoids and their Q/DQ pairs nothing reads any more.
  for (bool changed = true; changed;) {
    std::set<std::string> read(graph_outputs.begin(), graph_outputs.end());
    for (const auto& n : out)
      for (const auto& in : n.input()) read.insert(in);
    const size_t before = out.size();
    out.erase(std::remove_if(out.begin(), out.end(),
                             [&](const onnx::NodeProto& n) {
                               return std::none_of(
                                   n.output().begin(), n.output().end(),
                                   [&](const std::string& o) { return read.count(o) > 0; });
                             }),
              out.end());
    changed = out.size() != before;
  }
  body = std::move(out);
  return static_cast<int>(replace.size());
}

}  // namespace

Result<QuantPrecision> parse_quant_precision(std::string_view name) {
  if (name == "speed") return QuantPrecision::kSpeed;
  if (name == "all") return QuantPrecision::kAll;
  return Status::Error("unknown precision policy '" + std::string(name) + "' (speed | all)");
}

const char* to_string(QuantPrecision precision) {
  return precision == QuantPrecision::kSpeed ? "speed" : "all";
}

Result<std::vector<std::string>> tensors_to_calibrate(const std::filesystem::path& model,
                                                      const QuantizeOptions& options) {
  auto proto = onnxu::load(model);
  if (!proto) return proto.status();
  onnxu::constants_to_initializers(*proto->mutable_graph());
  auto plan = make_plan(*proto, options);
  if (!plan) return plan.status();
  return std::vector<std::string>(plan->activations.begin(), plan->activations.end());
}

Result<QuantizeReport> write_qdq_model(const std::filesystem::path& model_path,
                                       const std::filesystem::path& output,
                                       const CalibrationTable& table,
                                       const QuantizeOptions& options) {
  using R = Result<QuantizeReport>;
  auto loaded = onnxu::load(model_path);
  if (!loaded) return loaded.status();
  onnx::ModelProto model = std::move(*loaded);
  QuantizeReport report;
  std::error_code ec;
  report.input_bytes = static_cast<int64_t>(std::filesystem::file_size(model_path, ec));
  onnxu::constants_to_initializers(*model.mutable_graph());

  const int opset = onnxu::default_opset(model);
  if (opset < 10)
    return R::Error(
        "model opset " + std::to_string(opset) +
        " is older than 10, which has no QuantizeLinear; re-export it with opset >= 13");
  int target_opset = opset;
  if (options.per_channel && opset < 13) {
    if (opset < 11)
      return R::Error("per-channel weights need opset 13 and this model has opset " +
                      std::to_string(opset) + "; re-export with opset >= 13 or use --per-tensor");
    for (const auto& n : model.graph().node())
      if ((n.domain().empty() || n.domain() == "ai.onnx") && kChangedIn13.count(n.op_type()))
        return R::Error("per-channel weights need opset 13, but this opset-" +
                        std::to_string(opset) + " model uses " + n.op_type() +
                        ", whose definition changed in opset 13; re-export with opset >= 13 or use "
                        "--per-tensor");
    target_opset = 13;
  }

  auto planned = make_plan(model, options);
  if (!planned) return planned.status();
  Plan& plan = *planned;
  auto& g = *model.mutable_graph();
  report.nodes_total = g.node_size();
  report.excluded_nodes = plan.excluded;
  report.float_for_speed = plan.float_for_speed;

  // Ranges: calibrated ones, clamped for fused activations, then pass-through outputs inherit
  // their input's (topological order), Clip bound included, so that a MaxPool after a fused
  // Relu gets the very same scale and zero point and ORT needs no requantization there.
  std::map<std::string, TensorRange> ranges = table.ranges;
  // A fused Relu/Clip output is >= 0: its range starts at 0, so the zero point is 0, which is
  // what ORT needs to drop the activation in front of the QuantizeLinear (a slightly negative
  // percentile/entropy bound would break the fusion), and a Clip's range ends at its max.
  for (const auto& [x, y] : plan.fused_activations) {
    (void)x;
    auto it = ranges.find(y);
    if (it == ranges.end()) continue;
    it->second.min = 0.f;
    if (auto c = plan.clip_max.find(y); c != plan.clip_max.end())
      it->second.max = std::min(it->second.max, c->second);
  }
  // A tensor read only by a SiLU needs no range below kSiluInputFloor (SiLU is ~0 there), so
  // its uint8 levels go to the part that matters: YOLOX-nano's conv outputs spend up to 93% of
  // them on negatives down to -38.
  std::set<std::string> floored;
  for (const auto& x : silu_only_inputs(g)) {
    auto it = ranges.find(x);
    if (it == ranges.end() || it->second.min >= kSiluInputFloor) continue;
    it->second.min = kSiluInputFloor;
    floored.insert(x);
  }
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (!plan.quantize_node[i] || !kPassThroughOps.count(n.op_type())) continue;
    auto it = ranges.find(n.input(0));
    if (it == ranges.end() || n.output_size() == 0) continue;
    ranges[n.output(0)] = it->second;
    if (auto c = plan.clip_max.find(n.input(0)); c != plan.clip_max.end())
      plan.clip_max[n.output(0)] = c->second;
  }
  // A node whose activation inputs have no range stays float.
  for (int i = 0; i < g.node_size(); ++i) {
    if (!plan.quantize_node[i]) continue;
    const auto& n = g.node(i);
    for (int slot : quantized_slots(n)) {
      if (slot >= n.input_size() || !plan.activations.count(n.input(slot))) continue;
      if (!ranges.count(n.input(slot))) {
        spdlog::warn("quantize: no calibration range for '{}', node {} stays float", n.input(slot),
                     onnxu::node_label(n, i));
        plan.quantize_node[i] = false;
        break;
      }
    }
  }
  std::set<std::string> qdq;  // activations actually given a Q/DQ pair
  for (int i = 0; i < g.node_size(); ++i) {
    if (!plan.quantize_node[i]) continue;
    const auto& n = g.node(i);
    for (int slot : quantized_slots(n))
      if (slot < n.input_size() && plan.activations.count(n.input(slot))) qdq.insert(n.input(slot));
    if (n.output_size() > 0 && plan.weighted_outputs.count(n.output(0))) {
      if (ranges.count(n.output(0)))
        qdq.insert(n.output(0));
      else
        spdlog::warn("quantize: no calibration range for '{}'; {} keeps a float output",
                     n.output(0), onnxu::node_label(n, i));
    }
  }

  std::vector<onnx::NodeProto> head;  // DQ of weights/constants and Q/DQ of graph inputs
  std::vector<onnx::TensorProto> new_inits;
  std::map<std::string, QuantParams> act_params;
  auto scalar_params = [&](const std::string& base, QuantParams p) {
    float s = p.scale;
    uint8_t zp = static_cast<uint8_t>(p.zero_point);
    new_inits.push_back(make_tensor(base + "_scale", onnx::TensorProto::FLOAT, {}, &s, sizeof s));
    new_inits.push_back(make_tensor(base + "_zero_point", onnx::TensorProto::UINT8, {}, &zp, 1));
  };
  auto emit_qdq = [&](const std::string& t, std::vector<onnx::NodeProto>& into) {
    auto r = ranges.at(t);
    auto p = asymmetric_uint8_params(r.min, r.max);
    // ORT removes a Clip before a QuantizeLinear only if scale * 255 (in float) <= the Clip's max.
    if (auto c = plan.clip_max.find(t);
        c != plan.clip_max.end() && c->second > 0.f && p.scale * 255.f > c->second) {
      p.scale = c->second / 255.f;
      while (p.scale * 255.f > c->second) p.scale = std::nextafter(p.scale, 0.f);
    }
    act_params[t] = p;
    scalar_params(t, p);
    into.push_back(make_node("QuantizeLinear", t + "_QuantizeLinear",
                             {t, t + "_scale", t + "_zero_point"}, {t + "_quantized"}));
    into.push_back(make_node("DequantizeLinear", t + "_DequantizeLinear",
                             {t + "_quantized", t + "_scale", t + "_zero_point"},
                             {t + "_dequantized"}));
  };
  for (const auto* in : onnxu::real_inputs(g))
    if (qdq.count(in->name())) emit_qdq(in->name(), head);

  // Weights: int8 symmetric, per output channel for Conv (axis 0) and Gemm (by transB).
  std::map<std::string, std::string> weight_dq;  // float weight name -> DQ output
  std::map<std::string, std::vector<float>> weight_scales;
  auto quantize_weight = [&](const onnx::NodeProto& n) -> Status {
    const std::string& w = n.input(1);
    if (weight_dq.count(w)) return Status::Ok();
    const auto* t = plan.inits.at(w);
    std::vector<int64_t> shape(t->dims().begin(), t->dims().end());
    int axis = 0;
    bool per_channel = options.per_channel && shape.size() >= 2;
    if (n.op_type() == "Gemm") {
      axis = onnxu::int_attr(n, "transB", 0) != 0 ? 0 : 1;
    } else if (n.op_type() == "MatMul") {
      per_channel = false;  // per-column MatMul scales are not fused by every runtime
    }
    auto values = onnxu::to_floats(*t);
    if (static_cast<int64_t>(values.size()) != onnxu::elements(*t))
      return Status::Error("weight '" + w + "' has no readable float data");
    auto q = quantize_weights(values, shape, axis, per_channel);
    const std::vector<int64_t> sdims =
        per_channel ? std::vector<int64_t>{static_cast<int64_t>(q.scales.size())}
                    : std::vector<int64_t>{};
    std::vector<int8_t> zps(q.scales.size(), 0);
    new_inits.push_back(make_tensor(w + "_quantized", onnx::TensorProto::INT8, shape, q.data.data(),
                                    q.data.size()));
    new_inits.push_back(make_tensor(w + "_scale", onnx::TensorProto::FLOAT, sdims, q.scales.data(),
                                    q.scales.size() * sizeof(float)));
    new_inits.push_back(
        make_tensor(w + "_zero_point", onnx::TensorProto::INT8, sdims, zps.data(), zps.size()));
    head.push_back(make_node("DequantizeLinear", w + "_DequantizeLinear",
                             {w + "_quantized", w + "_scale", w + "_zero_point"},
                             {w + "_dequantized"}, per_channel ? axis : -1));
    weight_dq[w] = w + "_dequantized";
    weight_scales[w] = q.scales;
    ++report.weights_quantized;
    return Status::Ok();
  };
  // Float constants feeding Add/Mul/Concat: uint8 with their own exact range.
  std::map<std::string, std::string> const_dq;
  auto quantize_constant = [&](const std::string& c) {
    if (const_dq.count(c)) return;
    auto values = onnxu::to_floats(*plan.inits.at(c));
    float lo = 0, hi = 0;
    for (float v : values) lo = std::min(lo, v), hi = std::max(hi, v);
    auto p = asymmetric_uint8_params(lo, hi);
    std::vector<uint8_t> q(values.size());
    for (size_t i = 0; i < values.size(); ++i) q[i] = quantize_uint8(values[i], p);
    const auto* t = plan.inits.at(c);
    std::vector<int64_t> shape(t->dims().begin(), t->dims().end());
    new_inits.push_back(
        make_tensor(c + "_quantized", onnx::TensorProto::UINT8, shape, q.data(), q.size()));
    scalar_params(c, p);
    head.push_back(make_node("DequantizeLinear", c + "_DequantizeLinear",
                             {c + "_quantized", c + "_scale", c + "_zero_point"},
                             {c + "_dequantized"}));
    const_dq[c] = c + "_dequantized";
  };

  std::vector<onnx::NodeProto> body;
  int bias_count = 0;
  for (int i = 0; i < g.node_size(); ++i) {
    onnx::NodeProto n = g.node(i);
    if (plan.quantize_node[i]) {
      ++report.nodes_quantized;
      const bool weighted = kWeightOps.count(n.op_type()) > 0;
      for (int slot : quantized_slots(n)) {
        if (slot >= n.input_size() || n.input(slot).empty()) continue;
        const std::string name = n.input(slot);
        if (qdq.count(name)) {
          n.set_input(slot, name + "_dequantized");
        } else if (plan.inits.count(name) &&
                   plan.types[name].elem_type == onnx::TensorProto::FLOAT) {
          if (weighted && slot == 1) {
            if (auto st = quantize_weight(n); !st) return st;
            n.set_input(1, weight_dq[name]);
          } else if (!weighted) {
            quantize_constant(name);
            n.set_input(slot, const_dq[name]);
          }
        }
      }
      // Bias: int32, scale = input scale * weight scale (per channel), zero point 0 — the form
      // QLinearConv takes, so the runtime fuses it instead of adding in float.
      if ((n.op_type() == "Conv" || n.op_type() == "Gemm") && n.input_size() > 2 &&
          plan.inits.count(n.input(2)) && qdq.count(g.node(i).input(0)) &&
          weight_scales.count(g.node(i).input(1))) {
        const std::string b = n.input(2);
        const auto& ws = weight_scales[g.node(i).input(1)];
        const float xs = act_params.count(g.node(i).input(0))
                             ? act_params[g.node(i).input(0)].scale
                             : asymmetric_uint8_params(ranges[g.node(i).input(0)].min,
                                                       ranges[g.node(i).input(0)].max)
                                   .scale;
        auto values = onnxu::to_floats(*plan.inits.at(b));
        if (!values.empty() && (ws.size() == 1 || ws.size() == values.size())) {
          std::vector<int32_t> q(values.size());
          std::vector<float> scales(ws.size());
          for (size_t c = 0; c < ws.size(); ++c) scales[c] = xs * ws[c];
          for (size_t c = 0; c < values.size(); ++c) {
            const float s = scales[ws.size() == 1 ? 0 : c];
            q[c] = static_cast<int32_t>(
                std::clamp<double>(std::round(values[c] / s), -2147483647.0, 2147483647.0));
          }
          const std::string base = b + "_quantized_" + std::to_string(bias_count++);
          std::vector<int32_t> zps(scales.size(), 0);
          const auto sdims = ws.size() == 1 ? std::vector<int64_t>{}
                                            : std::vector<int64_t>{static_cast<int64_t>(ws.size())};
          new_inits.push_back(make_tensor(base, onnx::TensorProto::INT32,
                                          {static_cast<int64_t>(q.size())}, q.data(),
                                          q.size() * sizeof(int32_t)));
          new_inits.push_back(make_tensor(base + "_scale", onnx::TensorProto::FLOAT, sdims,
                                          scales.data(), scales.size() * sizeof(float)));
          new_inits.push_back(make_tensor(base + "_zero_point", onnx::TensorProto::INT32, sdims,
                                          zps.data(), zps.size() * sizeof(int32_t)));
          head.push_back(make_node("DequantizeLinear", base + "_DequantizeLinear",
                                   {base, base + "_scale", base + "_zero_point"},
                                   {base + "_dequantized"}, ws.size() == 1 ? -1 : 0));
          n.set_input(2, base + "_dequantized");
        }
      }
    }
    for (int slot = 0; slot < n.input_size(); ++slot)
      if (plan.weighted_outputs.count(n.input(slot)) && qdq.count(n.input(slot)))
        n.set_input(slot, n.input(slot) + "_dequantized");
    body.push_back(std::move(n));
    for (const auto& o : g.node(i).output())
      if (qdq.count(o)) emit_qdq(o, body);
  }
  report.activations_quantized = static_cast<int>(qdq.size());
  for (const auto& x : floored) report.silu_inputs_floored += static_cast<int>(qdq.count(x));
  if (options.precision == QuantPrecision::kSpeed) report.silu_fused = fuse_silu_after_dq(body);
  if (options.int8_silu) {
    std::set<std::string> graph_outputs;
    for (const auto& o : g.output()) graph_outputs.insert(o.name());
    report.silu_tables = silu_to_table(body, act_params, plan.types, graph_outputs);
  }
  if (report.silu_tables > 0) {
    auto* o = model.add_opset_import();
    o->set_domain(kEdgevisionOpDomain);
    o->set_version(1);
  }
  if (report.silu_fused > 0) {
    bool has_ms = false;
    for (const auto& o : model.opset_import()) has_ms = has_ms || o.domain() == "com.microsoft";
    if (!has_ms) {
      auto* o = model.add_opset_import();
      o->set_domain("com.microsoft");
      o->set_version(1);
    }
  }
  for (const auto& n : g.node()) {  // graph order
    if (n.input_size() == 0 || n.output_size() == 0) continue;
    auto it = plan.fused_activations.find(n.input(0));
    if (it == plan.fused_activations.end() || it->second != n.output(0) || !qdq.count(n.output(0)))
      continue;
    report.fused_activations.push_back(n.output(0));
    spdlog::debug("quantize: {} quantized with the op before it (no Q/DQ on '{}')", n.name(),
                  n.input(0));
  }

  g.clear_node();
  for (auto& n : head) *g.add_node() = std::move(n);
  for (auto& n : body) *g.add_node() = std::move(n);
  for (auto& t : new_inits) *g.add_initializer() = std::move(t);
  // Drop float initializers nothing reads any more (the replaced weights and biases).
  std::set<std::string> used;
  for (const auto& n : g.node())
    for (const auto& in : n.input()) used.insert(in);
  for (const auto& o : g.output()) used.insert(o.name());
  google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
  std::set<std::string> dropped;
  for (auto& t : *g.mutable_initializer()) {
    if (used.count(t.name()))
      *kept.Add() = std::move(t);
    else
      dropped.insert(t.name());
  }
  g.mutable_initializer()->Swap(&kept);
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (auto& in : *g.mutable_input())
    if (!dropped.count(in.name())) *inputs.Add() = std::move(in);
  g.mutable_input()->Swap(&inputs);

  if (target_opset != opset) {
    spdlog::info("quantize: opset {} -> {} (per-channel DequantizeLinear needs 13)", opset,
                 target_opset);
    onnxu::set_default_opset(model, target_opset);
  }
  report.opset = target_opset;
  model.set_producer_name("edgevision-quantize");
  if (auto st = onnxu::check(model); !st)
    return R::Error("quantized graph is invalid: " + st.message());
  if (auto st = onnxu::save(model, output); !st) return st;
  report.output_bytes = static_cast<int64_t>(std::filesystem::file_size(output, ec));
  return report;
}

namespace {

// Nodes write_qdq_model would quantize under `options`, in graph order: the sensitivity probes.
Result<std::vector<std::pair<int, const onnx::NodeProto*>>> quantized_nodes(
    const onnx::ModelProto& model, const QuantizeOptions& options) {
  auto plan = make_plan(model, options);
  if (!plan) return plan.status();
  std::vector<std::pair<int, const onnx::NodeProto*>> out;
  for (int i = 0; i < model.graph().node_size(); ++i)
    if (plan->quantize_node[i] && !plan->followers.count(i))
      out.emplace_back(i, &model.graph().node(i));
  return out;
}

// Smallest k in (lo, hi] with passes(k), assuming passes is monotone; passes(hi) known true.
template <typename F>
int bisect(int lo, int hi, F&& passes) {
  while (hi - lo > 1) {
    const int mid = lo + (hi - lo) / 2;
    if (passes(mid))
      hi = mid;
    else
      lo = mid;
  }
  return hi;
}

struct TempDir {
  std::filesystem::path path;
  ~TempDir() {
    std::error_code ec;
    if (!path.empty()) std::filesystem::remove_all(path, ec);
  }
};

// The accuracy guard's fields (QuantizeReport, "Accuracy guard") onto the written model's report,
// in one place so that a new guard field cannot be lost on one path.
void copy_guard_fields(const QuantizeReport& guard, QuantizeReport& to) {
  to.quality_checked = guard.quality_checked;
  to.quality_metric = guard.quality_metric;
  to.quality = guard.quality;
  to.quality_target = guard.quality_target;
  to.reference_score = guard.reference_score;
  to.full_int8_quality = guard.full_int8_quality;
  to.target_met = guard.target_met;
  to.holdout_images = guard.holdout_images;
  to.nodes_probed = guard.nodes_probed;
  to.candidates_evaluated = guard.candidates_evaluated;
  to.search_s = guard.search_s;
  to.kept_float = guard.kept_float;
  to.search_steps = guard.search_steps;
}

}  // namespace

std::vector<std::filesystem::path> holdout_split(std::vector<std::filesystem::path>& images,
                                                 int holdout_images) {
  const int n = static_cast<int>(images.size());
  const int h = holdout_images > 0 ? holdout_images : std::clamp(n / 3, 4, 48);
  if (n - h < std::max(1, h / 2)) return images;  // too few: the check reuses them all
  std::vector<std::filesystem::path> held(images.end() - h, images.end());
  images.resize(n - h);
  return held;
}

Result<std::vector<std::filesystem::path>> holdout_images(const QuantizeOptions& options) {
  auto images = list_calibration_images(options.calib_dir, options.max_images);
  if (!images) return images.status();
  return holdout_split(*images, options.holdout_images);
}

Result<QuantizeReport> quantize_model(const QuantizeOptions& options) {
  using R = Result<QuantizeReport>;
  QuantizeOptions base = options;
  base.only_nodes.clear();
  auto needed = tensors_to_calibrate(options.model, base);
  if (!needed) return needed.status();
  if (options.check_quality && options.auto_float) {
    // The search may keep a Conv in float and quantize the Relu after it: the Relu's input
    // then needs a range of its own (the fused unit only calibrates the Relu output).
    auto proto = onnxu::load(options.model);
    if (!proto) return proto.status();
    onnxu::constants_to_initializers(*proto->mutable_graph());
    auto plan = make_plan(*proto, base);
    if (!plan) return plan.status();
    for (const auto& [x, y] : plan->fused_activations) {
      (void)y;
      if (std::find(needed->begin(), needed->end(), x) == needed->end()) needed->push_back(x);
    }
  }
  if (needed->empty())
    return R::Error("nothing to quantize in " + options.model.string() +
                    " (no Conv/Gemm/MatMul/Add/Mul/... on float tensors outside --exclude)");
  auto sha = sha256_file(options.model);
  if (!sha) return sha.status();

  // Held-back images: the last ones (sorted by name) are kept out of calibration and used to
  // judge the result, so the check does not grade the ranges on the images that set them.
  std::vector<std::filesystem::path> calib_images, holdout;
  if (!options.calib_dir.empty()) {
    auto images = list_calibration_images(options.calib_dir, options.max_images);
    if (!images) return images.status();
    calib_images = *images;
    if (options.check_quality) {
      const int n = static_cast<int>(calib_images.size());
      holdout = holdout_split(calib_images, options.holdout_images);
      if (static_cast<int>(holdout.size()) == n)
        spdlog::warn(
            "quantize: only {} calibration images; the quality check reuses them (give >= {} "
            "images to hold some back)",
            n, 2 * static_cast<int>(holdout.size()));
    }
  } else if (options.check_quality && !options.force) {
    return R::Error(
        "the quality check needs --calib images (a calibration cache alone cannot tell whether "
        "the INT8 model still works); pass --calib DIR, or --force to skip the check");
  }

  CalibrationTable table;
  bool from_cache = false;
  if (!options.calib_cache.empty() && std::filesystem::exists(options.calib_cache)) {
    auto cached = load_calibration_table(options.calib_cache);
    if (!cached) {
      spdlog::warn("quantize: {}; calibrating again", cached.error());
    } else if (cached->model_sha256 != *sha || cached->method != to_string(options.method) ||
               (options.method == CalibrationMethod::kPercentile &&
                cached->percentile != options.percentile)) {
      spdlog::warn(
          "quantize: calibration cache {} is for another model or method ({}); "
          "calibrating again",
          options.calib_cache.string(), cached->method);
    } else {
      bool complete = true;
      for (const auto& t : *needed) complete = complete && cached->ranges.count(t);
      if (complete) {
        table = std::move(*cached);
        from_cache = true;
        spdlog::info("quantize: using calibration cache {} ({} tensors, {} images)",
                     options.calib_cache.string(), table.ranges.size(), table.images);
      } else {
        spdlog::warn("quantize: calibration cache lacks tensors needed now; calibrating again");
      }
    }
  }
  double calib_s = 0;
  if (!from_cache) {
    if (options.calib_dir.empty())
      return R::Error("--calib DIR is required (no usable calibration cache)");
    CalibrationOptions co;
    co.method = options.method;
    co.percentile = options.percentile;
    co.threads = options.threads;
    co.progress = options.progress;
    auto t0 = std::chrono::steady_clock::now();
    auto calibrated = calibrate(options.model, *needed, calib_images, options.preprocess, co);
    if (!calibrated) return calibrated.status();
    calib_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    table = std::move(*calibrated);
    table.model_sha256 = *sha;
    if (!options.calib_cache.empty()) {
      if (auto st = save_calibration_table(table, options.calib_cache); !st)
        spdlog::warn("quantize: {}", st.message());
      else
        spdlog::info("quantize: calibration cache written to {}", options.calib_cache.string());
    }
  }

  // The refused and the written report both say how the calibration table was made.
  auto add_calibration_facts = [&](QuantizeReport& r) {
    r.images = table.images;
    r.cache_used = from_cache;
    r.calibration_s = calib_s;
  };
  QuantizeOptions chosen = base;
  QuantizeReport guard;
  if (options.check_quality && !holdout.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    TempDir tmp;
    tmp.path = std::filesystem::temp_directory_path() /
               ("edgevision-quantize-" + std::to_string(::getpid()));
    std::error_code ec;
    std::filesystem::create_directories(tmp.path, ec);
    if (ec) return R::Error("cannot create " + tmp.path.string() + ": " + ec.message());
    // Same file name as the model, so a metric that looks the model up by name (manifest
    // pre-processing and decoder) treats the candidate like the original.
    const auto candidate = tmp.path / options.model.filename();
    auto holdout_ref = reference_run(options.model, holdout, options.preprocess, options.threads);
    if (!holdout_ref) return holdout_ref.status();
    guard.holdout_images = static_cast<int>(holdout_ref->inputs.size());
    const bool use_metric = static_cast<bool>(options.metric);
    guard.quality_metric = use_metric ? options.metric_name : "sqnr_db";
    if (use_metric) {
      auto ref_score = options.metric(options.model, holdout);
      if (!ref_score) return R::Error("FP32 model: " + ref_score.error());
      guard.reference_score = *ref_score;
      guard.quality_target = *ref_score - options.max_drop;
    } else {
      guard.quality_target = options.min_sqnr_db;
    }
    auto write_candidate = [&](const QuantizeOptions& o) -> Status {
      auto r = write_qdq_model(options.model, candidate, table, o);
      return r ? Status::Ok() : r.status();
    };
    auto quality_of = [&](const QuantizeOptions& o) -> Result<double> {
      if (Status st = write_candidate(o); !st) return st;
      ++guard.candidates_evaluated;
      if (use_metric) return options.metric(candidate, holdout);
      return candidate_sqnr_db(candidate, *holdout_ref, options.threads);
    };
    bool all_float = false;
    auto full = quality_of(base);
    if (!full) return full.status();
    guard.full_int8_quality = *full;
    guard.quality = *full;
    guard.search_steps.emplace_back(0, *full);
    spdlog::info("quantize: every quantizable node in INT8: {} {:.2f} (target {} {:.2f})",
                 guard.quality_metric, *full, use_metric ? ">=" : ">=", guard.quality_target);
    if (*full < guard.quality_target && options.auto_float) {
      // Sensitivity: the output SQNR on a few calibration images with only one node quantized.
      auto proto = onnxu::load(options.model);
      if (!proto) return proto.status();
      onnxu::constants_to_initializers(*proto->mutable_graph());
      auto nodes = quantized_nodes(*proto, base);
      if (!nodes) return nodes.status();
      std::vector<std::filesystem::path> probe_images(
          calib_images.begin(),
          calib_images.begin() +
              std::min<size_t>(calib_images.size(), std::max(1, options.probe_images)));
      if (probe_images.empty()) probe_images = holdout;
      auto probe_ref =
          reference_run(options.model, probe_images, options.preprocess, options.threads);
      if (!probe_ref) return probe_ref.status();
      std::vector<FloatNode> ranked;
      ProgressBar bar("sensitivity", static_cast<int64_t>(nodes->size()), "node");
      if (!options.progress) bar.force_enabled(false);
      for (const auto& [index, node] : *nodes) {
        QuantizeOptions o = base;
        o.only_nodes = {index};
        bar.add();
        if (Status st = write_candidate(o); !st) return st;
        auto q = candidate_sqnr_db(candidate, *probe_ref, options.threads);
        if (!q) return q.status();
        FloatNode f;
        f.node = onnxu::node_label(*node, index);
        f.op = node->op_type();
        f.index = index;
        f.sqnr_db_alone = *q;
        ranked.push_back(std::move(f));
      }
      bar.finish();
      guard.nodes_probed = static_cast<int>(ranked.size());
      std::stable_sort(ranked.begin(), ranked.end(), [](const FloatNode& a, const FloatNode& b) {
        return a.sqnr_db_alone < b.sqnr_db_alone;
      });
      std::map<int, double> tried{{0, *full}};
      // kAll: a fragile node in the first half of the graph keeps everything before it float
      // too. Those layers run on the largest tensors, where every float island between int8
      // ones costs a DequantizeLinear, a QuantizeLinear and NCHWc reorders: the top-k nodes
      // alone left YOLOX-nano 57 float nodes in ~20 islands at 0.89x FP32, one float region
      // from the input as many float layers at 0.65x (bench/README.md "INT8 SiLU as one
      // table"). Fragile nodes in the second half stay float on their own.
      const int half = proto->graph().node_size() / 2;
      // Position in `ranked` of the latest first-half node among the top k (kAll), or -1:
      // every node up to it stays float.
      auto region_end = [&](int k) {
        int end = -1;
        if (base.precision == QuantPrecision::kAll)
          for (int i = 0; i < k; ++i)
            if (ranked[i].index < half && (end < 0 || ranked[i].index > ranked[end].index)) end = i;
        return end;
      };
      auto float_set = [&](int k) {
        std::set<int> out;
        for (int i = 0; i < k; ++i) out.insert(ranked[i].index);
        if (const int end = region_end(k); end >= 0)
          for (const auto& node : *nodes)
            if (node.first <= ranked[end].index) out.insert(node.first);
        return out;
      };
      auto with_top = [&](int k) {
        QuantizeOptions o = base;
        for (int index : float_set(k)) o.float_nodes.push_back(index);
        return o;
      };
      Status failure = Status::Ok();
      auto passes = [&](int k) {
        if (!tried.count(k)) {
          auto q = quality_of(with_top(k));
          if (!q) {
            failure = q.status();
            return true;  // stop the search; reported below
          }
          tried[k] = *q;
          guard.search_steps.emplace_back(k, *q);
          spdlog::info("quantize: {} most sensitive nodes in float: {} {:.2f}", k,
                       guard.quality_metric, *q);
        }
        return tried[k] >= guard.quality_target;
      };
      const int n = static_cast<int>(ranked.size());
      if (n == 0) return R::Error("no node to keep in float: nothing was quantized");
      int lo = 0, hi = 1;
      while (hi < n && !passes(hi)) {
        lo = hi;
        hi = std::min(n, hi * 2);
      }
      int k = hi;
      if (failure.ok() && passes(hi) && failure.ok()) k = bisect(lo, hi, passes);
      if (!failure.ok()) return failure;
      // Not met even with every probed node in float: keep the best step tried.
      if (tried[k] < guard.quality_target) {
        for (const auto& [kk, q] : tried)
          if (q > tried[k]) k = kk;
      }
      chosen = with_top(k);
      guard.quality = tried[k];
      // Everything in float is no INT8 model at all: that is a failure, not a result.
      if (k >= n) {
        all_float = true;
        spdlog::warn("quantize: the target is met only with every quantizable node in float");
      }
      std::set<int> in_top;
      for (int i = 0; i < k; ++i) {
        FloatNode f = ranked[i];
        in_top.insert(f.index);
        f.reason = fmt::format(
            "rank {} of {} by sensitivity: {:.1f} dB output SQNR when only it is "
            "INT8",
            i + 1, n, f.sqnr_db_alone);
        guard.kept_float.push_back(std::move(f));
      }
      const int end = region_end(k);
      const std::set<int> chosen_float = float_set(k);
      for (const auto& f : ranked) {
        if (end < 0 || in_top.count(f.index) || !chosen_float.count(f.index)) continue;
        FloatNode g = f;
        g.reason = "before " + ranked[end].node + " (one float region from the input)";
        guard.kept_float.push_back(std::move(g));
      }
    }
    guard.quality_checked = true;
    guard.target_met = !all_float && guard.quality >= guard.quality_target;
    guard.search_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!guard.target_met && !options.force) {
      QuantizeReport refused = guard;
      refused.written = false;
      add_calibration_facts(refused);
      std::filesystem::remove(options.output, ec);
      return refused;
    }
  }
  auto report = write_qdq_model(options.model, options.output, table, chosen);
  if (!report) return report;
  copy_guard_fields(guard, *report);
  add_calibration_facts(*report);
  // Smoke test: the runtime must load and run what was written.
  BackendOptions bo;
  bo.threads = options.threads;
  auto be = create_backend("onnxruntime", options.output, bo);
  if (!be)
    return R::Error("the quantized model was written but ONNX Runtime cannot load it: " +
                    be.error());
  return report;
}

}  // namespace ev
