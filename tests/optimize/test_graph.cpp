#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/analyze.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/benchmark.hpp"
#include "edgevision/quantize.hpp"
#include "optimize/onnx_util.hpp"
#include "support/test_support.hpp"
#include "tiny_model.hpp"

namespace ev {
namespace {

struct TinyFixture : ::testing::Test {
  std::filesystem::path dir, model, images;
  Preprocess pre;
  void SetUp() override {
    dir = test::temp_dir(std::string("optimize_") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
    model = dir / "tiny.onnx";
    ASSERT_TRUE(test::save_model(test::tiny_model(), model));
    images = dir / "calib";
    std::filesystem::create_directories(images);
    cv::RNG rng(11);
    for (int i = 0; i < 6; ++i) {
      cv::Mat img(16, 16, CV_8UC3);
      rng.fill(img, cv::RNG::UNIFORM, 0, 256);
      cv::imwrite((images / ("img" + std::to_string(i) + ".png")).string(), img);
    }
    pre.width = 8;
    pre.height = 8;
    pre.resize = "stretch";
    pre.scale = 1.f / 255.f;
  }
  std::vector<float> input() const {
    std::vector<float> x(3 * 8 * 8);
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (auto& v : x) v = u(rng);
    return x;
  }
  // The quantized model's output stays within 5% of the FP32 output's range.
  void expect_int8_close_to_fp32(const std::filesystem::path& quantized) const {
    auto f = run(model);
    auto i8 = run(quantized);
    ASSERT_EQ(f.size(), 5u);
    ASSERT_EQ(i8.size(), 5u);
    float range = 0;
    for (float v : f) range = std::max(range, std::fabs(v));
    for (size_t k = 0; k < f.size(); ++k) EXPECT_NEAR(i8[k], f[k], 0.05f * range + 0.02f) << k;
  }
  std::vector<float> run(const std::filesystem::path& p) const {
    auto be = create_backend("onnxruntime", p);
    EXPECT_TRUE(be.ok()) << be.error();
    if (!be) return {};
    auto x = input();
    std::vector<Tensor> out;
    EXPECT_TRUE((*be)->run({{x.data(), {1, 3, 8, 8}}}, out).ok());
    return out.empty() ? std::vector<float>{} : out[0].data;
  }
  QuantizeOptions qopts(const std::string& out) const {
    QuantizeOptions o;
    o.model = model;
    o.output = dir / out;
    o.calib_dir = images;
    o.preprocess = pre;
    o.progress = false;
    o.check_quality = false;  // these tests are about the graph rewrite
    o.precision = QuantPrecision::kAll;  // of every op type
    return o;
  }
};

TEST_F(TinyFixture, FlopsAndParamsMatchHandComputed) {
  AnalyzeOptions ao;
  ao.check_opencv = true;
  auto a = analyze_model(model, ao);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->macs, test::kTinyMacs);
  EXPECT_EQ(a->flops, test::kTinyFlops);
  EXPECT_EQ(a->params, test::kTinyParams);
  EXPECT_EQ(a->depthwise_flops, 2 * 2304);
  EXPECT_EQ(a->op_histogram.at("Conv"), 2);
  EXPECT_EQ(a->weight_bytes.at("float32"), test::kTinyParams * 4);
  ASSERT_EQ(a->outputs.size(), 1u);
  EXPECT_EQ(a->outputs[0].shape, (std::vector<int64_t>{1, 5}));
  // Largest live set: conv1 output + relu output (1 KiB each; x is freed after conv1).
  EXPECT_EQ(a->activation_bytes_peak, 1024 + 1024);
  EXPECT_TRUE(a->opencv_unsupported.empty());
  EXPECT_TRUE(a->opencv_load_error.empty()) << a->opencv_load_error;
  EXPECT_FALSE(a->quantized);
  for (const auto& d : device_profiles()) {
    auto r = recommend(*a, d);
    EXPECT_FALSE(r.precision.empty());
    EXPECT_GT(r.threads, 0);
  }
}

TEST_F(TinyFixture, QdqModelIsValidRunsAndMatchesFp32) {
  auto o = qopts("tiny_int8.onnx");
  o.calib_cache = dir / "cache.json";
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->nodes_quantized, 7);  // every node of the tiny graph
  EXPECT_EQ(r->weights_quantized, 3);
  EXPECT_FALSE(r->cache_used);
  EXPECT_EQ(r->images, 6);

  auto q = onnxu::load(o.output);
  ASSERT_TRUE(q.ok());
  EXPECT_TRUE(onnxu::check(*q).ok());
  int qn = 0, dqn = 0;
  for (const auto& n : q->graph().node()) {
    qn += n.op_type() == "QuantizeLinear";
    dqn += n.op_type() == "DequantizeLinear";
  }
  EXPECT_GT(qn, 0);
  EXPECT_GT(dqn, qn);  // weights and biases have DQ only
  bool per_channel_w1 = false, int32_bias = false;
  for (const auto& t : q->graph().initializer()) {
    if (t.name() == "w1_quantized") {
      EXPECT_EQ(t.data_type(), onnx::TensorProto::INT8);
    }
    if (t.name() == "w1_scale") per_channel_w1 = t.dims_size() == 1 && t.dims(0) == 4;
    if (t.data_type() == onnx::TensorProto::INT32 && t.name().rfind("b1_quantized", 0) == 0)
      int32_bias = true;
    EXPECT_NE(t.name(), "w1");  // float weight dropped
  }
  EXPECT_TRUE(per_channel_w1);
  EXPECT_TRUE(int32_bias);

  expect_int8_close_to_fp32(o.output);

  // Second run: the cache matches and no image is read.
  auto o2 = o;
  o2.calib_dir.clear();
  auto r2 = quantize_model(o2);
  ASSERT_TRUE(r2.ok()) << r2.error();
  EXPECT_TRUE(r2->cache_used);

  auto a = analyze_model(o.output, {});
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_TRUE(a->quantized);
  EXPECT_EQ(a->weight_bytes.at("int8"), (108 + 36 + 20) + (4 + 4 + 5));  // + zero points
}

TEST_F(TinyFixture, AllMethodsAndExclusions) {
  for (auto m : {CalibrationMethod::kPercentile, CalibrationMethod::kEntropy}) {
    auto o = qopts(std::string("tiny_") + to_string(m) + ".onnx");
    o.method = m;
    o.exclude = {"Gemm", "pool"};  // op type and node name
    auto r = quantize_model(o);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->excluded_nodes.size(), 2u);
    EXPECT_EQ(r->nodes_quantized, 5);
    EXPECT_EQ(run(o.output).size(), 5u);
  }
  auto o = qopts("tiny_pt.onnx");
  o.per_channel = false;
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
}

TEST_F(TinyFixture, RangeExclusionKeepsConvOutputQuantized) {
  auto o = qopts("tiny_range.onnx");
  o.exclude = {"relu1..pool"};  // relu1, dwconv, pool in graph order
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->excluded_nodes.size(), 3u);
  EXPECT_EQ(r->nodes_quantized, 4);
  auto q = onnxu::load(o.output);
  ASSERT_TRUE(q.ok());
  // conv1 stays quantized, so its output gets Q/DQ (QLinearConv needs a Q after the Conv) and
  // the float Relu reads the dequantized tensor instead of the raw Conv output.
  bool c1_quantized = false, relu_reads_dq = false;
  for (const auto& n : q->graph().node()) {
    if (n.op_type() == "QuantizeLinear" && n.input(0) == "c1") c1_quantized = true;
    if (n.name() == "relu1") relu_reads_dq = n.input(0) == "c1_dequantized";
  }
  EXPECT_TRUE(c1_quantized);
  EXPECT_TRUE(relu_reads_dq);
  EXPECT_EQ(run(o.output).size(), 5u);

  o.exclude = {"pool..conv1"};
  auto backwards = quantize_model(o);
  ASSERT_FALSE(backwards.ok());
  EXPECT_NE(backwards.error().find("comes before"), std::string::npos) << backwards.error();
  o.exclude = {"nope..pool"};
  auto unknown = quantize_model(o);
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().find("no node named 'nope'"), std::string::npos) << unknown.error();
  // A single name that matches nothing is a typo, not a silent no-op.
  o.exclude = {"Conv_999"};
  auto typo = quantize_model(o);
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().find("--exclude Conv_999: matches no node"), std::string::npos)
      << typo.error();
}

// Q/DQ and activation counts of a quantized tiny graph, as written and as ORT optimizes it.
struct QdqCounts {
  std::set<std::string> quantized;  // inputs of the QuantizeLinear nodes written
  int ort_q = 0, ort_dq = 0, ort_integer = 0, ort_float_convs = 0, ort_activations = 0;
};
QdqCounts count_qdq(const std::filesystem::path& q, const std::filesystem::path& ort_as) {
  QdqCounts c;
  auto m = onnxu::load(q);
  EXPECT_TRUE(m.ok());
  if (!m) return c;
  for (const auto& n : m->graph().node())
    if (n.op_type() == "QuantizeLinear") c.quantized.insert(n.input(0));
  auto g = ort_optimized_graph(q, ort_as, 1);
  EXPECT_TRUE(g.ok()) << g.error();
  if (!g) return c;
  c.ort_q = g->quantize_linear;
  c.ort_dq = g->dequantize_linear;
  c.ort_integer = g->integer_ops;
  c.ort_float_convs = g->float_convs;
  for (const auto& [op, k] : g->op_counts)
    if (op == "Relu" || op == "Clip" || op == "LeakyRelu") c.ort_activations += k;
  return c;
}

// Conv + Relu are quantized as one unit (as ONNX Runtime's quantizer does): no Q/DQ between
// them, one on the Relu output. ORT drops the Relu in front of the QuantizeLinear (zero point 0)
// and fuses DQ -> Conv -> Q into QLinearConv, so no float DQ + Q pass is left for the Relu.
TEST_F(TinyFixture, ConvReluQuantizedAsOneUnit) {
  auto o = qopts("tiny_unit.onnx");
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->fused_activations, std::vector<std::string>{"r1"});
  EXPECT_EQ(r->nodes_quantized, 7);
  auto fused = count_qdq(o.output, dir / "ort" / "unit.onnx");
  EXPECT_FALSE(fused.quantized.count("c1"));  // no Q between conv1 and relu1
  EXPECT_TRUE(fused.quantized.count("r1"));   // one after relu1
  auto q = onnxu::load(o.output);
  ASSERT_TRUE(q.ok());
  for (const auto& t : q->graph().initializer())
    if (t.name() == "r1_zero_point") {
      EXPECT_EQ(t.raw_data(), std::string(1, '\0'));
    }
  EXPECT_EQ(fused.ort_activations, 0);  // no float Relu left
  EXPECT_EQ(fused.ort_float_convs, 0);
  EXPECT_GE(fused.ort_integer, 2);

  // Excluded Relu: the old layout. conv1's output keeps its Q/DQ so QLinearConv still fuses;
  // ORT drops the Relu before the QuantizeLinear here too, but a float DequantizeLinear +
  // QuantizeLinear pair (two passes over the tensor) is left between the two QLinearConvs.
  auto ox = qopts("tiny_relu_float.onnx");
  ox.exclude = {"relu1"};
  auto rx = quantize_model(ox);
  ASSERT_TRUE(rx.ok()) << rx.error();
  EXPECT_TRUE(rx->fused_activations.empty());
  auto apart = count_qdq(ox.output, dir / "ort" / "apart.onnx");
  EXPECT_TRUE(apart.quantized.count("c1"));
  EXPECT_TRUE(apart.quantized.count("r1"));
  EXPECT_EQ(apart.ort_activations, 0);
  EXPECT_EQ(apart.ort_float_convs, 0);
  // Fused: exactly the DQ + Q pair around the Relu fewer; the boundaries are the same.
  EXPECT_EQ(fused.ort_q, apart.ort_q - 1);
  EXPECT_EQ(fused.ort_dq, apart.ort_dq - 1);

  expect_int8_close_to_fp32(o.output);

  // Calibration asks for the Relu output, not the conv output; a cache written before (conv
  // output there, Relu output missing: with dwconv excluded nothing quantized read r1) is
  // incomplete and the command calibrates again.
  auto oc = qopts("tiny_cached.onnx");
  oc.exclude = {"dwconv"};
  auto needed = tensors_to_calibrate(model, oc);
  ASSERT_TRUE(needed.ok()) << needed.error();
  EXPECT_EQ(std::count(needed->begin(), needed->end(), "r1"), 1);
  EXPECT_EQ(std::count(needed->begin(), needed->end(), "c1"), 0);
  oc.calib_cache = dir / "old_cache.json";
  ASSERT_TRUE(quantize_model(oc).ok());
  auto old_cache = load_calibration_table(oc.calib_cache);
  ASSERT_TRUE(old_cache.ok()) << old_cache.error();
  ASSERT_TRUE(old_cache->ranges.count("r1"));
  old_cache->ranges["c1"] = old_cache->ranges["r1"];
  old_cache->ranges.erase("r1");
  ASSERT_TRUE(save_calibration_table(*old_cache, oc.calib_cache).ok());
  auto again = quantize_model(oc);
  ASSERT_TRUE(again.ok()) << again.error();
  EXPECT_FALSE(again->cache_used);
  EXPECT_EQ(again->fused_activations, std::vector<std::string>{"r1"});
}

// relu1 replaced by `op`; with `residual`, BlazeFace's block after dwconv:
// Add(c2, r1) -> Relu -> pool.
onnx::ModelProto tiny_variant(const std::string& op, float clip_min, bool residual) {
  auto m = test::tiny_model();
  auto& g = *m.mutable_graph();
  auto* act = g.mutable_node(1);
  act->set_op_type(op);
  if (op == "Clip") {
    for (auto [name, v] : {std::pair{"clip_min", clip_min}, std::pair{"clip_max", 6.f}}) {
      auto* t = g.add_initializer();
      t->set_name(name);
      t->set_data_type(onnx::TensorProto::FLOAT);
      t->add_float_data(v);
      act->add_input(name);
    }
  }
  if (residual) test::add_residual_relu(m);
  return m;
}

TEST_F(TinyFixture, ClipAndAddReluFuseLeakyReluDoesNot) {
  struct Case {
    std::string op;
    float clip_min;
    bool residual;
    std::vector<std::string> fused;
  };
  // Clip(0, 6) is dropped by ORT in front of a QuantizeLinear whose range lies inside [0, 6];
  // Clip(0.5, 6) is not (the uint8 range starts at 0), and ORT has no LeakyRelu -> Q fusion (it
  // runs DQ -> LeakyRelu -> Q as QLinearLeakyRelu), so those keep the Q/DQ after the conv.
  const std::vector<Case> cases{{"Clip", 0.f, false, {"r1"}},
                                {"Clip", 0.5f, false, {}},
                                {"LeakyRelu", 0.f, false, {}},
                                {"Relu", 0.f, true, {"r1", "r2"}}};
  for (const auto& c : cases) {
    SCOPED_TRACE(c.op + " " + std::to_string(c.clip_min) + (c.residual ? " residual" : ""));
    const std::string stem =
        c.op + std::to_string(static_cast<int>(c.clip_min * 10)) + (c.residual ? "_res" : "");
    auto o = qopts(stem + "_int8.onnx");
    o.model = dir / (stem + ".onnx");
    ASSERT_TRUE(test::save_model(tiny_variant(c.op, c.clip_min, c.residual), o.model));
    auto r = quantize_model(o);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->fused_activations, c.fused);
    auto k = count_qdq(o.output, dir / "ort" / (stem + ".onnx"));
    EXPECT_EQ(k.quantized.count("c1"), c.fused.empty() ? 1u : 0u);
    EXPECT_TRUE(k.quantized.count("r1"));
    if (c.residual) {
      EXPECT_FALSE(k.quantized.count("a"));
      EXPECT_TRUE(k.quantized.count("r2"));
      EXPECT_TRUE(k.quantized.count("c2"));  // dwconv -> Add: an ordinary conv output
    }
    EXPECT_EQ(k.ort_float_convs, 0);
    if (!c.fused.empty()) {
      EXPECT_EQ(k.ort_activations, 0);
      EXPECT_EQ(k.ort_q, 1);  // the graph input only
    }
    if (c.op == "LeakyRelu") {
      EXPECT_EQ(k.ort_activations, 0);  // QLinearLeakyRelu
    }
    auto f = run(o.model);
    auto i8 = run(o.output);
    ASSERT_EQ(f.size(), 5u);
    ASSERT_EQ(i8.size(), 5u);
    float range = 0;
    for (float v : f) range = std::max(range, std::fabs(v));
    for (size_t j = 0; j < f.size(); ++j) EXPECT_NEAR(i8[j], f[j], 0.05f * range + 0.02f) << j;
  }
}

TEST_F(TinyFixture, AlreadyQuantizedModelIsRefused) {
  auto o = qopts("tiny_once.onnx");
  ASSERT_TRUE(quantize_model(o).ok());
  auto again = qopts("tiny_twice.onnx");
  again.model = o.output;
  auto r = quantize_model(again);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("already quantized"), std::string::npos) << r.error();
  EXPECT_FALSE(std::filesystem::exists(again.output));
}

TEST_F(TinyFixture, OrtFusesQdqIntoIntegerKernels) {
  auto o = qopts("tiny_fused.onnx");
  ASSERT_TRUE(quantize_model(o).ok());
  auto g = ort_optimized_graph(o.output, dir / "ort" / "tiny_fused_opt.onnx", 1);
  ASSERT_TRUE(g.ok()) << g.error();
  EXPECT_TRUE(std::filesystem::exists(g->saved));
  EXPECT_GE(g->integer_ops, 2);  // both Convs as QLinearConv
  EXPECT_EQ(g->float_convs, 0);
  EXPECT_FALSE(format_op_counts(*g).empty());
  auto f = ort_optimized_graph(model, dir / "ort" / "tiny_fp32_opt.onnx", 1);
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ(f->integer_ops, 0);
  EXPECT_FALSE(ort_optimized_graph(dir / "missing.onnx", dir / "ort" / "m.onnx", 1).ok());
}

TEST_F(TinyFixture, ClearErrors) {
  auto o = qopts("x.onnx");
  o.calib_dir = dir / "nope";
  auto r = quantize_model(o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("does not exist"), std::string::npos) << r.error();
  auto bad = dir / "bad.onnx";
  FILE* f = std::fopen(bad.c_str(), "wb");
  std::fputs("not a model", f);
  std::fclose(f);
  o = qopts("y.onnx");
  o.model = bad;
  EXPECT_FALSE(quantize_model(o).ok());
  // Opset 11 with an op whose meaning changes in 13: refused for per-channel.
  auto m = test::tiny_model();
  m.mutable_opset_import(0)->set_version(11);
  auto* n = m.mutable_graph()->mutable_node(5);  // Flatten -> Squeeze(axes) keeps shapes valid
  n->set_op_type("Squeeze");
  test::add_ints(n, "axes", {2, 3});
  m.mutable_graph()->mutable_node(5)->set_input(0, "gp");
  auto p11 = dir / "op11.onnx";
  ASSERT_TRUE(test::save_model(m, p11));
  o = qopts("z.onnx");
  o.model = p11;
  auto r11 = quantize_model(o);
  ASSERT_FALSE(r11.ok());
  EXPECT_NE(r11.error().find("Squeeze"), std::string::npos) << r11.error();
}

TEST_F(TinyFixture, Fp16WeightsRunCloseToFp32) {
  auto out = dir / "tiny_fp16.onnx";
  Fp16Options o;
  o.mode = Fp16Mode::kWeightsOnly;
  auto r = convert_fp16(model, out, o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->initializers_converted, 3);  // tensors >= 16 elements: w1, w2, w3
  auto a = analyze_model(out, {});
  ASSERT_TRUE(a.ok());
  EXPECT_GT(a->weight_bytes.at("float16"), 0);
  auto f = run(model);
  auto h = run(out);
  ASSERT_EQ(h.size(), f.size());
  for (size_t k = 0; k < f.size(); ++k) EXPECT_NEAR(h[k], f[k], 2e-3f * (1 + std::fabs(f[k])));
}

// The accuracy guard on a graph with one fragile node (tiny_model.hpp, fragile_model): with
// everything in INT8 the output is destroyed; the sensitivity search ranks `unshift` first and
// keeps exactly it in float, and the result meets the target on the held-back images.
struct FragileFixture : TinyFixture {
  std::filesystem::path fragile;
  void SetUp() override {
    TinyFixture::SetUp();
    fragile = dir / "fragile.onnx";
    ASSERT_TRUE(test::save_model(test::fragile_model(), fragile));
    cv::RNG rng(5);
    for (int i = 6; i < 16; ++i) {  // 16 images: 11 calibrate, 16/3 = 5 held back
      cv::Mat img(16, 16, CV_8UC3);
      rng.fill(img, cv::RNG::UNIFORM, 0, 256);
      cv::imwrite((images / ("img" + std::to_string(i) + ".png")).string(), img);
    }
  }
  QuantizeOptions fopts(const std::string& out) const {
    auto o = qopts(out);
    o.model = fragile;
    o.check_quality = true;
    return o;
  }
};

// --precision all: a fragile node in the first half of the graph keeps everything before it
// float too (one float region from the input, no int8 island inside it: each island costs a
// Q, a DQ and layout changes). fragile_model with three more 1x1 convs after conv2: `unshift`
// is node 2 of 7, so conv1 and shift stay float with it, and the reason says why.
TEST_F(FragileFixture, EarlyFragileNodeKeepsOneFloatRegionFromTheInput) {
  auto m = test::fragile_model();
  auto& g = *m.mutable_graph();
  std::string prev = "y0";
  for (auto& n : *g.mutable_node())
    if (n.name() == "conv2") n.set_output(0, prev);
  for (int i = 3; i <= 5; ++i) {
    const std::string w = "w" + std::to_string(i), b = "b" + std::to_string(i);
    test::add_float_init(g, w, {4, 4, 1, 1}, 0.1f * i);
    test::add_float_init(g, b, {4}, 0.2f * i);
    const std::string out = i == 5 ? std::string("y") : "y" + std::to_string(i);
    auto* c = test::add_node(g, "Conv", "conv" + std::to_string(i), {prev, w, b}, {out});
    test::add_ints(c, "kernel_shape", {1, 1});
    prev = out;
  }
  const auto longer = dir / "fragile_longer.onnx";
  ASSERT_TRUE(test::save_model(m, longer));
  auto o = fopts("fragile_longer_auto.onnx");
  o.model = longer;
  ASSERT_EQ(o.precision, QuantPrecision::kAll);
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->target_met);
  std::map<std::string, std::string> why;
  for (const auto& f : r->kept_float) why[f.node] = f.reason;
  ASSERT_EQ(why.size(), 3u);
  EXPECT_EQ(why["unshift"].rfind("rank 1 of", 0), 0u) << why["unshift"];
  EXPECT_NE(why["conv1"].find("before unshift"), std::string::npos) << why["conv1"];
  EXPECT_NE(why["shift"].find("before unshift"), std::string::npos) << why["shift"];
  EXPECT_EQ(r->nodes_quantized, 4);  // conv2..conv5

  // --precision speed keeps its float nodes where they are ranked (no region).
  auto os = fopts("fragile_longer_speed.onnx");
  os.model = longer;
  os.precision = QuantPrecision::kSpeed;
  auto rs = quantize_model(os);
  ASSERT_TRUE(rs.ok()) << rs.error();
  for (const auto& f : rs->kept_float) EXPECT_EQ(f.reason.rfind("rank", 0), 0u) << f.reason;
}

TEST_F(FragileFixture, SensitivitySearchKeepsTheFragileNodeInFloat) {
  auto o = fopts("fragile_auto.onnx");
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_TRUE(r->quality_checked);
  EXPECT_EQ(r->quality_metric, "sqnr_db");
  EXPECT_EQ(r->holdout_images, 5);
  EXPECT_EQ(r->images, 11);
  EXPECT_LT(r->full_int8_quality, 10.0);  // all-INT8 is broken
  EXPECT_EQ(r->nodes_probed, 4);
  ASSERT_EQ(r->kept_float.size(), 1u);
  EXPECT_EQ(r->kept_float[0].node, "unshift");
  EXPECT_LT(r->kept_float[0].sqnr_db_alone, 10.0);
  EXPECT_FALSE(r->kept_float[0].reason.empty());
  EXPECT_TRUE(r->target_met);
  EXPECT_TRUE(r->written);
  EXPECT_GE(r->quality, o.min_sqnr_db);
  EXPECT_EQ(r->nodes_quantized, 3);  // conv1, shift, conv2
  // The written file is the one judged: compare it with FP32 on the held-back images again.
  auto all = list_calibration_images(images, 0);
  ASSERT_TRUE(all.ok());
  std::vector<std::filesystem::path> held(all->end() - 5, all->end());
  auto ref = reference_run(fragile, held, pre, 1);
  ASSERT_TRUE(ref.ok()) << ref.error();
  auto q = candidate_sqnr_db(o.output, *ref, 1);
  ASSERT_TRUE(q.ok()) << q.error();
  EXPECT_NEAR(*q, r->quality, 1e-6);
}

TEST_F(FragileFixture, BelowTargetWritesNothingUnlessForced) {
  auto o = fopts("fragile_plain.onnx");
  o.auto_float = false;  // no search: the all-INT8 model misses the target
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_FALSE(r->target_met);
  EXPECT_FALSE(r->written);
  EXPECT_LT(r->quality, o.min_sqnr_db);
  EXPECT_FALSE(std::filesystem::exists(o.output));
  o.force = true;
  auto forced = quantize_model(o);
  ASSERT_TRUE(forced.ok()) << forced.error();
  EXPECT_FALSE(forced->target_met);
  EXPECT_TRUE(forced->written);
  EXPECT_TRUE(std::filesystem::exists(o.output));
  // A target nothing can reach: the search keeps the best it tried and still refuses.
  auto impossible = fopts("fragile_impossible.onnx");
  impossible.min_sqnr_db = 200;
  auto ri = quantize_model(impossible);
  ASSERT_TRUE(ri.ok()) << ri.error();
  EXPECT_FALSE(ri->target_met);
  EXPECT_FALSE(std::filesystem::exists(impossible.output));
  // Without images there is nothing to judge by: an error, not an unchecked model.
  auto blind = fopts("fragile_blind.onnx");
  blind.calib_dir.clear();
  EXPECT_FALSE(quantize_model(blind).ok());
}

// The real-metric mode (accuracy control): the callback scores each candidate; here a metric
// that only the FP32 graph (and candidates within max_drop of it) pass.
TEST_F(FragileFixture, MetricModeUsesTheCallback) {
  auto o = fopts("fragile_metric.onnx");
  auto ref = reference_run(fragile, {images / "img0.png", images / "img1.png"}, pre, 1);
  ASSERT_TRUE(ref.ok()) << ref.error();
  int calls = 0;
  o.metric = [&](const std::filesystem::path& m,
                 const std::vector<std::filesystem::path>& holdout) -> Result<double> {
    EXPECT_EQ(holdout.size(), 5u);
    ++calls;
    auto q = candidate_sqnr_db(m, *ref, 1);
    if (!q) return q.status();
    return std::min(*q, 60.0);  // "points": FP32 scores 60
  };
  o.max_drop = 30;  // accept >= 30
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->quality_metric, "metric");
  EXPECT_DOUBLE_EQ(r->reference_score, 60.0);
  EXPECT_DOUBLE_EQ(r->quality_target, 30.0);
  EXPECT_TRUE(r->target_met);
  ASSERT_EQ(r->kept_float.size(), 1u);
  EXPECT_EQ(r->kept_float[0].node, "unshift");
  EXPECT_EQ(calls, 1 + r->candidates_evaluated);
}

// The CLI: below target it exits 1 with the numbers and writes nothing; --force writes it,
// loudly; the default search keeps `unshift` in float and says so on stdout and in --json.
TEST_F(FragileFixture, CliExitsNonZeroBelowTarget) {
  const auto bin = test::edgevision_binary();
  ASSERT_TRUE(std::filesystem::exists(bin)) << "edgevision binary not built";
  const std::string base = bin.string() + " --offline quantize " + fragile.string() + " --calib " +
                           images.string() + " --preprocess yolo --precision all -o ";
  const auto plain = dir / "cli_plain.onnx";
  auto r = test::run_command(base + plain.string() + " --no-auto");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("misses the quality target"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("BELOW TARGET"), std::string::npos) << r.out;
  EXPECT_FALSE(std::filesystem::exists(plain));
  auto forced = test::run_command(base + plain.string() + " --no-auto --force");
  EXPECT_EQ(forced.exit_code, 0) << forced.err;
  EXPECT_NE(forced.err.find("WARNING"), std::string::npos) << forced.err;
  EXPECT_TRUE(std::filesystem::exists(plain));
  const auto autoq = dir / "cli_auto.onnx";
  auto a = test::run_command(base + autoq.string());
  EXPECT_EQ(a.exit_code, 0) << a.err;
  EXPECT_NE(a.out.find("unshift"), std::string::npos) << a.out;
  auto j = test::run_command(base + autoq.string() + " --json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto parsed = nlohmann::json::parse(j.out, nullptr, false);
  ASSERT_FALSE(parsed.is_discarded()) << j.out;
  EXPECT_TRUE(parsed["quality"]["target_met"].get<bool>());
  ASSERT_EQ(parsed["quality"]["kept_float"].size(), 1u);
  EXPECT_EQ(parsed["quality"]["kept_float"][0]["node"], "unshift");
}

// The speed policy (QuantPrecision::kSpeed, the default): INT8 only where ORT's int8 kernel is
// faster on CPU. On YOLOX's blocks that is the dense convs; the depthwise conv, the SiLU and the
// residual Add stay float, and ORT runs exactly two QLinearConvs with one float conv left.
TEST_F(TinyFixture, SpeedPolicyQuantizesDenseConvsOnly) {
  const auto silu = dir / "silu.onnx";
  ASSERT_TRUE(test::save_model(test::silu_model(), silu));
  auto o = qopts("silu_speed.onnx");
  o.model = silu;
  o.precision = QuantPrecision::kSpeed;
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->nodes_quantized, 2);  // conv1, conv2
  EXPECT_EQ(r->weights_quantized, 2);
  const std::map<std::string, int> why{
      {"depthwise Conv", 1}, {"Sigmoid", 2}, {"Mul", 1}, {"Add", 1}};
  EXPECT_EQ(r->float_for_speed, why);
  auto speed = count_qdq(o.output, dir / "ort" / "silu_speed.onnx");
  EXPECT_EQ(speed.ort_integer, 2);      // QLinearConv x2
  EXPECT_EQ(speed.ort_float_convs, 1);  // the depthwise conv
  // The Q/DQ boundaries of two int8 islands: conv1's input and output, conv2's.
  EXPECT_EQ(speed.quantized, (std::set<std::string>{"x", "c1", "a", "c2"}));
  // The SiLU after conv1 reads a DequantizeLinear, which ORT would duplicate per consumer and
  // then not fuse: it is written as one QuickGelu. The one after the depthwise conv is left to
  // ORT's own fusion.
  EXPECT_EQ(r->silu_fused, 1);
  auto q = onnxu::load(o.output);
  ASSERT_TRUE(q.ok());
  int quick_gelu = 0;
  for (const auto& n : q->graph().node()) {
    if (n.name() == "dwconv") {
      EXPECT_EQ(n.input(1), "wd");  // float weight
    }
    EXPECT_NE(n.name(), "sig1");
    if (n.name() == "silu1") {
      EXPECT_EQ(n.op_type(), "QuickGelu");
      EXPECT_EQ(n.domain(), "com.microsoft");
      EXPECT_EQ(n.input(0), "c1_dequantized");
      ++quick_gelu;
    }
  }
  EXPECT_EQ(quick_gelu, 1);

  // --precision all: every op of the graph in INT8 (the earlier default).
  auto oa = qopts("silu_all.onnx");
  oa.model = silu;
  auto ra = quantize_model(oa);
  ASSERT_TRUE(ra.ok()) << ra.error();
  EXPECT_EQ(ra->nodes_quantized, 7);
  EXPECT_TRUE(ra->float_for_speed.empty());
  auto all = count_qdq(oa.output, dir / "ort" / "silu_all.onnx");
  EXPECT_EQ(all.ort_float_convs, 0);
  EXPECT_GT(all.ort_integer, 3);

  // Both stay close to FP32 on the calibration images (30 dB: ~3% noise), speed closer.
  auto imgs = list_calibration_images(images, 0);
  ASSERT_TRUE(imgs.ok());
  auto ref = reference_run(silu, *imgs, pre, 1);
  ASSERT_TRUE(ref.ok()) << ref.error();
  auto q_speed = candidate_sqnr_db(o.output, *ref, 1);
  auto q_all = candidate_sqnr_db(oa.output, *ref, 1);
  ASSERT_TRUE(q_speed.ok() && q_all.ok());
  EXPECT_GT(*q_speed, 30.0);
  EXPECT_GT(*q_all, 25.0);
  EXPECT_GT(*q_speed, *q_all);
}

// A tensor read only by a SiLU gets no range below -8 (SiLU is ~0 there): its uint8 levels go to
// the part that matters. A tensor read by anything else (here a plain Sigmoid) keeps its range.
TEST_F(TinyFixture, SiluInputRangeIsFlooredAtMinusEight) {
  const auto silu = dir / "silu_floor.onnx";
  ASSERT_TRUE(test::save_model(test::silu_model(), silu));
  QuantizeOptions o;
  o.model = silu;
  o.output = dir / "silu_floor_int8.onnx";
  o.precision = QuantPrecision::kSpeed;
  auto needed = tensors_to_calibrate(silu, o);
  ASSERT_TRUE(needed.ok()) << needed.error();
  CalibrationTable table;
  table.method = "minmax";
  for (const auto& t : *needed) table.ranges[t] = {-1.f, 1.f};
  ASSERT_TRUE(table.ranges.count("c1") && table.ranges.count("c2"));
  table.ranges["c1"] = {-40.f, 4.f};  // conv1 -> SiLU
  table.ranges["c2"] = {-40.f, 4.f};  // conv2 -> Sigmoid (the graph output)
  auto r = write_qdq_model(silu, o.output, table, o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->silu_inputs_floored, 1);
  auto q = onnxu::load(o.output);
  ASSERT_TRUE(q.ok()) << q.error();
  std::map<std::string, float> scale;
  std::map<std::string, int> zero;
  for (const auto& t : q->graph().initializer()) {
    if (t.name() == "c1_scale" || t.name() == "c2_scale") scale[t.name()] = onnxu::to_floats(t)[0];
    if (t.name() == "c1_zero_point" || t.name() == "c2_zero_point")
      zero[t.name()] =
          static_cast<uint8_t>(t.raw_data().empty() ? t.int32_data(0) : t.raw_data()[0]);
  }
  ASSERT_EQ(scale.size(), 2u);
  ASSERT_EQ(zero.size(), 2u);
  EXPECT_NEAR(scale["c1_scale"], 12.f / 255.f, 1e-6);  // [-8, 4]
  EXPECT_NEAR(scale["c2_scale"], 44.f / 255.f, 1e-6);  // [-40, 4] untouched
  EXPECT_EQ(zero["c1_zero_point"], 170);               // round(8 / (12 / 255))
  EXPECT_EQ(zero["c2_zero_point"], 232);               // round(40 / (44 / 255))
}

// The accuracy guard searches within the speed policy: it only probes the nodes that policy
// lets become INT8 (one fused Conv + Relu unit counts once), and the Relu follows its Conv.
TEST_F(TinyFixture, SpeedPolicyProbesOnlyItsCandidates) {
  auto o = qopts("tiny_speed_guard.onnx");
  o.precision = QuantPrecision::kSpeed;
  o.check_quality = true;
  o.min_sqnr_db = 200;  // unreachable: every candidate gets probed and kept float in turn
  o.force = true;
  auto r = quantize_model(o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->nodes_probed, 2);  // conv1 (+ relu1), fc
  std::set<std::string> probed;
  for (const auto& f : r->kept_float) probed.insert(f.node);
  EXPECT_TRUE(probed.count("conv1") || probed.count("fc"));
  EXPECT_FALSE(probed.count("relu1"));
  EXPECT_FALSE(probed.count("dwconv"));

  o = qopts("tiny_speed.onnx");
  o.precision = QuantPrecision::kSpeed;
  auto plain = quantize_model(o);
  ASSERT_TRUE(plain.ok()) << plain.error();
  EXPECT_EQ(plain->nodes_quantized, 3);  // conv1, relu1 (fused), fc
  EXPECT_EQ(plain->fused_activations, std::vector<std::string>{"r1"});
  EXPECT_EQ(plain->float_for_speed.at("depthwise Conv"), 1);
}

TEST(OutputSqnr, IdenticalNoisyAndBroken) {
  Tensor a;
  a.shape = {1, 4, 2};
  a.data = {0, 10, 1, 20, 2, 30, 3, 40};
  std::vector<std::vector<Tensor>> ref{{a}};
  EXPECT_DOUBLE_EQ(output_sqnr_db(ref, ref), 120.0);
  auto noisy = ref;
  for (auto& v : noisy[0][0].data) v += 0.01f;
  const double good = output_sqnr_db(ref, noisy);
  EXPECT_GT(good, 30.0);
  // Channel-balanced: breaking the small channel (0..3) costs as much as the big one would.
  auto broken = ref;
  for (size_t i = 0; i < 8; i += 2) broken[0][0].data[i] = 0;
  EXPECT_LT(output_sqnr_db(ref, broken), 6.0);
  auto nan = ref;
  nan[0][0].data[0] = std::nanf("");
  EXPECT_LE(output_sqnr_db(ref, nan), -100.0);
}

// --precision all writes the SiLU after conv1 as one ai.edgevision:QLinearSiLU table between a
// Transpose to NHWC and one back. ORT loads it, cancels those Transposes against the ones around
// its NHWC QLinearConvs (no more Transposes than the QLinearSigmoid + QLinearMul graph), and the
// output matches that graph's within int8 noise.
TEST_F(TinyFixture, SiluBecomesOneInt8Table) {
  const auto silu = dir / "silu.onnx";
  ASSERT_TRUE(test::save_model(test::silu_model(), silu));
  auto ot = qopts("silu_table.onnx");
  ot.model = silu;
  auto rt = quantize_model(ot);
  ASSERT_TRUE(rt.ok()) << rt.error();
  EXPECT_EQ(rt->silu_tables, 1);
  auto oq = qopts("silu_qdq.onnx");
  oq.model = silu;
  oq.int8_silu = false;
  auto rq = quantize_model(oq);
  ASSERT_TRUE(rq.ok()) << rq.error();
  EXPECT_EQ(rq->silu_tables, 0);

  auto m = onnxu::load(ot.output);
  ASSERT_TRUE(m.ok());
  int tables = 0;
  for (const auto& n : m->graph().node()) {
    EXPECT_NE(n.name(), "sig1");  // the Sigmoid and its Q/DQ are gone
    if (n.op_type() == "QLinearSiLU") {
      EXPECT_EQ(n.domain(), "ai.edgevision");
      EXPECT_EQ(n.name(), "silu1_QLinearSiLU");
      ++tables;
    }
  }
  EXPECT_EQ(tables, 1);
  bool has_domain = false;
  for (const auto& o : m->opset_import()) has_domain = has_domain || o.domain() == "ai.edgevision";
  EXPECT_TRUE(has_domain);

  auto gt = ort_optimized_graph(ot.output, dir / "ort" / "silu_table.onnx", 1);
  auto gq = ort_optimized_graph(oq.output, dir / "ort" / "silu_qdq.onnx", 1);
  ASSERT_TRUE(gt.ok()) << gt.error();
  ASSERT_TRUE(gq.ok()) << gq.error();
  auto count = [](const OrtGraphSummary& g, const std::string& op) {
    auto it = g.op_counts.find(op);
    return it == g.op_counts.end() ? 0 : it->second;
  };
  EXPECT_EQ(count(*gt, "ai.edgevision:QLinearSiLU"), 1) << format_op_counts(*gt);
  EXPECT_EQ(count(*gt, "com.microsoft:QLinearMul"), 0) << format_op_counts(*gt);
  EXPECT_EQ(count(*gq, "com.microsoft:QLinearMul"), 1) << format_op_counts(*gq);
  EXPECT_EQ(gt->float_convs, 0);
  EXPECT_LE(count(*gt, "Transpose"), count(*gq, "Transpose"))
      << format_op_counts(*gt) << " vs " << format_op_counts(*gq);

  // silu_model ends in a Sigmoid: outputs in [0, 1], one uint8 step 1/255.
  auto x = input();
  auto run_model = [&](const std::filesystem::path& p) {
    auto be = create_backend("onnxruntime", p);
    EXPECT_TRUE(be.ok()) << be.error();
    std::vector<Tensor> out;
    if (be) {
      EXPECT_TRUE((*be)->run({{x.data(), {1, 3, 8, 8}}}, out).ok());
    }
    return out.empty() ? std::vector<float>{} : out[0].data;
  };
  auto yt = run_model(ot.output), yq = run_model(oq.output), yf = run_model(silu);
  ASSERT_EQ(yt.size(), 256u);
  ASSERT_EQ(yq.size(), 256u);
  ASSERT_EQ(yf.size(), 256u);
  float worst = 0, table_vs_fp32 = 0, qdq_vs_fp32 = 0;
  for (size_t i = 0; i < yt.size(); ++i) {
    worst = std::max(worst, std::fabs(yt[i] - yq[i]));
    table_vs_fp32 = std::max(table_vs_fp32, std::fabs(yt[i] - yf[i]));
    qdq_vs_fp32 = std::max(qdq_vs_fp32, std::fabs(yq[i] - yf[i]));
  }
  EXPECT_LE(worst, 4.f / 255.f);
  // One rounding less than QLinearSigmoid + QLinearMul: no farther from FP32.
  EXPECT_LE(table_vs_fp32, qdq_vs_fp32 + 2.f / 255.f);
}

}  // namespace
}  // namespace ev
