// The fps cap of a live camera as a schedule of slots, one per interval, and the rule that
// decides which camera frame fills a slot.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace ev {

// A live camera usually sends faster than the cap (30 fps analysed at 10): the frames between
// slots are skipped undecoded. A frame that comes due while the pipeline is backlogged is not
// dropped at once: the slot stays open and a later frame of the same interval fills it, so a
// spike in one stage (four cameras' face passes arriving together) delays the analysed frame by
// less than an interval instead of losing it. A slot is dropped, and counted, only when its
// interval ends with every frame offered to it refused; a camera that sends nothing drops
// nothing.
// At most one frame fills a slot, so the cap holds over any span of slots (two frames of
// neighbouring slots can come closer together than an interval).
// Without a cap every frame is a slot, and a backlogged one is dropped at once.
class FrameSlots {
 public:
  using Clock = std::chrono::steady_clock;

  struct Offer {
    bool take = false;  // decode this frame; call taken() once it is on its way
    int dropped = 0;    // slots lost to back-pressure, to count as dropped frames
  };

  // Intervals beyond a day are a day (a tiny fps would overflow the clock's nanoseconds).
  explicit FrameSlots(double interval_ms, Clock::time_point start = Clock::now())
      : interval_(std::chrono::microseconds(
            static_cast<int64_t>(std::min(interval_ms, 86'400'000.0) * 1000))),
        next_(start) {}

  Clock::time_point next_due() const { return next_; }

  // A camera frame arrived at `now`; `backlogged`: the pipeline has no room for it now. A frame
  // offered `take` holds the slot only once taken() is called: one that then fails to decode
  // leaves the slot open for the next camera frame.
  Offer offer(Clock::time_point now, bool backlogged) {
    Offer o;
    if (interval_.count() <= 0) {
      o.take = !backlogged;
      o.dropped = backlogged ? 1 : 0;
      return o;
    }
    if (now < next_) return o;
    if (refused_ && now >= next_ + interval_) {
      // The open slot's interval passed backlogged: it is lost (one slot: those a stalled camera
      // sent nothing in are not the pipeline's drops). This frame is offered the slot it falls
      // in.
      ++o.dropped;
      refused_ = false;
      next_ += interval_ * ((now - next_) / interval_);
    }
    if (backlogged) {
      refused_ = true;
      return o;
    }
    o.take = true;
    return o;
  }

  // The frame offered at `now` is on its way (live), or a paced file's frame took its slot.
  void taken(Clock::time_point now) {
    refused_ = false;
    if (interval_.count() <= 0) return;
    // The next slot is the first one after the slot `now` falls in: the slots keep their phase,
    // and a camera that stalled gets no burst of catch-up frames.
    next_ += interval_ * (std::max<int64_t>(0, (now - next_) / interval_) + 1);
  }

 private:
  Clock::duration interval_;
  Clock::time_point next_;
  bool refused_ = false;  // a frame was refused for back-pressure in the open slot
};

}  // namespace ev
