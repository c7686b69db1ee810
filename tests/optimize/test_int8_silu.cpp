// ai.edgevision:QLinearSiLU, the uint8 SiLU table ONNX Runtime lacks (src/backend/ort_custom_ops):
// every byte value through the vector path and its tail, and a bad attribute as an error.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>
#include <onnxruntime_cxx_api.h>

#include "backend/ort_custom_ops.hpp"
#include "support/test_support.hpp"
#include "tiny_model.hpp"

namespace ev {
namespace {

onnx::ModelProto silu_table_model(float x_scale, int64_t x_zero, float y_scale, int64_t y_zero,
                                  const std::vector<int64_t>& shape) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  op = m.add_opset_import();
  op->set_domain(kEdgevisionOpDomain);
  op->set_version(1);
  auto& g = *m.mutable_graph();
  g.set_name("qsilu");
  auto set_io = [&](onnx::ValueInfoProto* v, const std::string& name) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::UINT8);
    for (auto d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
  };
  set_io(g.add_input(), std::string("x"));
  set_io(g.add_output(), std::string("y"));
  auto* n = test::add_node(g, "QLinearSiLU", "qsilu", {"x"}, {"y"});
  n->set_domain(kEdgevisionOpDomain);
  auto attr = [&](const char* name, float f, int64_t i, bool is_float) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(is_float ? onnx::AttributeProto::FLOAT : onnx::AttributeProto::INT);
    if (is_float)
      a->set_f(f);
    else
      a->set_i(i);
  };
  attr("x_scale", x_scale, 0, true);
  attr("x_zero_point", 0, x_zero, false);
  attr("y_scale", y_scale, 0, true);
  attr("y_zero_point", 0, y_zero, false);
  return m;
}

Ort::Session open(const onnx::ModelProto& m) {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "test-qsilu");
  std::string bytes;
  m.SerializeToString(&bytes);
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(1);
  add_edgevision_ops(so);
  return Ort::Session(env, bytes.data(), bytes.size(), so);
}

// 3 x 10 x 11 = 330 bytes: five 64-byte vector steps and a 10-byte tail; every value 0..255
// appears (the input counts up from 7, wrapping).
TEST(QLinearSiLU, EveryByteMatchesDequantizeSiluQuantize) {
  const float xs = 0.11f, ys = 0.047f;
  const int64_t xz = 73, yz = 6;
  const std::vector<int64_t> shape{1, 3, 10, 11};
  auto session = open(silu_table_model(xs, xz, ys, yz, shape));
  std::vector<uint8_t> x(330);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>((i + 7) % 256);
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  auto in = Ort::Value::CreateTensor<uint8_t>(mem, x.data(), x.size(), shape.data(), shape.size());
  const char* in_names[] = {"x"};
  const char* out_names[] = {"y"};
  auto out = session.Run(Ort::RunOptions{nullptr}, in_names, &in, 1, out_names, 1);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].GetTensorTypeAndShapeInfo().GetShape(), shape);
  const uint8_t* y = out[0].GetTensorData<uint8_t>();
  int mismatches = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    // The reference in double: the table may differ from it by one step where float rounding
    // lands on the other side of a half.
    const double v = (static_cast<double>(x[i]) - xz) * xs;
    const double ref = std::clamp(
        std::nearbyint(v / (1.0 + std::exp(-v)) / ys) + static_cast<double>(yz), 0.0, 255.0);
    EXPECT_NEAR(y[i], ref, 1.0) << "x=" << int(x[i]);
    mismatches += static_cast<double>(y[i]) != ref;
  }
  EXPECT_LE(mismatches, 3);
  // SiLU(0) = 0 exactly; large inputs pass through (x * ~1); the minimum -0.278 at x ~ -1.28.
  EXPECT_EQ(y[xz - 7], yz);
  EXPECT_EQ(y[255 - 7], static_cast<uint8_t>(
                            std::min<double>(255.0, std::nearbyint((255 - xz) * xs / ys) + yz)));
  EXPECT_EQ(*std::min_element(y, y + x.size()), static_cast<uint8_t>(yz - 6));
}

// The dispatched lookup (AVX-512 VBMI on this project's EPYC) equals the scalar one for every
// length 0..200 (tails of every size) and random bytes and tables.
TEST(QLinearSiLU, VectorLookupEqualsScalar) {
  std::mt19937 rng(12);
  std::uniform_int_distribution<int> byte(0, 255);
  std::array<uint8_t, 256> table{};
  for (auto& t : table) t = static_cast<uint8_t>(byte(rng));
  for (size_t n = 0; n <= 200; ++n) {
    std::vector<uint8_t> x(n), a(n + 1, 7), b(n + 1, 7);
    for (auto& v : x) v = static_cast<uint8_t>(byte(rng));
    table_lookup(table.data(), x.data(), a.data(), n);
    table_lookup_scalar(table.data(), x.data(), b.data(), n);
    ASSERT_EQ(a, b) << "n=" << n;
    EXPECT_EQ(a[n], 7) << "wrote past the end, n=" << n;
  }
}

TEST(QLinearSiLU, BadAttributesAreAnErrorNotACrash) {
  try {
    auto session = open(silu_table_model(0.f, 0, 0.1f, 0, {1, 4}));
    ADD_FAILURE() << "a zero x_scale was accepted";
  } catch (const Ort::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("QLinearSiLU"), std::string::npos) << e.what();
  }
  try {
    auto session = open(silu_table_model(0.1f, 300, 0.1f, 0, {1, 4}));
    ADD_FAILURE() << "a zero point of 300 was accepted";
  } catch (const Ort::Exception& e) {
    EXPECT_NE(std::string(e.what()).find("zero points"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace ev
