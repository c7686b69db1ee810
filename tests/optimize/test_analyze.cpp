// The analyze latency model: cost classes (dense / depthwise FLOPs, element-wise bytes, SiLU
// patterns), recommend()'s precision choice from the per-class factors, and `--measure`.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>

#include <nlohmann/json.hpp>

#include "edgevision/analyze.hpp"
#include "edgevision/quantize.hpp"
#include "support/test_support.hpp"
#include "tiny_model.hpp"

namespace ev {
namespace {

// x[1,3,8,8] -> Conv(3->4, 3x3, pad 1) -> c1[1,4,8,8], then:
//   s1 = Sigmoid(c1); m1 = Mul(s1, c1)      SiLU (operands in either order)
//   s2 = Sigmoid(m1); m2 = Mul(m1, s2)      SiLU
//   s3 = Sigmoid(m2); m3 = Mul(s3, m1)      not SiLU: multiplies another tensor
//   s4 = Sigmoid(m3); y = Add(s4, m3)       not SiLU: Add
// Every tensor after the conv is [1,4,8,8] = 256 floats = 1024 bytes.
onnx::ModelProto silu_model() {
  onnx::ModelProto m = test::empty_model("silu");
  auto& g = *m.mutable_graph();
  test::set_io(g.add_input(), "x", {1, 3, 8, 8});
  test::set_io(g.add_output(), "y", {1, 4, 8, 8});
  test::add_float_init(g, "w1", {4, 3, 3, 3}, 0.1f);
  test::add_float_init(g, "b1", {4}, 0.2f);
  auto* c1 = test::add_node(g, "Conv", "conv1", {"x", "w1", "b1"}, {"c1"});
  test::add_ints(c1, "kernel_shape", {3, 3});
  test::add_ints(c1, "pads", {1, 1, 1, 1});
  test::add_node(g, "Sigmoid", "sig1", {"c1"}, {"s1"});
  test::add_node(g, "Mul", "mul1", {"s1", "c1"}, {"m1"});
  test::add_node(g, "Sigmoid", "sig2", {"m1"}, {"s2"});
  test::add_node(g, "Mul", "mul2", {"m1", "s2"}, {"m2"});
  test::add_node(g, "Sigmoid", "sig3", {"m2"}, {"s3"});
  test::add_node(g, "Mul", "mul3", {"s3", "m1"}, {"m3"});
  test::add_node(g, "Sigmoid", "sig4", {"m3"}, {"s4"});
  test::add_node(g, "Add", "add", {"s4", "m3"}, {"y"});
  return m;
}

struct AnalyzeFixture : ::testing::Test {
  std::filesystem::path dir;
  void SetUp() override {
    dir = test::temp_dir(std::string("analyze_") +
                         ::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  ModelAnalysis analyze(const onnx::ModelProto& m, const std::string& file) {
    const auto p = dir / file;
    EXPECT_TRUE(test::save_model(m, p));
    AnalyzeOptions o;
    o.check_opencv = false;
    auto a = analyze_model(p, o);
    EXPECT_TRUE(a.ok()) << a.error();
    return a.ok() ? *a : ModelAnalysis{};
  }
};

TEST_F(AnalyzeFixture, SiluPatternDetected) {
  auto a = analyze(silu_model(), "silu.onnx");
  EXPECT_EQ(a.silu_patterns, 2);
  EXPECT_EQ(a.silu_elements, 2 * 256);
  EXPECT_EQ(a.silu_elem_bytes, 4);
  int silu_nodes = 0;
  for (const auto& n : a.nodes) {
    silu_nodes += n.silu;
    if (n.name == "sig1" || n.name == "mul1" || n.name == "sig2" || n.name == "mul2") {
      EXPECT_TRUE(n.silu) << n.name;
    }
    if (n.name == "sig3" || n.name == "mul3" || n.name == "sig4" || n.name == "add") {
      EXPECT_FALSE(n.silu) << n.name;
    }
  }
  EXPECT_EQ(silu_nodes, 4);
  // Non-SiLU element-wise ops: sig3 and sig4 read 1 tensor and write 1 (2 KiB each); mul3 and
  // add read 2 and write 1 (3 KiB each). The SiLU pairs are counted apart.
  EXPECT_EQ(a.elementwise_bytes, 2 * 2048 + 2 * 3072);
  EXPECT_EQ(a.dense_flops, 2 * 256 * 27);
  EXPECT_EQ(a.depthwise_flops, 0);
  EXPECT_EQ(a.kernel_nodes, 9);  // conv + 8 element-wise

  // A Sigmoid read by a second node is not fusable: no pattern.
  auto m = silu_model();
  auto& g = *m.mutable_graph();
  test::add_node(g, "Relu", "extra_reader", {"s1"}, {"r"});
  test::set_io(g.add_output(), "r", {1, 4, 8, 8});
  auto b = analyze(m, "silu_shared.onnx");
  EXPECT_EQ(b.silu_patterns, 1);
}

TEST_F(AnalyzeFixture, SiluSeenThroughQdq) {
  const auto fp32 = dir / "silu_fp32.onnx";
  ASSERT_TRUE(test::save_model(silu_model(), fp32));
  const auto images = dir / "calib";
  std::filesystem::create_directories(images);
  cv::RNG rng(5);
  for (int i = 0; i < 4; ++i) {
    cv::Mat img(16, 16, CV_8UC3);
    rng.fill(img, cv::RNG::UNIFORM, 0, 256);
    cv::imwrite((images / ("img" + std::to_string(i) + ".png")).string(), img);
  }
  QuantizeOptions q;
  q.model = fp32;
  q.output = dir / "silu_int8.onnx";
  q.calib_dir = images;
  q.preprocess.width = 8;
  q.preprocess.height = 8;
  q.preprocess.resize = "stretch";
  q.preprocess.scale = 1.f / 255.f;
  q.progress = false;
  q.check_quality = false;
  q.precision = QuantPrecision::kAll;  // SiLU in INT8 too: Sigmoid/Mul behind Q/DQ pairs
  q.int8_silu = false;                 // (not one QLinearSiLU table: that is test_graph's)
  auto r = quantize_model(q);
  ASSERT_TRUE(r.ok()) << r.error();
  AnalyzeOptions o;
  o.check_opencv = false;
  auto a = analyze_model(q.output, o);
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_TRUE(a->quantized);
  EXPECT_GT(a->op_histogram.at("DequantizeLinear"), 0);
  EXPECT_EQ(a->silu_patterns, 2);  // Sigmoid/Mul read DQ(Q(x)): still the same x
  EXPECT_EQ(a->dense_flops, 2 * 256 * 27);
  // Q/DQ run no kernels of their own (folded into QLinear ops), so the count is unchanged.
  EXPECT_EQ(a->kernel_nodes, 9);
}

TEST_F(AnalyzeFixture, CostClassesOnTinyGraph) {
  auto a = analyze(test::tiny_model(), "tiny.onnx");
  EXPECT_EQ(a.dense_flops, 2 * 6912 + 2 * 20);  // conv1 + Gemm
  EXPECT_EQ(a.depthwise_flops, 2 * 2304);
  EXPECT_EQ(a.dense_flops + a.depthwise_flops, 2 * test::kTinyMacs);
  // Relu is folded into conv1 (its only reader): no bytes, no kernel. MaxPool reads
  // [1,4,8,8] (1024 B) and writes [1,4,4,4] (256 B); GlobalAveragePool reads 256 B and writes
  // [1,4,1,1] (16 B); Flatten is a view.
  EXPECT_EQ(a.elementwise_bytes, 1024 + 256 + 256 + 16);
  EXPECT_EQ(a.silu_patterns, 0);
  EXPECT_EQ(a.kernel_nodes, 5);       // conv1, dwconv, pool, gap, fc
  EXPECT_EQ(a.stem_flops, 2 * 6912);  // conv1 reads 3 channels
  EXPECT_EQ(a.relu_elements, 256);
  // The Relu after conv1 is free in fp32 and, since quantize writes Conv + Relu as one unit
  // (ORT folds it into QLinearConv), in int8 too. Only a profile that still models the old
  // Conv -> Q/DQ -> Relu layout (relu_as_qdq) charges it a DQ + Q pass.
  auto d = find_device_profile("x86-avx512-vnni");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(estimate_latency(a, *d, "fp32").requant_ms, 0);
  EXPECT_EQ(estimate_latency(a, *d, "int8").requant_ms, 0);
  EXPECT_DOUBLE_EQ(estimate_latency(a, *d, "int8").elementwise_ms,
                   1552 / (d->elementwise_gbps * 1e9) / d->int8.elementwise * 1e3);
  auto old_layout = *d;
  old_layout.int8.relu_as_qdq = true;
  EXPECT_GT(estimate_latency(a, old_layout, "int8").requant_ms, 0);
  EXPECT_EQ(a.relu_unit_bytes, 0);  // relu1 follows a conv: already fused, counted nowhere
  for (const auto& n : a.nodes) {
    if (n.name == "relu1") {
      EXPECT_EQ(n.bytes, 0);
    }
    if (n.name == "pool") {
      EXPECT_EQ(n.bytes, 1280);
    }
  }
}

// BlazeFace's block: Add(conv, skip) -> Relu. A pass in fp32; one QLinearAdd in int8.
TEST_F(AnalyzeFixture, ReluAfterAddIsFreeInInt8) {
  auto m = test::tiny_model();
  test::add_residual_relu(m);
  auto a = analyze(m, "tiny_add_relu.onnx");
  EXPECT_EQ(a.relu_unit_bytes, 2 * 1024);  // reads and writes [1,4,8,8] float
  EXPECT_EQ(a.relu_unit_nodes, 1);
  EXPECT_EQ(a.relu_bytes, 2 * 1024);
  auto d = find_device_profile("x86-avx512-vnni");
  ASSERT_TRUE(d.ok());
  auto base = analyze(test::tiny_model(), "tiny.onnx");
  // fp32: the Relu pass and its kernel launch on top of the Add; int8: only the Add.
  const auto f = estimate_latency(a, *d, "fp32"), i = estimate_latency(a, *d, "int8");
  const auto fb = estimate_latency(base, *d, "fp32"), ib = estimate_latency(base, *d, "int8");
  const double add_bytes = 3 * 1024, gbps = d->elementwise_gbps * 1e9;
  EXPECT_NEAR(f.elementwise_ms - fb.elementwise_ms, (add_bytes + 2048) / gbps * 1e3, 1e-9);
  EXPECT_NEAR(i.elementwise_ms - ib.elementwise_ms, add_bytes / gbps / d->int8.elementwise * 1e3,
              1e-9);
  EXPECT_NEAR(f.overhead_ms - fb.overhead_ms, 2 * d->node_overhead_us / 1e3, 1e-12);
  EXPECT_NEAR(i.overhead_ms - ib.overhead_ms, d->node_overhead_us / 1e3, 1e-12);
}

// A YOLOX-nano-like mix: little dense work, many SiLU tensors, depthwise convs.
ModelAnalysis silu_heavy() {
  ModelAnalysis a;
  a.flops = 1'070'000'000;
  a.dense_flops = 1'000'000'000;
  a.depthwise_flops = 37'000'000;
  a.elementwise_bytes = 55'000'000;
  a.silu_patterns = 104;
  a.silu_elements = 8'400'000;
  a.kernel_nodes = 366;
  a.file_bytes = 3'660'000;
  a.weight_bytes["float32"] = 3'620'000;
  a.inputs.push_back({"images", "float32", {1, 3, 416, 416}});
  return a;
}

// Big dense convolutions, ReLU fused: what VNNI is for.
ModelAnalysis dense_heavy() {
  ModelAnalysis a;
  a.flops = 8'000'000'000;
  a.dense_flops = 8'000'000'000;
  a.elementwise_bytes = 10'000'000;
  a.kernel_nodes = 60;
  a.file_bytes = 40'000'000;
  a.weight_bytes["float32"] = 39'000'000;
  a.inputs.push_back({"images", "float32", {1, 3, 640, 640}});
  return a;
}

TEST(AnalyzeRecommend, Fp32WhenInt8EstimatedSlower) {
  auto x86 = find_device_profile("x86-avx512-vnni");
  ASSERT_TRUE(x86.ok());
  EXPECT_TRUE(x86->calibrated);
  EXPECT_TRUE(x86->fp32.fuses_silu);
  // edgevision's quantize writes SiLU as one int8 table; a model whose SiLU stays two int8
  // passes (QDQ from another quantizer, ORT's QLinearSigmoid + QLinearMul) is where INT8 loses.
  EXPECT_TRUE(x86->int8.fuses_silu);
  DeviceProfile two_pass = *x86;
  two_pass.int8.fuses_silu = false;
  const DeviceProfile* d = &two_pass;
  auto a = silu_heavy();
  auto r = recommend(a, *d);
  EXPECT_GT(recommend(a, *x86).int8_speedup, r.int8_speedup);
  EXPECT_EQ(r.precision, "fp32");
  EXPECT_LT(r.int8_speedup, 1.0);                 // INT8 estimated slower
  EXPECT_GT(r.int8.silu_ms, 2 * r.fp32.silu_ms);  // 5 unfused passes vs 1 fused
  EXPECT_DOUBLE_EQ(r.est_latency_ms, r.fp32.total_ms);
  std::string notes;
  for (const auto& n : r.notes) notes += n + "\n";
  EXPECT_NE(notes.find("stay FP32"), std::string::npos) << notes;
  EXPECT_NE(notes.find("slower"), std::string::npos) << notes;
  EXPECT_NE(notes.find("SiLU"), std::string::npos) << notes;
  EXPECT_NE(notes.find("cuts the file"), std::string::npos) << notes;
  EXPECT_EQ(notes.find("faster than FP32"), std::string::npos) << notes;

  // The same model already quantized: int8, with a note that FP32 would be faster.
  a.quantized = true;
  auto q = recommend(a, *d);
  EXPECT_EQ(q.precision, "int8");
  notes.clear();
  for (const auto& n : q.notes) notes += n + "\n";
  EXPECT_NE(notes.find("FP32 original is est."), std::string::npos) << notes;

  // A runtime that fuses SiLU in int8 too (TensorRT-like) makes the same model gain.
  auto trt = *d;
  trt.int8 = {3.0, 1.5, 2.0, true};
  auto t = recommend(silu_heavy(), trt);
  EXPECT_EQ(t.precision, "int8");
  EXPECT_GT(t.int8_speedup, 1.15);
}

TEST(AnalyzeRecommend, Int8ForDenseConvOnVnni) {
  auto d = find_device_profile("x86-avx512-vnni");
  ASSERT_TRUE(d.ok());
  auto r = recommend(dense_heavy(), *d);
  EXPECT_EQ(r.precision, "int8");
  EXPECT_GT(r.int8_speedup, 1.15);
  EXPECT_DOUBLE_EQ(r.est_latency_ms, r.int8.total_ms);
  EXPECT_LT(r.int8.total_ms, r.fp32.total_ms);
  // Class arithmetic: dense time is FLOPs / rate / factor.
  EXPECT_NEAR(r.fp32.dense_ms, 8e9 / (d->dense_gflops * 1e9) * 1e3, 1e-9);
  EXPECT_NEAR(r.int8.dense_ms, r.fp32.dense_ms / d->int8.dense, 1e-9);
  EXPECT_NEAR(r.fp32.total_ms,
              r.fp32.dense_ms + r.fp32.depthwise_ms + r.fp32.elementwise_ms + r.fp32.silu_ms +
                  r.fp32.overhead_ms,
              1e-9);
  // A profile without an INT8 gain on any class never recommends INT8.
  auto flat = *d;
  flat.int8 = {1.0, 1.0, 1.0, false};
  EXPECT_EQ(recommend(dense_heavy(), flat).precision, "fp32");
}

// analyze must not recommend a setting that destroys accuracy: entropy calibration alone took
// YOLOX-nano from 33.2 to 0.1 mAP. The INT8 advice names the guarded default instead.
TEST(AnalyzeRecommend, Int8AdviceIsTheGuardedDefault) {
  for (const auto& d : device_profiles()) {
    auto r = recommend(dense_heavy(), d);
    bool guarded = false;
    for (const auto& note : r.notes) {
      EXPECT_EQ(note.find("entropy"), std::string::npos) << d.name << ": " << note;
      EXPECT_EQ(note.find("--method"), std::string::npos) << d.name << ": " << note;
      guarded = guarded || note.find("accuracy guard") != std::string::npos;
    }
    if (r.precision == "int8") {
      EXPECT_TRUE(guarded) << d.name;
    }
  }
}

TEST(AnalyzeRecommend, ProfilesSayWhetherCalibrated) {
  int calibrated = 0;
  for (const auto& d : device_profiles()) {
    EXPECT_FALSE(d.calibration_note.empty()) << d.name;
    EXPECT_FALSE(d.host_kind.empty()) << d.name;
    EXPECT_GT(d.dense_gflops, 0) << d.name;
    EXPECT_GT(d.depthwise_gflops, 0) << d.name;
    EXPECT_GT(d.elementwise_gbps, 0) << d.name;
    if (d.calibrated) {
      ++calibrated;
      EXPECT_EQ(d.calibration_note.find("not calibrated"), std::string::npos) << d.name;
    } else {
      EXPECT_NE(d.calibration_note.find("not calibrated"), std::string::npos) << d.name;
    }
    EXPECT_EQ(to_json(recommend(silu_heavy(), d))["calibrated"].get<bool>(), d.calibrated);
  }
  EXPECT_EQ(calibrated, 1);  // x86-avx512-vnni only
}

TEST_F(AnalyzeFixture, MeasureOnHost) {
  const auto p = dir / "tiny.onnx";
  ASSERT_TRUE(test::save_model(test::tiny_model(), p));
  AnalyzeOptions ao;
  ao.check_opencv = false;
  auto a = analyze_model(p, ao);
  ASSERT_TRUE(a.ok()) << a.error();
  MeasureOptions mo;
  mo.runs = 10;
  mo.warmup = 2;
  mo.threads = 1;
  mo.progress = false;
  auto m = measure_on_host(*a, p, nullptr, mo);
  ASSERT_TRUE(m.ok()) << m.error();
  EXPECT_EQ(m->runs, 10);
  EXPECT_EQ(m->threads, 1);
  EXPECT_EQ(m->precision, "fp32");
  EXPECT_EQ(m->input_shape, (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_GT(m->median_ms, 0);
  EXPECT_GE(m->median_ms, m->min_ms);
  EXPECT_GT(m->implied_gflops, 0);
  for (const auto& pe : m->profiles) {
    EXPECT_GT(pe.est_ms, 0);
    EXPECT_NEAR(pe.error_pct, (pe.est_ms - m->median_ms) / m->median_ms * 100, 1e-6);
  }
  // compare_with_profiles only lists profiles that describe the host's kind of CPU.
  HostMeasurement fake = *m;
  fake.cpu.kind = "x86-avx512-vnni";
  fake.median_ms = 2.0;
  compare_with_profiles(*a, fake);
  ASSERT_EQ(fake.profiles.size(), 1u);
  EXPECT_EQ(fake.profiles[0].device, "x86-avx512-vnni");
  EXPECT_TRUE(fake.profiles[0].calibrated);
  fake.cpu.kind = "riscv";
  compare_with_profiles(*a, fake);
  EXPECT_TRUE(fake.profiles.empty());

  EXPECT_FALSE(measure_on_host(*a, dir / "missing.onnx", nullptr, mo).ok());
}

TEST_F(AnalyzeFixture, CliMeasureJson) {
  auto bin = test::edgevision_binary();
  if (!std::filesystem::exists(bin)) GTEST_SKIP() << "edgevision binary not built";
  const auto p = dir / "tiny.onnx";
  ASSERT_TRUE(test::save_model(test::tiny_model(), p));
  auto res = test::run_command(bin.string() + " --offline analyze " + p.string() +
                               " --measure --runs 12 --warmup 2 --threads 1 --json");
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto j = nlohmann::json::parse(res.out);
  ASSERT_TRUE(j.contains("host")) << res.out;
  const auto& h = j["host"];
  for (const char* k : {"cpu", "cpu_kind", "load_avg_1m", "threads", "runs", "median_ms", "min_ms",
                        "implied_gflops", "profiles", "precision", "input_shape"})
    EXPECT_TRUE(h.contains(k)) << k;
  EXPECT_GT(h["median_ms"].get<double>(), 0);
  EXPECT_GT(h["min_ms"].get<double>(), 0);
  EXPECT_GT(h["implied_gflops"].get<double>(), 0);
  EXPECT_EQ(h["threads"].get<int>(), 1);
  EXPECT_EQ(h["runs"].get<int>(), 12);
  for (const auto& pe : h["profiles"]) {
    EXPECT_GT(pe["est_ms"].get<double>(), 0);
    EXPECT_TRUE(pe.contains("error_pct"));
  }
  if (h["cpu_kind"] == "x86-avx512-vnni") {
    EXPECT_EQ(h["profiles"].size(), 1u);
  }
  ASSERT_TRUE(j.contains("recommendations"));
  for (const auto& r : j["recommendations"]) {
    EXPECT_TRUE(r.contains("calibrated"));
    EXPECT_GT(r["estimates"]["fp32"]["total_ms"].get<double>(), 0);
  }
  // Without --measure there is no host entry (analyze stays offline and fast).
  auto plain = test::run_command(bin.string() + " --offline analyze " + p.string() + " --json");
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_FALSE(nlohmann::json::parse(plain.out).contains("host"));
}

}  // namespace
}  // namespace ev
