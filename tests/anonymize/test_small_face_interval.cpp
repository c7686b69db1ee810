// PrivacyParams::small_face_interval: the frame pass makes its small-face runs on every n-th
// frame and on the first after a reset (a still photo always gets them); the other passes of a
// frame keep them.
#include <vector>

#include <gtest/gtest.h>

#include "edgevision/anonymize.hpp"

namespace ev {
namespace {

// Records, per detect() call, whether small-face runs were asked for.
class RecordingDetector final : public FaceDetector {
 public:
  explicit RecordingDetector(std::vector<bool>* calls) : calls_(calls) {}
  std::string name() const override { return "recording"; }
  Result<std::vector<Face>> detect(const cv::Mat&) override {
    calls_->push_back(runs_);
    return std::vector<Face>{Face{cv::Rect2f(50, 50, 40, 40), 0.9f, {}}};
  }
  void set_small_face_runs(bool on) override { runs_ = on; }

 private:
  std::vector<bool>* calls_;
  bool runs_ = true;
};

std::vector<bool> run_frames(int interval, int frames, bool reset_before_last) {
  std::vector<bool> calls;
  AnonymizerOptions o;
  o.small_face_interval = interval;
  auto anon = Anonymizer::create_with_detector(o, std::make_unique<RecordingDetector>(&calls));
  for (int i = 0; i < frames; ++i) {
    if (reset_before_last && i == frames - 1) anon->reset_tracking();
    cv::Mat frame(120, 160, CV_8UC3, cv::Scalar::all(90));
    EXPECT_TRUE(anon->process(frame).emitted);
  }
  return calls;
}

TEST(SmallFaceInterval, EveryFrameByDefault) {
  const std::vector<bool> calls = run_frames(0, 6, false);
  ASSERT_EQ(calls.size(), 6u);
  for (bool on : calls) EXPECT_TRUE(on);
  EXPECT_EQ(privacy_params(PrivacyLevel::kMedium).small_face_interval, 1);
}

TEST(SmallFaceInterval, EveryNthFrameAndTheFirst) {
  const std::vector<bool> calls = run_frames(3, 12, false);
  ASSERT_EQ(calls.size(), 12u);
  EXPECT_TRUE(calls[0]);
  // After the first frame: on exactly once in every three consecutive frames.
  for (size_t i = 1; i + 3 <= calls.size(); ++i)
    EXPECT_EQ(calls[i] + calls[i + 1] + calls[i + 2], 1) << "frames " << i << "-" << i + 2;
}

TEST(SmallFaceInterval, FirstFrameAfterAResetGetsThem) {
  for (int frames = 2; frames <= 4; ++frames) {
    const std::vector<bool> calls = run_frames(5, frames, true);
    ASSERT_EQ(calls.size(), static_cast<size_t>(frames));
    EXPECT_TRUE(calls.back()) << frames << " frames";
  }
}

}  // namespace
}  // namespace ev
