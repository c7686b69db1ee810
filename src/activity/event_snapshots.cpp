#include "edgevision/event_snapshots.hpp"

#include "edgevision/jpeg.hpp"

namespace ev {

std::string EventSnapshots::path(const std::string& event_id) {
  return "/events/" + event_id + "/snapshot.jpg";
}

bool EventSnapshots::wants_snapshot(const nlohmann::json& event) {
  if (!event.is_object() || !event.contains("box") || !event.contains("event_id")) return false;
  const std::string type = event.value("type", std::string());
  if (type == "object_left" || type.ends_with("_ended")) return false;
  return event.value("phase", std::string()) != "end";
}

bool EventSnapshots::attach(nlohmann::json& event, const cv::Mat& anonymized, int64_t frame_index) {
  if (limits_.max_frames == 0 || anonymized.empty() || !wants_snapshot(event)) return false;
  const std::string id = event["event_id"].get<std::string>();
  {
    std::lock_guard lock(mutex_);
    if (!entries_.empty() && entries_.back().frame_index == frame_index) {
      entries_.back().event_ids.push_back(id);
      event["snapshot"] = path(id);
      return true;
    }
  }
  // Encoded outside the lock: readers (the HTTP server) never wait for an encode.
  std::vector<uint8_t> buf;
  if (!encode_jpeg(anonymized, limits_.jpeg_quality, buf)) return false;
  if (buf.size() > limits_.max_bytes) return false;
  Entry e;
  e.frame_index = frame_index;
  e.jpeg = std::make_shared<const std::vector<uint8_t>>(std::move(buf));
  e.event_ids.push_back(id);
  std::lock_guard lock(mutex_);
  bytes_ += e.jpeg->size();
  entries_.push_back(std::move(e));
  while (entries_.size() > limits_.max_frames || bytes_ > limits_.max_bytes) {
    bytes_ -= entries_.front().jpeg->size();
    entries_.pop_front();
  }
  event["snapshot"] = path(id);
  return true;
}

std::optional<std::vector<uint8_t>> EventSnapshots::jpeg(const std::string& event_id) const {
  std::shared_ptr<const std::vector<uint8_t>> found;
  {
    std::lock_guard lock(mutex_);
    for (auto it = entries_.rbegin(); it != entries_.rend() && !found; ++it) {
      for (const auto& id : it->event_ids) {
        if (id == event_id) {
          found = it->jpeg;
          break;
        }
      }
    }
  }
  if (!found) return std::nullopt;
  return *found;
}

size_t EventSnapshots::frames() const {
  std::lock_guard lock(mutex_);
  return entries_.size();
}

size_t EventSnapshots::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

}  // namespace ev
