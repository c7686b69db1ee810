// Small helpers over the ONNX protobuf API, shared by the backend's load-time rewrites
// (onnx_rewrites.hpp) and the optimization toolkit (src/optimize/onnx_util.hpp has the rest).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

namespace ev::onnxu {

int64_t elements(const onnx::TensorProto& t);
std::vector<float> to_floats(const onnx::TensorProto& t);  // FLOAT tensors only
void set_floats(onnx::TensorProto& t, const std::vector<float>& values);

// The attribute called `name`, or nullptr.
const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name);
int64_t int_attr(const onnx::NodeProto& n, const std::string& name, int64_t fallback);
std::vector<int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name,
                               std::vector<int64_t> fallback = {});
// A node with a graph attribute (If, Loop, Scan bodies).
bool has_subgraph(const onnx::NodeProto& n);

}  // namespace ev::onnxu
