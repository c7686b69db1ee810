// The fps cap of a live camera as a schedule of slots, one per interval, and the rule that
// decides which camera frame fills a slot.
#pragma once

#include <algorithm>
#include <chrono>

namespace ev {

// A live camera usually sends faster than the cap (30 fps analysed at 10): the frames between
// slots are skipped undecoded. A frame that comes due while the pipeline is backlogged is not
// dropped at once: the slot stays open and a later frame of the same interval fills it, so a
// short spike in one stage (four cameras' face passes arriving together) shifts the analysed
// frame by a camera frame instead of losing it. A slot is dropped, and counted, only when a
// whole interval passed with the pipeline backlogged; a camera that sends nothing drops nothing.
// Without a cap every frame is a slot, and a backlogged one is dropped at once.
class FrameSlots {
 public:
  using Clock = std::chrono::steady_clock;

  struct Offer {
    bool take = false;  // decode this frame and send it down the pipeline
    int dropped = 0;    // slots lost to back-pressure, to count as dropped frames
  };

  explicit FrameSlots(double interval_ms, Clock::time_point start = Clock::now())
      : interval_(std::chrono::microseconds(static_cast<int64_t>(interval_ms * 1000))),
        next_(start) {}

  Clock::time_point next_due() const { return next_; }

  // A camera frame arrived at `now`; `backlogged`: the pipeline has no room for it now.
  Offer offer(Clock::time_point now, bool backlogged) {
    Offer o;
    if (interval_.count() <= 0) {
      o.take = !backlogged;
      o.dropped = backlogged ? 1 : 0;
      return o;
    }
    if (now < next_) return o;
    if (refused_ && now >= next_ + interval_) {
      // The open slot's whole interval passed backlogged: it is lost; this frame is offered to
      // the slot after it.
      ++o.dropped;
      refused_ = false;
      advance(now);
      if (now < next_) return o;
    }
    if (backlogged) {
      refused_ = true;
      return o;
    }
    o.take = true;
    refused_ = false;
    advance(now);
    return o;
  }

  // Files are paced instead: each frame waits for its slot and takes it.
  void taken(Clock::time_point now) { advance(now); }

 private:
  // The next slot is one interval after this one, never more than one interval in the past (a
  // camera that stalled does not get a burst of catch-up frames).
  void advance(Clock::time_point now) { next_ = std::max(next_ + interval_, now - interval_); }

  Clock::duration interval_;
  Clock::time_point next_;
  bool refused_ = false;  // a frame was refused for back-pressure in the open slot
};

}  // namespace ev
