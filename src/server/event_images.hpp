// A bounded ring of anonymized images per event for the dashboard's event list: a small
// thumbnail around the event's box and the camera frame it was cut from. Images come only from
// ServiceView::event_snapshot_jpeg() and snapshot_jpeg(), which never return a frame that
// skipped the anonymizer (faces, and plates when they are masked), so nothing here can hold a
// clear face.
//
// Events arrive on the publisher's thread and are only queued (bounded, oldest dropped); one
// worker thread takes the event's frame (already JPEG) and where its thumbnail lies, so the
// event path never waits. The thumbnail itself is cut on its first request and kept: a box
// nobody watches pays no decode or encode (on four 720p traffic cameras that was 2.3% of the
// service's CPU). The frame is kept as the pipeline encoded it: only its header is read here.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "edgevision/service.hpp"
#include "edgevision/status.hpp"

namespace ev::server_internal {

class EventImages {
 public:
  using Bytes = std::shared_ptr<const std::vector<uint8_t>>;
  struct Stats {
    uint64_t stored = 0;    // events that got images
    uint64_t thumbs = 0;    // thumbnails cut (on request; at most once per kept event)
    uint64_t undecodable = 0;  // events whose frame did not decode when a thumbnail was asked
    uint64_t no_frame = 0;  // events whose camera had no frame yet
    uint64_t dropped = 0;   // events dropped from the queue (worker behind)
    size_t kept = 0;        // events held now
    size_t bytes = 0;       // bytes held now
  };

  EventImages(ServiceView& view, size_t max_events, size_t max_bytes, size_t queue = 64);
  ~EventImages();  // stop()
  EventImages(const EventImages&) = delete;
  EventImages& operator=(const EventImages&) = delete;

  void start();
  void stop();
  // Queues the event (needs "event_id" and "camera"; others are ignored). Never blocks.
  void on_event(const nlohmann::json& event);
  // Cut on the first request (a reduced decode of the frame, a resample and an encode; one
  // at a time); nullptr for an unknown event or a frame that does not decode.
  Bytes thumbnail(const std::string& event_id);
  Bytes frame(const std::string& event_id) const;
  Stats stats() const;
  // Blocks until the queue is empty and the worker idle (tests).
  void flush();

  static constexpr int kThumbWidth = 160, kThumbHeight = 120;

 private:
  struct Pending {
    std::string id, camera;
    std::vector<int> box;  // x, y, w, h in full-frame pixels; empty: whole frame
  };
  // Where the thumbnail lies in the frame: the crop (frame pixels) and the thumbnail's size.
  struct Cut {
    cv::Rect crop;
    cv::Size size;
  };
  struct Entry {
    std::string id;
    Bytes thumb, frame;  // thumb: null until requested
    Cut cut;
    bool undecodable = false;  // the frame did not decode on a request: no thumbnail
    size_t bytes = 0;  // thumb + frame, the frame counted by the first entry that holds it
  };
  void run();
  void store(const Pending& p);
  // `undecodable`: the error is the frame's (answered for good), not memory's.
  Result<Bytes> make_thumbnail(const Bytes& jpeg, const Cut& cut, bool& undecodable);
  void evict();  // oldest entries while over the count or byte bound; mutex_ held
  // The kept entry of an event, null when there is none; mutex_ held.
  const Entry* find(const std::string& event_id) const;
  Entry* find(const std::string& event_id) {
    return const_cast<Entry*>(std::as_const(*this).find(event_id));
  }

  ServiceView& view_;
  const size_t max_events_, max_bytes_, max_queue_;
  mutable std::mutex mutex_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Pending> queue_;
  bool busy_ = false, stop_ = false;
  std::deque<Entry> ring_;               // oldest first
  std::map<std::string, size_t> index_;  // id -> position offset (see base_)
  uint64_t base_ = 0;                    // number of entries evicted so far
  size_t bytes_ = 0;
  Bytes last_frame_;  // shared by the events of one frame
  // thumbnail() cuts one at a time (HTTP workers asking at once wait, the CPU they can take is
  // bounded); the last frame decoded is kept for the other events of the same frame (its
  // pixels until the next cut, its bytes only while the ring holds them).
  std::mutex cut_mutex_;
  std::weak_ptr<const std::vector<uint8_t>> decoded_jpeg_;  // not kept alive past its events
  int decoded_reduce_ = 1;  // decoded_ is decoded_jpeg_ at 1/decoded_reduce_ of its size
  cv::Mat decoded_;
  Stats stats_;
  std::thread worker_;
};

}  // namespace ev::server_internal
