// The face coverage tool on the labelled photos: the default detector must cover >= 99% of
// labelled faces at full, half and third size, and the Python recipe's detector (Haar
// 1.1/5) is measured by the same tool for comparison.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

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
  // The recipe is Haar alone: no head fallback masking persons' heads for it.
  auto haar = coverage("--detector haar --mode balanced --no-head-fallback");
  EXPECT_EQ(haar["detector"], "haar");
  EXPECT_GT(ours["coverage"].get<double>(), haar["coverage"].get<double>() + 0.2);
}

TEST(CliCoverage, MinCoverageFailsTheRunWhenNotMet) {
  auto r = test::run_command(test::edgevision_binary().string() + " --offline --models-dir " +
                             test::shared_models_dir().string() + " coverage " +
                             test::data("faces").string() + " --detector haar --min-coverage 0.99");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;  // a result below the bar is a failure
}

// --tags: per-tag coverage that adds up. Each face gets "all" and a size tag computed from its
// box, so the per-tag counts can be checked against the labels.
TEST(CliCoverage, TagsGivePerTagCoverage) {
  const auto dir = test::temp_dir("cli_coverage_tags");
  std::ifstream labels(test::data("faces/labels.csv"));
  std::ofstream tags(dir / "tags.csv");
  tags << "image,x,y,w,h,tag\n";
  std::string line;
  int faces = 0, large = 0;
  std::getline(labels, line);  // header
  while (std::getline(labels, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // the labels have CRLF
    if (line.empty()) continue;
    int x, y, w, h;
    const auto comma = line.find(',');
    ASSERT_EQ(std::sscanf(line.c_str() + comma + 1, "%d,%d,%d,%d", &x, &y, &w, &h), 4) << line;
    ++faces;
    large += w >= 40 ? 1 : 0;
    tags << line << ",all\n" << line << (w >= 40 ? ",size:40+" : ",size:<40") << "\n";
  }
  tags.close();
  auto j = coverage("--scales 1 --tags " + (dir / "tags.csv").string());
  ASSERT_EQ(j["scales"].size(), 1u);
  const auto& s = j["scales"][0];
  ASSERT_TRUE(s.contains("tags")) << s.dump();
  const auto& t = s["tags"];
  EXPECT_EQ(t["all"]["faces"].get<int>(), faces);
  EXPECT_EQ(t["all"]["covered"], s["covered"]);
  EXPECT_EQ(t["size:40+"]["faces"].get<int>(), large);
  EXPECT_EQ(t["size:40+"]["faces"].get<int>() + t["size:<40"]["faces"].get<int>(), faces);
  EXPECT_EQ(t["size:40+"]["covered"].get<int>() + t["size:<40"]["covered"].get<int>(),
            s["covered"].get<int>());
  EXPECT_TRUE(s.contains("collateral"));
  // A tags file that misses a labelled face is an error, not a silently smaller table.
  std::ofstream(dir / "partial.csv") << "image,x,y,w,h,tag\nimages/x.jpg,1,2,3,4,all\n";
  auto bad =
      test::run_command(test::edgevision_binary().string() + " --offline --models-dir " +
                        test::shared_models_dir().string() + " coverage " +
                        test::data("faces").string() + " --tags " + (dir / "partial.csv").string());
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("no tags for"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ev
