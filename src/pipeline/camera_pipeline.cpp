// One camera: four stage threads joined by BoundedQueues.
//   source -> [q] -> anonymize -> [q] -> detect (motion gate) -> [q] -> track + events
// Live sources (streams, cameras) never wait: a full queue drops its oldest frame and counts
// it, so a slow stage costs frames, never memory. Files block instead (every frame matters).
#include <spdlog/spdlog.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "edgevision/anonymize.hpp"
#include "edgevision/bounded_queue.hpp"
#include "edgevision/io.hpp"
#include "edgevision/ota.hpp"
#include "edgevision/pipeline.hpp"
#include "pipeline/metrics.hpp"

namespace ev {

using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

void observe(prometheus::Histogram* h, double seconds) {
  if (h) h->Observe(seconds);
}

struct Packet {
  cv::Mat image;
  int64_t index = 0;
  double time_ms = 0;
  Clock::time_point t_read;
  bool detector_ran = false;
  std::vector<Detection> detections;
};

bool is_live(const std::string& uri) {
  if (uri.find("://") != std::string::npos) return true;
  if (uri.rfind("/dev/video", 0) == 0) return true;
  return !uri.empty() && std::all_of(uri.begin(), uri.end(), ::isdigit);
}

}  // namespace

DetectorParams detector_params(const DetectionConfig& detection) {
  DetectorParams dp;
  dp.model = detection.model;
  dp.conf = detection.conf;
  dp.nms = detection.nms;
  dp.classes = detection.classes;
  dp.threads = detection.threads;
  dp.device = detection.device;
  return dp;
}

Result<AnonymizerOptions> anonymizer_options(const PrivacyConfig& privacy) {
  using R = Result<AnonymizerOptions>;
  AnonymizerOptions ao;
  ao.detector.detector = privacy.detector;
  auto mode = parse_detect_mode(privacy.mode);
  if (!mode) return R::Error(mode.error());
  ao.detector.mode = *mode;
  auto method = parse_anonymize_method(privacy.method);
  if (!method) return R::Error(method.error());
  ao.method = *method;
  auto level = parse_privacy_level(privacy.level);
  if (!level) return R::Error(level.error());
  ao.level = *level;
  return ao;
}

TrackerParams tracker_params(const TrackingConfig& tracking) {
  TrackerParams tp;
  tp.track_thresh = tracking.track_thresh;
  tp.match_thresh = tracking.match_thresh;
  tp.new_track_thresh = tracking.new_track_thresh;
  tp.max_lost = tracking.max_lost;
  tp.min_hits = tracking.min_hits;
  tp.max_tracks = tracking.max_tracks;
  return tp;
}

ModelManagerOptions model_manager_options(const ModelsConfig& models) {
  ModelManagerOptions mo;
  mo.model_dirs = models.dirs;
  mo.cache_dir = models.cache_dir;
  mo.allow_download = models.allow_download;
  return mo;
}

cv::Mat crop_to_roi(cv::Mat frame, const cv::Rect& roi) {
  const cv::Rect inside = roi & cv::Rect(0, 0, frame.cols, frame.rows);
  return roi.area() > 0 && inside.area() > 0 ? frame(inside).clone() : frame;
}

bool MotionDetector::update(const cv::Mat& bgr) {
  if (bgr.empty()) return false;
  cv::Mat gray, small;
  if (bgr.channels() == 3) {
    cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  } else {
    gray = bgr;
  }
  const int h = std::max(1, gray.rows * width_ / std::max(1, gray.cols));
  cv::resize(gray, small, cv::Size(width_, h), 0, 0, cv::INTER_AREA);
  cv::GaussianBlur(small, small, cv::Size(5, 5), 0);
  if (previous_.size() != small.size()) {
    previous_ = small;
    last_fraction_ = 1.0;
    return true;
  }
  cv::Mat diff;
  cv::absdiff(small, previous_, diff);
  cv::threshold(diff, diff, 25, 255, cv::THRESH_BINARY);
  last_fraction_ = static_cast<double>(cv::countNonZero(diff)) / static_cast<double>(diff.total());
  previous_ = small;
  return last_fraction_ > threshold_;
}

struct CameraPipeline::Impl {
  PipelineSettings s;
  EventEmitter emit;
  std::shared_ptr<CameraMetrics> metrics;
  std::unique_ptr<Anonymizer> anonymizer;
  std::unique_ptr<ObjectDetector> detector;
  // A new detector (OTA model update) waits here until the detect thread is between frames.
  std::mutex detector_swap_mutex;
  std::unique_ptr<ObjectDetector> pending_detector;
  std::string pending_version;
  std::string model_version;  // version being served, guarded by status_mutex
  Tracker tracker;
  std::vector<std::unique_ptr<AnalyticsHook>> hooks;
  bool live = false;

  BoundedQueue<Packet> q_anon, q_detect, q_track;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  std::mutex stop_mutex;
  std::condition_variable stop_cv;

  // Counters read by status(); written by one stage thread each.
  std::atomic<uint64_t> frames_in{0}, frames_out{0}, frames_failed{0}, motion_skipped{0}, faces{0};
  std::atomic<int> active_tracks{0};
  std::atomic<double> latency_ms{0};
  mutable std::mutex status_mutex;  // state, error, fps, snapshot
  std::string state = "starting";
  std::string error;
  double fps_in = 0, fps_out = 0;
  uint64_t rate_in = 0, rate_out = 0;
  Clock::time_point rate_t = Clock::now();
  std::shared_ptr<const std::vector<uint8_t>> snapshot;
  Clock::time_point snapshot_t{};

  // Tracking thread only: confirmed tracks announced with object_appeared.
  std::unordered_map<int64_t, Track> known;

  Impl(PipelineSettings settings, size_t queue)
      : s(std::move(settings)), q_anon(queue), q_detect(queue), q_track(queue) {}

  void set_state(const std::string& st, const std::string& err = "") {
    std::lock_guard lock(status_mutex);
    if (state != st)
      spdlog::info("camera {}: {}{}", s.camera.id, st, err.empty() ? "" : " (" + err + ")");
    state = st;
    if (!err.empty() || st == "running") error = err;
    if (metrics && metrics->up) metrics->up->Set(st == "running" ? 1 : 0);
  }

  // Sleeps up to `ms`; returns true if the pipeline is stopping.
  bool sleep_for(double ms) {
    std::unique_lock lock(stop_mutex);
    return stop_cv.wait_for(lock, std::chrono::duration<double, std::milli>(ms),
                            [&] { return stop.load(); });
  }

  template <typename Q>
  bool forward(Q& q, Packet p) {
    return live ? q.push_drop_oldest(std::move(p)) : q.push(std::move(p));
  }

  void source_loop() {
    SourceOptions opts;
    opts.loop = s.camera.loop;
    double backoff_ms = 500;
    const double min_interval_ms = s.camera.fps > 0 ? 1000.0 / s.camera.fps : 0;
    Clock::time_point next_slot = Clock::now();
    while (!stop) {
      auto src = open_source(s.camera.source, opts);
      if (!src) {
        set_state("reconnecting", src.error());
        if (sleep_for(backoff_ms)) break;
        backoff_ms = std::min(backoff_ms * 2, 30000.0);
        continue;
      }
      set_state("running");
      bool reopen = false;
      while (!stop) {
        Frame frame;
        std::string message;
        const auto t0 = Clock::now();
        const ReadStatus rs = (*src)->read(frame, message);
        if (rs == ReadStatus::kCorrupt) {
          spdlog::warn("camera {}: corrupt frame: {}", s.camera.id, message);
          continue;
        }
        if (rs == ReadStatus::kEnd) {
          if (live) {  // a stream that "ends" has dropped: reconnect
            reopen = true;
            set_state("reconnecting", "stream ended");
          }
          break;
        }
        if (rs == ReadStatus::kError) {
          set_state("reconnecting", message);
          reopen = true;
          break;
        }
        backoff_ms = 500;
        if (min_interval_ms > 0) {
          const auto now = Clock::now();
          if (now < next_slot) {
            if (live) continue;  // a live camera runs at its own pace: skip, don't queue
            if (sleep_for(std::chrono::duration<double, std::milli>(next_slot - now).count()))
              break;
          }
          next_slot = std::max(
              next_slot + std::chrono::microseconds(static_cast<int64_t>(min_interval_ms * 1000)),
              Clock::now() - std::chrono::milliseconds(static_cast<int64_t>(min_interval_ms)));
        }
        Packet p;
        p.image = crop_to_roi(std::move(frame.image), s.camera.roi);
        p.index = frame.index;
        p.time_ms = frame.timestamp_ms;
        p.t_read = t0;
        ++frames_in;
        observe(metrics ? metrics->stage_source : nullptr, seconds_since(t0));
        if (!forward(q_anon, std::move(p))) break;
      }
      if (!reopen) break;
      if (sleep_for(backoff_ms)) break;
      backoff_ms = std::min(backoff_ms * 2, 30000.0);
    }
    if (!stop) set_state("stopped");
    q_anon.close();
  }

  void anonymize_loop() {
    while (auto p = q_anon.pop()) {
      const auto t0 = Clock::now();
      const FrameResult r = anonymizer->process(p->image);
      if (!r.emitted) {
        // Fail closed: this frame never leaves the stage, not even as a snapshot.
        ++frames_failed;
        spdlog::warn("camera {}: frame {} withheld, face detection failed: {}", s.camera.id,
                     p->index, r.error);
        continue;
      }
      faces += static_cast<uint64_t>(r.masks_applied);
      update_snapshot(p->image);
      observe(metrics ? metrics->stage_anonymize : nullptr, seconds_since(t0));
      if (!forward(q_detect, std::move(*p))) break;
    }
    q_detect.close();
  }

  void update_snapshot(const cv::Mat& image) {
    const auto now = Clock::now();
    {
      std::lock_guard lock(status_mutex);
      if (snapshot && now - snapshot_t < std::chrono::milliseconds(200)) return;
      snapshot_t = now;
    }
    std::vector<uint8_t> jpeg;
    if (!cv::imencode(".jpg", image, jpeg, {cv::IMWRITE_JPEG_QUALITY, 80})) return;
    auto shared = std::make_shared<const std::vector<uint8_t>>(std::move(jpeg));
    std::lock_guard lock(status_mutex);
    snapshot = std::move(shared);
  }

  // Swaps in a detector handed over by switch_model(); the old one is destroyed here, on the
  // detect thread, between two frames, so no frame ever sees a half-switched model.
  void take_pending_detector() {
    std::unique_ptr<ObjectDetector> next;
    std::string version;
    {
      std::lock_guard lock(detector_swap_mutex);
      if (!pending_detector) return;
      next = std::move(pending_detector);
      version = std::move(pending_version);
    }
    detector = std::move(next);
    std::lock_guard lock(status_mutex);
    model_version = std::move(version);
  }

  void detect_loop() {
    MotionDetector motion(s.detection.motion_threshold);
    int64_t n = 0;
    while (auto p = q_detect.pop()) {
      take_pending_detector();
      const auto t0 = Clock::now();
      if (detector && (n++ % s.detection.every_n) == 0) {
        if (s.detection.motion_gating && !motion.update(p->image)) {
          ++motion_skipped;
        } else if (Status st = detector->detect(p->image, p->detections); st) {
          p->detector_ran = true;
          observe(metrics ? metrics->inference : nullptr,
                  detector->last_timings().inference_ms / 1000.0);
        } else {
          spdlog::warn("camera {}: detection failed on frame {}: {}", s.camera.id, p->index,
                       st.message());
        }
      }
      observe(metrics ? metrics->stage_detect : nullptr, seconds_since(t0));
      if (!forward(q_track, std::move(*p))) break;
    }
    q_track.close();
  }

  nlohmann::json track_event(const char* type, const Packet& p, const Track& t) const {
    nlohmann::json e = make_event(type, s.camera.id);
    e["track_id"] = t.id;
    e["class"] = t.label.empty() ? std::to_string(t.class_id) : t.label;
    e["class_id"] = t.class_id;
    e["box"] = {std::lround(t.box.x + s.camera.roi.x), std::lround(t.box.y + s.camera.roi.y),
                std::lround(t.box.width), std::lround(t.box.height)};
    e["score"] = std::round(t.score * 1000.0) / 1000.0;
    e["frame_index"] = p.index;
    e["frame_time_ms"] = std::round(p.time_ms * 10.0) / 10.0;
    return e;
  }

  void track_loop() {
    static const std::vector<Detection> kNone;
    std::vector<Track> tracks;
    Packet last;
    while (auto p = q_track.pop()) {
      const auto t0 = Clock::now();
      // Frames where the detector did not run (gated, every_n) do not advance the tracker:
      // otherwise still objects would age out and produce false "left" events.
      if (p->detector_ran) {
        tracks = tracker.update(p->detections);
        for (const Track& t : tracks) {
          auto it = known.find(t.id);
          if (it == known.end()) {
            emit(track_event("object_appeared", *p, t));
            known.emplace(t.id, t);
          } else {
            it->second = t;
          }
        }
        std::unordered_set<int64_t> live_ids;
        for (const Track& t : tracker.live_tracks()) live_ids.insert(t.id);
        for (auto it = known.begin(); it != known.end();) {
          if (!live_ids.count(it->first)) {
            emit(track_event("object_left", *p, it->second));
            it = known.erase(it);
          } else {
            ++it;
          }
        }
        active_tracks = static_cast<int>(tracks.size());
      }
      if (!hooks.empty()) {
        const AnalyticsFrame f{s.camera.id,
                               p->index,
                               p->time_ms,
                               p->image,
                               p->detector_ran ? p->detections : kNone,
                               tracks,
                               p->detector_ran};
        for (auto& h : hooks) h->on_frame(f, emit);
      }
      observe(metrics ? metrics->stage_track : nullptr, seconds_since(t0));
      const double total = seconds_since(p->t_read);
      observe(metrics ? metrics->latency : nullptr, total);
      latency_ms = total * 1000.0;
      ++frames_out;
      last.index = p->index;
      last.time_ms = p->time_ms;
    }
    if (!stop) {
      // The source ended: everything still tracked has left.
      for (const auto& [id, t] : known) emit(track_event("object_left", last, t));
      known.clear();
    }
  }
};

CameraPipeline::CameraPipeline(PipelineSettings settings) : settings_(std::move(settings)) {}

CameraPipeline::~CameraPipeline() {
  stop();
}

Result<std::unique_ptr<CameraPipeline>> CameraPipeline::create(
    const PipelineSettings& settings, ModelManager& models, EventEmitter emit,
    std::shared_ptr<CameraMetrics> metrics, const std::vector<AnalyticsHookFactory>& hooks) {
  using R = Result<std::unique_ptr<CameraPipeline>>;
  std::unique_ptr<CameraPipeline> p(new CameraPipeline(settings));
  auto impl = std::make_unique<Impl>(settings, static_cast<size_t>(settings.camera.queue_size));
  impl->emit = std::move(emit);
  impl->metrics = std::move(metrics);
  impl->live = is_live(settings.camera.source);

  auto ao = anonymizer_options(settings.privacy);
  if (!ao) return R::Error(ao.error());
  auto anonymizer = Anonymizer::create(*ao, models);
  if (!anonymizer) return R::Error("privacy detector: " + anonymizer.error());
  impl->anonymizer = std::move(*anonymizer);
  if (!impl->anonymizer->fallback_note().empty()) {
    spdlog::warn("camera {}: {}", settings.camera.id, impl->anonymizer->fallback_note());
  }

  if (settings.camera.detect) {
    // The OTA-installed current version wins over the manifest's (see ota.hpp).
    auto serving = ota::resolve_serving(models, settings.detection.model);
    if (!serving) return R::Error("object detector: " + serving.error());
    auto detector =
        ObjectDetector::create(detector_params(settings.detection), serving->paths, &serving->spec);
    if (!detector) return R::Error("object detector: " + detector.error());
    impl->detector = std::move(*detector);
    impl->model_version = serving->version;

    auto tracker = Tracker::create(tracker_params(settings.tracking));
    if (!tracker) return R::Error("tracking: " + tracker.error());
    impl->tracker = std::move(*tracker);
  }
  for (const auto& f : hooks) {
    if (auto h = f(settings.camera)) impl->hooks.push_back(std::move(h));
  }
  p->impl_ = std::move(impl);
  return p;
}

void CameraPipeline::start() {
  Impl& m = *impl_;
  if (!m.threads.empty()) return;
  m.threads.emplace_back([&m] { m.source_loop(); });
  m.threads.emplace_back([&m] { m.anonymize_loop(); });
  m.threads.emplace_back([&m] { m.detect_loop(); });
  m.threads.emplace_back([this, &m] {
    m.track_loop();
    if (!m.stop) finished_ = true;
  });
}

void CameraPipeline::stop() {
  if (!impl_) return;
  Impl& m = *impl_;
  {
    std::lock_guard lock(m.stop_mutex);
    m.stop = true;
  }
  m.stop_cv.notify_all();
  // Closing the queues wakes blocked producers and consumers; what is queued is dropped.
  m.q_anon.close();
  m.q_detect.close();
  m.q_track.close();
  if (m.threads.empty()) return;  // never started or already stopped
  for (auto& t : m.threads) {
    if (t.joinable()) t.join();
  }
  m.threads.clear();
  std::lock_guard lock(m.status_mutex);
  if (m.state != "failed") m.state = "stopped";
  if (m.metrics && m.metrics->up) m.metrics->up->Set(0);
}

CameraStatus CameraPipeline::status() const {
  const Impl& m = *impl_;
  CameraStatus s;
  s.id = settings_.camera.id;
  s.source = settings_.camera.source;
  s.frames_in = m.frames_in;
  s.frames_out = m.frames_out;
  s.frames_dropped = m.q_anon.dropped() + m.q_detect.dropped() + m.q_track.dropped();
  s.frames_failed = m.frames_failed;
  s.motion_skipped = m.motion_skipped;
  s.faces_anonymized = m.faces;
  s.latency_ms = m.latency_ms;
  s.active_tracks = m.active_tracks;
  std::lock_guard lock(m.status_mutex);
  s.state = m.state;
  s.error = m.error;
  s.fps_in = m.fps_in;
  s.fps_out = m.fps_out;
  s.model_version = m.model_version;
  return s;
}

Status CameraPipeline::switch_model(const ota::InstalledModel& model) {
  if (!settings_.camera.detect) return Status::Ok();
  // Built on the caller's thread while the old detector keeps serving; a model that does not
  // load leaves the old one in place.
  auto detector =
      ObjectDetector::create(detector_params(settings_.detection), model.paths, &model.spec);
  if (!detector) return Status::Error("camera " + settings_.camera.id + ": " + detector.error());
  std::lock_guard lock(impl_->detector_swap_mutex);
  impl_->pending_detector = std::move(*detector);
  impl_->pending_version = model.version;
  return Status::Ok();
}

void CameraPipeline::update_rates() {
  Impl& m = *impl_;
  const uint64_t in = m.frames_in, out = m.frames_out;
  std::lock_guard lock(m.status_mutex);
  const auto now = Clock::now();
  const double dt = std::chrono::duration<double>(now - m.rate_t).count();
  if (dt < 0.2) return;
  m.fps_in = static_cast<double>(in - m.rate_in) / dt;
  m.fps_out = static_cast<double>(out - m.rate_out) / dt;
  m.rate_in = in;
  m.rate_out = out;
  m.rate_t = now;
}

std::optional<std::vector<uint8_t>> CameraPipeline::snapshot_jpeg() const {
  std::lock_guard lock(impl_->status_mutex);
  if (!impl_->snapshot) return std::nullopt;
  return *impl_->snapshot;
}

}  // namespace ev
