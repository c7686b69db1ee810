#include "backend/onnx_rewrites.hpp"

#include "backend/onnx_proto.hpp"

#include <array>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>

namespace ev {

using onnxu::find_attr;
using onnxu::int_attr;
using onnxu::ints_attr;

bool free_image_dims(onnx::GraphProto& graph) {
  std::set<std::string> initializers;
  for (const auto& t : graph.initializer()) initializers.insert(t.name());
  bool changed = false;
  for (auto& input : *graph.mutable_input()) {
    if (initializers.count(input.name()) || !input.type().has_tensor_type()) continue;
    auto* shape = input.mutable_type()->mutable_tensor_type()->mutable_shape();
    if (shape->dim_size() != 4) continue;
    const char* names[] = {"height", "width"};
    for (int d = 2; d < 4; ++d) {
      auto* dim = shape->mutable_dim(d);
      if (!dim->has_dim_value()) continue;
      dim->set_dim_param(input.name() + "_" + names[d - 2]);
      changed = true;
    }
  }
  if (!changed) return false;
  for (auto& output : *graph.mutable_output())
    if (output.type().has_tensor_type())
      output.mutable_type()->mutable_tensor_type()->clear_shape();
  graph.clear_value_info();
  return true;
}

namespace {

// The integers of an INT64 or INT32 tensor; nothing for other types.
std::optional<std::vector<int64_t>> ints_of(const onnx::TensorProto& t) {
  std::vector<int64_t> v;
  if (t.data_type() == onnx::TensorProto::INT64) {
    if (t.has_raw_data()) {
      v.resize(t.raw_data().size() / sizeof(int64_t));
      std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(int64_t));
    } else {
      v.assign(t.int64_data().begin(), t.int64_data().end());
    }
  } else if (t.data_type() == onnx::TensorProto::INT32) {
    if (t.has_raw_data()) {
      std::vector<int32_t> raw(t.raw_data().size() / sizeof(int32_t));
      std::memcpy(raw.data(), t.raw_data().data(), raw.size() * sizeof(int32_t));
      v.assign(raw.begin(), raw.end());
    } else {
      v.assign(t.int32_data().begin(), t.int32_data().end());
    }
  } else {
    return std::nullopt;
  }
  return v;
}

// Who produces and who reads each tensor, and the constant ones (initializers and Constant
// node values).
struct GraphIndex {
  std::map<std::string, int> producer;  // node index
  std::map<std::string, int> readers;   // node inputs and graph outputs
  std::map<std::string, const onnx::TensorProto*> constants;
  std::map<std::string, int> initializer;  // index in graph.initializer()
  std::map<std::string, const onnx::ValueInfoProto*> inputs;

  explicit GraphIndex(const onnx::GraphProto& g) {
    for (int i = 0; i < g.initializer_size(); ++i) {
      constants[g.initializer(i).name()] = &g.initializer(i);
      initializer[g.initializer(i).name()] = i;
    }
    for (const auto& in : g.input())
      if (!constants.count(in.name())) inputs[in.name()] = &in;
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& n = g.node(i);
      for (const auto& o : n.output()) producer[o] = i;
      for (const auto& in : n.input())
        if (!in.empty()) ++readers[in];
      if (n.op_type() == "Constant" && n.output_size() == 1) {
        if (const auto* v = find_attr(n, "value"); v && v->has_t())
          constants[n.output(0)] = &v->t();
      }
    }
    for (const auto& o : g.output()) ++readers[o.name()];
  }

  std::optional<std::vector<int64_t>> ints(const std::string& name) const {
    auto it = constants.find(name);
    if (it == constants.end()) return std::nullopt;
    return ints_of(*it->second);
  }
};

// axis -> {start, end, step} of a Slice with constant arguments (inputs since opset 10,
// attributes before); nothing when an argument is not constant.
using SliceSpec = std::map<int64_t, std::array<int64_t, 3>>;
std::optional<SliceSpec> slice_spec(const onnx::NodeProto& n, const GraphIndex& ix, int rank) {
  std::vector<int64_t> starts, ends, axes, steps;
  if (n.input_size() >= 3) {
    auto s = ix.ints(n.input(1)), e = ix.ints(n.input(2));
    if (!s || !e) return std::nullopt;
    starts = *s;
    ends = *e;
    if (n.input_size() >= 4 && !n.input(3).empty()) {
      auto a = ix.ints(n.input(3));
      if (!a) return std::nullopt;
      axes = *a;
    }
    if (n.input_size() >= 5 && !n.input(4).empty()) {
      auto st = ix.ints(n.input(4));
      if (!st) return std::nullopt;
      steps = *st;
    }
  } else {
    starts = ints_attr(n, "starts", {});
    ends = ints_attr(n, "ends", {});
    axes = ints_attr(n, "axes", {});
  }
  if (starts.size() != ends.size() || starts.empty()) return std::nullopt;
  if (axes.empty())
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (axes.size() != starts.size() || steps.size() != starts.size()) return std::nullopt;
  SliceSpec spec;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t axis = axes[i] < 0 ? axes[i] + rank : axes[i];
    if (axis < 0 || axis >= rank || spec.count(axis)) return std::nullopt;
    spec[axis] = {starts[i], ends[i], steps[i]};
  }
  return spec;
}

struct Stem {
  int concat = -1, conv = -1;
  std::vector<int> slices;
  std::string input;
  std::array<std::array<int, 2>, 4> offsets{};  // (row, column) parity of each concat input
};

// The stem whose concatenation is node `c`, if it is one.
std::optional<Stem> match_stem(const onnx::GraphProto& g, const GraphIndex& ix, int c) {
  const auto& concat = g.node(c);
  if (concat.op_type() != "Concat" || !concat.domain().empty() || concat.input_size() != 4 ||
      concat.output_size() != 1)
    return std::nullopt;
  const int64_t axis = int_attr(concat, "axis", 1);
  if (axis != 1 && axis != -3) return std::nullopt;
  const std::string& joined = concat.output(0);
  if (ix.readers.count(joined) == 0 || ix.readers.at(joined) != 1) return std::nullopt;
  Stem stem;
  stem.concat = c;
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    if (n.op_type() == "Conv" && n.domain().empty() && n.input_size() >= 2 && n.input(0) == joined)
      stem.conv = i;
  }
  if (stem.conv < 0) return std::nullopt;
  std::set<std::array<int, 2>> seen;
  for (int k = 0; k < 4; ++k) {
    // Back through at most two Slices (one per axis, or one for both) to the graph input.
    std::string t = concat.input(k);
    SliceSpec spec;
    for (int depth = 0; depth < 2 && !ix.inputs.count(t); ++depth) {
      auto p = ix.producer.find(t);
      if (p == ix.producer.end()) return std::nullopt;
      const auto& s = g.node(p->second);
      if (s.op_type() != "Slice" || !s.domain().empty() || ix.readers.at(t) != 1)
        return std::nullopt;
      auto part = slice_spec(s, ix, 4);
      if (!part) return std::nullopt;
      for (const auto& [a, v] : *part) {
        if (spec.count(a)) return std::nullopt;
        spec[a] = v;
      }
      stem.slices.push_back(p->second);
      t = s.input(0);
    }
    if (!ix.inputs.count(t) || (!stem.input.empty() && t != stem.input)) return std::nullopt;
    stem.input = t;
    if (spec.size() != 2 || !spec.count(2) || !spec.count(3)) return std::nullopt;
    for (int a = 2; a < 4; ++a) {
      const auto [start, end, step] = spec[a];
      // To the end of the axis: exporters write INT64_MAX (or INT32_MAX).
      if (step != 2 || (start != 0 && start != 1) || end < (int64_t{1} << 30)) return std::nullopt;
      stem.offsets[k][a - 2] = static_cast<int>(start);
    }
    seen.insert(stem.offsets[k]);
  }
  if (seen.size() != 4) return std::nullopt;
  const auto* in = ix.inputs.at(stem.input);
  if (!in->type().has_tensor_type() || in->type().tensor_type().shape().dim_size() != 4)
    return std::nullopt;
  return stem;
}

// Rewrites one stem; false (graph untouched) when its convolution is not a plain one.
bool rewrite_stem(onnx::GraphProto& g, const GraphIndex& ix, const Stem& stem) {
  onnx::NodeProto& conv = *g.mutable_node(stem.conv);
  const std::string& wname = conv.input(1);
  auto wi = ix.initializer.find(wname);
  if (wi == ix.initializer.end()) return false;
  const onnx::TensorProto& w = g.initializer(wi->second);
  if (w.data_type() != onnx::TensorProto::FLOAT || w.dims_size() != 4) return false;
  const int64_t out = w.dims(0), c4 = w.dims(1), kh = w.dims(2), kw = w.dims(3);
  if (c4 % 4 != 0 || kh % 2 == 0 || kw % 2 == 0) return false;
  const int64_t c = c4 / 4;
  const auto& dims = ix.inputs.at(stem.input)->type().tensor_type().shape();
  if (dims.dim(1).has_dim_value() && dims.dim(1).dim_value() != c) return false;
  const int64_t ph = (kh - 1) / 2, pw = (kw - 1) / 2;
  const auto* auto_pad = find_attr(conv, "auto_pad");
  if (int_attr(conv, "group", 1) != 1 ||
      ints_attr(conv, "strides", {1, 1}) != std::vector<int64_t>{1, 1} ||
      ints_attr(conv, "dilations", {1, 1}) != std::vector<int64_t>{1, 1} ||
      ints_attr(conv, "pads", {0, 0, 0, 0}) != std::vector<int64_t>{ph, pw, ph, pw} ||
      (auto_pad && auto_pad->s() != "NOTSET"))
    return false;
  const std::vector<float> w3 = onnxu::to_floats(w);
  if (static_cast<int64_t>(w3.size()) != onnxu::elements(w)) return false;

  // Input k of the concatenation holds rows dy::2 and columns dx::2 of the input, so tap
  // (ky, kx) of its channels reads input pixel (2(y + ky - ph) + dy, 2(x + kx - pw) + dx).
  const int64_t kh2 = 2 * kh, kw2 = 2 * kw;
  std::vector<float> w6(static_cast<size_t>(out * c * kh2 * kw2), 0.f);
  for (int64_t o = 0; o < out; ++o)
    for (int k = 0; k < 4; ++k)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = 0; kx < kw; ++kx) {
            const int64_t y = 2 * ky + stem.offsets[k][0], x = 2 * kx + stem.offsets[k][1];
            w6[static_cast<size_t>(((o * c + ch) * kh2 + y) * kw2 + x)] =
                w3[static_cast<size_t>(((o * c4 + k * c + ch) * kh + ky) * kw + kx)];
          }
  // Weights another node also reads, or that are listed as a graph input too (older exporters
  // list every initializer there, with its shape), stay as they are.
  bool listed = false;
  for (const auto& in : g.input()) listed = listed || in.name() == wname;
  const bool shared = ix.readers.at(wname) > 1 || listed;
  const std::string weights = shared ? wname + "_space_to_depth" : wname;
  onnx::TensorProto folded;
  folded.set_name(weights);
  for (int64_t d : {out, c, kh2, kw2}) folded.add_dims(d);
  onnxu::set_floats(folded, w6);
  if (shared)
    *g.add_initializer() = std::move(folded);
  else
    *g.mutable_initializer(wi->second) = std::move(folded);
  conv.set_input(0, stem.input);
  conv.set_input(1, weights);
  conv.clear_attribute();
  const auto set_ints = [&](const char* name, std::vector<int64_t> v) {
    auto* a = conv.add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  };
  set_ints("kernel_shape", {kh2, kw2});
  set_ints("strides", {2, 2});
  set_ints("pads", {2 * ph, 2 * pw, 2 * ph, 2 * pw});
  set_ints("dilations", {1, 1});
  return true;
}

// Drops `gone` nodes, then the Constant nodes and initializers they read that nothing reads any
// more, and the value_info of tensors no node produces.
void remove_nodes(onnx::GraphProto& g, const std::set<int>& gone) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  std::set<std::string> read_by_gone;
  for (int i = 0; i < g.node_size(); ++i) {
    if (!gone.count(i)) {
      *kept.Add() = std::move(*g.mutable_node(i));
      continue;
    }
    for (const auto& in : g.node(i).input()) read_by_gone.insert(in);
  }
  g.mutable_node()->Swap(&kept);
  const GraphIndex ix(g);
  const auto orphan = [&](const std::string& t) {
    return read_by_gone.count(t) && !ix.readers.count(t);
  };
  google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
  for (auto& n : *g.mutable_node())
    if (!(n.op_type() == "Constant" && n.output_size() == 1 && orphan(n.output(0))))
      *nodes.Add() = std::move(n);
  g.mutable_node()->Swap(&nodes);
  google::protobuf::RepeatedPtrField<onnx::TensorProto> inits;
  std::set<std::string> graph_inputs;
  for (const auto& in : g.input()) graph_inputs.insert(in.name());
  for (auto& t : *g.mutable_initializer())
    if (!orphan(t.name()) || graph_inputs.count(t.name())) *inits.Add() = std::move(t);
  g.mutable_initializer()->Swap(&inits);
  const GraphIndex after(g);
  google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> infos;
  for (auto& v : *g.mutable_value_info())
    if (after.producer.count(v.name())) *infos.Add() = std::move(v);
  g.mutable_value_info()->Swap(&infos);
}

}  // namespace

int fold_space_to_depth_stems(onnx::GraphProto& graph) {
  // Subgraphs (If, Loop, Scan bodies) may read the outer graph's tensors, which the reader counts
  // below do not see: such a graph is left as it is.
  for (const auto& n : graph.node())
    if (onnxu::has_subgraph(n)) return 0;
  int folded = 0;
  // One at a time: each rewrite renumbers the nodes. Each removes nodes, so this ends.
  for (bool again = true; again;) {
    again = false;
    const GraphIndex ix(graph);
    for (int c = 0; c < graph.node_size(); ++c) {
      const auto stem = match_stem(graph, ix, c);
      if (!stem || !rewrite_stem(graph, ix, *stem)) continue;
      std::set<int> gone(stem->slices.begin(), stem->slices.end());
      gone.insert(stem->concat);
      remove_nodes(graph, gone);
      ++folded;
      again = true;
      break;
    }
  }
  return folded;
}

}  // namespace ev
