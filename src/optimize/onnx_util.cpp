#include "optimize/onnx_util.hpp"

#include <fnmatch.h>

#include <cstring>
#include <fstream>
#include <set>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

namespace ev::onnxu {

Result<onnx::ModelProto> load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Result<onnx::ModelProto>::Error("cannot open " + path.string());
  onnx::ModelProto model;
  try {
    if (!model.ParseFromIstream(&in))
      return Result<onnx::ModelProto>::Error(path.string() + " is not a valid ONNX protobuf file");
  } catch (const std::exception& e) {
    return Result<onnx::ModelProto>::Error(path.string() + ": " + e.what());
  }
  for (const auto& init : model.graph().initializer()) {
    if (init.data_location() == onnx::TensorProto::EXTERNAL)
      return Result<onnx::ModelProto>::Error(
          path.string() + ": weights stored as external data (" + init.name() +
          ") are not supported; save the model as a single file");
  }
  return model;
}

Status save(const onnx::ModelProto& model, const std::filesystem::path& path) {
  try {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    auto tmp = path;
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out || !model.SerializeToOstream(&out))
        return Status::Error("cannot write " + tmp.string());
    }
    std::filesystem::rename(tmp, path);
  } catch (const std::exception& e) {
    return Status::Error("cannot write " + path.string() + ": " + e.what());
  }
  return Status::Ok();
}

Status check(const onnx::ModelProto& model) {
  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    return Status::Error(std::string("ONNX checker: ") + e.what());
  }
  return Status::Ok();
}

int default_opset(const onnx::ModelProto& model) {
  for (const auto& o : model.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") return static_cast<int>(o.version());
  return 0;
}

void set_default_opset(onnx::ModelProto& model, int version) {
  for (auto& o : *model.mutable_opset_import()) {
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      o.set_version(version);
      return;
    }
  }
  auto* o = model.add_opset_import();
  o->set_domain("");
  o->set_version(version);
}

const char* dtype_name(int32_t t) {
  switch (t) {
    case onnx::TensorProto::FLOAT:
      return "float32";
    case onnx::TensorProto::UINT8:
      return "uint8";
    case onnx::TensorProto::INT8:
      return "int8";
    case onnx::TensorProto::UINT16:
      return "uint16";
    case onnx::TensorProto::INT16:
      return "int16";
    case onnx::TensorProto::INT32:
      return "int32";
    case onnx::TensorProto::INT64:
      return "int64";
    case onnx::TensorProto::STRING:
      return "string";
    case onnx::TensorProto::BOOL:
      return "bool";
    case onnx::TensorProto::FLOAT16:
      return "float16";
    case onnx::TensorProto::DOUBLE:
      return "float64";
    case onnx::TensorProto::UINT32:
      return "uint32";
    case onnx::TensorProto::UINT64:
      return "uint64";
    case onnx::TensorProto::BFLOAT16:
      return "bfloat16";
    default:
      return "unknown";
  }
}

size_t dtype_size(int32_t t) {
  switch (t) {
    case onnx::TensorProto::UINT8:
    case onnx::TensorProto::INT8:
    case onnx::TensorProto::BOOL:
      return 1;
    case onnx::TensorProto::UINT16:
    case onnx::TensorProto::INT16:
    case onnx::TensorProto::FLOAT16:
    case onnx::TensorProto::BFLOAT16:
      return 2;
    case onnx::TensorProto::FLOAT:
    case onnx::TensorProto::INT32:
    case onnx::TensorProto::UINT32:
      return 4;
    case onnx::TensorProto::DOUBLE:
    case onnx::TensorProto::INT64:
    case onnx::TensorProto::UINT64:
      return 8;
    default:
      return 0;
  }
}

void constants_to_initializers(onnx::GraphProto& graph) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (auto& node : *graph.mutable_node()) {
    if (node.op_type() == "Constant" && node.domain().empty() && node.output_size() == 1 &&
        node.attribute_size() == 1 && node.attribute(0).name() == "value") {
      onnx::TensorProto t = node.attribute(0).t();
      t.set_name(node.output(0));
      *graph.add_initializer() = std::move(t);
      continue;
    }
    *kept.Add() = std::move(node);
  }
  graph.mutable_node()->Swap(&kept);
}

std::vector<const onnx::ValueInfoProto*> real_inputs(const onnx::GraphProto& graph) {
  std::set<std::string> inits;
  for (const auto& i : graph.initializer()) inits.insert(i.name());
  std::vector<const onnx::ValueInfoProto*> out;
  for (const auto& in : graph.input())
    if (!inits.count(in.name())) out.push_back(&in);
  return out;
}

namespace {
ValueType from_type(const onnx::TypeProto& type) {
  ValueType v;
  if (!type.has_tensor_type()) return v;
  v.elem_type = type.tensor_type().elem_type();
  if (type.tensor_type().has_shape()) {
    v.has_shape = true;
    for (const auto& d : type.tensor_type().shape().dim())
      v.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return v;
}
}  // namespace

Result<std::map<std::string, ValueType>> infer_types(
    const onnx::ModelProto& model, const std::map<std::string, std::vector<int64_t>>& input_shapes,
    int* unknown) {
  using R = Result<std::map<std::string, ValueType>>;
  onnx::ModelProto m = model;
  auto* graph = m.mutable_graph();
  for (auto& in : *graph->mutable_input()) {
    auto it = input_shapes.find(in.name());
    if (it == input_shapes.end()) continue;
    auto* shape = in.mutable_type()->mutable_tensor_type()->mutable_shape();
    shape->clear_dim();
    for (auto d : it->second) shape->add_dim()->set_dim_value(d);
  }
  // Stale value_info from the exporter (e.g. symbolic batch) would fight the fixed inputs.
  graph->clear_value_info();
  for (auto& out : *graph->mutable_output())
    out.mutable_type()->mutable_tensor_type()->clear_shape();
  try {
    onnx::ShapeInferenceOptions opts{false, 0, true};
    onnx::shape_inference::InferShapes(m, onnx::OpSchemaRegistry::Instance(), opts);
  } catch (const std::exception& e) {
    return R::Error(std::string("ONNX shape inference failed: ") + e.what());
  }
  std::map<std::string, ValueType> types;
  for (const auto& v : graph->input()) types[v.name()] = from_type(v.type());
  for (const auto& v : graph->value_info()) types[v.name()] = from_type(v.type());
  for (const auto& v : graph->output()) types[v.name()] = from_type(v.type());
  for (const auto& t : graph->initializer()) {
    ValueType v;
    v.elem_type = t.data_type();
    v.has_shape = true;
    v.shape.assign(t.dims().begin(), t.dims().end());
    types[t.name()] = v;
  }
  if (unknown) {
    *unknown = 0;
    for (const auto& node : graph->node())
      for (const auto& o : node.output()) {
        auto it = types.find(o);
        bool known = it != types.end() && it->second.has_shape;
        if (known)
          for (auto d : it->second.shape) known = known && d >= 0;
        if (!known && !o.empty()) ++*unknown;
      }
  }
  return types;
}

std::string node_label(const onnx::NodeProto& node, int index) {
  if (!node.name().empty()) return node.name();
  return node.op_type() + "#" + std::to_string(index);
}

bool matches_pattern(const std::vector<std::string>& patterns, const onnx::NodeProto& n) {
  for (const auto& p : patterns) {
    if (p == n.op_type()) return true;
    if (!n.name().empty() && fnmatch(p.c_str(), n.name().c_str(), 0) == 0) return true;
    for (const auto& o : n.output())
      if (fnmatch(p.c_str(), o.c_str(), 0) == 0) return true;
  }
  return false;
}

Result<std::vector<bool>> excluded_ranges(const onnx::GraphProto& g,
                                          const std::vector<std::string>& patterns) {
  using R = Result<std::vector<bool>>;
  std::vector<bool> flags(g.node_size(), false);
  for (const auto& p : patterns) {
    const auto dots = p.find("..");
    if (dots == std::string::npos) continue;
    const std::string first = p.substr(0, dots), last = p.substr(dots + 2);
    int lo = -1, hi = -1;
    for (int i = 0; i < g.node_size(); ++i) {
      if (g.node(i).name() == first && lo < 0) lo = i;
      if (g.node(i).name() == last) hi = i;
    }
    if (lo < 0 || hi < 0)
      return R::Error("--exclude " + p + ": no node named '" + (lo < 0 ? first : last) + "'");
    if (hi < lo)
      return R::Error("--exclude " + p + ": '" + last + "' comes before '" + first +
                      "' in the graph");
    for (int i = lo; i <= hi; ++i) flags[i] = true;
  }
  return flags;
}

Result<std::vector<bool>> excluded_nodes(const onnx::GraphProto& g,
                                         const std::vector<std::string>& patterns) {
  // A pattern that matches nothing is a typo; going on would hide it.
  for (const auto& p : patterns) {
    if (p.find("..") != std::string::npos) continue;
    bool any = false;
    for (const auto& n : g.node()) any = any || matches_pattern({p}, n);
    if (!any)
      return Status::Error("--exclude " + p +
                           ": matches no node name, output name or op type in the graph");
  }
  auto flags = excluded_ranges(g, patterns);
  if (!flags) return flags;
  for (int i = 0; i < g.node_size(); ++i)
    if (!(*flags)[i] && matches_pattern(patterns, g.node(i))) (*flags)[i] = true;
  return flags;
}

std::optional<std::pair<float, float>> clip_bounds(
    const onnx::NodeProto& n, const std::map<std::string, const onnx::TensorProto*>& inits,
    int opset) {
  std::pair<float, float> b{-std::numeric_limits<float>::infinity(),
                            std::numeric_limits<float>::infinity()};
  if (opset < 11) {
    for (const auto& a : n.attribute()) {
      if (a.name() == "min") b.first = a.f();
      if (a.name() == "max") b.second = a.f();
    }
    return b;
  }
  for (int slot : {1, 2}) {
    if (slot >= n.input_size() || n.input(slot).empty()) continue;
    auto it = inits.find(n.input(slot));
    if (it == inits.end()) return std::nullopt;
    auto v = to_floats(*it->second);
    if (v.size() != 1) return std::nullopt;
    (slot == 1 ? b.first : b.second) = v[0];
  }
  return b;
}

}  // namespace ev::onnxu
