// Context-confirmed faces: faces scoring below the face threshold (down to context_score) are
// masked only beside a confirmed face of similar size or around a detected person's head.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>
#include <opencv2/core.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/face_coverage.hpp"
#include "support/shared_models.hpp"

namespace ev {
namespace {

Face face(float x, float y, float w, float h, float score) {
  Face f;
  f.box = {x, y, w, h};
  f.score = score;
  return f;
}

// Returns the same faces for every frame.
class FixedFaces final : public FaceDetector {
 public:
  explicit FixedFaces(std::vector<Face> faces) : faces_(std::move(faces)) {}
  std::string name() const override { return "fixed"; }
  Result<std::vector<Face>> detect(const cv::Mat&) override { return faces_; }

 private:
  std::vector<Face> faces_;
};

bool masked(const FrameResult& r, cv::Point2f p) {
  for (const cv::Rect& m : r.masks)
    if (m.contains(cv::Point(static_cast<int>(p.x), static_cast<int>(p.y)))) return true;
  return false;
}

AnonymizerOptions context_options() {
  AnonymizerOptions options;
  options.method = AnonymizeMethod::kBlackBox;
  options.detector.score_threshold = 0.3f;
  options.detector.context_score = 0.1f;
  options.head_fallback.own_detector = false;
  return options;
}

TEST(FaceContext, WeakFacesBesideAConfirmedFaceOfTheirSizeOnly) {
  const std::vector<Face> faces = {
      face(100, 100, 20, 24, 0.8f),  // confirmed
      face(140, 104, 18, 22, 0.2f),  // weak, 1.6 face heights to the right: kept
      face(500, 300, 20, 24, 0.2f),  // weak, far from any face: dropped
      face(100, 140, 80, 96, 0.2f)   // weak, beside it but 4x its height: dropped
  };
  auto anonymizer =
      Anonymizer::create_with_detector(context_options(), std::make_unique<FixedFaces>(faces));
  cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 120, 150));
  const FrameResult r = anonymizer->process(frame);
  ASSERT_TRUE(r.emitted);
  EXPECT_EQ(r.faces_detected, 2);
  EXPECT_TRUE(masked(r, {110, 112}));
  EXPECT_TRUE(masked(r, {149, 115}));
  EXPECT_FALSE(masked(r, {510, 312}));
  EXPECT_FALSE(masked(r, {140, 188}));
}

TEST(FaceContext, WeakFaceAroundAPersonsHead) {
  Detection person;
  person.box = {300, 100, 120, 300};
  person.score = 0.9f;
  person.label = "person";
  // Head region of that person: centred at x=360, near its top; the weak face sits in it.
  auto anonymizer = Anonymizer::create_with_detector(
      context_options(), std::make_unique<FixedFaces>(std::vector<Face>{
                             face(352, 110, 16, 20, 0.15f), face(40, 40, 16, 20, 0.15f)}));
  cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 120, 150));
  EXPECT_FALSE(masked(anonymizer->process(frame), {360, 120}));  // no persons known yet
  anonymizer->set_persons({person});
  const FrameResult r = anonymizer->process(frame);
  EXPECT_TRUE(masked(r, {360, 120}));
  EXPECT_FALSE(masked(r, {48, 50}));
  // The weak face is that person's face: no head-region mask on top of it.
  EXPECT_EQ(r.heads_masked, 0);
}

TEST(FaceContext, OffWithoutAContextScore) {
  AnonymizerOptions options = context_options();
  options.detector.context_score = 0.f;
  auto anonymizer = Anonymizer::create_with_detector(
      options, std::make_unique<FixedFaces>(
                   std::vector<Face>{face(100, 100, 20, 24, 0.8f), face(150, 104, 18, 22, 0.2f)}));
  cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 120, 150));
  // Without context the detector's own output is masked as it is (it applied its threshold).
  EXPECT_TRUE(masked(anonymizer->process(frame), {149, 115}));
}

ModelManager& shared_models() {
  static ModelManager mm(test::shared_model_options("face-context-cache"));
  return mm;
}

// A real crowd photo (faces_wider, WIDER val 2_Demonstration_Demonstrators_2_546: 23 faces of
// 10-27 px in a protest) where many faces score between 0.2 and 0.3 beside faces that pass:
// the default (context on) covers faces that the same level with context off leaves (3 when
// measured; 2 asked, in case another ONNX Runtime build rounds a score across 0.2).
TEST(FaceContext, CoversCrowdFacesTheThresholdAloneMisses) {
  const std::string name = "images/2_Demonstration_Demonstrators_2_546.jpg";
  const std::filesystem::path src = test::data("faces_wider");
  auto labels = load_face_labels(src / "labels.csv");
  ASSERT_TRUE(labels.ok()) << labels.error();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ev-face-context-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "images");
  std::filesystem::copy_file(src / name, dir / name,
                             std::filesystem::copy_options::overwrite_existing);
  int rows = 0;
  {
    std::ofstream csv(dir / "labels.csv");
    csv << "image,x,y,w,h\n";
    for (const LabelledFace& f : *labels)
      if (f.image == name) {
        csv << f.image << ',' << f.box.x << ',' << f.box.y << ',' << f.box.width << ','
            << f.box.height << '\n';
        ++rows;
      }
  }
  ASSERT_GE(rows, 20);
  CoverageOptions co;
  co.scales = {1.0};
  const auto measure = [&](float context_score) {
    AnonymizerOptions options;
    options.method = AnonymizeMethod::kBlackBox;
    options.detector.threads = 2;
    options.head_fallback.detector.threads = 2;
    options.detector.context_score = context_score;
    auto anonymizer = Anonymizer::create(options, shared_models());
    EXPECT_TRUE(anonymizer.ok()) << anonymizer.error();
    auto report = evaluate_face_coverage(dir, **anonymizer, co);
    EXPECT_TRUE(report.ok()) << report.error();
    return report.ok() ? report->scales.at(0) : ScaleCoverage{};
  };
  const ScaleCoverage off = measure(-1.f);
  const ScaleCoverage on = measure(0.f);  // the level's default
  std::filesystem::remove_all(dir);
  EXPECT_EQ(off.faces, rows);
  EXPECT_GE(on.covered, off.covered + 2) << "context off " << off.covered << ", on " << on.covered;
  EXPECT_LT(on.collateral, off.collateral + 0.02);
}

}  // namespace
}  // namespace ev
