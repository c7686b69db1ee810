// The face coverage tool on the labelled photos: the default detector must cover >= 99% of
// labelled faces at full, half and third size, and the Python recipe's detector (Haar
// 1.1/5) is measured by the same tool for comparison.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

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

// `quantize` judges a face model by face coverage: the faces the FP32 model finds on the
// held-back calibration images are the labels, and the INT8 model must still mask them (within
// --max-face-drop points). Without enough faces there it says so and judges by output SQNR.
TEST(CliCoverage, QuantizeJudgesFaceModelsByFaceCoverage) {
  const auto dir = test::temp_dir("cli_quantize_face");
  const std::string base = test::edgevision_binary().string() + " --offline --models-dir " +
                           test::shared_models_dir().string() + " quantize yunet --json -o ";
  auto r = test::run_command(base + (dir / "faces.onnx").string() + " --calib " +
                             test::data("faces_wider/images").string() + " --max-images 30");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.out;
  const auto& q = j["quality"];
  EXPECT_EQ(q["metric"], "face_coverage_vs_fp32") << q.dump();
  EXPECT_EQ(q["holdout_images"], 10);
  EXPECT_GT(q["reference"].get<double>(), 50.0);  // FP32's coverage of its own faces, %
  EXPECT_DOUBLE_EQ(q["target"].get<double>(), q["reference"].get<double>() - 2.0);
  EXPECT_GE(q["value"].get<double>(), q["target"].get<double>());
  EXPECT_TRUE(q["target_met"].get<bool>());
  EXPECT_NE(r.err.find("faces found by the FP32 model"), std::string::npos) << r.err;

  // An impossible coverage target: refused with the numbers, nothing written.
  auto strict = test::run_command(base + (dir / "strict.onnx").string() + " --calib " +
                                  test::data("faces_wider/images").string() +
                                  " --max-images 30 --max-face-drop=-101");
  EXPECT_EQ(strict.exit_code, 1) << strict.err;
  EXPECT_NE(strict.err.find("face coverage"), std::string::npos) << strict.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "strict.onnx"));

  // 8 COCO images: 4 held back with too few faces on them -> output SQNR, announced.
  auto few = test::run_command(base + (dir / "few.onnx").string() + " --calib " +
                               test::data("coco/images/train2017").string() + " --max-images 8");
  ASSERT_EQ(few.exit_code, 0) << few.err;
  auto jf = nlohmann::json::parse(few.out, nullptr, false);
  ASSERT_FALSE(jf.is_discarded()) << few.out;
  EXPECT_EQ(jf["quality"]["metric"], "sqnr_db");
  EXPECT_NE(few.err.find("judging by output SQNR instead of face coverage"), std::string::npos)
      << few.err;
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

// Still photos get the mirrored face pass at level medium (AnonymizerOptions::photo_flip): on a
// protest photo with small, partly hidden faces it covers faces the single pass misses, and
// `anonymize` on an image runs it too (its output differs from --no-photo-flip's).
TEST(CliCoverage, StillPhotosGetTheMirroredFacePass) {
  const std::string name = "images/2_Demonstration_Demonstrators_2_546.jpg";
  const auto dir = test::temp_dir("cli_coverage_photo_flip");
  const int rows = test::one_labelled_photo(name, dir);
  ASSERT_GT(rows, 10);
  const std::string base = test::edgevision_binary().string() + " --offline --models-dir " +
                           test::shared_models_dir().string();
  const auto covered = [&](const std::string& extra) {
    auto r = test::run_command(base + " coverage " + dir.string() + " --scales 1 --json " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    return j.is_discarded() ? -1 : j["covered"].get<int>();
  };
  const int with_flip = covered("");
  const int without = covered("--no-photo-flip");
  EXPECT_GT(with_flip, without) << "mirrored pass " << with_flip << " vs single " << without;

  const auto anonymized = [&](const std::string& file, const std::string& extra) {
    auto r = test::run_command(base + " anonymize " + (dir / name).string() + " -o " +
                               (dir / file).string() + " " + extra);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return cv::imread((dir / file).string());
  };
  const cv::Mat a = anonymized("flip.png", ""), b = anonymized("single.png", "--no-photo-flip");
  ASSERT_FALSE(a.empty());
  ASSERT_EQ(a.size(), b.size());
  cv::Mat diff;
  cv::absdiff(a, b, diff);
  EXPECT_GT(cv::countNonZero(diff.reshape(1)), 0) << "anonymize on an image runs the mirrored pass";
}

}  // namespace
}  // namespace ev
