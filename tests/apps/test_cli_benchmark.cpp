// `edgevision benchmark`: one row per variant x device, failures as rows, JSON and HTML.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace ev {
namespace {
namespace fs = std::filesystem;

std::string cli() {
  return test::edgevision_binary().string() + " --offline --models-dir " +
         test::shared_models_dir().string() + " benchmark --model yolox-nano --data " +
         test::data("coco/data.yaml").string() + " --max-images 4 --runs 3 --warmup 1 --threads 1 ";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const nlohmann::json* find_row(const nlohmann::json& rows, const std::string& variant,
                               const std::string& device) {
  for (const auto& r : rows)
    if (r["variant"] == variant && r["device"] == device) return &r;
  return nullptr;
}

TEST(CliBenchmark, RowsPerVariantAndDeviceWithFailuresAsRows) {
  const fs::path dir = test::temp_dir("cli_benchmark");
  // A truncated copy of the model: must fail in its own row, not abort the table.
  const fs::path model = test::shared_models_dir() / "detect" / "yolox_nano.onnx";
  ASSERT_TRUE(fs::exists(model)) << model;
  const std::string bytes = slurp(model);
  ASSERT_GT(bytes.size(), 4096u);
  {
    std::ofstream out(dir / "truncated.onnx", std::ios::binary);
    out.write(bytes.data(), 4096);
  }
  const auto r = test::run_command(
      cli() + "--no-fp16 --device cpu --device tensorrt --add broken=" +
      (dir / "truncated.onnx").string() + " --json --report " + (dir / "bench.html").string());
  // Any failed row makes the command fail, with the complete table on stdout.
  EXPECT_EQ(r.exit_code, 1) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["rows"].size(), 4u) << r.out;  // {FP32, broken} x {cpu, tensorrt}

  const auto* fp32 = find_row(j["rows"], "FP32", "cpu");
  ASSERT_NE(fp32, nullptr) << r.out;
  EXPECT_TRUE((*fp32)["ok"].get<bool>()) << r.out;
  for (const char* k : {"size_mb", "map50_95", "map50", "median_ms", "p95_ms", "fps", "peak_rss_mb",
                        "images", "runs"})
    ASSERT_TRUE(fp32->contains(k)) << k << " missing in " << fp32->dump();
  EXPECT_NEAR((*fp32)["size_mb"].get<double>(), bytes.size() / 1e6, 1e-6);
  EXPECT_EQ((*fp32)["images"], 4);
  EXPECT_EQ((*fp32)["runs"], 3);
  EXPECT_GT((*fp32)["map50"].get<double>(), 0.0);  // yolox-nano finds objects on COCO
  EXPECT_GE((*fp32)["map50"].get<double>(), (*fp32)["map50_95"].get<double>());
  EXPECT_LE((*fp32)["median_ms"].get<double>(), (*fp32)["p95_ms"].get<double>());
  EXPECT_GT((*fp32)["peak_rss_mb"].get<double>(), 0.0);

  // TensorRT: either the runtime has it, or the row says which provider is missing.
  const auto* trt = find_row(j["rows"], "FP32", "tensorrt");
  ASSERT_NE(trt, nullptr);
  if (!(*trt)["ok"].get<bool>()) {
    EXPECT_NE((*trt)["error"].get<std::string>().find("TensorrtExecutionProvider"),
              std::string::npos)
        << trt->dump();
  }

  for (const char* dev : {"cpu", "tensorrt"}) {
    const auto* broken = find_row(j["rows"], "broken", dev);
    ASSERT_NE(broken, nullptr) << r.out;
    EXPECT_FALSE((*broken)["ok"].get<bool>());
    EXPECT_FALSE((*broken)["error"].get<std::string>().empty());
    EXPECT_FALSE(broken->contains("median_ms"));
  }
  EXPECT_GE(j["failed"].get<int>(), 2);

  const std::string html = slurp(dir / "bench.html");
  EXPECT_NE(html.find("<table"), std::string::npos);
  EXPECT_NE(html.find("broken"), std::string::npos);
  EXPECT_NE(html.find("failed"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);
}

TEST(CliBenchmark, TableOnStdoutAndUsageErrors) {
  auto r = test::run_command(cli() + "--no-fp16 --device cpu");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("mAP50-95"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("FP32"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("FAILED"), std::string::npos) << r.out;

  r = test::run_command(cli() + "--device tpu");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown device 'tpu'"), std::string::npos) << r.err;

  // yolox-nano's input is fixed at 416x416.
  r = test::run_command(cli() + "--imgsz 640");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("fixed"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ev
