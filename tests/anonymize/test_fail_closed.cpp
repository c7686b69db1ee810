#include <gtest/gtest.h>

#include "edgevision/anonymize.hpp"

namespace ev {
namespace {

// A detector that fails on chosen frames, and otherwise finds one fixed face.
class ScriptedDetector : public FaceDetector {
 public:
  explicit ScriptedDetector(std::vector<bool> fail) : fail_(std::move(fail)) {}
  std::string name() const override { return "scripted"; }
  Result<std::vector<Face>> detect(const cv::Mat&) override {
    const bool fail = calls_ < fail_.size() && fail_[calls_];
    ++calls_;
    if (fail) return Result<std::vector<Face>>::Error("inference failed");
    return std::vector<Face>{Face{cv::Rect2f(50, 50, 40, 40), 0.9f, {}}};
  }

 private:
  std::vector<bool> fail_;
  size_t calls_ = 0;
};

class ThrowingDetector : public FaceDetector {
 public:
  std::string name() const override { return "throwing"; }
  Result<std::vector<Face>> detect(const cv::Mat&) override { throw std::runtime_error("boom"); }
};

TEST(FailClosed, FailedDetectionBlacksOutWholeFrame) {
  AnonymizerOptions opts;
  auto anon = Anonymizer::create_with_detector(
      opts, std::make_unique<ScriptedDetector>(std::vector<bool>{false, true}));
  cv::Mat frame(200, 200, CV_8UC3, cv::Scalar(200, 150, 100));
  FrameResult ok = anon->process(frame);
  EXPECT_TRUE(ok.emitted);
  EXPECT_EQ(ok.faces_detected, 1);
  EXPECT_GT(cv::countNonZero(frame.reshape(1)), 0);

  cv::Mat second(200, 200, CV_8UC3, cv::Scalar(200, 150, 100));
  FrameResult failed = anon->process(second);
  EXPECT_FALSE(failed.emitted);
  EXPECT_NE(failed.error.find("inference failed"), std::string::npos);
  EXPECT_EQ(cv::countNonZero(second.reshape(1)), 0)
      << "a frame whose detection failed must carry no pixels";
}

TEST(FailClosed, ExceptionInDetectorIsContainedAndFailsClosed) {
  auto anon = Anonymizer::create_with_detector({}, std::make_unique<ThrowingDetector>());
  cv::Mat frame(64, 64, CV_8UC3, cv::Scalar::all(255));
  FrameResult r = anon->process(frame);
  EXPECT_FALSE(r.emitted);
  EXPECT_EQ(cv::countNonZero(frame.reshape(1)), 0);
}

TEST(FailClosed, EmptyFrameIsNotEmitted) {
  auto anon =
      Anonymizer::create_with_detector({}, std::make_unique<ScriptedDetector>(std::vector<bool>{}));
  cv::Mat empty;
  EXPECT_FALSE(anon->process(empty).emitted);
}

TEST(FailClosed, MaskHeldAcrossDetectorMisses) {
  // Frames 0-1 detect the face, frame 2 detection "succeeds" with no face: mask must persist.
  class Flicker : public FaceDetector {
   public:
    std::string name() const override { return "flicker"; }
    Result<std::vector<Face>> detect(const cv::Mat&) override {
      if (n_++ < 2) return std::vector<Face>{Face{cv::Rect2f(50, 50, 40, 40), 0.9f, {}}};
      return std::vector<Face>{};
    }
    int n_ = 0;
  };
  AnonymizerOptions opts;
  opts.method = AnonymizeMethod::kBlackBox;
  auto anon = Anonymizer::create_with_detector(opts, std::make_unique<Flicker>());
  for (int i = 0; i < 3; ++i) {
    cv::Mat frame(200, 200, CV_8UC3, cv::Scalar::all(255));
    FrameResult r = anon->process(frame);
    ASSERT_TRUE(r.emitted);
    EXPECT_EQ(r.masks_applied, 1) << "frame " << i;
    EXPECT_EQ(cv::countNonZero(frame(cv::Rect(55, 55, 30, 30)).reshape(1)), 0) << "frame " << i;
  }
}

}  // namespace
}  // namespace ev
