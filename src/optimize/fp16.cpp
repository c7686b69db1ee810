// FP16 conversion. Two modes (docs/optimization.md, "FP16"):
//  * full: the graph computes in float16. Every float32 value (initializer, Constant, node
//    output, value_info, Cast(to=FLOAT) target) becomes FLOAT16, except where the ONNX schema of
//    the model's opset has no float16 form for an op or an input (Resize scales, ...), where the
//    op is unknown, or where the user --exclude'd the node: those stay float32 behind Casts.
//    Graph inputs/outputs stay float32 with one Cast at the boundary unless fp16_io.
//  * weights-only: float32 initializers are stored as float16 followed by Cast(to=FLOAT); the
//    arithmetic stays float32.
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <set>

#include <onnx/defs/schema.h>
#include <spdlog/spdlog.h>

#include "edgevision/backend.hpp"
#include "edgevision/quantize.hpp"
#include "optimize/onnx_util.hpp"

namespace ev {

// IEEE 754 binary16 with round-to-nearest-even; written here because neither OpenCV's
// cv::float16_t nor the ONNX headers give a plain function over a buffer that we can rely on
// being the same rounding on every platform.
uint16_t float_to_half(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u : 0));
  int e = static_cast<int>(exp) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  const uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: ok
  return static_cast<uint16_t>(sign | half);
}

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t mant = h & 0x3ffu;
  float mag;
  if (exp == 0)
    mag = std::ldexp(static_cast<float>(mant), -24);  // subnormal (or zero)
  else if (exp == 31)
    mag = mant ? std::numeric_limits<float>::quiet_NaN() : std::numeric_limits<float>::infinity();
  else
    mag = std::ldexp(static_cast<float>(mant | 0x400u), static_cast<int>(exp) - 25);
  uint32_t bits;
  std::memcpy(&bits, &mag, 4);
  bits |= sign;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

namespace {

constexpr float kHalfMax = 65504.f;
using TP = onnx::TensorProto;

// Converts a FLOAT tensor to FLOAT16 in place, clamping finite values beyond +-65504 (infinities
// and NaN are representable and kept) and counting clamped and flushed-to-zero values.
void tensor_to_half(TP& t, Fp16Report& report) {
  const auto values = onnxu::to_floats(t);
  std::vector<uint16_t> half(values.size());
  int64_t clamped = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    float v = values[i];
    if (std::isfinite(v) && std::fabs(v) > kHalfMax) {
      v = std::copysign(kHalfMax, v);
      ++clamped;
    }
    half[i] = float_to_half(v);
    if (v != 0.f && (half[i] & 0x7fffu) == 0) ++report.values_flushed;
  }
  if (clamped > 0)
    spdlog::warn("fp16: {} value(s) of '{}' exceed the float16 range and are clamped to +-{}",
                 clamped, t.name(), kHalfMax);
  report.values_clamped += clamped;
  t.set_data_type(TP::FLOAT16);
  t.clear_float_data();
  t.set_raw_data(std::string(reinterpret_cast<const char*>(half.data()), half.size() * 2));
}

onnx::NodeProto make_cast(const std::string& in, const std::string& out, int32_t to) {
  onnx::NodeProto cast;
  cast.set_op_type("Cast");
  cast.set_name(out + "_Cast");
  cast.add_input(in);
  cast.add_output(out);
  auto* a = cast.add_attribute();
  a->set_name("to");
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(to);
  return cast;
}

// Constant nodes whose value is a float/floats attribute, turned into plain tensors so that
// constants_to_initializers moves them (it takes `value` only).
void float_attr_constants_to_tensors(onnx::GraphProto& g) {
  for (auto& n : *g.mutable_node()) {
    if (n.op_type() != "Constant" || !n.domain().empty() || n.attribute_size() != 1) continue;
    const auto a = n.attribute(0);
    if (a.name() != "value_float" && a.name() != "value_floats") continue;
    onnx::TensorProto t;
    t.set_data_type(TP::FLOAT);
    if (a.name() == "value_float") {
      t.add_float_data(a.f());
    } else {
      t.add_dims(a.floats_size());
      for (float f : a.floats()) t.add_float_data(f);
    }
    n.clear_attribute();
    auto* v = n.add_attribute();
    v->set_name("value");
    v->set_type(onnx::AttributeProto::TENSOR);
    *v->mutable_t() = std::move(t);
  }
}

bool allows_fp16(const onnx::OpSchema::FormalParameter& p) {
  for (const auto* t : p.GetTypes())
    if (t && *t == "tensor(float16)") return true;
  return false;
}

// The formal parameter behind actual input/output `slot` (variadic last parameters repeat).
const onnx::OpSchema::FormalParameter* formal(
    const std::vector<onnx::OpSchema::FormalParameter>& ps, int slot) {
  if (slot < static_cast<int>(ps.size())) return &ps[slot];
  if (!ps.empty() && ps.back().GetOption() == onnx::OpSchema::Variadic) return &ps.back();
  return nullptr;
}

// Inputs kept float32 even where the schema would take float16: interpolation coordinates and
// scale factors lose exactness in float16 (a scale of 1/3 or an roi of 0.1) and TensorRT,
// DirectML and ORT's CUDA EP all read them as float32. (Resize scales is tensor(float) in every
// opset anyway; roi is T2 with float16 allowed.)
bool blocked_input(const onnx::NodeProto& n, int slot) {
  if (n.op_type() == "Resize") return slot == 1 || slot == 2;
  if (n.op_type() == "Upsample") return slot == 1;
  return false;
}

enum Prec { kF32 = 0, kF16 = 1 };

Result<Fp16Report> convert_full(onnx::ModelProto& model, const Fp16Options& options,
                                Fp16Report report) {
  using R = Result<Fp16Report>;
  auto& g = *model.mutable_graph();
  for (int i = 0; i < g.node_size(); ++i)
    if (onnxu::has_subgraph(g.node(i)))
      return R::Error("--fp16 does not convert control flow (" + onnxu::node_label(g.node(i), i) +
                      " has a subgraph); use --fp16-weights-only for this model");
  float_attr_constants_to_tensors(g);
  onnxu::constants_to_initializers(g);

  int unknown = 0;
  auto types = onnxu::infer_types(model, {}, &unknown);
  if (!types) return types.status();
  auto elem = [&](const std::string& name) {
    auto it = types->find(name);
    return it == types->end() ? 0 : it->second.elem_type;
  };
  auto is_float = [&](const std::string& name) { return !name.empty() && elem(name) == TP::FLOAT; };

  std::map<std::string, int> opsets;
  for (const auto& o : model.opset_import())
    opsets[o.domain() == "ai.onnx" ? "" : o.domain()] = static_cast<int>(o.version());
  report.opset = opsets[""];

  auto excluded = onnxu::excluded_nodes(g, options.exclude);
  if (!excluded) return excluded.status();

  std::set<std::string> used;  // every tensor name, for fresh ones
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : g.initializer()) {
    used.insert(t.name());
    inits[t.name()] = &t;
  }
  for (const auto& v : g.input()) used.insert(v.name());
  for (const auto& v : g.value_info()) used.insert(v.name());
  for (const auto& n : g.node())
    for (const auto& o : n.output()) used.insert(o);
  auto fresh = [&](const std::string& base) {
    std::string name = base;
    for (int k = 1; used.count(name); ++k) name = base + "_" + std::to_string(k);
    used.insert(name);
    return name;
  };

  // ---- which nodes compute in float16, and the precision each float input slot reads
  const int n_nodes = g.node_size();
  report.nodes_total = n_nodes;
  std::vector<bool> fp16_node(n_nodes, false);
  std::vector<std::vector<Prec>> slot_prec(n_nodes);
  for (int i = 0; i < n_nodes; ++i) {
    const auto& n = g.node(i);
    bool has_float = false, has_unknown = false;
    for (const auto& t : n.input()) {
      has_float = has_float || is_float(t);
      has_unknown = has_unknown || (!t.empty() && elem(t) == 0);
    }
    for (const auto& t : n.output()) {
      has_float = has_float || is_float(t);
      has_unknown = has_unknown || (!t.empty() && elem(t) == 0);
    }
    slot_prec[i].assign(n.input_size(), kF32);
    const std::string label = onnxu::node_label(n, i);
    if ((*excluded)[i]) report.excluded_nodes.push_back(label);
    if (!has_float) continue;  // nothing to convert (shape arithmetic, integer ops)
    const std::string domain = n.domain() == "ai.onnx" ? "" : n.domain();
    std::string reason;
    const onnx::OpSchema* schema = nullptr;
    if ((*excluded)[i]) {
      reason = "--exclude";
    } else if (has_unknown) {
      reason = "tensor of unknown type";
    } else if (n.op_type() == "Constant") {
      reason = "Constant without a dense value";
    } else if (!(schema = onnx::OpSchemaRegistry::Schema(n.op_type(), opsets[domain], domain))) {
      reason = "no ONNX schema for " + (domain.empty() ? "" : domain + ".") + n.op_type() +
               " at opset " + std::to_string(opsets[domain]);
    } else {
      for (int k = 0; k < n.output_size() && reason.empty(); ++k) {
        if (!is_float(n.output(k))) continue;
        const auto* p = formal(schema->outputs(), k);
        if (!p || !allows_fp16(*p))
          reason = "output '" + (p ? p->GetName() : n.output(k)) + "' has no float16 type in " +
                   n.op_type() + "-" + std::to_string(schema->SinceVersion());
      }
    }
    if (!reason.empty()) {
      report.kept_fp32.push_back(label + ": " + reason);
      continue;
    }
    fp16_node[i] = true;
    ++report.nodes_fp16;
    for (int k = 0; k < n.input_size(); ++k) {
      if (!is_float(n.input(k))) continue;
      const auto* p = formal(schema->inputs(), k);
      slot_prec[i][k] = p && allows_fp16(*p) && !blocked_input(n, k) ? kF16 : kF32;
    }
  }

  // ---- initializers: float16 when a float16 slot reads them, a float16 copy when float32
  // slots read them too (Resize scales shared with a Mul, say), float32 when only float32 slots do
  const Prec io_prec = options.fp16_io ? kF16 : kF32;
  std::set<std::string> outputs;
  for (const auto& o : g.output()) outputs.insert(o.name());
  std::map<std::string, std::array<bool, 2>> wants;
  for (int i = 0; i < n_nodes; ++i)
    for (int k = 0; k < g.node(i).input_size(); ++k)
      if (is_float(g.node(i).input(k))) wants[g.node(i).input(k)][slot_prec[i][k]] = true;
  for (const auto& o : outputs) wants[o][io_prec] = true;

  // avail[name][prec]: the tensor holding value `name` in that precision, once it exists.
  std::map<std::string, std::array<std::string, 2>> avail;
  std::vector<onnx::TensorProto> copies;
  for (auto& t : *g.mutable_initializer()) {
    if (t.data_type() != TP::FLOAT) continue;
    const auto w = wants[t.name()];
    if (w[kF16] && w[kF32]) {
      onnx::TensorProto c = t;
      c.set_name(fresh(t.name() + "_fp16"));
      tensor_to_half(c, report);
      avail[t.name()][kF32] = t.name();
      avail[t.name()][kF16] = c.name();
      copies.push_back(std::move(c));
      ++report.initializers_converted;
      ++report.initializers_kept_fp32;
    } else if (w[kF32]) {
      avail[t.name()][kF32] = t.name();
      ++report.initializers_kept_fp32;
    } else {
      tensor_to_half(t, report);
      avail[t.name()][kF16] = t.name();
      ++report.initializers_converted;
    }
  }
  for (auto& c : copies) *g.add_initializer() = std::move(c);
  // Initializers listed as graph inputs (IR < 4) follow their initializer's type.
  for (auto& in : *g.mutable_input()) {
    auto it = avail.find(in.name());
    if (inits.count(in.name()) && it != avail.end() && it->second[kF32].empty())
      in.mutable_type()->mutable_tensor_type()->set_elem_type(TP::FLOAT16);
  }

  // ---- real graph inputs
  std::vector<onnx::NodeProto> prologue;
  std::vector<std::vector<onnx::NodeProto>> after(n_nodes);
  for (auto* in : onnxu::real_inputs(g)) {
    if (!is_float(in->name())) continue;
    avail[in->name()][io_prec] = in->name();
  }
  if (options.fp16_io)
    for (auto& in : *g.mutable_input())
      if (!inits.count(in.name()) && is_float(in.name()))
        in.mutable_type()->mutable_tensor_type()->set_elem_type(TP::FLOAT16);

  // ---- node outputs; graph outputs computed in the other precision get renamed and Cast back
  std::map<std::string, int> producer;
  for (int i = 0; i < n_nodes; ++i) {
    auto& n = *g.mutable_node(i);
    const Prec p = fp16_node[i] ? kF16 : kF32;
    for (int k = 0; k < n.output_size(); ++k) {
      const std::string name = n.output(k);
      if (!is_float(name)) continue;
      producer[name] = i;
      if (outputs.count(name) && p != io_prec) {
        const std::string inner = fresh(name + (p == kF16 ? "_fp16" : "_fp32"));
        n.set_output(k, inner);
        avail[name][p] = inner;
        avail[name][io_prec] = name;
        after[i].push_back(make_cast(inner, name, io_prec == kF16 ? TP::FLOAT16 : TP::FLOAT));
      } else {
        avail[name][p] = name;
      }
    }
  }
  // The tensor holding `name` in precision p, with a Cast placed right after the producer (or
  // at the top for graph inputs) made on first use and shared by every later reader.
  auto get = [&](const std::string& name, Prec p) -> std::string {
    auto& a = avail[name];
    if (!a[p].empty()) return a[p];
    const std::string src = a[1 - p];
    if (src.empty()) return name;  // not produced in this graph: leave the reference alone
    const std::string out = fresh(name + (p == kF16 ? "_fp16" : "_fp32"));
    auto cast = make_cast(src, out, p == kF16 ? TP::FLOAT16 : TP::FLOAT);
    auto it = producer.find(name);
    if (it == producer.end())
      prologue.push_back(std::move(cast));
    else
      after[it->second].push_back(std::move(cast));
    a[p] = out;
    return out;
  };
  for (int i = 0; i < n_nodes; ++i) {
    auto& n = *g.mutable_node(i);
    for (int k = 0; k < n.input_size(); ++k)
      if (is_float(n.input(k))) n.set_input(k, get(n.input(k), slot_prec[i][k]));
    if (!fp16_node[i]) continue;
    for (auto& a : *n.mutable_attribute()) {
      if ((a.name() == "to" || a.name() == "dtype") && a.type() == onnx::AttributeProto::INT &&
          a.i() == TP::FLOAT) {
        a.set_i(TP::FLOAT16);
        // float16 holds integers exactly only up to 2048: shape arithmetic done in float
        // (Shape -> Cast -> Mul -> Floor -> Cast) could round sizes. Said, not guessed at.
        if (n.op_type() == "Cast" && n.input_size() > 0 && elem(n.input(0)) != 0 &&
            !is_float(n.input(0))) {
          spdlog::warn(
              "fp16: {} casts an integer tensor to float16 (exact only up to 2048); if it "
              "computes shapes or sizes, keep that chain in float32 with --exclude",
              onnxu::node_label(n, i));
          ++report.integer_casts_to_fp16;
        }
      }
      if (n.op_type() == "ConstantOfShape" && a.name() == "value" && a.t().data_type() == TP::FLOAT)
        tensor_to_half(*a.mutable_t(), report);
    }
    const bool no_value = [&] {
      for (const auto& a : n.attribute())
        if (a.name() == "value" || a.name() == "dtype") return false;
      return true;
    }();
    if (no_value && n.op_type() == "ConstantOfShape") {  // default: float32 zeros
      auto* a = n.add_attribute();
      a->set_name("value");
      a->set_type(onnx::AttributeProto::TENSOR);
      a->mutable_t()->set_data_type(TP::FLOAT16);
      a->mutable_t()->add_dims(1);
      const uint16_t zero = 0;
      a->mutable_t()->set_raw_data(std::string(reinterpret_cast<const char*>(&zero), 2));
    } else if (no_value && (n.op_type() == "RandomNormal" || n.op_type() == "RandomUniform")) {
      auto* a = n.add_attribute();  // default dtype: float32
      a->set_name("dtype");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(TP::FLOAT16);
    }
  }
  // Graph outputs fed straight by an input or initializer in the other precision.
  for (const auto& o : outputs)
    if (is_float(o) && !producer.count(o) && avail[o][io_prec] != o)
      spdlog::warn("fp16: graph output '{}' is a graph input or initializer; left as it is", o);

  // ---- assemble: input Casts, then each node followed by the Casts of its outputs
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& c : prologue) *nodes.Add() = std::move(c);
  report.casts_inserted = static_cast<int>(prologue.size());
  for (int i = 0; i < n_nodes; ++i) {
    *nodes.Add() = std::move(*g.mutable_node(i));
    for (auto& c : after[i]) *nodes.Add() = std::move(c);
    report.casts_inserted += static_cast<int>(after[i].size());
  }
  g.mutable_node()->Swap(&nodes);

  // ---- declared types
  if (options.fp16_io)
    for (auto& o : *g.mutable_output())
      if (is_float(o.name())) o.mutable_type()->mutable_tensor_type()->set_elem_type(TP::FLOAT16);
  for (auto& v : *g.mutable_value_info()) {
    if (!is_float(v.name()) || outputs.count(v.name())) continue;
    const auto& a = avail[v.name()];
    if (a[kF32] != v.name() && a[kF16] == v.name())
      v.mutable_type()->mutable_tensor_type()->set_elem_type(TP::FLOAT16);
  }
  if (unknown > 0) spdlog::debug("fp16: shape inference left {} tensor shapes unknown", unknown);
  return report;
}

Result<Fp16Report> convert_weights_only(onnx::ModelProto& model, const Fp16Options& options,
                                        Fp16Report report) {
  auto& g = *model.mutable_graph();
  onnxu::constants_to_initializers(g);
  report.nodes_total = g.node_size();
  auto excluded = onnxu::excluded_nodes(g, options.exclude);
  if (!excluded) return excluded.status();
  // Initializers read only by --exclude'd nodes keep float32 storage.
  std::map<std::string, std::array<int, 2>> readers;  // [excluded, other]
  for (int i = 0; i < g.node_size(); ++i) {
    if ((*excluded)[i]) report.excluded_nodes.push_back(onnxu::node_label(g.node(i), i));
    for (const auto& in : g.node(i).input()) ++readers[in][(*excluded)[i] ? 0 : 1];
  }
  std::vector<onnx::NodeProto> casts;
  for (auto& t : *g.mutable_initializer()) {
    if (t.data_type() != TP::FLOAT) continue;
    const auto r = readers[t.name()];
    // Tiny tensors (shape constants, scales) gain nothing.
    if (onnxu::elements(t) < 16 || (r[0] > 0 && r[1] == 0)) {
      ++report.initializers_kept_fp32;
      continue;
    }
    const std::string name = t.name();
    tensor_to_half(t, report);
    t.set_name(name + "_fp16");
    casts.push_back(make_cast(name + "_fp16", name, TP::FLOAT));
    ++report.initializers_converted;
  }
  report.casts_inserted = static_cast<int>(casts.size());
  // Initializers listed as graph inputs (IR < 4) must follow the rename or be dropped.
  std::set<std::string> renamed;
  for (const auto& c : casts) renamed.insert(c.output(0));
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
  for (auto& in : *g.mutable_input())
    if (!renamed.count(in.name())) *inputs.Add() = std::move(in);
  g.mutable_input()->Swap(&inputs);
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& c : casts) *nodes.Add() = std::move(c);
  for (auto& n : *g.mutable_node()) *nodes.Add() = std::move(n);
  g.mutable_node()->Swap(&nodes);
  return report;
}

}  // namespace

Result<Fp16Report> convert_fp16(const std::filesystem::path& model_path,
                                const std::filesystem::path& output, const Fp16Options& options) {
  using R = Result<Fp16Report>;
  auto loaded = onnxu::load(model_path);
  if (!loaded) return loaded.status();
  onnx::ModelProto model = std::move(*loaded);
  Fp16Report base;
  base.mode = options.mode == Fp16Mode::kFull ? "fp16" : "fp16-weights";
  base.fp16_io = options.mode == Fp16Mode::kFull && options.fp16_io;
  base.opset = onnxu::default_opset(model);
  std::error_code ec;
  base.input_bytes = static_cast<int64_t>(std::filesystem::file_size(model_path, ec));
  auto report = options.mode == Fp16Mode::kFull ? convert_full(model, options, std::move(base))
                                                : convert_weights_only(model, options, base);
  if (!report) return report;
  if (report->values_clamped > 0)
    spdlog::warn("fp16: {} value(s) in total clamped to +-{}", report->values_clamped, kHalfMax);
  model.set_producer_name(options.mode == Fp16Mode::kFull ? "edgevision-fp16"
                                                          : "edgevision-fp16-weights");
  if (auto st = onnxu::check(model); !st) return R::Error("FP16 graph is invalid: " + st.message());
  if (auto st = onnxu::save(model, output); !st) return st;
  report->output_bytes = static_cast<int64_t>(std::filesystem::file_size(output, ec));
  if (options.check_runtime) {
    // Smoke test: the runtime must load what was written (on the CPU EP ORT inserts Casts
    // around ops that have no float16 kernel).
    BackendOptions bo;
    bo.threads = 1;
    auto be = create_backend("onnxruntime", output, bo);
    if (!be)
      return R::Error("the FP16 model was written but ONNX Runtime cannot load it: " + be.error());
  }
  return report;
}

}  // namespace ev
