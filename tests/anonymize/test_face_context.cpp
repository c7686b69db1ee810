// Context-confirmed faces: faces scoring below the face threshold (down to context_score) are
// masked only beside a confirmed face of similar size or around a detected person's head.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <unistd.h>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

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

// Twelve faces scoring >= 0.5 make a crowd; there a weak face down to the crowd score (0.1)
// beside a face is masked, elsewhere the context score (0.2) stays the floor. Eleven faces, or
// twelve that only pass the face threshold (0.3-0.5: patterns an upscaled run finds on a small
// ordinary photo), are no crowd.
TEST(FaceContext, CrowdScoreOnlyAmongTwelveConfidentFaces) {
  const auto run = [](int faces, float score) {
    std::vector<Face> found;
    for (int i = 0; i < faces; ++i) found.push_back(face(20.f + 45.f * i, 100, 20, 24, score));
    found.push_back(face(20, 140, 18, 22, 0.15f));  // weak, just below the first face
    AnonymizerOptions options = context_options();
    options.detector.context_score = 0.2f;
    auto anonymizer =
        Anonymizer::create_with_detector(options, std::make_unique<FixedFaces>(found));
    cv::Mat frame(480, 640, CV_8UC3, cv::Scalar(90, 120, 150));
    return anonymizer->process(frame);
  };
  const FrameResult crowd = run(12, 0.8f);
  EXPECT_TRUE(crowd.crowd);
  EXPECT_TRUE(masked(crowd, {29, 151}));
  for (const auto& [n, score] : {std::pair{11, 0.8f}, std::pair{12, 0.4f}}) {
    const FrameResult r = run(n, score);
    EXPECT_FALSE(r.crowd) << n << " faces at " << score;
    EXPECT_FALSE(masked(r, {29, 151})) << n << " faces at " << score;
    EXPECT_TRUE(masked(r, {30, 112})) << n << " faces at " << score;
  }
}

ModelManager& shared_models() {
  static ModelManager mm(test::shared_model_options("face-context-cache"));
  return mm;
}

FrameResult run_fixed(const std::vector<Face>& found, int rows = 720, int cols = 1280) {
  auto anonymizer =
      Anonymizer::create_with_detector(context_options(), std::make_unique<FixedFaces>(found));
  cv::Mat frame(rows, cols, CV_8UC3, cv::Scalar(90, 120, 150));
  return anonymizer->process(frame);
}

// Close-ups: a weaker face of at least 1/5 of the frame height lying >= 30% inside a better one
// of that size (YuNet's second box on a selfie's chin and hair) is not masked; the same two
// boxes at crowd size (faces can hide part of each other there) both are.
TEST(FaceTrims, StackedCloseUpFaceIsDroppedOnlyAtCloseUpSize) {
  const FrameResult close_up =
      run_fixed({face(400, 100, 300, 360, 0.9f), face(450, 300, 280, 340, 0.6f)});
  ASSERT_TRUE(close_up.emitted) << close_up.error;
  EXPECT_TRUE(masked(close_up, {550, 280}));
  EXPECT_FALSE(masked(close_up, {590, 600}));
  const FrameResult small = run_fixed({face(400, 100, 50, 60, 0.9f), face(408, 133, 47, 57, 0.6f)});
  EXPECT_TRUE(masked(small, {431, 180}));
  EXPECT_EQ(small.masks_applied, 2);
}

// A face narrower than 8 px must score 0.5 (patterns on tableware and cloth), except in a crowd,
// where such a detection sits among real small faces.
TEST(FaceTrims, TinyWeakFaceDroppedOutsideCrowdsOnly) {
  const FrameResult weak = run_fixed({face(300, 300, 6, 7, 0.4f)});
  EXPECT_EQ(weak.masks_applied, 0);
  const FrameResult confident = run_fixed({face(300, 300, 6, 7, 0.6f)});
  EXPECT_EQ(confident.masks_applied, 1);
  std::vector<Face> crowd;
  for (int i = 0; i < 12; ++i) crowd.push_back(face(20.f + 45.f * i, 100, 20, 24, 0.8f));
  crowd.push_back(face(300, 300, 6, 7, 0.4f));
  const FrameResult in_crowd = run_fixed(crowd);
  EXPECT_TRUE(in_crowd.crowd);
  EXPECT_EQ(in_crowd.masks_applied, 13);
}

// In crowds a face under 32 px gets a larger mask (its box is off by a few pixels there);
// the same face outside a crowd keeps the level's padding.
TEST(FaceTrims, CrowdSmallFacesGetLargerMasks) {
  std::vector<Face> crowd;
  for (int i = 0; i < 12; ++i) crowd.push_back(face(20.f + 45.f * i, 100, 20, 24, 0.8f));
  crowd.push_back(face(600, 400, 14, 16, 0.8f));
  const FrameResult in_crowd = run_fixed(crowd);
  const FrameResult alone = run_fixed({face(600, 400, 14, 16, 0.8f)});
  ASSERT_TRUE(in_crowd.crowd);
  ASSERT_FALSE(alone.crowd);
  ASSERT_EQ(alone.masks.size(), 1u);
  const cv::Rect& small = alone.masks[0];
  const cv::Rect& large = in_crowd.masks.back();
  EXPECT_GT(large.area(), small.area() * 3 / 2) << large << " vs " << small;
  EXPECT_TRUE((large & small) == small);
}

// A folder holding one faces_wider photo and its labels, removed on destruction.
struct OneImageSet {
  explicit OneImageSet(const std::string& name) {
    dir = std::filesystem::temp_directory_path() /
          ("ev-face-context-" + std::to_string(::getpid()) + "-" + std::to_string(++made));
    rows = test::one_labelled_photo(name, dir);
  }
  ~OneImageSet() { std::filesystem::remove_all(dir); }
  ScaleCoverage measure(AnonymizerOptions options) const {
    options.method = AnonymizeMethod::kBlackBox;
    options.detector.threads = 2;
    options.head_fallback.detector.threads = 2;
    auto anonymizer = Anonymizer::create(options, shared_models());
    EXPECT_TRUE(anonymizer.ok()) << anonymizer.error();
    if (!anonymizer.ok()) return {};
    CoverageOptions co;
    co.scales = {1.0};
    auto report = evaluate_face_coverage(dir, **anonymizer, co);
    EXPECT_TRUE(report.ok()) << report.error();
    return report.ok() ? report->scales.at(0) : ScaleCoverage{};
  }
  std::filesystem::path dir;
  int rows = 0;
  static inline int made = 0;
};

// A real crowd photo (faces_wider, WIDER val 2_Demonstration_Demonstrators_2_546: 23 faces of
// 10-27 px in a protest) where many faces score between 0.2 and 0.3 beside faces that pass:
// the default (context on) covers faces that the same level with context off leaves (3 when
// measured; 2 asked, in case another ONNX Runtime build rounds a score across 0.2).
TEST(FaceContext, CoversCrowdFacesTheThresholdAloneMisses) {
  const OneImageSet set("images/2_Demonstration_Demonstrators_2_546.jpg");
  ASSERT_GE(set.rows, 20);
  AnonymizerOptions options;
  options.detector.context_score = -1.f;
  const ScaleCoverage off = set.measure(options);
  options.detector.context_score = 0.f;  // the level's default
  const ScaleCoverage on = set.measure(options);
  EXPECT_EQ(off.faces, set.rows);
  EXPECT_GE(on.covered, off.covered + 2) << "context off " << off.covered << ", on " << on.covered;
  EXPECT_LT(on.collateral, off.collateral + 0.02);
}

// A real protest photo (faces_wider, WIDER val 2_Demonstration_Demonstration_Or_Protest_2_799:
// 10-17 px faces in a crowd): the crowd levers (weak faces down to 0.1, mirrored pass, person
// tiles) cover faces the default without them leaves (4 when measured; 1 asked, in case another
// ONNX Runtime build rounds a score across a threshold), at little collateral (1.96% -> 3.59% of
// this photo); the crowd's larger small-face masks cover one more at 5.91%.
TEST(FaceContext, CrowdLeversCoverFacesTheDefaultWithoutThemMisses) {
  const OneImageSet set("images/2_Demonstration_Demonstration_Or_Protest_2_799.jpg");
  ASSERT_GE(set.rows, 20);
  AnonymizerOptions options;
  options.context.crowd_faces = 0;
  options.head_fallback.crowd_tiles = 0;
  const ScaleCoverage off = set.measure(options);
  AnonymizerOptions levers;
  levers.context.crowd_small_face = 0.f;
  const ScaleCoverage on = set.measure(levers);
  EXPECT_EQ(on.faces, set.rows);
  EXPECT_GE(on.covered, off.covered + 1) << "crowd off " << off.covered << ", on " << on.covered;
  EXPECT_LT(on.collateral, off.collateral + 0.02);
  const ScaleCoverage all = set.measure(AnonymizerOptions{});
  EXPECT_GE(all.covered, on.covered);
  EXPECT_LT(all.collateral, on.collateral + 0.03);
}

// The crowd levers cost only where there is a crowd: an empty street-sized frame gets no
// mirrored pass and no person tiles; the protest photo gets both.
TEST(FaceContext, CrowdPassesRunOnlyOnCrowds) {
  AnonymizerOptions options;
  options.detector.threads = 2;
  options.head_fallback.detector.threads = 2;
  auto anonymizer = Anonymizer::create(options, shared_models());
  ASSERT_TRUE(anonymizer.ok()) << anonymizer.error();
  cv::Mat empty(720, 1280, CV_8UC3, cv::Scalar(90, 120, 150));
  const FrameResult quiet = (*anonymizer)->process(empty);
  ASSERT_TRUE(quiet.emitted) << quiet.error;
  EXPECT_FALSE(quiet.crowd);
  EXPECT_FALSE(quiet.person_tiles);
  (*anonymizer)->reset_tracking();
  cv::Mat photo = cv::imread(
      (test::data("faces_wider") / "images/2_Demonstration_Demonstration_Or_Protest_2_799.jpg")
          .string());
  ASSERT_FALSE(photo.empty());
  const FrameResult crowd = (*anonymizer)->process(photo);
  ASSERT_TRUE(crowd.emitted) << crowd.error;
  EXPECT_TRUE(crowd.crowd);
  EXPECT_TRUE(crowd.person_tiles);
}

// The face search in persons (HeadFallbackOptions::search_score) on real photos (faces_wider):
// a swimmer in profile (WIDER val 41_Swimming_Swimmer_41_288, 242x152 px) whom the frame pass
// misses is found on the upper part of the person box and masked; the head region alone
// covered 45% of the face.
TEST(PersonSearch, CoversASwimmerTheHeadRegionMisses) {
  const OneImageSet set("images/41_Swimming_Swimmer_41_288.jpg");
  ASSERT_EQ(set.rows, 1);
  AnonymizerOptions options;
  options.head_fallback.search_score = 0.f;
  const ScaleCoverage off = set.measure(options);
  const ScaleCoverage on = set.measure(AnonymizerOptions{});
  EXPECT_EQ(off.covered, 0);
  EXPECT_EQ(on.covered, 1);
}

// An interview seen from below (13_Interview_Interview_Sequences_13_11): the face sits at the
// person box's top left, outside its head region, so the head fallback put a second mask beside
// the masked face. The search finds that same face: no head mask, the face still covered.
TEST(PersonSearch, AFaceFoundOffTheHeadRegionNeedsNoHeadMask) {
  const OneImageSet set("images/13_Interview_Interview_Sequences_13_11.jpg");
  ASSERT_EQ(set.rows, 1);
  AnonymizerOptions options;
  options.head_fallback.search_score = 0.f;
  const ScaleCoverage off = set.measure(options);
  const ScaleCoverage on = set.measure(AnonymizerOptions{});
  EXPECT_EQ(off.covered, 1);
  EXPECT_EQ(on.covered, 1);
  EXPECT_LT(on.collateral, off.collateral - 0.02) << off.collateral << " -> " << on.collateral;
}

// Where the search finds no face (a person on a plain wall) the head region is still masked:
// the search only ever adds a face or replaces a head mask by the face it found. It runs once
// per person pass: the next frame with the same persons reuses its answer.
TEST(PersonSearch, NoFaceFoundKeepsTheHeadMaskAndSearchesOncePerPersonPass) {
  AnonymizerOptions options;
  options.method = AnonymizeMethod::kBlackBox;
  options.detector.threads = 2;
  options.head_fallback.own_detector = false;
  options.head_fallback.search_external = true;
  auto anonymizer = Anonymizer::create(options, shared_models());
  ASSERT_TRUE(anonymizer.ok()) << anonymizer.error();
  Detection person;
  person.label = "person";
  person.score = 0.9f;
  person.box = {300, 100, 120, 360};
  (*anonymizer)->set_persons({person});
  cv::Mat frame(720, 1280, CV_8UC3, cv::Scalar(90, 120, 150));
  const FrameResult first = (*anonymizer)->process(frame);
  ASSERT_TRUE(first.emitted) << first.error;
  EXPECT_EQ(first.person_searches, 1);
  EXPECT_EQ(first.person_faces, 0);
  EXPECT_EQ(first.heads_masked, 1);
  const cv::Rect2f head = head_region(person.box);
  EXPECT_TRUE(masked(first, {head.x + head.width / 2, head.y + head.height / 2}));
  cv::Mat next(720, 1280, CV_8UC3, cv::Scalar(90, 120, 150));
  const FrameResult second = (*anonymizer)->process(next);
  ASSERT_TRUE(second.emitted) << second.error;
  EXPECT_EQ(second.person_searches, 0);
  EXPECT_EQ(second.heads_masked, 1);
  // Off, and by default for persons handed over by a pipeline: no search at all.
  for (const auto& [score, external] : {std::pair{0.f, true}, std::pair{0.2f, false}}) {
    options.head_fallback.search_score = score;
    options.head_fallback.search_external = external;
    auto off = Anonymizer::create(options, shared_models());
    ASSERT_TRUE(off.ok()) << off.error();
    (*off)->set_persons({person});
    cv::Mat plain(720, 1280, CV_8UC3, cv::Scalar(90, 120, 150));
    const FrameResult r = (*off)->process(plain);
    EXPECT_EQ(r.person_searches, 0) << score << " " << external;
    EXPECT_EQ(r.heads_masked, 1) << score << " " << external;
  }
}

// Every face `with` misses was missed `without` too (`without_what` names the other run).
void expect_none_lost(const ScaleCoverage& with, const ScaleCoverage& without,
                      const std::string& without_what) {
  // "image#k (w x h, n% masked)": the face, not how much of it was masked.
  const auto face = [](const std::string& m) { return m.substr(0, m.find(' ')); };
  for (const std::string& missed : with.missed)
    EXPECT_TRUE(std::any_of(without.missed.begin(), without.missed.end(),
                            [&](const std::string& m) { return face(m) == face(missed); }))
        << missed << " was covered " << without_what;
}

// The larger person pass (HeadFallbackOptions::large_input) on a real photo (faces_wider, WIDER
// val 23_Shoppers_Shoppers_23_243, 1024 px wide): yolox-nano at 416x416 sees it at 0.4x and
// misses a shopper whose face YuNet misses too; at 832x832 the person is found and the head
// fallback covers the face. Nothing the first pass found is lost.
TEST(LargerPersonPass, CoversAShopperTheFirstPassMisses) {
  const OneImageSet set("images/23_Shoppers_Shoppers_23_243.jpg");
  ASSERT_GE(set.rows, 3);
  const ScaleCoverage off = set.measure(AnonymizerOptions{});
  AnonymizerOptions options;
  options.head_fallback.large_input = kPhotoPersonInput;
  const ScaleCoverage on = set.measure(options);
  EXPECT_EQ(on.covered, off.covered + 1) << off.covered << " -> " << on.covered;
  expect_none_lost(on, off, "without the larger pass");
}

// A frame the first pass already sees at (almost) full size (< 1.5x its 416x416 input) gets no
// larger pass: the masks are exactly those without it.
TEST(LargerPersonPass, NotOnFramesTheFirstPassSeesWhole) {
  const cv::Mat photo =
      cv::imread((test::data("faces_wider") / "images/23_Shoppers_Shoppers_23_243.jpg").string());
  ASSERT_FALSE(photo.empty());
  cv::Mat small;
  cv::resize(photo, small, cv::Size(), 0.55, 0.55, cv::INTER_AREA);
  ASSERT_LT(small.cols, 624);
  ASSERT_LT(small.rows, 624);
  const auto masks = [&](int large_input) {
    AnonymizerOptions options;
    options.method = AnonymizeMethod::kBlackBox;
    options.detector.threads = 2;
    options.head_fallback.detector.threads = 2;
    options.head_fallback.large_input = large_input;
    auto anonymizer = Anonymizer::create(options, shared_models());
    EXPECT_TRUE(anonymizer.ok()) << anonymizer.error();
    if (!anonymizer.ok()) return std::vector<cv::Rect>{};
    cv::Mat frame = small.clone();
    const FrameResult r = (*anonymizer)->process(frame);
    EXPECT_TRUE(r.emitted) << r.error;
    return r.masks;
  };
  const std::vector<cv::Rect> off = masks(0);
  EXPECT_FALSE(off.empty());
  EXPECT_EQ(masks(kPhotoPersonInput), off);
}

// The face search's part of the person box (search_top 0.8, was the upper half), with the
// larger person pass, on a real funeral photo (faces_wider, WIDER val 6_Funeral_Funeral_6_160):
// a mourner's face lies below the upper half of a person box; the search over 0.8 of it finds
// and masks it. Nothing the upper-half search covered is lost.
TEST(PersonSearch, LowerInTheBoxCoversAMournerTheUpperHalfMisses) {
  const OneImageSet set("images/6_Funeral_Funeral_6_160.jpg");
  ASSERT_GE(set.rows, 20);
  AnonymizerOptions options;
  options.head_fallback.large_input = kPhotoPersonInput;
  const ScaleCoverage on = set.measure(options);
  options.head_fallback.search_top = 0.5f;
  const ScaleCoverage off = set.measure(options);
  EXPECT_EQ(on.covered, off.covered + 1) << off.covered << " -> " << on.covered;
  expect_none_lost(on, off, "by the upper-half search");
}

}  // namespace
}  // namespace ev
