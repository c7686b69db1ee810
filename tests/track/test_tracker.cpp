#include <set>

#include <gtest/gtest.h>

#include "edgevision/track.hpp"
#include "support/detections.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

using test::det;

TEST(Tracker, ParamsValidate) {
  EXPECT_TRUE(TrackerParams{}.validate().ok());
  TrackerParams p;
  p.low_thresh = 0.7f;
  EXPECT_FALSE(p.validate().ok());
  p = {};
  p.min_hits = 0;
  EXPECT_FALSE(Tracker::create(p).ok());
  p = {};
  p.match_thresh = 0.f;
  EXPECT_FALSE(p.validate().ok());
  EXPECT_TRUE(Tracker::create(TrackerParams{}).ok());
}

TEST(Tracker, SingleMovingObjectKeepsOneId) {
  Tracker t;
  for (int f = 0; f < 60; ++f) {
    const auto out = t.update({det(10.f + 4.f * f, 50.f + 1.f * f, 30, 80, 0.9f)});
    ASSERT_EQ(out.size(), 1u) << "frame " << f;
    EXPECT_EQ(out[0].id, 1);
    EXPECT_EQ(out[0].state, TrackState::kTracked);
    EXPECT_EQ(out[0].age, f + 1);
    EXPECT_EQ(out[0].hits, f + 1);
    EXPECT_EQ(out[0].label, "person");
    EXPECT_GT(box_iou(out[0].box, cv::Rect2f(10.f + 4.f * f, 50.f + 1.f * f, 30, 80)), 0.8f);
  }
}

TEST(Tracker, BirthHysteresis) {
  Tracker t;
  t.update({});  // frame 1 has no detections, so nothing is confirmed on the first frame
  // Scores between track_thresh and new_track_thresh, or low scores, never start a track.
  for (int f = 0; f < 5; ++f) {
    EXPECT_TRUE(t.update({det(100, 100, 30, 80, 0.55f), det(300, 100, 30, 80, 0.3f)}).empty());
  }
  EXPECT_EQ(t.stats().next_id, 1);
  // A good detection starts a tentative track, confirmed on its second hit (min_hits = 2).
  EXPECT_TRUE(t.update({det(500, 100, 30, 80, 0.9f)}).empty());
  EXPECT_EQ(t.stats().tentative, 1u);
  const auto out = t.update({det(502, 100, 30, 80, 0.9f)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 1);
  EXPECT_EQ(out[0].hits, 2);
  // A one-frame blip dies without consuming an id.
  t.update({det(502, 100, 30, 80, 0.9f), det(50, 400, 30, 80, 0.9f)});
  t.update({det(503, 100, 30, 80, 0.9f)});
  t.update({det(504, 100, 30, 80, 0.9f), det(50, 300, 30, 80, 0.9f)});
  const auto out2 = t.update({det(505, 100, 30, 80, 0.9f), det(51, 300, 30, 80, 0.9f)});
  ASSERT_EQ(out2.size(), 2u);
  EXPECT_EQ(out2[1].id, 2);
}

TEST(Tracker, LowScoreDetectionsKeepTrackAlive) {
  Tracker t;
  for (int f = 0; f < 40; ++f) {
    const float score = (f >= 10 && f < 20) ? 0.3f : 0.9f;  // occluded: weak detections
    const auto out = t.update({det(100.f + 3.f * f, 100, 30, 80, score)});
    ASSERT_EQ(out.size(), 1u) << "frame " << f;
    EXPECT_EQ(out[0].id, 1);
  }
}

TEST(Tracker, RecentlyLostTrackTakesLowScoreBoxesOnlyWithLowReviveFrames) {
  // Confident for 10 frames, missed for 2, then only low-score boxes (a person lying down).
  auto run = [](int revive) {
    TrackerParams p;
    p.low_revive_frames = revive;
    Tracker t(p);
    std::vector<int64_t> ids;
    for (int f = 0; f < 20; ++f) {
      std::vector<Detection> d;
      if (f < 10) d.push_back(det(100, 100, 30, 80, 0.9f));
      if (f >= 12) d.push_back(det(100, 120, 32, 60, 0.2f));
      const auto out = t.update(d);
      if (f >= 12) ids.push_back(out.empty() ? -1 : out[0].id);
    }
    return ids;
  };
  for (int64_t id : run(0)) EXPECT_EQ(id, -1);  // ByteTrack: a lost track ignores low boxes
  for (int64_t id : run(2)) EXPECT_EQ(id, 1);   // revived by the low box 2 frames later
  for (int64_t id : run(1)) EXPECT_EQ(id, -1);  // lost 2 frames > 1
  TrackerParams bad;
  bad.low_revive_frames = -1;
  EXPECT_FALSE(bad.validate().ok());
}

TEST(Tracker, ReidentifiesAfterGapWithinMaxLost) {
  TrackerParams p;
  p.max_lost = 30;
  Tracker t(p);
  for (int f = 0; f < 60; ++f) {
    const bool hidden = f >= 20 && f < 35;  // 15 frames fully occluded
    std::vector<Detection> d;
    if (!hidden) d.push_back(det(100.f + 5.f * f, 200, 30, 80, 0.9f));
    const auto out = t.update(d);
    if (hidden) {
      EXPECT_TRUE(out.empty());
      EXPECT_EQ(t.stats().lost, 1u);
    } else {
      ASSERT_EQ(out.size(), 1u) << "frame " << f;
      EXPECT_EQ(out[0].id, 1) << "frame " << f;
    }
  }
}

TEST(Tracker, LostTrackDiesAfterMaxLost) {
  TrackerParams p;
  p.max_lost = 5;
  Tracker t(p);
  for (int f = 0; f < 5; ++f) t.update({det(100, 100, 30, 80, 0.9f)});
  for (int f = 0; f < 5; ++f) t.update({});
  EXPECT_EQ(t.stats().lost, 1u);
  t.update({});
  EXPECT_EQ(t.stats().lost, 0u);
  EXPECT_TRUE(t.live_tracks().empty());
  t.update({det(100, 100, 30, 80, 0.9f)});
  const auto out = t.update({det(100, 100, 30, 80, 0.9f)});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 2);
}

TEST(Tracker, PerClassAssociation) {
  Tracker t;
  // A person and a car on the same spot are two tracks.
  for (int f = 0; f < 5; ++f) {
    const auto out = t.update({det(100, 100, 40, 80, 0.9f, 0), det(102, 100, 40, 80, 0.8f, 2)});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_NE(out[0].class_id, out[1].class_id);
  }
  // A car detection cannot continue the person track.
  TrackerParams p;
  p.per_class = false;
  Tracker mixed(p);
  for (int f = 0; f < 3; ++f) mixed.update({det(100, 100, 40, 80, 0.9f, 0)});
  const auto out = mixed.update({det(101, 100, 40, 80, 0.9f, 2)});
  ASSERT_EQ(out.size(), 1u);  // with per_class off the person track takes it
  EXPECT_EQ(out[0].id, 1);
  Tracker strict;
  for (int f = 0; f < 3; ++f) strict.update({det(100, 100, 40, 80, 0.9f, 0)});
  EXPECT_TRUE(strict.update({det(101, 100, 40, 80, 0.9f, 2)}).empty());
}

TEST(Tracker, CrossingObjectsKeepIds) {
  Tracker t;
  std::set<int64_t> ids_a, ids_b;
  for (int f = 0; f < 80; ++f) {
    // A walks right, B walks left, slightly lower; they overlap for several frames.
    const cv::Rect2f a(50.f + 6.f * f, 200, 30, 80), b(530.f - 6.f * f, 215, 30, 80);
    const auto out =
        t.update({det(a.x, a.y, a.width, a.height, 0.9f), det(b.x, b.y, b.width, b.height, 0.85f)});
    for (const auto& tr : out) {
      if (box_iou(tr.box, a) > 0.5f && box_iou(tr.box, a) > box_iou(tr.box, b)) ids_a.insert(tr.id);
      if (box_iou(tr.box, b) > 0.5f && box_iou(tr.box, b) > box_iou(tr.box, a)) ids_b.insert(tr.id);
    }
  }
  EXPECT_EQ(ids_a, std::set<int64_t>{1});
  EXPECT_EQ(ids_b, std::set<int64_t>{2});
}

TEST(Tracker, MaxTracksCap) {
  TrackerParams p;
  p.max_tracks = 5;
  Tracker t(p);
  std::vector<Detection> d;
  for (int i = 0; i < 20; ++i) d.push_back(det(40.f * i, 100, 30, 80, 0.9f));
  for (int f = 0; f < 10; ++f) {
    const auto out = t.update(d);
    EXPECT_LE(out.size(), 5u);
    EXPECT_LE(t.live_tracks().size(), 5u);
  }
  EXPECT_GT(t.stats().births_dropped, 0);
}

TEST(Tracker, InvalidDetectionsIgnoredAndResetRestartsIds) {
  Tracker t;
  EXPECT_TRUE(t.update({det(0, 0, 0, 10, 0.9f), det(0, 0, -5, 10, 0.9f),
                        det(std::nanf(""), 0, 10, 10, 0.9f)})
                  .empty());
  t.update({det(10, 10, 10, 10, 0.9f)});
  t.update({det(10, 10, 10, 10, 0.9f)});
  EXPECT_EQ(t.stats().next_id, 2);
  t.reset();
  EXPECT_EQ(t.stats().next_id, 1);
  EXPECT_EQ(t.stats().frame, 0);
}

TEST(MotIo, RoundTripAndErrors) {
  std::vector<MotRecord> recs = {{1, 3, {10.5f, 20.25f, 30, 40}, 0.9f},
                                 {2, 3, {11, 21, 30, 40}, 1.f}};
  EXPECT_EQ(format_mot_line(recs[0]), "1,3,10.50,20.25,30.00,40.00,0.9000,-1,-1,-1");
  const auto path = test::temp_dir("mot_io") / "t.txt";
  ASSERT_TRUE(write_mot_file(path, recs).ok());
  const auto back = read_mot_file(path);
  ASSERT_TRUE(back.ok()) << back.error();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[1].frame, 2);
  EXPECT_EQ((*back)[1].id, 3);
  EXPECT_FLOAT_EQ((*back)[0].box.y, 20.25f);
  EXPECT_FLOAT_EQ((*back)[0].conf, 0.9f);
  // MOT15 gt style, whitespace style, comments and blank lines.
  auto p = parse_mot_text("# c\n\n1,9,499,158,31.03,75.17,1,-4.1,-7.3,0\r\n2 9 1 2 3 4\n", "x");
  ASSERT_TRUE(p.ok()) << p.error();
  ASSERT_EQ(p->size(), 2u);
  EXPECT_FLOAT_EQ((*p)[1].conf, 1.f);
  auto bad = parse_mot_text("1,2,3\n", "gt.txt");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().find("gt.txt:1"), std::string::npos);
  EXPECT_FALSE(parse_mot_text("1,2,3,4,5,abc\n", "x").ok());
  EXPECT_FALSE(read_mot_file("/nonexistent/x.txt").ok());
}

}  // namespace
}  // namespace ev
