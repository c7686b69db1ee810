#include "server/event_images.hpp"
#include "core/thread_name.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include <opencv2/imgproc.hpp>

#include "edgevision/jpeg.hpp"

namespace ev::server_internal {

EventImages::EventImages(ServiceView& view, size_t max_events, size_t max_bytes, size_t queue)
    : view_(view),
      max_events_(std::max<size_t>(1, max_events)),
      max_bytes_(max_bytes),
      max_queue_(std::max<size_t>(1, queue)) {}

EventImages::~EventImages() {
  stop();
}

void EventImages::start() {
  std::lock_guard lock(mutex_);
  if (worker_.joinable()) return;
  stop_ = false;
  worker_ = std::thread([this] {
    set_thread_name("event-images");
    run();
  });
}

void EventImages::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  idle_cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void EventImages::on_event(const nlohmann::json& event) {
  if (!event.is_object()) return;
  const auto id = event.find("event_id");
  const auto camera = event.find("camera");
  if (id == event.end() || !id->is_string() || camera == event.end() || !camera->is_string())
    return;
  Pending p{id->get<std::string>(), camera->get<std::string>(), {}};
  const auto box = event.find("box");
  if (box != event.end() && box->is_array() && box->size() == 4 &&
      std::all_of(box->begin(), box->end(), [](const auto& v) { return v.is_number(); })) {
    for (const auto& v : *box) p.box.push_back(static_cast<int>(v.template get<double>()));
  }
  {
    std::lock_guard lock(mutex_);
    if (stop_) return;
    while (queue_.size() >= max_queue_) {
      queue_.pop_front();
      ++stats_.dropped;
    }
    queue_.push_back(std::move(p));
  }
  cv_.notify_one();
}

void EventImages::run() {
  for (;;) {
    Pending p;
    {
      std::unique_lock lock(mutex_);
      busy_ = false;
      idle_cv_.notify_all();
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    try {
      store(p);
    } catch (const std::exception& e) {
      // A frame that cannot be decoded or cut costs this event its image, nothing else.
      spdlog::warn("event images: {}: {}", p.id, e.what());
    }
  }
}

void EventImages::store(const Pending& p) {
  // The event's own frame as the pipeline stored it (encoded once there, and the frame the
  // box belongs to); the camera's latest frame when the pipeline kept none.
  auto jpeg = view_.event_snapshot_jpeg(p.id);
  if (!jpeg || jpeg->empty()) jpeg = view_.snapshot_jpeg(p.camera);
  if (!jpeg || jpeg->empty()) {
    std::lock_guard lock(mutex_);
    ++stats_.no_frame;
    return;
  }
  const Result<cv::Size> full = jpeg_size(jpeg->data(), jpeg->size());
  if (!full) throw std::runtime_error("camera frame could not be decoded (" + full.error() + ")");

  // Event boxes are full-frame pixels; the snapshot is the camera's roi crop.
  Cut cut{cv::Rect(0, 0, full->width, full->height), {}};
  if (p.box.size() == 4 && p.box[2] > 0 && p.box[3] > 0) {
    int ox = 0, oy = 0;
    const nlohmann::json scene = view_.scene(p.camera);
    if (scene.is_object() && scene.contains("roi") && scene["roi"].is_array() &&
        scene["roi"].size() == 4 && scene["roi"][2].get<int>() > 0) {
      ox = scene["roi"][0].get<int>();
      oy = scene["roi"][1].get<int>();
    }
    // The box with 20% around it, at least 48 px, at the thumbnail's aspect ratio.
    const double cx = p.box[0] - ox + p.box[2] / 2.0, cy = p.box[1] - oy + p.box[3] / 2.0;
    double w = std::max(48.0, p.box[2] * 1.4), h = std::max(36.0, p.box[3] * 1.4);
    const double aspect = static_cast<double>(kThumbWidth) / kThumbHeight;
    if (w / h < aspect)
      w = h * aspect;
    else
      h = w / aspect;
    const cv::Rect want(static_cast<int>(cx - w / 2), static_cast<int>(cy - h / 2),
                        static_cast<int>(w), static_cast<int>(h));
    const cv::Rect inside = want & cut.crop;
    if (inside.area() > 0) cut.crop = inside;
  }
  const double scale = std::min(static_cast<double>(kThumbWidth) / cut.crop.width,
                                static_cast<double>(kThumbHeight) / cut.crop.height);
  cut.size = cv::Size(std::max(1, static_cast<int>(cut.crop.width * scale)),
                      std::max(1, static_cast<int>(cut.crop.height * scale)));

  std::lock_guard lock(mutex_);
  if (index_.count(p.id)) return;  // the same event twice (a replay): keep the first
  Entry e{p.id, nullptr, nullptr, cut, false, 0};
  if (last_frame_ && *last_frame_ == *jpeg) {
    e.frame = last_frame_;  // several events of one frame share its bytes
  } else {
    e.frame = std::make_shared<const std::vector<uint8_t>>(std::move(*jpeg));
    e.bytes += e.frame->size();
    last_frame_ = e.frame;
  }
  index_[p.id] = base_ + ring_.size();
  bytes_ += e.bytes;
  ring_.push_back(std::move(e));
  ++stats_.stored;
  evict();
  if (ring_.empty() || ring_.back().frame != last_frame_) last_frame_.reset();
}

void EventImages::evict() {
  while (!ring_.empty() &&
         (ring_.size() > max_events_ || (bytes_ > max_bytes_ && ring_.size() > 1))) {
    Entry& old = ring_.front();
    // A frame still held by the next entry moves its byte count there.
    if (ring_.size() > 1 && ring_[1].frame == old.frame) {
      const size_t frame_bytes = old.bytes - (old.thumb ? old.thumb->size() : 0);
      old.bytes -= frame_bytes;
      ring_[1].bytes += frame_bytes;
    }
    bytes_ -= old.bytes;
    index_.erase(old.id);
    ring_.pop_front();
    ++base_;
  }
}

Result<EventImages::Bytes> EventImages::make_thumbnail(const Bytes& jpeg, const Cut& cut,
                                                       bool& undecodable) {
  using R = Result<Bytes>;
  undecodable = false;
  const cv::Rect& crop = cut.crop;
  // Decoded only as large as the thumbnail needs (1/2 to 1/8 in the DCT: a whole 1280x720
  // frame, a 160x90 thumbnail, decodes at 1/8; a 410x308 box at 1/2); thumbnails of one frame
  // (a crossing and a zone entry, say) decode it once. Events of one frame share its bytes, so
  // the pointer tells the frame; an evicted frame's pixels are released at the next cut.
  const int reduce = jpeg_reduce_for(crop.size(), cut.size);
  if (decoded_jpeg_.lock() != jpeg || decoded_reduce_ != reduce) {
    decoded_jpeg_.reset();
    decoded_.release();
    Result<cv::Mat> decoded = decode_jpeg(jpeg->data(), jpeg->size(), reduce);
    if (!decoded) {
      undecodable = true;
      return R::Error("camera frame could not be decoded (" + decoded.error() + ")");
    }
    decoded_ = std::move(*decoded);
    decoded_jpeg_ = jpeg;
    decoded_reduce_ = reduce;
  }
  try {
    cv::Mat thumb;
    if (reduce == 1) {
      const bool shrink = cut.size.width < crop.width;
      cv::resize(decoded_(crop), thumb, cut.size, 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
    } else {
      // The crop's exact place in the reduced image (its edges fall between reduced pixels;
      // rounding them shifted the thumbnail by a full-size pixel, 25 against 31-35 dB PSNR to a
      // cut from the full decode). The reduced crop is under twice the thumbnail's size, so a
      // bilinear shrink does not alias. Thumbnail pixel u's centre lies at full-size
      // x = crop.x + (u + 0.5) * crop.width / thumb.width, reduced pixel k's at (k + 0.5) * reduce.
      const double ax = static_cast<double>(crop.width) / (cut.size.width * reduce);
      const double ay = static_cast<double>(crop.height) / (cut.size.height * reduce);
      const cv::Matx23d to_reduced(ax, 0, (crop.x + 0.5 * reduce * ax) / reduce - 0.5,  //
                                   0, ay, (crop.y + 0.5 * reduce * ay) / reduce - 0.5);
      cv::warpAffine(decoded_, thumb, to_reduced, cut.size, cv::INTER_LINEAR | cv::WARP_INVERSE_MAP,
                     cv::BORDER_REPLICATE);
    }
    auto thumb_jpeg = std::make_shared<std::vector<uint8_t>>();
    if (Status enc = encode_jpeg(thumb, 80, *thumb_jpeg); !enc)
      return R::Error("thumbnail could not be encoded (" + enc.message() + ")");
    return Bytes(std::move(thumb_jpeg));
  } catch (const std::exception& e) {
    // cv::Exception, bad_alloc: this request fails, the event may get its thumbnail later.
    return R::Error(std::string("thumbnail could not be cut (") + e.what() + ")");
  }
}

const EventImages::Entry* EventImages::find(const std::string& event_id) const {
  const auto it = index_.find(event_id);
  return it == index_.end() ? nullptr : &ring_[it->second - base_];
}

EventImages::Bytes EventImages::thumbnail(const std::string& event_id) {
  {
    std::lock_guard lock(mutex_);
    const Entry* e = find(event_id);
    if (!e || e->thumb || e->undecodable) return e ? e->thumb : nullptr;
  }
  // One cut at a time (cut_mutex_, then mutex_ inside it; nothing takes them the other way
  // round). A request that waited here for another one of the same event finds it cut.
  std::lock_guard cutting(cut_mutex_);
  Bytes frame;
  Cut cut;
  {
    std::lock_guard lock(mutex_);
    const Entry* e = find(event_id);
    if (!e || e->thumb || e->undecodable) return e ? e->thumb : nullptr;
    frame = e->frame;
    cut = e->cut;
  }
  bool undecodable = false;
  Result<Bytes> made = make_thumbnail(frame, cut, undecodable);
  if (!made) spdlog::warn("event images: {}: {}", event_id, made.error());
  std::lock_guard lock(mutex_);
  if (made) ++stats_.thumbs;
  Entry* e = find(event_id);
  if (!e) return made ? *made : nullptr;  // evicted meanwhile: served once
  if (!made) {
    // A frame that does not decode costs this event its thumbnail, for good; other failures
    // (memory) only this request.
    e->undecodable = undecodable;
    if (undecodable) ++stats_.undecodable;
    return nullptr;
  }
  e->thumb = *made;
  e->bytes += e->thumb->size();
  bytes_ += e->thumb->size();
  evict();  // may drop `e` itself
  return *made;
}

EventImages::Bytes EventImages::frame(const std::string& event_id) const {
  std::lock_guard lock(mutex_);
  const Entry* e = find(event_id);
  return e ? e->frame : nullptr;
}

EventImages::Stats EventImages::stats() const {
  std::lock_guard lock(mutex_);
  Stats s = stats_;
  s.kept = ring_.size();
  s.bytes = bytes_;
  return s;
}

void EventImages::flush() {
  std::unique_lock lock(mutex_);
  idle_cv_.wait(lock, [&] { return stop_ || (queue_.empty() && !busy_); });
}

}  // namespace ev::server_internal
