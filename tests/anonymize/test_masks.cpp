#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "edgevision/anonymize.hpp"

namespace ev {
namespace {

// A textured test frame: random noise has maximal detail, so any real mask must change it.
cv::Mat noise_frame() {
  cv::Mat m(240, 320, CV_8UC3);
  cv::RNG rng(7);
  rng.fill(m, cv::RNG::UNIFORM, 0, 256);
  return m;
}

double high_freq_energy(const cv::Mat& bgr) {
  cv::Mat gray, lap;
  cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  cv::Laplacian(gray, lap, CV_32F);
  cv::Scalar mean, stddev;
  cv::meanStdDev(lap, mean, stddev);
  return stddev[0];
}

class MaskMethod : public ::testing::TestWithParam<AnonymizeMethod> {};

TEST_P(MaskMethod, CoversPaddedBoxAndLeavesFarPixels) {
  cv::Mat frame = noise_frame();
  const cv::Mat original = frame.clone();
  PrivacyParams params{0.2f, 10, 1.f};
  auto applied = apply_masks(frame, {cv::Rect2f(100, 80, 50, 60)}, GetParam(), params);
  ASSERT_EQ(applied.size(), 1u);
  // Padding 0.2 on each side: 10 px horizontally, 12 px vertically.
  EXPECT_EQ(applied[0], cv::Rect(90, 68, 70, 84));
  const cv::Mat before = original(applied[0]), after = frame(applied[0]);
  // Detail in the masked area is destroyed (noise energy drops by far).
  EXPECT_LT(high_freq_energy(after), 0.35 * high_freq_energy(before)) << to_string(GetParam());
  // A region far away is untouched.
  const cv::Rect far(0, 0, 40, 40);
  EXPECT_EQ(cv::norm(original(far), frame(far), cv::NORM_INF), 0.0);
}

INSTANTIATE_TEST_SUITE_P(All, MaskMethod,
                         ::testing::Values(AnonymizeMethod::kBlur, AnonymizeMethod::kPixelate,
                                           AnonymizeMethod::kBlackBox, AnonymizeMethod::kEmoji));

TEST(Masks, BlackBoxIsZeroAndClippedAtFrameEdge) {
  cv::Mat frame = noise_frame();
  auto applied =
      apply_masks(frame, {cv::Rect2f(-20, -10, 60, 50)}, AnonymizeMethod::kBlackBox, {0.f, 0, 1.f});
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0], cv::Rect(0, 0, 40, 40));
  EXPECT_EQ(cv::countNonZero(frame(applied[0]).reshape(1)), 0);
}

TEST(Masks, BoxOutsideFrameIsIgnored) {
  cv::Mat frame = noise_frame();
  auto applied = apply_masks(frame, {cv::Rect2f(1000, 1000, 10, 10)}, AnonymizeMethod::kBlur, {});
  EXPECT_TRUE(applied.empty());
}

TEST(Masks, ParsersRejectUnknownNames) {
  EXPECT_TRUE(parse_anonymize_method("pixelate").ok());
  EXPECT_FALSE(parse_anonymize_method("sparkles").ok());
  EXPECT_NE(parse_anonymize_method("sparkles").error().find("blur"), std::string::npos);
  EXPECT_TRUE(parse_privacy_level("high").ok());
  EXPECT_FALSE(parse_privacy_level("extreme").ok());
  EXPECT_GT(privacy_params(PrivacyLevel::kHigh).padding,
            privacy_params(PrivacyLevel::kLow).padding);
  EXPECT_GT(privacy_params(PrivacyLevel::kMaximum).hold_frames,
            privacy_params(PrivacyLevel::kMedium).hold_frames);
}

}  // namespace
}  // namespace ev
