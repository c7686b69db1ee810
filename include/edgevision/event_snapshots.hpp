// Anonymized frames referenced by events: an event that happens on a frame (a zone entry, a
// line crossing, a fall, ...) gets a `snapshot` field with the REST path of that frame as JPEG
// (GET /events/{event_id}/snapshot.jpg). The pipeline hands in only frames that passed the
// anonymizer, so nothing stored here was ever a clear frame (unless privacy was opted out).
// Bounded by frame count and bytes: the oldest frames go first and their references then
// answer 404, never stale pixels.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

namespace ev {

struct EventSnapshotLimits {
  size_t max_frames = 32;       // 0: no snapshots (and no `snapshot` fields)
  size_t max_bytes = 8u << 20;  // all stored JPEGs together
  int jpeg_quality = 80;
};

class EventSnapshots {
 public:
  explicit EventSnapshots(EventSnapshotLimits limits = {}) : limits_(limits) {}

  // REST path of an event's snapshot.
  static std::string path(const std::string& event_id);
  // Events that describe something visible on their frame: they carry a `box` and are not
  // the end of something (object_left, *_ended, phase "end": the object may be gone).
  static bool wants_snapshot(const nlohmann::json& event);

  // If the event wants one, stores `anonymized` as JPEG (encoded once per frame_index, shared
  // by every event of that frame) and sets event["snapshot"]. Returns whether it did; a frame
  // that cannot be encoded or exceeds max_bytes alone gets no reference.
  bool attach(nlohmann::json& event, const cv::Mat& anonymized, int64_t frame_index);

  std::optional<std::vector<uint8_t>> jpeg(const std::string& event_id) const;
  size_t frames() const;
  size_t bytes() const;

 private:
  struct Entry {
    int64_t frame_index = -1;
    std::shared_ptr<const std::vector<uint8_t>> jpeg;
    std::vector<std::string> event_ids;
  };
  EventSnapshotLimits limits_;
  mutable std::mutex mutex_;
  std::deque<Entry> entries_;  // oldest first
  size_t bytes_ = 0;
};

}  // namespace ev
