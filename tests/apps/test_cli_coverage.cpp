// The face coverage tool on the labelled photos: the default detector must cover >= 99% of
// labelled faces at full, half and third size, and the Python recipe's detector (Haar
// 1.1/5) is measured by the same tool for comparison.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

namespace ev {
namespace {

nlohmann::json coverage(const std::string& extra) {
  auto r = test::run_command(test::edgevision_binary().string() + " --offline --models-dir " +
                             test::shared_models_dir().string() + " coverage " +
                             test::data("faces").string() + " --json " + extra);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception&) {
    ADD_FAILURE() << r.out << r.err;
    return {};
  }
}

TEST(CliCoverage, DefaultDetectorCoversAlmostEveryFaceAtEveryScale) {
  auto j = coverage("--min-coverage 0.99");
  ASSERT_EQ(j["scales"].size(), 3u);
  for (const auto& s : j["scales"]) {
    EXPECT_GE(s["coverage"].get<double>(), 0.99) << s.dump();
    // "Touching little else": masks outside the labelled faces' neighbourhood stay tiny.
    EXPECT_LT(s["masked_outside_fraction"].get<double>(), 0.02) << s.dump();
  }
}

// An optimized privacy model is only usable if it still covers the faces: the INT8 model that
// `quantize` writes (Conv+Relu fused, min-max on 8 COCO images) is checked like the float one.
TEST(CliCoverage, QuantizedFaceModelStillCoversEveryFace) {
  const auto dir = test::temp_dir("cli_coverage_int8");
  const auto int8 = dir / "yunet_int8.onnx";
  auto q = test::run_command(test::edgevision_binary().string() + " --offline --models-dir " +
                             test::shared_models_dir().string() + " quantize yunet -o " +
                             int8.string() + " --calib " +
                             test::data("coco/images/train2017").string() + " --max-images 8");
  ASSERT_EQ(q.exit_code, 0) << q.err;
  auto j = coverage("--model " + int8.string());
  ASSERT_EQ(j["scales"].size(), 3u);
  for (const auto& s : j["scales"]) EXPECT_GE(s["coverage"].get<double>(), 0.99) << s.dump();
  auto bad = test::run_command(test::edgevision_binary().string() + " --offline coverage " +
                               test::data("faces").string() + " --model " +
                               (dir / "missing.onnx").string());
  EXPECT_NE(bad.exit_code, 0);
}

TEST(CliCoverage, DefaultBeatsThePythonRecipeDetector) {
  auto ours = coverage("");
  auto haar = coverage("--detector haar --mode balanced");
  EXPECT_EQ(haar["detector"], "haar");
  EXPECT_GT(ours["coverage"].get<double>(), haar["coverage"].get<double>() + 0.2);
}

TEST(CliCoverage, MinCoverageFailsTheRunWhenNotMet) {
  auto r = test::run_command(test::edgevision_binary().string() + " --offline --models-dir " +
                             test::shared_models_dir().string() + " coverage " +
                             test::data("faces").string() + " --detector haar --min-coverage 0.99");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // a result below the bar is a failure
}

}  // namespace
}  // namespace ev
