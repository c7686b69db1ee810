// Motion-region face detection (privacy.motion_regions): a face that walks into a still scene
// is covered on every frame it is fully visible, stays covered while it stands still (no
// inference then), and coverage on the labelled still-image set is not lower than a full pass.
#include <gtest/gtest.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/face_coverage.hpp"
#include "edgevision/pipeline.hpp"
#include "support/shared_models.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

// Fraction of the central half of `face` covered by the masks.
double central_coverage(const cv::Rect& face, const std::vector<cv::Rect>& masks, cv::Size size) {
  const cv::Rect core =
      cv::Rect(face.x + face.width / 4, face.y + face.height / 4, face.width / 2, face.height / 2) &
      cv::Rect(0, 0, size.width, size.height);
  if (core.area() == 0) return 0;
  cv::Mat m(size, CV_8U, cv::Scalar(0));
  for (const auto& r : masks) m(r & cv::Rect(0, 0, size.width, size.height)).setTo(255);
  return static_cast<double>(cv::countNonZero(m(core))) / core.area();
}

std::unique_ptr<Anonymizer> make_anonymizer(ModelManager& models, bool gated,
                                            MotionGatedFaceDetector** gate = nullptr) {
  AnonymizerOptions ao;  // yunet, balanced, blur, medium
  auto det = create_face_detector(ao.detector, models);
  EXPECT_TRUE(det) << det.error();
  if (!det) return nullptr;
  EXPECT_EQ((*det)->name(), "yunet");
  if (!gated) return Anonymizer::create_with_detector(ao, std::move(*det));
  MotionFaceOptions mo;
  mo.full_pass_every = 1000;  // only the first frame: what is tested is the region search
  mo.phase = 0;
  auto g = std::make_unique<MotionGatedFaceDetector>(std::move(*det), mo);
  if (gate) *gate = g.get();
  return Anonymizer::create_with_detector(ao, std::move(g));
}

TEST(MotionFaces, FaceWalkingIntoStillSceneIsCoveredOnEveryVisibleFrame) {
  ModelManager models(test::shared_model_options("motion_faces_walk"));
  cv::Mat background = cv::imread(test::data("images/giraffe.jpg").string(), cv::IMREAD_COLOR);
  cv::Mat photo = cv::imread(
      test::data("faces_wider/images/59_peopledrivingcar_peopledrivingcar_59_401.jpg").string(),
      cv::IMREAD_COLOR);
  ASSERT_FALSE(background.empty());
  ASSERT_FALSE(photo.empty());
  cv::resize(background, background, cv::Size(1280, 720), 0, 0, cv::INTER_LINEAR);
  // The labelled face (412,262 92x118) with the head and shoulders around it.
  const cv::Rect face_in_photo(412, 262, 92, 118);
  const cv::Rect patch_rect = cv::Rect(face_in_photo.x - 50, face_in_photo.y - 50, 192, 240) &
                              cv::Rect(0, 0, photo.cols, photo.rows);
  const cv::Mat patch = photo(patch_rect).clone();
  const cv::Point face_offset = face_in_photo.tl() - patch_rect.tl();

  MotionGatedFaceDetector* gate = nullptr;
  auto gated = make_anonymizer(models, true, &gate);
  ASSERT_TRUE(gated && gate);

  // 5 empty frames, 40 frames walking in from the left, 30 standing still (longer than the
  // 10-frame mask hold of privacy level medium).
  const int y = 300;
  int visible = 0, covered = 0;
  std::vector<std::string> missed;
  for (int i = 0; i < 75; ++i) {
    cv::Mat frame = background.clone();
    std::optional<cv::Rect> face;
    if (i >= 5) {
      const int x = i < 45 ? -patch.cols + (i - 5) * 20 : -patch.cols + 40 * 20;
      const cv::Rect at(x, y, patch.cols, patch.rows);
      const cv::Rect inside = at & cv::Rect(0, 0, frame.cols, frame.rows);
      if (inside.area() > 0) patch(inside - at.tl()).copyTo(frame(inside));
      face = cv::Rect(at.tl() + face_offset, face_in_photo.size());
    }
    FrameResult r = gated->process(frame);
    ASSERT_TRUE(r.emitted) << r.error;
    if (face && (*face & cv::Rect(0, 0, 1280, 720)) == *face) {
      ++visible;
      const double c = central_coverage(*face, r.masks, frame.size());
      if (c >= 0.95) {
        ++covered;
      } else {
        missed.push_back("frame " + std::to_string(i) + " (" + std::to_string(c) + ")");
      }
    }
  }
  EXPECT_GT(visible, 30);
  EXPECT_EQ(covered, visible) << "missed: " << testing::PrintToString(missed);
  const auto& st = gate->stats();
  EXPECT_EQ(st.full, 1) << "only the first frame gets a full pass here";
  EXPECT_GT(st.regions, 20) << "frames with motion were searched in their regions";
  EXPECT_GT(st.still, 20) << "frames without motion ran no inference";
}

TEST(MotionFaces, CoverageOnLabelledPhotosSameAsFullPasses) {
  ModelManager models(test::shared_model_options("motion_faces_cov"));
  CoverageOptions co;
  co.scales = {1.0};
  // The anonymizer a camera gets, with and without motion regions (the default safety net, a
  // full pass every 10 frames): the gate must keep the level's thresholds, the small-face
  // runs, the crowd levers and the head fallback, so on photos (each one a new scene) it
  // covers exactly what full passes cover.
  AnonymizerOptions ao;
  auto plain = Anonymizer::create(ao, models);
  ASSERT_TRUE(plain) << plain.error();
  auto full = evaluate_face_coverage(test::data("faces_wider"), **plain, co);
  ASSERT_TRUE(full) << full.error();
  auto gated = Anonymizer::create(ao, models, [](std::unique_ptr<FaceDetector> faces) {
    return std::unique_ptr<FaceDetector>(
        std::make_unique<MotionGatedFaceDetector>(std::move(faces), MotionFaceOptions{}));
  });
  ASSERT_TRUE(gated) << gated.error();
  auto with_regions = evaluate_face_coverage(test::data("faces_wider"), **gated, co);
  ASSERT_TRUE(with_regions) << with_regions.error();
  ASSERT_GT(full->faces, 500);
  EXPECT_EQ(with_regions->faces, full->faces);
  EXPECT_EQ(with_regions->covered, full->covered);
  ASSERT_EQ(with_regions->scales.size(), 1u);
  EXPECT_EQ(with_regions->scales[0].masks, full->scales[0].masks);
}

TEST(MotionFaces, CamerasStartedTogetherSpreadTheirFullPasses) {
  class NoFaces final : public FaceDetector {
   public:
    std::string name() const override { return "none"; }
    Result<std::vector<Face>> detect(const cv::Mat&) override { return std::vector<Face>{}; }
  };
  const cv::Mat still(240, 320, CV_8UC3, cv::Scalar(40, 80, 120));
  constexpr int kCameras = 4, kFrames = 41;
  std::vector<std::unique_ptr<MotionGatedFaceDetector>> gates;
  for (int i = 0; i < kCameras; ++i)
    gates.push_back(std::make_unique<MotionGatedFaceDetector>(std::make_unique<NoFaces>()));
  std::vector<int> full_passes_on_frame(kFrames, 0);
  for (int f = 0; f < kFrames; ++f) {
    for (auto& g : gates) {
      const int64_t before = g->stats().full;
      ASSERT_TRUE(g->detect(still));
      full_passes_on_frame[f] += static_cast<int>(g->stats().full - before);
    }
  }
  EXPECT_EQ(full_passes_on_frame[0], kCameras) << "every camera starts with a full pass";
  for (auto& g : gates) EXPECT_GE(g->stats().full, 4) << "the safety net still runs every 10";
  for (int f = 1; f < kFrames; ++f)
    EXPECT_LE(full_passes_on_frame[f], 1) << "frame " << f << ": full passes at once";
  MotionFaceOptions fixed;
  fixed.phase = 0;
  MotionGatedFaceDetector aligned(std::make_unique<NoFaces>(), fixed);
  for (int f = 0; f < 11; ++f) ASSERT_TRUE(aligned.detect(still));
  EXPECT_EQ(aligned.stats().full, 2) << "phase 0: frames 0 and 10";
}

TEST(MotionFaces, DetectorErrorFailsClosed) {
  class Broken final : public FaceDetector {
   public:
    std::string name() const override { return "broken"; }
    Result<std::vector<Face>> detect(const cv::Mat&) override {
      return Result<std::vector<Face>>::Error("boom");
    }
  };
  MotionGatedFaceDetector gate(std::make_unique<Broken>());
  cv::Mat frame(240, 320, CV_8UC3, cv::Scalar(40, 80, 120));
  EXPECT_FALSE(gate.detect(frame));  // full pass
  cv::rectangle(frame, cv::Rect(100, 100, 40, 40), cv::Scalar(255, 255, 255), cv::FILLED);
  EXPECT_FALSE(gate.detect(frame));  // a region search fails closed too
}

}  // namespace
}  // namespace ev
