#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "pipeline/frame_slots.hpp"

namespace ev {
namespace {

using Clock = FrameSlots::Clock;
using std::chrono::milliseconds;

struct SlotRun {
  int taken = 0;
  int dropped = 0;
  std::vector<int> taken_at;  // ms since start
};

// A camera sending every `frame_ms` for `total_ms`, offered to slots of `interval_ms`;
// `backlogged(t)` says whether the pipeline has room at t.
template <typename Backlog>
SlotRun feed(double interval_ms, int frame_ms, int total_ms, Backlog backlogged) {
  const Clock::time_point t0{};
  FrameSlots slots(interval_ms, t0);
  SlotRun run;
  for (int t = 0; t < total_ms; t += frame_ms) {
    const FrameSlots::Offer o = slots.offer(t0 + milliseconds(t), backlogged(t));
    run.dropped += o.dropped;
    if (o.take) {
      slots.taken(t0 + milliseconds(t));
      ++run.taken;
      run.taken_at.push_back(t);
    }
  }
  return run;
}

TEST(FrameSlots, CapsA30FpsCameraAt10WithoutBackPressure) {
  const SlotRun r = feed(100, 33, 3000, [](int) { return false; });
  EXPECT_EQ(r.dropped, 0);
  EXPECT_GE(r.taken, 29);
  EXPECT_LE(r.taken, 31);
  for (size_t i = 1; i < r.taken_at.size(); ++i) EXPECT_GE(r.taken_at[i] - r.taken_at[i - 1], 66);
}

// A stage busy for 50 ms when a frame comes due: the next camera frame fills the slot.
TEST(FrameSlots, AShortSpikeShiftsTheFrameInsteadOfDroppingIt) {
  const SlotRun r = feed(100, 33, 1000, [](int t) { return t >= 495 && t < 545; });
  EXPECT_EQ(r.dropped, 0);
  EXPECT_EQ(r.taken, 10);
  // The slot of 500 ms was filled by the frame at 561 ms; the next one is still due at 600.
  EXPECT_NE(std::find(r.taken_at.begin(), r.taken_at.end(), 561), r.taken_at.end());
  EXPECT_NE(std::find(r.taken_at.begin(), r.taken_at.end(), 627), r.taken_at.end());
}

TEST(FrameSlots, AWholeIntervalBackloggedIsOneDroppedFrame) {
  const SlotRun r = feed(100, 33, 1000, [](int t) { return t >= 495 && t < 640; });
  EXPECT_EQ(r.dropped, 1);
  EXPECT_EQ(r.taken + r.dropped, 10);
}

TEST(FrameSlots, ASustainedBacklogDropsOneFramePerInterval) {
  const SlotRun r = feed(100, 33, 2000, [](int t) { return t >= 1000; });
  EXPECT_EQ(r.taken, 10);
  EXPECT_GE(r.dropped, 9);
  EXPECT_LE(r.dropped, 10);
}

// A camera at the cap's rate has no later frame in the slot: a refused frame is a dropped one
// when the next frame comes (one interval later), and that next frame is offered its own slot.
TEST(FrameSlots, ACameraAtTheCapDropsTheRefusedFrame) {
  const SlotRun r = feed(100, 100, 1000, [](int t) { return t == 500; });
  EXPECT_EQ(r.dropped, 1);
  EXPECT_EQ(r.taken, 9);
  EXPECT_NE(std::find(r.taken_at.begin(), r.taken_at.end(), 600), r.taken_at.end());
}

// A refused slot, then two seconds in which the camera sends nothing: one slot is lost (the one
// a frame was refused for), not the twenty the camera did not send, and no catch-up burst follows.
TEST(FrameSlots, AStalledCameraLosesOnlyTheRefusedSlot) {
  const Clock::time_point t0{};
  FrameSlots slots(100, t0);
  ASSERT_TRUE(slots.offer(t0, false).take);
  slots.taken(t0);
  EXPECT_FALSE(slots.offer(t0 + milliseconds(100), true).take);  // refused: slot stays open
  const FrameSlots::Offer o = slots.offer(t0 + milliseconds(2110), false);
  EXPECT_EQ(o.dropped, 1);
  ASSERT_TRUE(o.take);
  slots.taken(t0 + milliseconds(2110));
  EXPECT_FALSE(slots.offer(t0 + milliseconds(2143), false).take);
  EXPECT_FALSE(slots.offer(t0 + milliseconds(2176), false).take);
  EXPECT_TRUE(slots.offer(t0 + milliseconds(2209), false).take);  // the slot of 2200
}

// Offered but not taken (the frame did not decode): the slot stays open for the next frame.
TEST(FrameSlots, AnOfferedFrameThatIsNotTakenLeavesTheSlotOpen) {
  const Clock::time_point t0{};
  FrameSlots slots(100, t0);
  EXPECT_TRUE(slots.offer(t0, false).take);  // corrupt: taken() not called
  const FrameSlots::Offer o = slots.offer(t0 + milliseconds(33), false);
  EXPECT_TRUE(o.take);
  EXPECT_EQ(o.dropped, 0);
  slots.taken(t0 + milliseconds(33));
  EXPECT_FALSE(slots.offer(t0 + milliseconds(66), false).take);
  EXPECT_TRUE(slots.offer(t0 + milliseconds(100), false).take);
}

TEST(FrameSlots, WithoutACapABackloggedFrameIsDroppedAtOnce) {
  const SlotRun r = feed(0, 33, 1000, [](int t) { return t % 99 == 0; });
  EXPECT_EQ(r.taken + r.dropped, 31);
  EXPECT_EQ(r.dropped, 11);  // every third frame: 0, 99, ..., 990
}

// Random back-pressure, at several camera rates: at most one frame per slot (so at most k + 1
// frames in any k intervals), and every slot is either taken or counted as dropped (none
// silently lost).
TEST(FrameSlots, NeverAboveTheCapAndEverySlotAccountedFor) {
  std::mt19937 rng(7);
  for (int frame_ms : {10, 33, 40, 67}) {
    for (double p : {0.2, 0.5, 0.8}) {
      std::bernoulli_distribution busy(p);
      const SlotRun r = feed(100, frame_ms, 60000, [&](int) { return busy(rng); });
      for (size_t i = 0; i < r.taken_at.size(); ++i) {
        for (int k = 1; k <= 5; ++k) {
          const auto end = std::lower_bound(r.taken_at.begin() + static_cast<std::ptrdiff_t>(i),
                                            r.taken_at.end(), r.taken_at[i] + k * 100);
          EXPECT_LE(end - (r.taken_at.begin() + static_cast<std::ptrdiff_t>(i)), k + 1)
              << frame_ms << " ms frames, p " << p << ", from " << r.taken_at[i];
        }
      }
      EXPECT_LE(r.taken + r.dropped, 600) << frame_ms << " ms frames, p " << p;
      EXPECT_GE(r.taken + r.dropped, 598) << frame_ms << " ms frames, p " << p;
    }
  }
}

}  // namespace
}  // namespace ev
