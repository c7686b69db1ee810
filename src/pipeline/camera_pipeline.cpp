// One camera: four stage threads joined by BoundedQueues.
//   source -> [q] -> anonymize -> [q] -> detect (motion gate) -> [q] -> track + events
// Live sources (streams, cameras) never wait: a full queue drops its oldest frame and counts
// it, so a slow stage costs frames, never memory. Files block instead (every frame matters).
#include <spdlog/spdlog.h>

#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <optional>

#include "core/thread_name.hpp"
#include "edgevision/alpr.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/bounded_queue.hpp"
#include "edgevision/event_snapshots.hpp"
#include "edgevision/foreground.hpp"
#include "edgevision/io.hpp"
#include "edgevision/jpeg.hpp"
#include "edgevision/ota.hpp"
#include "edgevision/pipeline.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/redact.hpp"
#include "edgevision/scene.hpp"
#include "pipeline/frame_slots.hpp"
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

// DetectionConfig::skip_when_behind: whether a camera's detect stage skips the object detector
// on the frame it took, when `frames_waiting` more already wait in front of its anonymize and
// detect stages. Never on two frames in a row (`skipped_last`), so at least every other frame is
// detected. `allowed`: the option is on and the source is live (files never skip: every frame
// of a file is analysed).
bool skip_detector_when_behind(bool allowed, size_t frames_waiting, bool skipped_last) {
  return allowed && frames_waiting > 0 && !skipped_last;
}

struct Packet {
  cv::Mat image;  // anonymized once past the detect stage (see masks)
  // Face masks decided by the anonymize stage and drawn on `image` by the detect stage after
  // the object detector has seen the frame unmasked; nothing leaves before they are drawn.
  std::optional<MaskPlan> masks;
  // With plates: the frame before anonymization, for the object detector only; released by
  // the detect stage, so nothing downstream can emit it.
  cv::Mat original;
  int64_t index = 0;
  double time_ms = 0;
  Clock::time_point t_read;
  bool detector_ran = false;
  std::vector<Detection> detections;
  // Person boxes below the detector's threshold, for the tracker's low-score association only
  // (see split_low_person_boxes).
  std::vector<Detection> low_detections;
  float detector_conf = 0.f;  // the detector's own threshold (low_detections are below it)
  // The frame before anonymization at the foreground model's working size (analytics
  // floor_evidence): the masks on `image` depend on which persons the anonymizer was handed
  // at that moment, so the falls' evidence would vary with thread timing. Never leaves the
  // process (the tracking stage only learns a background from it).
  ForegroundFrame foreground;
};

// People lying on the floor or caught mid-fall score below the detector's threshold (rare in
// its training data); ByteTrack's second association can still hold their track with such a
// box, never start one. So the detector runs at the tracker's low threshold and the person boxes
// below its own threshold are moved to `low`, which only the tracker sees.
void split_low_person_boxes(std::vector<Detection>& dets, float keep_conf,
                            std::vector<Detection>& low) {
  low.clear();
  std::erase_if(dets, [&](const Detection& d) {
    if (d.score >= keep_conf) return false;
    if (d.label == "person") low.push_back(d);
    return true;
  });
}

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
  dp.rect = detection.rect;
  return dp;
}

PlateStageOptions plate_stage_options(const PipelineSettings& settings) {
  const AlprConfig& a = settings.alpr;
  PlateStageOptions o;
  o.camera = settings.camera.id;
  o.mask = settings.privacy.plates.value_or(a.enabled);
  o.read = a.enabled;
  o.params.plate.model = a.plate_model;
  o.params.ocr.engine = a.ocr;
  o.params.region = a.region;
  o.params.throttle.enabled = a.throttle;
  o.params.read_variants = a.read_variants;
  o.vehicle_pass = a.vehicle_pass;
  o.params.haar_second_chance = a.haar_second_chance;
  // With object tracking, plate events name the vehicle the plate belongs to.
  if (settings.camera.detect) o.vehicle_wait_ms = 1000;
  o.params.throttle.min_plate_area = static_cast<float>(a.min_plate_area);
  o.known = {a.allow, a.deny};
  o.queue_size = static_cast<size_t>(a.queue_size);
  return o;
}

Result<AnonymizerOptions> anonymizer_options(const PrivacyConfig& privacy,
                                             const DetectionConfig& detection) {
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
  ao.head_fallback.enabled = privacy.head_fallback;
  ao.small_face_interval = privacy.small_face_interval;
  ao.head_fallback.detector.model = detection.model;
  ao.head_fallback.detector.threads = detection.threads;
  return ao;
}

// Person boxes at or above this, seen in weak_min_hits consecutive frames, start a track when
// activities are on (TrackerParams::weak_birth_thresh).
constexpr float kWeakPersonBirth = 0.35f;

TrackerParams tracker_params(const TrackingConfig& tracking) {
  TrackerParams tp;
  tp.track_thresh = tracking.track_thresh;
  tp.match_thresh = tracking.match_thresh;
  tp.new_track_thresh = tracking.new_track_thresh;
  tp.max_lost = tracking.max_lost;
  tp.min_hits = tracking.min_hits;
  tp.max_tracks = tracking.max_tracks;
  // A falling person is often missed for a frame or two before the low boxes of them lying
  // come (see split_low_person_boxes).
  tp.low_revive_frames = 5;
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
  shrink_area(gray, small, cv::Size(width_, h));
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

namespace {
// What the scene analyzer needs of a tracked frame, in full-frame coordinates.
SceneFrame scene_frame(const Packet& p, const std::vector<Track>& tracks,
                       const std::vector<Track>& live, const cv::Rect& roi) {
  SceneFrame f;
  f.index = p.index;
  f.time_ms = p.time_ms;
  const cv::Point2f off(static_cast<float>(roi.x), static_cast<float>(roi.y));
  for (const Track& t : tracks) {
    f.tracks.push_back({t.id, t.label.empty() ? std::to_string(t.class_id) : t.label, t.class_id,
                        cv::Rect2f(t.box.tl() + off, t.box.size()), t.score,
                        t.score < p.detector_conf});
  }
  for (const Track& t : live) f.live_ids.push_back(t.id);
  for (const Detection& d : p.detections) {
    f.detections.push_back({d.label, cv::Rect2f(d.box.tl() + off, d.box.size()), d.score});
  }
  f.frame_size = p.image.size();
  return f;
}
}  // namespace

struct CameraPipeline::Impl {
  PipelineSettings s;
  EventEmitter emit;
  std::shared_ptr<CameraMetrics> metrics;
  std::unique_ptr<Anonymizer> anonymizer;
  std::mutex persons_mutex;
  std::vector<Detection> latest_persons;  // latest detections, for the head fallback
  std::unique_ptr<ObjectDetector> detector;
  // A new detector (OTA model update) waits here until the detect thread is between frames.
  std::mutex detector_swap_mutex;
  std::unique_ptr<ObjectDetector> pending_detector;
  std::string pending_version;
  std::string model_version;  // version being served, guarded by status_mutex
  // Detect thread only: the detector's own threshold, before it was lowered to the tracker's.
  bool detector_lowered = false;
  float keep_conf = 0.f;
  Tracker tracker;
  std::vector<std::unique_ptr<AnalyticsHook>> hooks;
  std::unique_ptr<PlateStage> plates;  // null when neither plate masking nor ALPR is on
  bool live = false;
  // Steady-clock ms of the last frame read (or of the open): a live source without a frame for
  // kStallMs shows as "stalled" at once, before FFmpeg's read timeout ends the read.
  static constexpr int64_t kStallMs = 5000;
  std::atomic<int64_t> last_frame_ms{0};
  static int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  BoundedQueue<Packet> q_anon, q_detect, q_track;
  std::vector<std::thread> threads;
  std::atomic<bool> stop{false};
  std::mutex stop_mutex;
  std::condition_variable stop_cv;

  // Counters read by status(); written by one stage thread each.
  std::atomic<uint64_t> frames_in{0}, frames_out{0}, frames_failed{0}, motion_skipped{0}, faces{0};
  std::atomic<uint64_t> behind_skipped{0};     // detector skipped, camera behind (detect stage)
  std::atomic<uint64_t> dropped_undecoded{0};  // live frames dropped at the source (backlog)
  std::atomic<int> active_tracks{0};
  std::atomic<double> latency_ms{0};
  std::atomic<uint64_t> reconnects{0};
  mutable std::mutex status_mutex;  // state, error, fps, snapshot
  std::string state = "starting";
  std::string error;
  double fps_in = 0, fps_out = 0;
  uint64_t rate_in = 0, rate_out = 0;
  Clock::time_point rate_t = Clock::now();
  // Latest anonymized frame (shares the pixels the later stages only read) and its JPEG,
  // encoded when someone asks, not on every frame.
  cv::Mat snapshot_image;
  int64_t snapshot_index = -1;
  mutable std::shared_ptr<const std::vector<uint8_t>> snapshot;
  mutable int64_t snapshot_encoded = -1;

  // Tracking thread only: turns tracks into events (object_appeared/left, zones, ...).
  SceneAnalyzer scene;
  // Tracking thread only: posture evidence for falls (analytics.floor_evidence), else null.
  std::unique_ptr<ForegroundModel> foreground;
  // Anonymized frames of scene events (`snapshot` field), read by the HTTP server.
  EventSnapshots event_snapshots;

  Impl(PipelineSettings settings, size_t queue)
      : s(std::move(settings)),
        q_anon(queue),
        q_detect(queue),
        q_track(queue),
        scene(s.camera.id, s.camera.scene),
        event_snapshots({static_cast<size_t>(std::max(0, s.camera.scene.snapshots))}),
        max_waiting(std::clamp<size_t>(queue, 2, 4) - 1) {
    if (s.camera.scene.activities && s.camera.scene.floor_evidence) {
      foreground = std::make_unique<ForegroundModel>();
      foreground_demand = ForegroundDemand(foreground->params().idle_frames);
    }
  }

  void set_state(const std::string& st, const std::string& raw_err = "") {
    const std::string err = redact_text(raw_err);
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

  // Frames already waiting in front of the anonymize and detect stages, which a live frame would
  // have to queue behind. Up to three (queue_size - 1 for a smaller queue) absorb a burst: cameras
  // in step hand the shared face session their heavy frames at once (four cameras on two cores
  // dropped 1.7-1.9% of their frames with two per stage, bench/README.md). Counted together, so
  // that every frame let in still fits the detect queue after the anonymize stage: one more
  // would only be dropped there (drop-oldest) after costing its decode and its anonymization,
  // so a live source refuses it before decoding.
  const size_t max_waiting;
  bool backlogged() const { return q_anon.size() + q_detect.size() >= max_waiting; }

  template <typename Q>
  bool forward(Q& q, Packet p) {
    return live ? q.push_drop_oldest(std::move(p)) : q.push(std::move(p));
  }

  void source_loop() {
    SourceOptions opts;
    opts.loop = s.camera.loop;
    opts.raw_mjpeg = s.camera.mjpeg_packets;
    opts.cancel = &stop;
    double backoff_ms = 500;
    const double min_interval_ms = s.camera.fps > 0 ? 1000.0 / s.camera.fps : 0;
    FrameSlots slots(min_interval_ms);
    bool first_open = true;
    while (!stop) {
      if (!first_open) ++reconnects;
      first_open = false;
      auto src = open_source(s.camera.source, opts);
      if (!src) {
        set_state("reconnecting", src.error());
        if (sleep_for(backoff_ms)) break;
        backoff_ms = std::min(backoff_ms * 2, 30000.0);
        continue;
      }
      last_frame_ms = now_ms();
      set_state("running");
      bool reopen = false;
      while (!stop) {
        Frame frame;
        std::string message;
        const auto t0 = Clock::now();
        // A live camera faster than the fps cap: frames before the next slot are not decoded,
        // nor frames the pipeline has no room for (FrameSlots: a later frame may still fill
        // the slot; slots lost to back-pressure are counted here).
        bool skipped = false;
        int slots_dropped = 0;
        Clock::time_point offered_at = t0;
        const ReadStatus rs = live ? (*src)->read_if(
                                         frame, message,
                                         [&] {
                                           offered_at = Clock::now();
                                           const FrameSlots::Offer o =
                                               slots.offer(offered_at, backlogged());
                                           slots_dropped += o.dropped;
                                           return o.take;
                                         },
                                         skipped)
                                   : (*src)->read(frame, message);
        frames_in += slots_dropped;
        dropped_undecoded += slots_dropped;
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
        last_frame_ms = now_ms();
        if (skipped) continue;
        if (!live && min_interval_ms > 0) {
          const auto now = Clock::now();
          if (now < slots.next_due() &&
              sleep_for(std::chrono::duration<double, std::milli>(slots.next_due() - now).count()))
            break;
        }
        slots.taken(live ? offered_at : Clock::now());
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
      if (s.camera.detect) {
        if (plates) p->original = p->image.clone();
        std::lock_guard lock(persons_mutex);
        anonymizer->set_persons(latest_persons);
      }
      FrameResult r = anonymizer->process(p->image);
      if (!r.emitted) {
        // Fail closed: this frame never leaves the stage, not even as a snapshot.
        ++frames_failed;
        spdlog::warn("camera {}: frame {} withheld, face detection failed: {}", s.camera.id,
                     p->index, r.error);
        continue;
      }
      faces += static_cast<uint64_t>(r.masks_applied);  // deferred masks count when drawn
      if (plates) {
        Status ps = plates->process(p->image, p->index, p->time_ms);
        if (!ps.ok()) {
          ++frames_failed;  // fail closed, as for faces
          spdlog::warn("camera {}: frame {} withheld, plate detection failed: {}", s.camera.id,
                       p->index, ps.message());
          continue;
        }
      }
      if (r.deferred)
        p->masks = std::move(r.deferred);  // drawn, and the snapshot taken, by the detect stage
      else
        update_snapshot(p->image, p->index);
      observe(metrics ? metrics->stage_anonymize : nullptr, seconds_since(t0));
      if (!forward(q_detect, std::move(*p))) break;
    }
    q_detect.close();
  }

  // The anonymize stage runs before detection, so its head fallback uses the persons of the
  // latest detected frame (a frame or two old; the face tracker holds masks longer than that).
  void publish_persons(const std::vector<Detection>& detections) {
    std::lock_guard lock(persons_mutex);
    latest_persons = detections;
  }

  // Draws the face masks the anonymize stage decided. A frame whose masks cannot be drawn is
  // withheld (fail closed).
  bool draw_masks(Packet& p) {
    try {
      faces += apply_masks(p.image, *p.masks).size();
    } catch (const cv::Exception& e) {
      ++frames_failed;
      spdlog::warn("camera {}: frame {} withheld, its face masks could not be drawn: {}",
                   s.camera.id, p.index, e.what());
      return false;
    }
    p.masks.reset();
    return true;
  }

  void update_snapshot(const cv::Mat& image, int64_t index) {
    std::lock_guard lock(status_mutex);
    snapshot_image = image;
    snapshot_index = index;
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
    detector_lowered = false;
    std::lock_guard lock(status_mutex);
    model_version = std::move(version);
  }

  // Detect stage only. The foreground model learns from the first frame and while persons are
  // in view, plus idle_frames detected frames after the last one; then it is released until
  // the next person. Decided here, from this frame's boxes, so that the frames it learns from
  // do not depend on how far the tracking stage lags (and the frames it skips cost no resize).
  ForegroundDemand foreground_demand;
  bool foreground_wanted(const std::vector<Detection>& detections) {
    return foreground_demand.wanted(std::any_of(
        detections.begin(), detections.end(),
        [](const Detection& d) { return d.label == "person" && d.score >= kWeakPersonBirth; }));
  }

  void detect_loop() {
    MotionDetector motion(s.detection.motion_threshold);
    int64_t n = 0;
    bool skipped_last = false;  // the last frame due for detection was skipped (behind)
    std::optional<Clock::time_point> skip_logged;
    const float low_conf = tracker_params(s.tracking).low_thresh;
    while (auto p = q_detect.pop()) {
      take_pending_detector();
      if (detector && !detector_lowered) {
        keep_conf = detector->params().conf;
        detector->set_conf(std::min(keep_conf, low_conf));
        detector_lowered = true;
        if (low_conf < keep_conf)
          spdlog::info(
              "camera {}: detector runs at conf {:.2f}: person boxes below {:.2f} only hold lost "
              "tracks (never events, votes or masks)",
              s.camera.id, low_conf, keep_conf);
      }
      const auto t0 = Clock::now();
      if (detector && (n++ % s.detection.every_n) == 0) {
        const cv::Mat& input = p->original.empty() ? p->image : p->original;
        // Judged on the frames due for detection only, so with every_n the detector still runs
        // on at least every other due frame.
        skipped_last = skip_detector_when_behind(s.detection.skip_when_behind && live,
                                                 q_anon.size() + q_detect.size(), skipped_last);
        if (skipped_last) {
          ++behind_skipped;
          if (!skip_logged || t0 - *skip_logged >= std::chrono::minutes(1)) {
            spdlog::info(
                "camera {}: behind: the object detector skips frames (never two in a row) so "
                "that none is dropped; {} skipped so far (edgevision_behind_skipped_total)",
                s.camera.id, behind_skipped.load());
            skip_logged = t0;
          }
        } else if (s.detection.motion_gating && !motion.update(input)) {
          ++motion_skipped;
        } else if (Status st = detector->detect(input, p->detections); st) {
          p->detector_ran = true;
          split_low_person_boxes(p->detections, keep_conf, p->low_detections);
          p->detector_conf = keep_conf;
          publish_persons(p->detections);
          observe(metrics ? metrics->inference : nullptr,
                  detector->last_timings().inference_ms / 1000.0);
        } else {
          spdlog::warn("camera {}: detection failed on frame {}: {}", s.camera.id, p->index,
                       st.message());
        }
      }
      if (foreground && p->detector_ran && foreground_wanted(p->detections)) {
        p->foreground = foreground->prepare(p->original.empty() ? p->image : p->original);
      }
      p->original.release();
      if (p->masks) {
        if (!draw_masks(*p)) continue;
        update_snapshot(p->image, p->index);
      }
      observe(metrics ? metrics->stage_detect : nullptr, seconds_since(t0));
      if (!forward(q_track, std::move(*p))) break;
    }
    q_track.close();
  }

  void track_loop() {
    static const std::vector<Detection> kNone;
    std::vector<Track> tracks;
    while (auto p = q_track.pop()) {
      const auto t0 = Clock::now();
      // Frames where the detector did not run (gated, every_n) do not advance the tracker:
      // otherwise still objects would age out and produce false "left" events.
      if (p->detector_ran) {
        if (p->low_detections.empty()) {
          tracks = tracker.update(p->detections);
        } else {
          std::vector<Detection> all = p->detections;
          all.insert(all.end(), p->low_detections.begin(), p->low_detections.end());
          tracks = tracker.update(all);
        }
        // Filters, appear/leave, zones, lines, activities: src/activity.
        // p->image passed the anonymizer (a frame that failed it never gets here).
        const auto scene_emit = [&](nlohmann::json e) {
          event_snapshots.attach(e, p->image, p->index);
          emit(std::move(e));
        };
        const std::vector<Track> live = tracker.live_tracks();
        SceneFrame sf = scene_frame(*p, tracks, live, s.camera.roi);
        if (foreground && !p->foreground.small.empty()) {
          foreground->update(p->foreground);
          sf.foreground = foreground.get();
        } else if (foreground) {
          foreground->release();
        }
        scene.update(sf, scene_emit);
        // Weak-born tracks (seated people below new_track_thresh, but also clutter) are for
        // the fall rules only: live counts, hooks and the status see the others.
        std::erase_if(tracks, [](const Track& t) { return t.weak_birth; });
        active_tracks = static_cast<int>(tracks.size());
      }
      // Tentative tracks too: a plate read on a vehicle's first frames still gets its class.
      if (plates) plates->set_vehicles(p->index, tracker.live_tracks());
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
    }
    if (plates) plates->vehicles_ended();
    if (!stop) {
      // The source ended: everything still tracked has left, every open event ends.
      scene.finish(emit);
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
  SceneAnalyzer::register_event_types();

  auto ao = anonymizer_options(settings.privacy, settings.detection);
  if (!ao) return R::Error(ao.error());
  // A camera that detects objects hands its persons to the head fallback; one that does not
  // runs a person detector for it.
  ao->head_fallback.own_detector = !settings.camera.detect;
  // Motion regions gate the frame pass only; everything else (level thresholds, crowd and
  // person levers) is the anonymizer's as without them.
  Anonymizer::FrameDetectorWrapper gate;
  if (settings.privacy.motion_regions) {
    MotionFaceOptions mo;
    mo.full_pass_every = settings.privacy.full_pass_every;
    gate = [mo](std::unique_ptr<FaceDetector> faces) -> std::unique_ptr<FaceDetector> {
      return std::make_unique<MotionGatedFaceDetector>(std::move(faces), mo);
    };
  }
  auto anonymizer = Anonymizer::create(*ao, models, gate);
  if (!anonymizer) return R::Error("privacy detector: " + anonymizer.error());
  impl->anonymizer = std::move(*anonymizer);
  if (!impl->anonymizer->fallback_note().empty()) {
    spdlog::warn("camera {}: {}", settings.camera.id, impl->anonymizer->fallback_note());
  }
  if (!impl->anonymizer->head_fallback_note().empty()) {
    spdlog::warn("camera {}: {}", settings.camera.id, impl->anonymizer->head_fallback_note());
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

    TrackerParams tp = tracker_params(settings.tracking);
    // Falls need a track for seated / half-hidden people too, who score below
    // new_track_thresh for minutes; their tracks give no events below the class filter's score.
    if (settings.camera.scene.activities) tp.weak_birth_thresh = kWeakPersonBirth;
    auto tracker = Tracker::create(tp);
    if (!tracker) return R::Error("tracking: " + tracker.error());
    impl->tracker = std::move(*tracker);
  }
  if (settings.privacy.plates.value_or(settings.alpr.enabled) || settings.alpr.enabled) {
    auto plates = PlateStage::create(plate_stage_options(settings), models, impl->emit);
    if (!plates) return R::Error(plates.error());
    impl->plates = std::move(*plates);
  }
  // The object detector sees the frame before its face masks (masks over faces cost it
  // people): the anonymize stage decides the masks and the detect stage draws them once it has
  // run, so no full copy of the frame waits between the stages. Plates are masked on the
  // face-masked frame in the anonymize stage, so with them the frame is copied there instead.
  impl->anonymizer->set_deferred_masks(settings.camera.detect && !impl->plates);
  for (const auto& f : hooks) {
    if (auto h = f(settings.camera)) impl->hooks.push_back(std::move(h));
  }
  p->impl_ = std::move(impl);
  return p;
}

void CameraPipeline::start() {
  Impl& m = *impl_;
  if (!m.threads.empty()) return;
  if (m.plates) m.plates->start();
  m.threads.emplace_back([&m] {
    set_thread_name("src-", m.s.camera.id);
    m.source_loop();
  });
  m.threads.emplace_back([&m] {
    set_thread_name("anon-", m.s.camera.id);
    m.anonymize_loop();
  });
  m.threads.emplace_back([&m] {
    set_thread_name("det-", m.s.camera.id);
    m.detect_loop();
  });
  m.threads.emplace_back([this, &m] {
    set_thread_name("track-", m.s.camera.id);
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
  if (m.plates) m.plates->stop();
  std::lock_guard lock(m.status_mutex);
  if (m.state != "failed") m.state = "stopped";
  if (m.metrics && m.metrics->up) m.metrics->up->Set(0);
}

CameraStatus CameraPipeline::status() const {
  const Impl& m = *impl_;
  CameraStatus s;
  s.id = settings_.camera.id;
  s.source = redact_url(settings_.camera.source);
  s.frames_in = m.frames_in;
  s.frames_out = m.frames_out;
  s.frames_dropped =
      m.dropped_undecoded + m.q_anon.dropped() + m.q_detect.dropped() + m.q_track.dropped();
  s.frames_failed = m.frames_failed;
  s.motion_skipped = m.motion_skipped;
  s.behind_skipped = m.behind_skipped;
  s.faces_anonymized = m.faces;
  s.latency_ms = m.latency_ms;
  s.active_tracks = m.active_tracks;
  s.reconnects = m.reconnects;
  std::lock_guard lock(m.status_mutex);
  s.state = m.state;
  s.error = m.error;
  if (m.live && s.state == "running") {
    const int64_t idle_ms = Impl::now_ms() - m.last_frame_ms.load();
    if (idle_ms > Impl::kStallMs) {
      s.state = "stalled";
      s.error = "no frame for " + std::to_string(idle_ms / 1000) + " s";
    }
  }
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

std::optional<std::vector<uint8_t>> CameraPipeline::event_snapshot_jpeg(
    const std::string& event_id) const {
  return impl_->event_snapshots.jpeg(event_id);
}

std::optional<std::vector<uint8_t>> CameraPipeline::snapshot_jpeg() const {
  const Impl& m = *impl_;
  cv::Mat image;
  int64_t index = -1;
  {
    std::lock_guard lock(m.status_mutex);
    if (m.snapshot && m.snapshot_encoded == m.snapshot_index) return *m.snapshot;
    if (m.snapshot_image.empty()) return std::nullopt;
    image = m.snapshot_image;
    index = m.snapshot_index;
  }
  std::vector<uint8_t> jpeg;
  if (!encode_jpeg(image, 80, jpeg)) return std::nullopt;
  auto shared = std::make_shared<const std::vector<uint8_t>>(std::move(jpeg));
  std::lock_guard lock(m.status_mutex);
  m.snapshot = shared;
  m.snapshot_encoded = index;
  return *shared;
}

}  // namespace ev
