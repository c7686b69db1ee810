// Weak births (TrackerParams weak_*): a person scoring below new_track_thresh for several
// frames gets a track; one or two weak frames, other classes, or a weak box explained by a
// tracked person do not start one, and a weak track never takes a confident track's box.
#include <gtest/gtest.h>

#include "edgevision/track.hpp"
#include "support/detections.hpp"

namespace ev {
namespace {

using test::det;

TrackerParams weak_params() {
  TrackerParams p;
  p.weak_birth_thresh = 0.35f;
  p.weak_min_hits = 5;
  p.confirm_on_first_frame = false;
  return p;
}

TEST(TrackerWeak, OffByDefaultAndValidated) {
  Tracker t;
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(t.update({det(100, 100, 60, 120, 0.45f)}).empty());
  TrackerParams p = weak_params();
  p.weak_min_hits = 0;
  EXPECT_FALSE(p.validate().ok());
  p = weak_params();
  p.weak_birth_thresh = 1.5f;
  EXPECT_FALSE(p.validate().ok());
}

TEST(TrackerWeak, ASeatedPersonScoringBelowTheBirthThresholdGetsATrack) {
  Tracker t(weak_params());
  std::vector<Track> out;
  for (int i = 0; i < 4; ++i) {
    out = t.update({det(100.f + i, 100, 60, 120, 0.45f)});
    EXPECT_TRUE(out.empty()) << "frame " << i;  // tentative for weak_min_hits frames
  }
  out = t.update({det(104, 100, 60, 120, 0.4f)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].weak_birth);
  // A confident box later makes it an ordinary track, same id.
  const int64_t id = out[0].id;
  out = t.update({det(105, 100, 60, 120, 0.8f)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, id);
  EXPECT_FALSE(out[0].weak_birth);
}

TEST(TrackerWeak, ShortWeakRunsOtherClassesAndExplainedBoxesStartNothing) {
  {
    // 4 weak frames, one missing, 4 more: never 5 in a row.
    Tracker t(weak_params());
    for (int i = 0; i < 9; ++i) {
      std::vector<Detection> d;
      if (i != 4) d.push_back(det(100, 100, 60, 120, 0.45f));
      EXPECT_TRUE(t.update(d).empty());
    }
    // Below weak_birth_thresh.
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(t.update({det(100, 100, 60, 120, 0.3f)}).empty());
  }
  {
    Tracker t(weak_params());
    for (int i = 0; i < 10; ++i) EXPECT_TRUE(t.update({det(100, 100, 90, 60, 0.45f, 2)}).empty());
  }
  {
    // A tracked person and a weak partial box of them (their upper body): one track only.
    Tracker t(weak_params());
    std::vector<Track> out;
    for (int i = 0; i < 10; ++i)
      out = t.update({det(100, 100, 60, 120, 0.9f), det(105, 100, 50, 60, 0.45f)});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(t.live_tracks().size(), 1u);
  }
}

TEST(TrackerWeak, AWeakTrackDoesNotTakeAConfidentTracksBox) {
  Tracker t(weak_params());
  // Person A tracked confidently; a weak track B confirmed just beside A's path.
  std::vector<Track> out;
  for (int i = 0; i < 6; ++i)
    out = t.update({det(100, 100, 60, 120, 0.9f), det(150, 100, 60, 120, 0.45f)});
  ASSERT_EQ(out.size(), 2u);
  const int64_t a = out[0].weak_birth ? out[1].id : out[0].id;
  // A moves towards B (IoU 0.33 with A, 0.5 with B); B's weak box is gone this frame.
  out = t.update({det(130, 100, 60, 120, 0.9f)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, a);
}

}  // namespace
}  // namespace ev
