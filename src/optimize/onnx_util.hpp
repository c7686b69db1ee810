// Small helpers over the ONNX protobuf API (Debian libonnx 1.12) shared by analyze and
// quantize. All of them turn protobuf/ONNX exceptions into Status values.
#pragma once

#include <cstdint>
#include <filesystem>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <onnx/onnx_pb.h>

#include "backend/onnx_proto.hpp"
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
// elements(), to_floats(), set_floats() and the attribute readers: backend/onnx_proto.hpp (the
// backend's load-time rewrites use them too).

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

// Constant [min, max] of a Clip (attributes before opset 11, optional inputs since); a missing
// bound is -inf / +inf. Nothing when a bound is not a constant scalar.
std::optional<std::pair<float, float>> clip_bounds(
    const onnx::NodeProto& n, const std::map<std::string, const onnx::TensorProto*>& inits,
    int opset);

// The --exclude syntax shared by quantize and fp16: a pattern matches a node by op type (exact),
// node name or output tensor name (shell wildcards, fnmatch).
bool matches_pattern(const std::vector<std::string>& patterns, const onnx::NodeProto& node);
// "FIRST..LAST" patterns: every node from the one named FIRST to the one named LAST, in graph
// (topological) order, inclusive. Returns a flag per node; an unknown name or a reversed range
// is an error.
Result<std::vector<bool>> excluded_ranges(const onnx::GraphProto& graph,
                                          const std::vector<std::string>& patterns);
// Both forms together: a flag per node excluded by a range or a pattern; a pattern that matches
// no node is an error too.
Result<std::vector<bool>> excluded_nodes(const onnx::GraphProto& graph,
                                         const std::vector<std::string>& patterns);

}  // namespace ev::onnxu
