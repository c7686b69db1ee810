// A hand-built ONNX graph for the optimize tests (onnx protobuf API, no files needed):
//   x[1,3,8,8] -> Conv(3->4, 3x3, pad 1, bias) -> Relu -> Conv(depthwise 4, 3x3, pad 1, bias)
//   -> MaxPool(2x2, stride 2) -> GlobalAveragePool -> Flatten -> Gemm(4->5, transB) -> y[1,5]
// Hand-computed: Conv 256 outputs x 27 MACs = 6912; depthwise 256 x 9 = 2304; Gemm 20.
// FLOPs = 2*MACs for those + Relu 256 + MaxPool 64 outputs x 4 + GAP 64 inputs.
#pragma once

#include <cmath>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

namespace ev::test {

inline constexpr int64_t kTinyMacs = 6912 + 2304 + 20;
inline constexpr int64_t kTinyFlops = 2 * 6912 + 256 + 2 * 2304 + 256 + 64 + 2 * 20;
inline constexpr int64_t kTinyParams = (108 + 4) + (36 + 4) + (20 + 5);

inline void add_float_init(onnx::GraphProto& g, const std::string& name,
                           const std::vector<int64_t>& dims, float seed) {
  auto* t = g.add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  int64_t n = 1;
  for (auto d : dims) {
    t->add_dims(d);
    n *= d;
  }
  for (int64_t i = 0; i < n; ++i) t->add_float_data(0.5f * std::sin(seed + 0.7f * i));
}

inline onnx::NodeProto* add_node(onnx::GraphProto& g, const std::string& op,
                                 const std::string& name, const std::vector<std::string>& in,
                                 const std::vector<std::string>& out) {
  auto* n = g.add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& i : in) n->add_input(i);
  for (const auto& o : out) n->add_output(o);
  return n;
}

inline void add_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}

inline void add_int(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

inline void set_io(onnx::ValueInfoProto* v, const std::string& name,
                   const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  for (auto d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

// An empty opset-13 model whose graph is called `name`, for the test graphs to fill.
inline onnx::ModelProto empty_model(const std::string& name) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.set_producer_name("edgevision-test");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  m.mutable_graph()->set_name(name);
  return m;
}

inline onnx::ModelProto tiny_model() {
  onnx::ModelProto m = empty_model("tiny");
  auto& g = *m.mutable_graph();
  set_io(g.add_input(), "x", {1, 3, 8, 8});
  set_io(g.add_output(), "y", {1, 5});
  add_float_init(g, "w1", {4, 3, 3, 3}, 0.1f);
  add_float_init(g, "b1", {4}, 0.2f);
  add_float_init(g, "w2", {4, 1, 3, 3}, 0.3f);
  add_float_init(g, "b2", {4}, 0.4f);
  add_float_init(g, "w3", {5, 4}, 0.5f);
  add_float_init(g, "b3", {5}, 0.6f);
  auto* c1 = add_node(g, "Conv", "conv1", {"x", "w1", "b1"}, {"c1"});
  add_ints(c1, "kernel_shape", {3, 3});
  add_ints(c1, "pads", {1, 1, 1, 1});
  add_node(g, "Relu", "relu1", {"c1"}, {"r1"});
  auto* c2 = add_node(g, "Conv", "dwconv", {"r1", "w2", "b2"}, {"c2"});
  add_ints(c2, "kernel_shape", {3, 3});
  add_ints(c2, "pads", {1, 1, 1, 1});
  add_int(c2, "group", 4);
  auto* mp = add_node(g, "MaxPool", "pool", {"c2"}, {"p"});
  add_ints(mp, "kernel_shape", {2, 2});
  add_ints(mp, "strides", {2, 2});
  add_node(g, "GlobalAveragePool", "gap", {"p"}, {"gp"});
  add_node(g, "Flatten", "flatten", {"gp"}, {"f"});
  auto* gm = add_node(g, "Gemm", "fc", {"f", "w3", "b3"}, {"y"});
  add_int(gm, "transB", 1);
  return m;
}

// BlazeFace's block inserted before tiny_model()'s pool: Add(c2, r1) -> Relu -> pool.
inline void add_residual_relu(onnx::ModelProto& m) {
  auto& g = *m.mutable_graph();
  std::vector<onnx::NodeProto> nodes(g.node().begin(), g.node().end());
  g.clear_node();
  for (auto& n : nodes) {
    if (n.name() == "pool") {
      add_node(g, "Add", "add", {"c2", "r1"}, {"a"});
      add_node(g, "Relu", "relu2", {"a"}, {"r2"});
      n.set_input(0, "r2");
    }
    *g.add_node() = n;
  }
}

// A graph with exactly one fragile node for the accuracy guard:
//   x[1,3,8,8] -> conv1 (3->4, 3x3) -> c1 -> shift = Add(c1, 1000) -> t
//   -> unshift = Add(t, -1000) -> u -> conv2 (4->4, 1x1) -> y[1,4,8,8]
// Quantizing `unshift` puts a uint8 Q/DQ on t, whose range [0, ~1003] has a step of ~4: c1's
// detail (|c1| ~ 1) is wiped out. Every other node alone is harmless: shift's inputs are c1 and
// an exact constant, and t gets no Q/DQ unless unshift reads it quantized.
inline onnx::ModelProto fragile_model() {
  onnx::ModelProto m = empty_model("fragile");
  auto& g = *m.mutable_graph();
  set_io(g.add_input(), "x", {1, 3, 8, 8});
  set_io(g.add_output(), "y", {1, 4, 8, 8});
  add_float_init(g, "w1", {4, 3, 3, 3}, 0.1f);
  add_float_init(g, "b1", {4}, 0.2f);
  add_float_init(g, "w2", {4, 4, 1, 1}, 0.3f);
  add_float_init(g, "b2", {4}, 0.4f);
  for (const auto& [name, v] :
       {std::pair<std::string, float>{"k_plus", 1000.f}, {"k_minus", -1000.f}}) {
    auto* t = g.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
  }
  auto* c1 = add_node(g, "Conv", "conv1", {"x", "w1", "b1"}, {"c1"});
  add_ints(c1, "kernel_shape", {3, 3});
  add_ints(c1, "pads", {1, 1, 1, 1});
  add_node(g, "Add", "shift", {"c1", "k_plus"}, {"t"});
  add_node(g, "Add", "unshift", {"t", "k_minus"}, {"u"});
  auto* c2 = add_node(g, "Conv", "conv2", {"u", "w2", "b2"}, {"y"});
  add_ints(c2, "kernel_shape", {1, 1});
  return m;
}

// YOLOX's building blocks, for the speed policy (QuantPrecision::kSpeed):
//   x[1,3,8,8] -> conv1 (dense 3->8, 3x3) -> c1 -> SiLU (sig1 = Sigmoid(c1), silu1 = Mul(c1, s1))
//   -> m1 -> dwconv (depthwise 8, 3x3) -> d -> add = Add(d, m1) -> a -> conv2 (dense 8->4, 1x1)
//   -> c2 -> out = Sigmoid(c2) -> y[1,4,8,8]
// (conv2 does not write the graph output: ORT fuses only DQ -> Conv -> Q into QLinearConv.)
inline onnx::ModelProto silu_model() {
  onnx::ModelProto m = empty_model("silu");
  auto& g = *m.mutable_graph();
  set_io(g.add_input(), "x", {1, 3, 8, 8});
  set_io(g.add_output(), "y", {1, 4, 8, 8});
  add_float_init(g, "w1", {8, 3, 3, 3}, 0.1f);
  add_float_init(g, "b1", {8}, 0.2f);
  add_float_init(g, "wd", {8, 1, 3, 3}, 0.3f);
  add_float_init(g, "bd", {8}, 0.4f);
  add_float_init(g, "w2", {4, 8, 1, 1}, 0.5f);
  add_float_init(g, "b2", {4}, 0.6f);
  auto* c1 = add_node(g, "Conv", "conv1", {"x", "w1", "b1"}, {"c1"});
  add_ints(c1, "kernel_shape", {3, 3});
  add_ints(c1, "pads", {1, 1, 1, 1});
  add_node(g, "Sigmoid", "sig1", {"c1"}, {"s1"});
  add_node(g, "Mul", "silu1", {"c1", "s1"}, {"m1"});
  auto* dw = add_node(g, "Conv", "dwconv", {"m1", "wd", "bd"}, {"d"});
  add_ints(dw, "kernel_shape", {3, 3});
  add_ints(dw, "pads", {1, 1, 1, 1});
  add_int(dw, "group", 8);
  add_node(g, "Add", "add", {"d", "m1"}, {"a"});
  auto* c2 = add_node(g, "Conv", "conv2", {"a", "w2", "b2"}, {"c2"});
  add_ints(c2, "kernel_shape", {1, 1});
  add_node(g, "Sigmoid", "out", {"c2"}, {"y"});
  return m;
}

inline bool save_model(const onnx::ModelProto& m, const std::filesystem::path& p) {
  std::string bytes;
  if (!m.SerializeToString(&bytes)) return false;
  FILE* f = std::fopen(p.c_str(), "wb");
  if (!f) return false;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  std::fclose(f);
  return true;
}

}  // namespace ev::test
