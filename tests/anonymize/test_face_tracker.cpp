#include <gtest/gtest.h>

#include "edgevision/anonymize.hpp"

namespace ev {
namespace {

Face face_at(float x, float y, float s = 40) {
  return Face{cv::Rect2f(x, y, s, s), 0.9f, {}};
}

TEST(FaceTracker, HoldsMaskForHoldFramesThenDrops) {
  FaceTracker tracker(3);
  EXPECT_EQ(tracker.update({face_at(100, 100)}).size(), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(tracker.update({}).size(), 1u) << "missed frame " << i;
  EXPECT_TRUE(tracker.update({}).empty());
}

TEST(FaceTracker, MaskFollowsMovingFaceWhileMissed) {
  FaceTracker tracker(5);
  for (int i = 0; i < 5; ++i) tracker.update({face_at(100 + 10.f * i, 100)});
  // Face now at x=140 moving +10 px/frame; it is missed for two frames.
  auto boxes = tracker.update({});
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_GT(boxes[0].x, 140.f);
  boxes = tracker.update({});
  const float centre = boxes[0].x + boxes[0].width / 2;
  EXPECT_NEAR(centre, 160.f + 20.f, 8.f);  // true face centre after 2 more frames: 180
  // The held mask still contains the true face box.
  const cv::Rect2f truth(160, 100, 40, 40);
  EXPECT_GT((boxes[0] & truth).area(), 0.7f * truth.area());
}

TEST(FaceTracker, KeepsIdentityAndSeparatesFaces) {
  FaceTracker tracker(5);
  tracker.update({face_at(10, 10), face_at(200, 10)});
  tracker.update({face_at(14, 10), face_at(204, 10)});
  ASSERT_EQ(tracker.tracks().size(), 2u);
  EXPECT_EQ(tracker.tracks()[0].hits, 2);
  EXPECT_EQ(tracker.tracks()[1].hits, 2);
}

TEST(FaceTracker, TrackCountIsBoundedButEveryDetectionIsMasked) {
  FaceTracker tracker(1000, 16);
  for (int frame = 0; frame < 200; ++frame) {
    std::vector<Face> faces;
    for (int k = 0; k < 8; ++k)
      faces.push_back(face_at(static_cast<float>((frame * 97 + k * 331) % 2000), 5.f * k, 10));
    auto boxes = tracker.update(faces);
    EXPECT_LE(tracker.tracks().size(), 16u);
    // Every detection of this frame is among the masked boxes.
    for (const auto& f : faces) {
      bool found = false;
      for (const auto& b : boxes) found = found || (b & f.box).area() >= f.box.area() * 0.99f;
      EXPECT_TRUE(found);
    }
  }
}

}  // namespace
}  // namespace ev
