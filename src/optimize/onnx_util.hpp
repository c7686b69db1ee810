// Small helpers over the ONNX protobuf API (Debian libonnx 1.12) shared by analyze and
// quantize. All of them turn protobuf/ONNX exceptions into Status values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "edgevision/status.hpp"

namespace ev::onnxu {

Result<onnx::ModelProto> load(const std::filesystem::path& path);
Status save(const onnx::ModelProto& model, const std::filesystem::path& path);
// onnx::checker::check_model as a Status.
Status check(const onnx::ModelProto& model);

int default_opset(const onnx::ModelProto& model);  // version of the "" / ai.onnx domain
void set_default_opset(onnx::ModelProto& model, int version);

const char* dtype_name(int32_t elem_type);
size_t dtype_size(int32_t elem_type);  // 0 for strings/unknown
int64_t elements(const onnx::TensorProto& t);
std::vector<float> to_floats(const onnx::TensorProto& t);  // FLOAT tensors only
void set_floats(onnx::TensorProto& t, const std::vector<float>& values);

// Turns Constant nodes carrying a tensor `value` into initializers, so weights are found in
// one place whatever the exporter did.
void constants_to_initializers(onnx::GraphProto& graph);

struct ValueType {
  int32_t elem_type = 0;
  std::vector<int64_t> shape;  // -1 for unknown dims
  bool has_shape = false;
};
// Runs ONNX shape inference on a copy (after fixing input shapes when given) and returns the
// type of every named value: inputs, outputs, intermediates and initializers.
Result<std::map<std::string, ValueType>> infer_types(
    const onnx::ModelProto& model, const std::map<std::string, std::vector<int64_t>>& input_shapes,
    int* unknown = nullptr);

// Inputs that are real graph inputs (not initializers listed as inputs, as IR < 4 did).
std::vector<const onnx::ValueInfoProto*> real_inputs(const onnx::GraphProto& graph);

std::string node_label(const onnx::NodeProto& node, int index);  // name, or op_type#index

}  // namespace ev::onnxu
