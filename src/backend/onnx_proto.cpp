#include "backend/onnx_proto.hpp"

#include <cstring>

namespace ev::onnxu {

int64_t elements(const onnx::TensorProto& t) {
  int64_t n = 1;
  for (auto d : t.dims()) n *= d;
  return n;
}

std::vector<float> to_floats(const onnx::TensorProto& t) {
  std::vector<float> v;
  if (t.data_type() != onnx::TensorProto::FLOAT) return v;
  if (t.has_raw_data()) {
    const auto& raw = t.raw_data();
    v.resize(raw.size() / sizeof(float));
    std::memcpy(v.data(), raw.data(), v.size() * sizeof(float));
  } else {
    v.assign(t.float_data().begin(), t.float_data().end());
  }
  return v;
}

void set_floats(onnx::TensorProto& t, const std::vector<float>& values) {
  t.set_data_type(onnx::TensorProto::FLOAT);
  t.clear_float_data();
  t.set_raw_data(
      std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(float)));
}

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  const auto* a = find_attr(n, name);
  return a ? a->i() : fallback;
}

std::vector<int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name,
                               std::vector<int64_t> fallback) {
  const auto* a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
}

bool has_subgraph(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.type() == onnx::AttributeProto::GRAPH || a.type() == onnx::AttributeProto::GRAPHS)
      return true;
  return false;
}

}  // namespace ev::onnxu
