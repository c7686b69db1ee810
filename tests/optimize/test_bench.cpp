#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "edgevision/benchmark.hpp"
#include "support/test_support.hpp"
#include "tiny_model.hpp"

namespace ev {
namespace {

TEST(Bench, StatsOnKnownSamples) {
  std::vector<double> s;
  for (int i = 100; i >= 1; --i) s.push_back(i);
  auto st = compute_latency_stats(s);
  EXPECT_EQ(st.runs, 100);
  EXPECT_DOUBLE_EQ(st.min_ms, 1);
  EXPECT_DOUBLE_EQ(st.max_ms, 100);
  EXPECT_DOUBLE_EQ(st.mean_ms, 50.5);
  EXPECT_DOUBLE_EQ(st.median_ms, 50.5);
  EXPECT_NEAR(st.p95_ms, 95.05, 1e-9);
  EXPECT_NEAR(st.p99_ms, 99.01, 1e-9);
  EXPECT_NEAR(st.fps, 1000 / 50.5, 1e-9);
  EXPECT_EQ(compute_latency_stats({}).runs, 0);
}

void expect_consistent(const nlohmann::json& j) {
  for (const char* k : {"median_ms", "mean_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "fps",
                        "peak_rss_mb", "load_ms", "cpu_percent", "runs", "threads", "model"})
    EXPECT_TRUE(j.contains(k)) << k;
  const double mn = j["min_ms"], med = j["median_ms"], p95 = j["p95_ms"], p99 = j["p99_ms"],
               mx = j["max_ms"], mean = j["mean_ms"], fps = j["fps"];
  EXPECT_LE(mn, med);
  EXPECT_LE(med, p95);
  EXPECT_LE(p95, p99);
  EXPECT_LE(p99, mx);
  EXPECT_LE(mn, mean);
  EXPECT_LE(mean, mx);
  EXPECT_NEAR(fps, 1000.0 / mean, 1e-6 * fps);
  EXPECT_GT(static_cast<double>(j["peak_rss_mb"]), 1.0);
  EXPECT_GE(static_cast<double>(j["cpu_percent"]), 0.0);
}

TEST(Bench, ModelJsonAndReport) {
  auto dir = test::temp_dir("optimize_bench");
  auto model = dir / "tiny.onnx";
  ASSERT_TRUE(test::save_model(test::tiny_model(), model));
  BenchOptions o;
  o.runs = 60;
  o.warmup = 5;
  o.threads = 1;
  o.progress = false;
  auto r = benchmark_model("tiny", model, nullptr, o);
  ASSERT_TRUE(r.ok()) << r.error();
  EXPECT_EQ(r->stats.runs, 60);
  EXPECT_EQ(r->samples_ms.size(), 60u);
  EXPECT_EQ(r->input_shape, (std::vector<int64_t>{1, 3, 8, 8}));
  EXPECT_GT(r->load_ms, 0);
  expect_consistent(to_json(*r));
  auto html = render_bench_report({*r, *r}, nullptr);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("Latency comparison"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
  EXPECT_FALSE(benchmark_model("missing", dir / "missing.onnx", nullptr, o).ok());
}

TEST(Bench, CliJson) {
  auto bin = test::edgevision_binary();
  ASSERT_TRUE(std::filesystem::exists(bin)) << "edgevision binary not built";
  auto dir = test::temp_dir("optimize_bench_cli");
  auto model = dir / "tiny.onnx";
  ASSERT_TRUE(test::save_model(test::tiny_model(), model));
  auto res = test::run_command(
      bin.string() + " --offline bench --model " + model.string() + " --compare " + model.string() +
      " --runs 30 --warmup 3 --json --report " + (dir / "r.html").string());
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto j = nlohmann::json::parse(res.out);
  expect_consistent(j);
  ASSERT_EQ(j["compare"].size(), 1u);
  expect_consistent(j["compare"][0]);
  EXPECT_TRUE(std::filesystem::exists(dir / "r.html"));
}

}  // namespace
}  // namespace ev
