// `quantize --fp16`: the full FP16 graph (types, boundary Casts, schema-driven float32 islands,
// --exclude, clamping) on hand-built graphs and on YOLOX-nano, plus the CLI.
#include <gtest/gtest.h>

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <map>
#include <random>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/backend.hpp"
#include "edgevision/models.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/quantize.hpp"
#include "optimize/onnx_util.hpp"
#include "support/test_support.hpp"
#include "tiny_model.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;
using TP = onnx::TensorProto;

// x[1,3,8,8] -> conv1 -> relu1 -> Resize "up" (roi, scales [1,1,2,2]) -> conv2 -> Mul "mul" by a
// Constant node -> Add "add" of Cast(int64 1 -> FLOAT) -> Add "add_dq" of a DequantizeLinear
// output (DequantizeLinear-13 has no float16 output: stays float32) -> GlobalAveragePool ->
// Flatten -> Gemm -> y[1,5]. value_info declares c1 and u as FLOAT.
onnx::ModelProto fp16_model() {
  using namespace test;
  onnx::ModelProto m = test::empty_model("fp16");
  auto& g = *m.mutable_graph();
  set_io(g.add_input(), "x", {1, 3, 8, 8});
  set_io(g.add_output(), "y", {1, 5});
  set_io(g.add_value_info(), "c1", {1, 4, 8, 8});
  set_io(g.add_value_info(), "u", {1, 4, 16, 16});
  add_float_init(g, "w1", {4, 3, 3, 3}, 0.1f);
  add_float_init(g, "b1", {4}, 0.2f);
  add_float_init(g, "w2", {4, 4, 3, 3}, 0.3f);
  add_float_init(g, "b2", {4}, 0.4f);
  add_float_init(g, "w3", {5, 4}, 0.5f);
  add_float_init(g, "b3", {5}, 0.6f);
  auto* roi = g.add_initializer();
  roi->set_name("roi");
  roi->set_data_type(TP::FLOAT);
  roi->add_dims(0);
  auto* scales = g.add_initializer();
  scales->set_name("scales");
  scales->set_data_type(TP::FLOAT);
  scales->add_dims(4);
  for (float s : {1.f, 1.f, 2.f, 2.f}) scales->add_float_data(s);
  auto* one = g.add_initializer();
  one->set_name("one_i");
  one->set_data_type(TP::INT64);
  one->add_int64_data(1);
  auto* q = g.add_initializer();
  q->set_name("q");
  q->set_data_type(TP::UINT8);
  for (int64_t d : {1, 4, 1, 1}) q->add_dims(d);
  for (int v : {10, 200, 128, 60}) q->add_int32_data(v);
  auto* qs = g.add_initializer();
  qs->set_name("q_scale");
  qs->set_data_type(TP::FLOAT);
  qs->add_float_data(0.01f);
  auto* qz = g.add_initializer();
  qz->set_name("q_zp");
  qz->set_data_type(TP::UINT8);
  qz->add_int32_data(128);

  auto* c1 = add_node(g, "Conv", "conv1", {"x", "w1", "b1"}, {"c1"});
  add_ints(c1, "kernel_shape", {3, 3});
  add_ints(c1, "pads", {1, 1, 1, 1});
  add_node(g, "Relu", "relu1", {"c1"}, {"r1"});
  auto* up = add_node(g, "Resize", "up", {"r1", "roi", "scales"}, {"u"});
  auto* mode = up->add_attribute();
  mode->set_name("mode");
  mode->set_type(onnx::AttributeProto::STRING);
  mode->set_s("nearest");
  auto* c2 = add_node(g, "Conv", "conv2", {"u", "w2", "b2"}, {"c2"});
  add_ints(c2, "kernel_shape", {3, 3});
  add_ints(c2, "pads", {1, 1, 1, 1});
  auto* k = add_node(g, "Constant", "half", {}, {"k"});
  auto* kv = k->add_attribute();
  kv->set_name("value");
  kv->set_type(onnx::AttributeProto::TENSOR);
  kv->mutable_t()->set_data_type(TP::FLOAT);
  kv->mutable_t()->add_float_data(0.5f);
  add_node(g, "Mul", "mul", {"c2", "k"}, {"m"});
  add_int(add_node(g, "Cast", "cast_one", {"one_i"}, {"one_f"}), "to", TP::FLOAT);
  add_node(g, "Add", "add", {"m", "one_f"}, {"a"});
  add_node(g, "DequantizeLinear", "dq", {"q", "q_scale", "q_zp"}, {"dqv"});
  add_node(g, "Add", "add_dq", {"a", "dqv"}, {"a2"});
  add_node(g, "GlobalAveragePool", "gap", {"a2"}, {"gp"});
  add_node(g, "Flatten", "flatten", {"gp"}, {"f"});
  auto* gm = add_node(g, "Gemm", "fc", {"f", "w3", "b3"}, {"y"});
  add_int(gm, "transB", 1);
  return m;
}

struct Fp16Fixture : ::testing::Test {
  fs::path dir, model;
  void SetUp() override {
    dir = test::temp_dir(std::string("fp16_") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    model = dir / "fp16.onnx";
    ASSERT_TRUE(test::save_model(fp16_model(), model));
  }
  static std::vector<float> input() {
    std::vector<float> x(3 * 8 * 8);
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (auto& v : x) v = u(rng);
    return x;
  }
  static std::vector<float> run(const fs::path& p) {
    auto be = create_backend("onnxruntime", p);
    EXPECT_TRUE(be.ok()) << be.error();
    if (!be) return {};
    auto x = input();
    std::vector<Tensor> out;
    auto st = (*be)->run({{x.data(), {1, 3, 8, 8}}}, out);
    EXPECT_TRUE(st.ok()) << st.message();
    return out.empty() ? std::vector<float>{} : out[0].data;
  }
  static onnx::ModelProto load(const fs::path& p) {
    auto m = onnxu::load(p);
    EXPECT_TRUE(m.ok()) << m.error();
    return m ? std::move(*m) : onnx::ModelProto{};
  }
};

const onnx::TensorProto* find_init(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer())
    if (t.name() == name) return &t;
  return nullptr;
}

const onnx::NodeProto* find_node(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& n : g.node())
    if (n.name() == name) return &n;
  return nullptr;
}

const onnx::NodeProto* producer_of(const onnx::GraphProto& g, const std::string& tensor) {
  for (const auto& n : g.node())
    for (const auto& o : n.output())
      if (o == tensor) return &n;
  return nullptr;
}

std::vector<const onnx::NodeProto*> readers_of(const onnx::GraphProto& g,
                                               const std::string& tensor) {
  std::vector<const onnx::NodeProto*> out;
  for (const auto& n : g.node())
    for (const auto& i : n.input())
      if (i == tensor) out.push_back(&n);
  return out;
}

int64_t cast_to(const onnx::NodeProto& n) {
  for (const auto& a : n.attribute())
    if (a.name() == "to") return a.i();
  return -1;
}

int32_t io_type(const google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>& vs,
                const std::string& name) {
  for (const auto& v : vs)
    if (v.name() == name) return v.type().tensor_type().elem_type();
  return 0;
}

TEST_F(Fp16Fixture, FullGraphIsFloat16WithFloat32IoAndMatchesFp32) {
  const auto out = dir / "full.onnx";
  auto r = convert_fp16(model, out);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->mode, "fp16");
  EXPECT_FALSE(r->fp16_io);
  EXPECT_EQ(r->opset, 13);
  EXPECT_EQ(r->values_clamped, 0);
  EXPECT_EQ(r->integer_casts_to_fp16, 1);  // cast_one (int64 -> float16): warned about
  // DequantizeLinear-13's output is tensor(float) only: float32 island with a Cast after it.
  ASSERT_EQ(r->kept_fp32.size(), 1u);
  EXPECT_EQ(r->kept_fp32[0].rfind("dq: ", 0), 0u) << r->kept_fp32[0];
  // boundary: 1 after x, 1 before y; 1 after the DequantizeLinear
  EXPECT_EQ(r->casts_inserted, 3);

  const auto m = load(out);
  const auto& g = m.graph();
  ASSERT_TRUE(onnxu::check(m).ok()) << onnxu::check(m).message();
  EXPECT_EQ(io_type(g.input(), "x"), TP::FLOAT);
  EXPECT_EQ(io_type(g.output(), "y"), TP::FLOAT);
  // Exactly one Cast reads x (-> float16), and y comes from a Cast (-> float).
  auto rx = readers_of(g, "x");
  ASSERT_EQ(rx.size(), 1u);
  EXPECT_EQ(rx[0]->op_type(), "Cast");
  EXPECT_EQ(cast_to(*rx[0]), TP::FLOAT16);
  const auto* py = producer_of(g, "y");
  ASSERT_NE(py, nullptr);
  EXPECT_EQ(py->op_type(), "Cast");
  EXPECT_EQ(cast_to(*py), TP::FLOAT);
  EXPECT_EQ(producer_of(g, py->input(0))->op_type(), "Gemm");

  // Initializers: float16, except Resize roi/scales and DequantizeLinear's scale.
  for (const auto& t : g.initializer()) {
    if (t.name() == "roi" || t.name() == "scales" || t.name() == "q_scale") {
      EXPECT_EQ(t.data_type(), TP::FLOAT) << t.name();
    } else if (t.data_type() != TP::INT64 && t.data_type() != TP::UINT8) {
      EXPECT_EQ(t.data_type(), TP::FLOAT16) << t.name();
    }
  }
  // The Constant node became a float16 initializer; the Cast(to=FLOAT) now casts to FLOAT16.
  ASSERT_NE(find_init(g, "k"), nullptr);
  EXPECT_EQ(find_init(g, "k")->data_type(), TP::FLOAT16);
  EXPECT_EQ(cast_to(*find_node(g, "cast_one")), TP::FLOAT16);
  const auto* up = find_node(g, "up");
  EXPECT_EQ(up->input(1), "roi");
  EXPECT_EQ(up->input(2), "scales");
  // value_info follows.
  EXPECT_EQ(io_type(g.value_info(), "c1"), TP::FLOAT16);
  EXPECT_EQ(io_type(g.value_info(), "u"), TP::FLOAT16);

  // Every intermediate float tensor is float16 (shape inference over the result), except the
  // DequantizeLinear output, which is read through a Cast.
  auto types = onnxu::infer_types(m, {});
  ASSERT_TRUE(types.ok()) << types.error();
  int fp16_tensors = 0;
  for (const auto& n : g.node())
    for (const auto& o : n.output()) {
      if (o == "y") continue;
      const auto t = types->at(o).elem_type;
      if (o == "dqv") {
        EXPECT_EQ(t, TP::FLOAT);
        continue;
      }
      EXPECT_NE(t, TP::FLOAT) << o;
      fp16_tensors += t == TP::FLOAT16;
    }
  EXPECT_GE(fp16_tensors, 12);
  auto rdq = readers_of(g, "dqv");
  ASSERT_EQ(rdq.size(), 1u);
  EXPECT_EQ(rdq[0]->op_type(), "Cast");

  // ONNX Runtime runs it and it matches FP32 within float16 precision (10 bits of mantissa,
  // ~5e-4 relative per rounding, a few dozen roundings along the longest path).
  const auto f = run(model);
  const auto h = run(out);
  ASSERT_EQ(f.size(), 5u);
  ASSERT_EQ(h.size(), f.size());
  for (size_t i = 0; i < f.size(); ++i) EXPECT_NEAR(h[i], f[i], 1e-2f * (1 + std::fabs(f[i])));
}

TEST_F(Fp16Fixture, Fp16IoMakesInputsAndOutputsFloat16) {
  const auto out = dir / "io.onnx";
  Fp16Options o;
  o.fp16_io = true;
  auto r = convert_fp16(model, out, o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->fp16_io);
  EXPECT_EQ(r->casts_inserted, 1);  // only the DequantizeLinear island
  const auto m = load(out);
  const auto& g = m.graph();
  EXPECT_EQ(io_type(g.input(), "x"), TP::FLOAT16);
  EXPECT_EQ(io_type(g.output(), "y"), TP::FLOAT16);
  EXPECT_EQ(producer_of(g, "y")->op_type(), "Gemm");
  for (const auto* n : readers_of(g, "x")) EXPECT_NE(n->op_type(), "Cast");
  ASSERT_TRUE(onnxu::check(m).ok());

  // Run with float16 tensors through the ORT C++ API directly (the backend is float32 only).
  Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "fp16-test");
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(1);
  Ort::Session session(env, out.c_str(), so);
  const auto x = input();
  std::vector<Ort::Float16_t> xh;
  for (float v : x) xh.emplace_back(v);
  const std::array<int64_t, 4> shape{1, 3, 8, 8};
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  auto xin = Ort::Value::CreateTensor<Ort::Float16_t>(mem, xh.data(), xh.size(), shape.data(),
                                                      shape.size());
  const char* in_names[] = {"x"};
  const char* out_names[] = {"y"};
  auto res = session.Run(Ort::RunOptions{nullptr}, in_names, &xin, 1, out_names, 1);
  ASSERT_EQ(res.size(), 1u);
  ASSERT_EQ(res[0].GetTensorTypeAndShapeInfo().GetElementType(),
            ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16);
  const auto* yh = res[0].GetTensorData<Ort::Float16_t>();
  const auto f = run(model);
  ASSERT_EQ(f.size(), 5u);
  for (size_t i = 0; i < f.size(); ++i)
    EXPECT_NEAR(yh[i].ToFloat(), f[i], 1e-2f * (1 + std::fabs(f[i])));
}

TEST_F(Fp16Fixture, ExcludedNodeStaysFloat32BehindCasts) {
  const auto out = dir / "excl.onnx";
  Fp16Options o;
  o.exclude = {"conv2"};
  auto r = convert_fp16(model, out, o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->excluded_nodes, std::vector<std::string>{"conv2"});
  EXPECT_NE(std::find(r->kept_fp32.begin(), r->kept_fp32.end(), "conv2: --exclude"),
            r->kept_fp32.end());
  EXPECT_EQ(r->casts_inserted, 5);  // boundary 2 + dq 1 + around conv2 2
  const auto m = load(out);
  const auto& g = m.graph();
  ASSERT_TRUE(onnxu::check(m).ok());
  const auto* conv2 = find_node(g, "conv2");
  ASSERT_NE(conv2, nullptr);
  EXPECT_EQ(find_init(g, "w2")->data_type(), TP::FLOAT);
  EXPECT_EQ(find_init(g, "b2")->data_type(), TP::FLOAT);
  const auto* before = producer_of(g, conv2->input(0));
  ASSERT_NE(before, nullptr);
  EXPECT_EQ(before->op_type(), "Cast");
  EXPECT_EQ(cast_to(*before), TP::FLOAT);
  EXPECT_EQ(producer_of(g, before->input(0))->name(), "up");
  auto after = readers_of(g, conv2->output(0));
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after[0]->op_type(), "Cast");
  EXPECT_EQ(cast_to(*after[0]), TP::FLOAT16);
  EXPECT_EQ(readers_of(g, after[0]->output(0))[0]->name(), "mul");
  const auto f = run(model);
  const auto h = run(out);
  ASSERT_EQ(h.size(), f.size());
  for (size_t i = 0; i < f.size(); ++i) EXPECT_NEAR(h[i], f[i], 1e-2f * (1 + std::fabs(f[i])));

  // Ranges and op types use quantize's syntax; unknown names are errors.
  o.exclude = {"conv2..add"};
  r = convert_fp16(model, dir / "range.onnx", o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->excluded_nodes.size(), 4u);  // conv2, mul, cast_one, add (Constants are weights)
  o.exclude = {"Conv"};
  r = convert_fp16(model, dir / "op.onnx", o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->excluded_nodes, (std::vector<std::string>{"conv1", "conv2"}));
  o.exclude = {"Conv_999"};  // a typo is an error, not a silent no-op
  r = convert_fp16(model, dir / "typo.onnx", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("--exclude Conv_999: matches no node"), std::string::npos) << r.error();
  o.exclude = {"conv2..nope"};
  r = convert_fp16(model, dir / "bad.onnx", o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("nope"), std::string::npos) << r.error();
}

TEST_F(Fp16Fixture, OutOfRangeWeightsAreClampedAndCounted) {
  onnx::ModelProto m = test::empty_model("clamp");
  auto& g = *m.mutable_graph();
  test::set_io(g.add_input(), "x", {1, 6});
  test::set_io(g.add_output(), "y", {1, 6});
  auto* w = g.add_initializer();
  w->set_name("w");
  w->set_data_type(TP::FLOAT);
  w->add_dims(6);
  for (float v : {1e5f, -7e4f, 3.f, 1e-9f, 65504.f, INFINITY}) w->add_float_data(v);
  test::add_node(g, "Mul", "mul", {"x", "w"}, {"y"});
  ASSERT_TRUE(test::save_model(m, dir / "clamp.onnx"));
  auto r = convert_fp16(dir / "clamp.onnx", dir / "clamp16.onnx");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->values_clamped, 2);  // 1e5 and -7e4; 65504 is exact and inf is representable
  EXPECT_EQ(r->values_flushed, 1);  // 1e-9 is below the smallest subnormal (6e-8)
  const auto out = load(dir / "clamp16.onnx");
  const auto* t = find_init(out.graph(), "w");
  ASSERT_NE(t, nullptr);
  ASSERT_EQ(t->data_type(), TP::FLOAT16);
  ASSERT_EQ(t->raw_data().size(), 12u);
  std::vector<uint16_t> h(6);
  std::memcpy(h.data(), t->raw_data().data(), 12);
  EXPECT_EQ(half_to_float(h[0]), 65504.f);
  EXPECT_EQ(half_to_float(h[1]), -65504.f);
  EXPECT_EQ(half_to_float(h[2]), 3.f);
  EXPECT_EQ(half_to_float(h[3]), 0.f);
  EXPECT_EQ(half_to_float(h[4]), 65504.f);
  EXPECT_TRUE(std::isinf(half_to_float(h[5])));
  // The weights-only form clamps the same way (it used to store inf).
  Fp16Options wo;
  wo.mode = Fp16Mode::kWeightsOnly;
  g.mutable_initializer(0)->clear_float_data();
  for (int i = 0; i < 16; ++i) g.mutable_initializer(0)->add_float_data(i == 3 ? -1e6f : 1.f);
  g.mutable_initializer(0)->set_dims(0, 16);
  g.mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(16);
  g.mutable_output(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(1)
      ->set_dim_value(16);
  ASSERT_TRUE(test::save_model(m, dir / "clamp_w.onnx"));
  r = convert_fp16(dir / "clamp_w.onnx", dir / "clamp_w16.onnx", wo);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->values_clamped, 1);
  EXPECT_EQ(r->initializers_converted, 1);
}

TEST(Fp16Half, RoundTripAndRounding) {
  for (float v : {0.f, -0.f, 1.f, -2.5f, 65504.f, 6.1035156e-5f, 5.9604645e-8f, 0.099975586f})
    EXPECT_EQ(half_to_float(float_to_half(v)), v) << v;
  EXPECT_EQ(float_to_half(1.f + 1.f / 2048.f), float_to_half(1.f));  // tie -> even
  EXPECT_EQ(float_to_half(1.f + 3.f / 2048.f), float_to_half(1.f + 2.f / 1024.f));
  EXPECT_TRUE(std::isinf(half_to_float(float_to_half(70000.f))));
  EXPECT_TRUE(std::isnan(half_to_float(float_to_half(NAN))));
}

// YOLOX-nano on a real photo: the FP16 graph's raw output against FP32.
TEST(Fp16Yolox, OutputCloseToFp32OnRealImage) {
  const fs::path src = test::shared_models_dir() / "detect" / "yolox_nano.onnx";
  ASSERT_TRUE(fs::exists(src)) << src;
  const auto dir = test::temp_dir("fp16_yolox");
  auto r = convert_fp16(src, dir / "yolox_nano_fp16.onnx");
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->casts_inserted, 2);  // one input, one output, no float32 islands
  EXPECT_TRUE(r->kept_fp32.empty());
  EXPECT_EQ(r->values_clamped, 0);
  EXPECT_LT(r->output_bytes, r->input_bytes * 0.55);
  const auto* spec = builtin_manifest().find("yolox-nano");
  ASSERT_NE(spec, nullptr);
  cv::Mat img = cv::imread(test::data("images/dog.jpg").string());
  ASSERT_FALSE(img.empty());
  std::vector<float> x;
  make_input_tensor(img, spec->preprocess, 416, 416, x);
  std::vector<Tensor> a, b;
  BackendOptions bo;
  bo.threads = 2;
  auto fa = create_backend("onnxruntime", src, bo);
  auto fb = create_backend("onnxruntime", dir / "yolox_nano_fp16.onnx", bo);
  ASSERT_TRUE(fa.ok() && fb.ok());
  const std::vector<int64_t> shape{1, 3, 416, 416};
  ASSERT_TRUE((*fa)->run({{x.data(), shape}}, a).ok());
  ASSERT_TRUE((*fb)->run({{x.data(), shape}}, b).ok());
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].data.size(), b[0].data.size());
  ASSERT_EQ(a[0].shape.back(), 85);  // 4 box + objectness + 80 classes
  // Raw head output per anchor: 4 box values in grid units (x/y offsets, log w/h), objectness
  // and 80 class probabilities. Weights rounded to 11 significant bits (relative error <= 2^-11)
  // move logits by ~1% after 100+ layers: background anchors, where nothing constrains the
  // logits, see the largest changes (measured 0.41 box / 0.042 score on dog.jpg, see
  // docs/optimization.md "FP16"); anchors that can become detections (confidence >= 0.1 in
  // either model) move much less (measured 0.018 confidence / 0.015 grid units).
  const auto& fa32 = a[0].data;
  const auto& fb16 = b[0].data;
  double box = 0, score = 0, conf = 0, det_box = 0, dot = 0, na = 0, nb = 0;
  int relevant = 0;
  for (size_t r = 0; r < fa32.size() / 85; ++r) {
    const float* p = &fa32[r * 85];
    const float* q = &fb16[r * 85];
    double row_box = 0;
    for (int k = 0; k < 85; ++k) {
      const double d = std::fabs(p[k] - q[k]);
      (k < 4 ? box : score) = std::max(k < 4 ? box : score, d);
      if (k < 4) row_box = std::max(row_box, d);
      dot += double(p[k]) * q[k];
      na += double(p[k]) * p[k];
      nb += double(q[k]) * q[k];
    }
    for (int c = 5; c < 85; ++c) {
      const double ca = p[4] * p[c], cb = q[4] * q[c];
      if (std::max(ca, cb) < 0.1) continue;
      ++relevant;
      conf = std::max(conf, std::fabs(ca - cb));
      det_box = std::max(det_box, row_box);
    }
  }
  std::printf(
      "yolox-nano fp16 vs fp32 on dog.jpg: all anchors: box max |diff| %.4f, score %.4f; "
      "%d candidates (conf >= 0.1): conf %.4f, box %.4f; cosine %.6f\n",
      box, score, relevant, conf, det_box, dot / std::sqrt(na * nb));
  EXPECT_GE(relevant, 10);  // the dog, the bicycle and the truck, several anchors each
  // A 0.05 confidence change flips only boxes within 0.05 of the threshold; 0.05 grid units
  // are <= 1.6 px at stride 32 and <= 5% of a box's width/height.
  EXPECT_LT(conf, 0.05);
  EXPECT_LT(det_box, 0.05);
  // Everywhere (background anchors included): about 2.5x the measured values.
  EXPECT_LT(box, 1.0);
  EXPECT_LT(score, 0.1);
  EXPECT_GT(dot / std::sqrt(na * nb), 0.9999);
}

TEST(Fp16Cli, QuantizeFp16Json) {
  const auto dir = test::temp_dir("fp16_cli");
  const std::string base = test::edgevision_binary().string() + " --offline --models-dir " +
                           test::shared_models_dir().string() + " quantize yolox-nano -o ";
  auto r = test::run_command(base + (dir / "full.onnx").string() + " --fp16 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["precision"], "fp16");
  EXPECT_EQ(j["fp16_io"], false);
  for (const char* k : {"nodes", "nodes_fp16", "kept_fp32", "excluded_nodes",
                        "initializers_converted", "initializers_kept_fp32", "casts_inserted",
                        "values_clamped", "values_flushed", "input_bytes", "output_bytes", "opset"})
    EXPECT_TRUE(j.contains(k)) << k << " missing in " << r.out;
  EXPECT_GT(j["nodes_fp16"].get<int>(), 100);
  EXPECT_EQ(j["casts_inserted"], 2);
  EXPECT_LT(j["output_bytes"].get<double>(), 0.55 * j["input_bytes"].get<double>());

  r = test::run_command(base + (dir / "w.onnx").string() + " --fp16-weights-only --json --calib " +
                        test::data("coco/images/val2017").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["precision"], "fp16-weights");
  EXPECT_EQ(j["nodes_fp16"], 0);
  EXPECT_GT(j["output_cosine"].get<double>(), 0.999);  // --calib: compared on its first image

  r = test::run_command(base + (dir / "io.onnx").string() +
                        " --fp16 --fp16-io --exclude Concat --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["fp16_io"], true);
  EXPECT_FALSE(j["excluded_nodes"].empty());

  r = test::run_command(base + (dir / "bad.onnx").string() + " --fp16 --exclude A..B");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("no node named"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ev
