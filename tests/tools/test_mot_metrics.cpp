// MOT metrics on toy sequences whose values are computed by hand in the comments.
#include <gtest/gtest.h>

#include "edgevision/mot_metrics.hpp"

namespace ev {
namespace {

// A 10x10 box moving 20 px per frame, so different frames never overlap.
cv::Rect2f box_at(int frame, float y = 0.f) {
  return {20.f * frame, y, 10.f, 10.f};
}

std::vector<MotRecord> track(int64_t id, int first, int last, float y = 0.f) {
  std::vector<MotRecord> r;
  for (int f = first; f <= last; ++f) r.push_back({f, id, box_at(f, y), 1.f});
  return r;
}

std::vector<MotRecord> concat(std::vector<MotRecord> a, const std::vector<MotRecord>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

MotMetrics eval(const std::vector<MotRecord>& gt, const std::vector<MotRecord>& pred) {
  auto r = evaluate_mot(gt, pred);
  EXPECT_TRUE(r.ok()) << r.error();
  return r.ok() ? *r : MotMetrics{};
}

TEST(MotMetrics, PerfectTracks) {
  const auto gt = concat(track(1, 1, 10), track(2, 1, 10, 100));
  const auto pred = concat(track(7, 1, 10), track(8, 1, 10, 100));
  const auto m = eval(gt, pred);
  EXPECT_EQ(m.gt, 20);
  EXPECT_EQ(m.matches, 20);
  EXPECT_EQ(m.fp, 0);
  EXPECT_EQ(m.fn, 0);
  EXPECT_EQ(m.id_switches, 0);
  EXPECT_DOUBLE_EQ(m.mota, 1.0);
  EXPECT_DOUBLE_EQ(m.motp, 1.0);
  EXPECT_DOUBLE_EQ(m.idf1, 1.0);
  EXPECT_DOUBLE_EQ(m.recall, 1.0);
  EXPECT_DOUBLE_EQ(m.precision, 1.0);
  EXPECT_EQ(m.mostly_tracked, 2);
  EXPECT_EQ(m.frames, 10);
}

TEST(MotMetrics, OneIdSwitch) {
  // gt 1 on frames 1-10; prediction id 5 on frames 1-5, id 6 on frames 6-10.
  // CLEAR: 10 matches, 1 switch (frame 6) -> MOTA = 1 - 1/10 = 0.9.
  // IDF1: best bijection pairs gt 1 with either id (5 frames): IDTP 5, IDFN 5, IDFP 5
  //       -> IDF1 = 10 / (10 + 5 + 5) = 0.5.
  const auto m = eval(track(1, 1, 10), concat(track(5, 1, 5), track(6, 6, 10)));
  EXPECT_EQ(m.id_switches, 1);
  EXPECT_EQ(m.fragmentations, 0);
  EXPECT_DOUBLE_EQ(m.mota, 0.9);
  EXPECT_EQ(m.idtp, 5);
  EXPECT_EQ(m.idfp, 5);
  EXPECT_EQ(m.idfn, 5);
  EXPECT_DOUBLE_EQ(m.idf1, 0.5);
}

TEST(MotMetrics, SwapOfTwoTracks) {
  // gts 1 (y=0) and 2 (y=100); predictions A/B follow them, then swap at frame 6: two
  // switches -> MOTA = 1 - 2/20 = 0.9; IDTP = 5 + 5 -> IDF1 = 20 / (20 + 10 + 10) = 0.5.
  const auto gt = concat(track(1, 1, 10), track(2, 1, 10, 100));
  auto pred = concat(track(10, 1, 5), track(20, 1, 5, 100));
  pred = concat(pred, concat(track(20, 6, 10), track(10, 6, 10, 100)));
  const auto m = eval(gt, pred);
  EXPECT_EQ(m.id_switches, 2);
  EXPECT_DOUBLE_EQ(m.mota, 0.9);
  EXPECT_DOUBLE_EQ(m.idf1, 0.5);
}

TEST(MotMetrics, FalsePositivesOnly) {
  // Perfect track plus a phantom id on frames 1-5 far away: FP 5, MOTA = 1 - 5/5 = 0.
  // IDF1: IDTP 5, IDFP 5 (the phantom), IDFN 0 -> 10 / 15.
  const auto m = eval(track(1, 1, 5), concat(track(3, 1, 5), track(4, 1, 5, 300)));
  EXPECT_EQ(m.fp, 5);
  EXPECT_EQ(m.fn, 0);
  EXPECT_DOUBLE_EQ(m.mota, 0.0);
  EXPECT_DOUBLE_EQ(m.precision, 0.5);
  EXPECT_NEAR(m.idf1, 10.0 / 15.0, 1e-12);
  // More false positives than gt boxes drive MOTA negative: phantom on frames 1-8 against
  // 4 gt boxes -> MOTA = 1 - 8/4 = -1.
  const auto m2 = eval(track(1, 1, 4), concat(track(3, 1, 4), track(4, 1, 8, 300)));
  EXPECT_EQ(m2.fp, 8);
  EXPECT_DOUBLE_EQ(m2.mota, -1.0);
}

TEST(MotMetrics, FalseNegativesOnly) {
  const auto m = eval(track(1, 1, 8), {});
  EXPECT_EQ(m.fn, 8);
  EXPECT_EQ(m.fp, 0);
  EXPECT_DOUBLE_EQ(m.mota, 0.0);
  EXPECT_DOUBLE_EQ(m.idf1, 0.0);
  EXPECT_DOUBLE_EQ(m.recall, 0.0);
  EXPECT_EQ(m.mostly_lost, 1);
  // Half the frames missing: FN 4, MOTA 0.5, IDF1 = 2*4 / (2*4 + 0 + 4) = 2/3.
  const auto h = eval(track(1, 1, 8), track(2, 1, 4));
  EXPECT_EQ(h.fn, 4);
  EXPECT_DOUBLE_EQ(h.mota, 0.5);
  EXPECT_NEAR(h.idf1, 2.0 / 3.0, 1e-12);
}

TEST(MotMetrics, FragmentedTrackHandComputed) {
  // gt 1 on frames 1-10. Prediction A on 1-3, nothing on 4-5, B on 6-10.
  //   CLEAR: TP 8, FN 2, IDSW 1 (frame 6: last matched to A, now B), FP 0
  //          MOTA = 1 - (2 + 0 + 1) / 10 = 0.7; one fragmentation (coverage resumes at 6).
  //   IDF1:  pairs (1,A) = 3 frames, (1,B) = 5 frames; the bijection takes B:
  //          IDTP 5, IDFN 10 - 5 = 5, IDFP 8 - 5 = 3 -> IDF1 = 10 / (10 + 3 + 5) = 5/9.
  //          IDP = 5/8, IDR = 5/10.
  const auto m = eval(track(1, 1, 10), concat(track(100, 1, 3), track(200, 6, 10)));
  EXPECT_EQ(m.matches, 8);
  EXPECT_EQ(m.fn, 2);
  EXPECT_EQ(m.fp, 0);
  EXPECT_EQ(m.id_switches, 1);
  EXPECT_EQ(m.fragmentations, 1);
  EXPECT_DOUBLE_EQ(m.mota, 0.7);
  EXPECT_EQ(m.idtp, 5);
  EXPECT_EQ(m.idfp, 3);
  EXPECT_EQ(m.idfn, 5);
  EXPECT_NEAR(m.idf1, 5.0 / 9.0, 1e-12);
  EXPECT_DOUBLE_EQ(m.idp, 5.0 / 8.0);
  EXPECT_DOUBLE_EQ(m.idr, 0.5);
}

TEST(MotMetrics, KeepsPreviousMatchWhileValid) {
  // Frame 1: gt 1 matched to A. Frame 2: A still overlaps gt 1 at IoU 0.6 while B overlaps
  // it perfectly. CLEAR keeps A (no switch) and B is a false positive.
  const cv::Rect2f g(0, 0, 10, 10);
  const cv::Rect2f a2(0, 0, 10, 6);  // IoU 0.6
  const std::vector<MotRecord> gt = {{1, 1, g, 1}, {2, 1, g, 1}};
  const std::vector<MotRecord> pred = {{1, 5, g, 1}, {2, 5, a2, 1}, {2, 6, g, 1}};
  const auto m = eval(gt, pred);
  EXPECT_EQ(m.id_switches, 0);
  EXPECT_EQ(m.fp, 1);
  EXPECT_NEAR(m.motp, (1.0 + 0.6) / 2, 1e-6);
  // Below the IoU threshold nothing matches: FP + FN.
  const auto low = eval({{1, 1, g, 1}}, {{1, 5, {0, 0, 10, 4}, 1}});  // IoU 0.4
  EXPECT_EQ(low.fp, 1);
  EXPECT_EQ(low.fn, 1);
  EXPECT_DOUBLE_EQ(low.mota, -1.0);
}

TEST(MotMetrics, MotpIsMeanIou) {
  // Shift by 1 px: intersection 9x10 = 90, union 110 -> IoU 9/11.
  const auto m = eval({{1, 1, {0, 0, 10, 10}, 1}}, {{1, 2, {1, 0, 10, 10}, 1}});
  EXPECT_NEAR(m.motp, 9.0 / 11.0, 1e-6);
}

TEST(MotMetrics, FrameRangeAndIgnoredGt) {
  MotEvalOptions o;
  o.first_frame = 3;
  o.last_frame = 5;
  auto r = evaluate_mot(track(1, 1, 10), track(2, 1, 10), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gt, 3);
  EXPECT_EQ(r->frames, 3);
  // conf 0 gt rows are "don't care" (MOT16+) and dropped.
  auto gt = track(1, 1, 4);
  gt[3].conf = 0.f;
  r = evaluate_mot(gt, track(2, 1, 3));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->gt, 3);
  EXPECT_DOUBLE_EQ(r->mota, 1.0);
}

TEST(MotMetrics, RejectsDuplicateIdsInAFrame) {
  auto pred = track(1, 1, 3);
  pred.push_back({2, 1, box_at(2, 50), 1});
  const auto r = evaluate_mot(track(1, 1, 3), pred);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("frame 2"), std::string::npos);
  MotEvalOptions o;
  o.iou_threshold = 0;
  EXPECT_FALSE(evaluate_mot({}, {}, o).ok());
}

TEST(MotMetrics, JsonHasTheHeadlineFields) {
  const auto j = mot_metrics_json(eval(track(1, 1, 3), track(2, 1, 3)));
  for (const char* k : {"\"mota\":1.0000", "\"idf1\":1.0000", "\"id_switches\":0", "\"fp\":0"})
    EXPECT_NE(j.find(k), std::string::npos) << k;
}

}  // namespace
}  // namespace ev
