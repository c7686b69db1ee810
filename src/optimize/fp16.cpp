// FP16 weight storage: float32 initializers become float16 + Cast(to=float).
#include <cmath>
#include <cstring>
#include <set>

#include <spdlog/spdlog.h>

#include "edgevision/quantize.hpp"
#include "optimize/onnx_util.hpp"

namespace ev {
namespace {

// IEEE 754 binary16 with round-to-nearest-even; written here because neither OpenCV's
// cv::float16_t nor the ONNX headers give a plain function over a buffer that we can rely on
// being the same rounding on every platform.
uint16_t to_half(float f) {
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

}  // namespace

Result<Fp16Report> convert_fp16(const std::filesystem::path& model_path,
                                const std::filesystem::path& output) {
  using R = Result<Fp16Report>;
  auto loaded = onnxu::load(model_path);
  if (!loaded) return loaded.status();
  onnx::ModelProto model = std::move(*loaded);
  auto& g = *model.mutable_graph();
  onnxu::constants_to_initializers(g);
  Fp16Report report;
  std::error_code ec;
  report.input_bytes = static_cast<int64_t>(std::filesystem::file_size(model_path, ec));

  // Only tensors read as weights by nodes; shape-like float inputs (Resize scales) stay float32
  // since the Cast restores them exactly anyway, but tiny tensors gain nothing.
  std::vector<onnx::NodeProto> casts;
  for (auto& t : *g.mutable_initializer()) {
    if (t.data_type() != onnx::TensorProto::FLOAT || onnxu::elements(t) < 16) continue;
    auto values = onnxu::to_floats(t);
    std::vector<uint16_t> half(values.size());
    for (size_t i = 0; i < values.size(); ++i) half[i] = to_half(values[i]);
    const std::string name = t.name();
    t.set_name(name + "_fp16");
    t.set_data_type(onnx::TensorProto::FLOAT16);
    t.clear_float_data();
    t.set_raw_data(std::string(reinterpret_cast<const char*>(half.data()), half.size() * 2));
    onnx::NodeProto cast;
    cast.set_op_type("Cast");
    cast.set_name(name + "_Cast");
    cast.add_input(name + "_fp16");
    cast.add_output(name);
    auto* a = cast.add_attribute();
    a->set_name("to");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(onnx::TensorProto::FLOAT);
    casts.push_back(std::move(cast));
    ++report.initializers_converted;
  }
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
  model.set_producer_name("edgevision-fp16");
  if (auto st = onnxu::check(model); !st) return R::Error("FP16 graph is invalid: " + st.message());
  if (auto st = onnxu::save(model, output); !st) return st;
  report.output_bytes = static_cast<int64_t>(std::filesystem::file_size(output, ec));
  return report;
}

}  // namespace ev
