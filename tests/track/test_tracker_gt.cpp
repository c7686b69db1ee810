// The tracker on detections made from real MOT ground truth (PETS09-S2L1, frames 1-69) with
// noise, drops, low scores and clutter, and a long random run for bounded memory.
#include <filesystem>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "edgevision/track.hpp"
#include "support/test_support.hpp"
#include "track/gt_noise.hpp"

namespace ev {
namespace {

std::vector<MotRecord> pets_gt() {
  const auto path = test::data("video/pets09_s2l1/gt_mot15_frames0001-0069.txt");
  if (!std::filesystem::exists(path)) return {};
  auto r = read_mot_file(path);
  return r.ok() ? std::move(r).value() : std::vector<MotRecord>{};
}

// Number of gt ids that were followed by more than one track id plus track ids that
// followed more than one gt id, and the fraction of gt boxes covered by a track.
struct IdentityCheck {
  int impure = 0;
  double coverage = 0.0;
};

IdentityCheck run_noisy(const std::vector<MotRecord>& gt, uint32_t seed,
                        const test::NoiseModel& nm) {
  const auto dets = test::noisy_detections(gt, 69, seed, nm);
  Tracker tracker;
  std::map<int64_t, std::set<int64_t>> gt_to_tracks, track_to_gts;
  std::map<int64_t, int64_t> previous;  // gt id -> track id matched in the previous frame
  int64_t covered = 0;
  for (int f = 1; f <= 69; ++f) {
    const auto out = tracker.update(dets.at(f));
    std::vector<const MotRecord*> g;
    for (const auto& r : gt) {
      if (r.frame == f) g.push_back(&r);
    }
    // One-to-one matching that keeps last frame's pairs while they still overlap (the
    // CLEAR-MOT rule): two PETS pedestrians overlap at IoU ~0.7 around frame 30, so a fresh
    // per-frame matching could swap them even though the tracker did not.
    std::vector<double> cost(g.size() * out.size());
    for (size_t i = 0; i < g.size(); ++i) {
      for (size_t j = 0; j < out.size(); ++j) {
        const double iou = box_iou(g[i]->box, out[j].box);
        const auto it = previous.find(g[i]->id);
        const bool kept = it != previous.end() && it->second == out[j].id && iou >= 0.5;
        cost[i * out.size() + j] = kept ? -1.0 : 1.0 - iou;
      }
    }
    const auto a =
        solve_assignment(cost, static_cast<int>(g.size()), static_cast<int>(out.size()), 0.5);
    previous.clear();
    for (const auto& [i, j] : a.matches) {
      previous[g[i]->id] = out[j].id;
      ++covered;
      gt_to_tracks[g[i]->id].insert(out[j].id);
      track_to_gts[out[j].id].insert(g[i]->id);
    }
  }
  IdentityCheck c;
  for (const auto& kv : gt_to_tracks) c.impure += kv.second.size() > 1;
  for (const auto& kv : track_to_gts) c.impure += kv.second.size() > 1;
  c.coverage = static_cast<double>(covered) / gt.size();
  return c;
}

TEST(TrackerGt, NoisyPetsDetectionsKeepIdentities) {
  const auto gt = pets_gt();
  ASSERT_FALSE(gt.empty()) << "pets09 gt not available";
  test::NoiseModel nm;  // 3% box noise, 5% missed, 10% low score, clutter
  nm.pos_sigma = nm.size_sigma = 0.03;
  nm.drop = 0.05;
  // The canonical seed: every person keeps exactly one id and every id one person.
  const auto c1 = run_noisy(gt, 1, nm);
  EXPECT_EQ(c1.impure, 0);
  EXPECT_GE(c1.coverage, 0.9);
  // Over 20 seeds nearly all runs are identity-clean; the exceptions are the frames where
  // two pedestrians overlap at IoU ~0.7 and one of them is missed (see docs/tracking.md).
  int clean = 0;
  double coverage = 0.0;
  for (uint32_t seed = 1; seed <= 20; ++seed) {
    const auto c = run_noisy(gt, seed, nm);
    clean += c.impure == 0;
    coverage += c.coverage / 20;
  }
  EXPECT_GE(clean, 17);
  EXPECT_GE(coverage, 0.9);
  // Without misses (noise, low scores and clutter only) it is clean on the first seeds.
  nm.drop = 0.0;
  for (uint32_t seed = 1; seed <= 3; ++seed) EXPECT_EQ(run_noisy(gt, seed, nm).impure, 0) << seed;
}

TEST(TrackerGt, TenThousandRandomFramesStayBounded) {
  TrackerParams p;
  p.max_tracks = 64;
  Tracker tracker(p);
  test::Rng rng(99);
  const size_t capacity0 = tracker.stats().storage_capacity;
  EXPECT_EQ(capacity0, 64u);
  size_t peak_live = 0;
  for (int f = 0; f < 10000; ++f) {
    std::vector<Detection> dets;
    // Bursts of many objects so the cap is really exercised.
    const int n = (f / 500) % 2 == 0 ? static_cast<int>(rng.uniform() * 20)
                                     : 150 + static_cast<int>(rng.uniform() * 100);
    for (int i = 0; i < n; ++i) {
      Detection d;
      d.box = cv::Rect2f(
          static_cast<float>(rng.uniform(0, 1800)), static_cast<float>(rng.uniform(0, 1000)),
          static_cast<float>(rng.uniform(10, 80)), static_cast<float>(rng.uniform(20, 160)));
      d.score = static_cast<float>(rng.uniform());
      d.class_id = static_cast<int>(rng.uniform() * 3);
      dets.push_back(d);
    }
    const auto out = tracker.update(dets);
    const auto s = tracker.stats();
    const size_t live = s.tentative + s.tracked + s.lost;
    ASSERT_LE(live, 64u) << "frame " << f;
    ASSERT_LE(out.size(), live);
    ASSERT_EQ(s.storage_capacity, capacity0) << "frame " << f;  // no container grows
    peak_live = std::max(peak_live, live);
  }
  EXPECT_EQ(peak_live, 64u);  // the cap was reached
  EXPECT_GT(tracker.stats().births_dropped, 0);
}

}  // namespace
}  // namespace ev
