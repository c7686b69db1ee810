// `edgevision bench --video / --pipeline`: stage-by-stage JSON, the HTML report, and errors.
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
         test::shared_models_dir().string() + " bench ";
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(CliBench, VideoStagesAsJsonWithReport) {
  const fs::path dir = test::temp_dir("cli_bench_video");
  const auto r = test::run_command(
      cli() + "--video " + test::data("video/otb_crossing/crossing.avi").string() +
      " --frames 6 --warmup 1 --threaded --json --report " + (dir / "pipeline.html").string());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  for (const char* k : {"median_ms", "mean_ms", "p95_ms", "p99_ms", "min_ms", "max_ms", "fps",
                        "peak_rss_mb", "cpu_percent", "load_ms", "bottleneck", "bottleneck_ms"})
    ASSERT_TRUE(j.contains(k)) << k << " missing in " << r.out;
  EXPECT_EQ(j["frames"], 6);
  EXPECT_EQ(j["runs"], 6);
  EXPECT_LE(j["min_ms"].get<double>(), j["median_ms"].get<double>());
  EXPECT_LE(j["median_ms"].get<double>(), j["p95_ms"].get<double>());
  EXPECT_LE(j["p95_ms"].get<double>(), j["p99_ms"].get<double>());
  EXPECT_LE(j["p99_ms"].get<double>(), j["max_ms"].get<double>());
  EXPECT_NEAR(j["fps"].get<double>(), 1000.0 / j["mean_ms"].get<double>(), 1e-6);
  ASSERT_TRUE(j.contains("threaded")) << r.out;
  EXPECT_GE(j["threaded"]["frames"].get<int>(), 6);
  EXPECT_GT(j["threaded"]["fps"].get<double>(), 0);
  std::vector<std::string> stages;
  for (const auto& s : j["stages"]) stages.push_back(s["stage"]);
  EXPECT_EQ(stages.front(), "decode");
  EXPECT_NE(std::find(stages.begin(), stages.end(), "face_detect"), stages.end());
  EXPECT_NE(std::find(stages.begin(), stages.end(), "detect_inference"), stages.end());
  const std::string html = read_file(dir / "pipeline.html");
  EXPECT_NE(html.find("<svg"), std::string::npos);
  EXPECT_NE(html.find("detect_inference"), std::string::npos);
  EXPECT_NE(html.find("bottleneck"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos);  // self-contained, static
}

TEST(CliBench, PipelineConfigCameraAndErrors) {
  const fs::path dir = test::temp_dir("cli_bench_pipeline");
  const fs::path config = dir / "service.yaml";
  {
    std::ofstream out(config);
    out << "cameras:\n"
           "  - id: lobby\n"
           "    source: "
        << test::data("video/otb_crossing/crossing.avi").string()
        << "\n"
           "    detect: false\n"
           "  - id: street\n"
           "    source: "
        << test::data("video/pets09_s2l1/vtest.avi").string()
        << "\n"
           "detection:\n"
           "  every_n: 2\n"
           "privacy:\n"
           "  method: pixelate\n";
  }
  // Camera chosen by id; the config's every_n applies.
  auto r = test::run_command(cli() + "--pipeline " + config.string() +
                             " --camera street --frames 4 --warmup 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_NE(j["source"].get<std::string>().find("vtest.avi"), std::string::npos);
  int inference_runs = -1;
  for (const auto& s : j["stages"])
    if (s["stage"] == "detect_inference") inference_runs = s["runs"];
  EXPECT_EQ(inference_runs, 2);

  // Default camera: the first enabled one, which does not detect.
  r = test::run_command(cli() + "--pipeline " + config.string() + " --frames 3 --warmup 0 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["detector"], "");
  EXPECT_EQ(j["bottleneck"], "anonymize");

  r = test::run_command(cli() + "--pipeline " + config.string() + " --camera nope --frames 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no camera with id 'nope'"), std::string::npos) << r.err;

  r = test::run_command(cli() + "--video " + (dir / "missing.avi").string() + " --frames 3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.avi"), std::string::npos) << r.err;

  r = test::run_command(cli() + "--frames 3");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace ev
