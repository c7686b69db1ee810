// `edgevision bench --pipeline/--video`: the camera pipeline's stages, run one after the other
// on one thread and timed per frame. The stages are the ones CameraPipeline builds (same
// config helpers, same OTA model resolution), so the numbers describe what the service runs.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "edgevision/io.hpp"
#include "edgevision/ota.hpp"
#include "edgevision/pipeline.hpp"
#include "edgevision/progress.hpp"

namespace ev {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

// Stages in pipeline order, with the service thread that runs each.
struct StageDef {
  const char* name;
  const char* thread;
};
constexpr StageDef kStages[] = {
    {"decode", "source"},
    {"face_detect", "anonymize"},
    {"anonymize", "anonymize"},
    {"motion_gate", "detect"},
    {"detect_preprocess", "detect"},
    {"detect_inference", "detect"},
    {"detect_postprocess", "detect"},
    {"track", "track"},
};

class StageTimes {
 public:
  void add(const char* stage, double ms) {
    if (recording_) samples_[stage].push_back(ms);
  }
  void set_recording(bool on) { recording_ = on; }

  // Stages that ran at least once, in pipeline order; per-thread time per frame.
  void finish(PipelineBenchResult& r) const {
    std::map<std::string, double> per_thread_ms;
    for (const auto& def : kStages) {
      auto it = samples_.find(def.name);
      if (it == samples_.end() || it->second.empty()) continue;
      StageResult s;
      s.name = def.name;
      s.thread = def.thread;
      s.samples_ms = it->second;
      s.stats = compute_latency_stats(it->second);
      double sum = 0;
      for (double v : it->second) sum += v;
      if (r.frames > 0) per_thread_ms[def.thread] += sum / r.frames;
      r.stages.push_back(std::move(s));
    }
    for (const auto& [thread, ms] : per_thread_ms) {
      if (ms > r.bottleneck_ms) {
        r.bottleneck = thread;
        r.bottleneck_ms = ms;
      }
    }
  }

 private:
  bool recording_ = false;
  std::map<std::string, std::vector<double>> samples_;
};

// Frames per second of the real CameraPipeline over `frames` frames after `warmup` frames.
// Gives up when the camera fails, is reconnecting (a stream that stopped) with nothing left to
// process, or makes no progress for kStallSeconds, so a benchmark never hangs on a dead source.
Status run_threaded(PipelineSettings settings, ModelManager& models, int warmup, int frames,
                    bool progress, PipelineBenchResult::Threaded& out) {
  constexpr double kStallSeconds = 30, kReconnectSeconds = 3;
  settings.camera.fps = 0;  // capacity, not the configured cap
  settings.camera.loop = false;
  auto pipeline = CameraPipeline::create(settings, models, [](nlohmann::json) {});
  if (!pipeline) return pipeline.status();
  const uint64_t warm = static_cast<uint64_t>(std::max(0, warmup));
  const uint64_t timed = static_cast<uint64_t>(std::max(1, frames));
  ProgressBar bar("bench threaded pipeline", static_cast<int64_t>(timed), "frames");
  if (!progress) bar.force_enabled(false);
  (*pipeline)->start();
  uint64_t start_frames = 0, start_dropped = 0, last_frames = 0;
  bool started = false;
  Clock::time_point t0, last_progress = Clock::now();
  double cpu0 = 0;
  CameraStatus st;
  std::string failure;
  while (true) {
    st = (*pipeline)->status();
    if (st.frames_out != last_frames) {
      last_frames = st.frames_out;
      last_progress = Clock::now();
    }
    // A reconnecting source may still have frames queued in the stages: give them a moment.
    const double stalled_s = std::chrono::duration<double>(Clock::now() - last_progress).count();
    if (st.state == "failed" || (st.state == "reconnecting" && stalled_s > kReconnectSeconds)) {
      failure = "threaded pipeline: camera " + st.state + (st.error.empty() ? "" : ": " + st.error);
    } else if (stalled_s > kStallSeconds) {
      failure = "threaded pipeline: no frame for " + std::to_string(int(kStallSeconds)) + " s";
    }
    const bool done = (*pipeline)->finished() || !failure.empty();
    // Timing starts at the first poll past the warm-up, which may be a frame or two later
    // under load; the timed frames are counted from there, so there are `frames` of them unless
    // the source ends first.
    if (!started && (st.frames_out >= warm || done)) {
      started = true;
      start_frames = st.frames_out;
      start_dropped = st.frames_dropped;
      t0 = Clock::now();
      cpu0 = process_cpu_seconds();
    }
    if (started) bar.update(static_cast<int64_t>(st.frames_out - start_frames));
    if (done || (started && st.frames_out - start_frames >= timed)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu_s = process_cpu_seconds() - cpu0;
  (*pipeline)->stop();
  bar.finish();
  if (!failure.empty()) return Status::Error(failure);
  out.frames = static_cast<int>(st.frames_out - start_frames);
  if (out.frames <= 0) return Status::Error("threaded pipeline: no frame after the warm-up");
  if (out.frames < 10)
    spdlog::warn("bench pipeline: the threaded run timed only {} frames; its FPS is rough",
                 out.frames);
  out.fps = wall_s > 0 ? out.frames / wall_s : 0;
  out.cpu_percent = wall_s > 0 ? cpu_s / wall_s * 100.0 : 0;
  out.latency_ms = st.latency_ms;
  out.frames_dropped = static_cast<int64_t>(st.frames_dropped - start_dropped);
  return Status::Ok();
}

}  // namespace

Result<PipelineBenchResult> benchmark_pipeline(const PipelineSettings& settings,
                                               ModelManager& models,
                                               const PipelineBenchOptions& options) {
  using R = Result<PipelineBenchResult>;
  PipelineBenchResult result;
  result.source = settings.camera.source;
  reset_peak_rss();

  const auto t_load = Clock::now();
  auto ao = anonymizer_options(settings.privacy, settings.detection);
  if (!ao) return R::Error("privacy: " + ao.error());
  ao->head_fallback.own_detector = !settings.camera.detect;  // as CameraPipeline
  auto anonymizer = Anonymizer::create(*ao, models);
  if (!anonymizer) return R::Error("privacy detector: " + anonymizer.error());
  if (!(*anonymizer)->fallback_note().empty()) spdlog::warn("{}", (*anonymizer)->fallback_note());
  result.face_detector = (*anonymizer)->detector_name();

  std::unique_ptr<ObjectDetector> detector;
  std::optional<Tracker> tracker;
  if (settings.camera.detect) {
    auto serving = ota::resolve_serving(models, settings.detection.model);
    if (!serving) return R::Error("object detector: " + serving.error());
    auto det =
        ObjectDetector::create(detector_params(settings.detection), serving->paths, &serving->spec);
    if (!det) return R::Error("object detector: " + det.error());
    detector = std::move(*det);
    result.detector = settings.detection.model;
    auto tr = Tracker::create(tracker_params(settings.tracking));
    if (!tr) return R::Error("tracking: " + tr.error());
    tracker.emplace(std::move(*tr));
  }
  result.load_ms = ms_since(t_load);

  auto source = open_source(settings.camera.source);
  if (!source) return R::Error(source.error());
  const SourceKind kind = (*source)->info().kind;
  if (options.max_frames <= 0 && (kind == SourceKind::kCamera || kind == SourceKind::kStream))
    return R::Error(settings.camera.source +
                    " is a live source: give a number of frames (--frames N > 0)");
  const int64_t known = (*source)->info().frame_count;
  int64_t planned = options.max_frames > 0 ? options.max_frames : -1;
  if (known > 0) {
    const int64_t available = std::max<int64_t>(0, known - options.warmup);
    planned = planned > 0 ? std::min(planned, available) : available;
  }
  ProgressBar bar("bench pipeline", planned, "frames");
  if (!options.progress) bar.force_enabled(false);

  MotionDetector motion(settings.detection.motion_threshold);
  StageTimes times;
  std::vector<double> totals;
  int corrupt = 0;
  int64_t processed = 0;  // warm-up included
  int64_t to_detect = 0;  // frames that passed the privacy stage
  double cpu0 = 0;
  Clock::time_point t_timed;
  while (options.max_frames <= 0 || static_cast<int>(totals.size()) < options.max_frames) {
    const bool timed = processed >= options.warmup;
    if (timed && totals.empty()) {
      times.set_recording(true);
      cpu0 = process_cpu_seconds();
      t_timed = Clock::now();
    }
    const auto t_frame = Clock::now();
    Frame frame;
    std::string message;
    const ReadStatus rs = (*source)->read(frame, message);
    if (rs == ReadStatus::kEnd) break;
    if (rs == ReadStatus::kCorrupt) {
      ++corrupt;
      spdlog::warn("bench pipeline: skipping an undecodable frame: {}", message);
      continue;
    }
    if (rs != ReadStatus::kFrame) {
      if (processed == 0) return R::Error("cannot read " + settings.camera.source + ": " + message);
      spdlog::warn("bench pipeline: source stopped after {} frames: {}", processed, message);
      break;
    }
    cv::Mat image = crop_to_roi(std::move(frame.image), settings.camera.roi);
    times.add("decode", ms_since(t_frame));

    // As CameraPipeline: objects are detected on the frame before anonymization.
    const cv::Mat original = detector ? image.clone() : cv::Mat();
    const FrameResult fr = (*anonymizer)->process(image);
    times.add("face_detect", fr.detect_ms);
    if (fr.emitted) times.add("anonymize", fr.mask_ms);
    if (timed) {
      if (!fr.emitted) ++result.frames_failed;
      result.faces += fr.masks_applied;
    }

    // Same order and skipping rules as CameraPipeline's detect and track threads; a frame
    // withheld by the privacy path goes no further.
    // every_n counts the frames that reach the detect thread, as CameraPipeline does.
    if (fr.emitted && detector && (to_detect++ % settings.detection.every_n) == 0) {
      bool run = true;
      if (settings.detection.motion_gating) {
        const auto t_motion = Clock::now();
        run = motion.update(original);
        times.add("motion_gate", ms_since(t_motion));
      }
      std::vector<Detection> detections;
      if (run) {
        if (Status st = detector->detect(original, detections); !st) {
          spdlog::warn("bench pipeline: detection failed on frame {}: {}", frame.index,
                       st.message());
        } else {
          const DetectTimings& dt = detector->last_timings();
          times.add("detect_preprocess", dt.preprocess_ms);
          times.add("detect_inference", dt.inference_ms);
          times.add("detect_postprocess", dt.postprocess_ms);
          if (timed) result.detections += static_cast<int64_t>(detections.size());
          (*anonymizer)->set_persons(detections);
          const auto t_track = Clock::now();
          tracker->update(detections);
          times.add("track", ms_since(t_track));
        }
      }
    }
    if (timed) {
      totals.push_back(ms_since(t_frame));
      bar.update(static_cast<int64_t>(totals.size()));
    }
    ++processed;
  }
  bar.finish();
  if (totals.empty()) {
    return R::Error(settings.camera.source + ": no frame left to time after " +
                    std::to_string(options.warmup) + " warm-up frames (" +
                    std::to_string(processed) + " read, " + std::to_string(corrupt) + " corrupt)");
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - t_timed).count();
  result.frames = static_cast<int>(totals.size());
  result.total = compute_latency_stats(totals);
  result.total_samples_ms = std::move(totals);
  times.finish(result);
  result.peak_rss_mb = peak_rss_mb();
  if (wall_s > 0) result.cpu_percent = (process_cpu_seconds() - cpu0) / wall_s * 100.0;
  if (options.threaded) {
    // The sequential run's models and source go first: one set of models in memory, and a
    // camera device can only be opened once.
    anonymizer->reset();
    detector.reset();
    source->reset();
    if (Status st = run_threaded(settings, models, options.warmup, result.frames, options.progress,
                                 result.threaded);
        !st)
      return R::Error(st.message());
    result.peak_rss_mb = std::max(result.peak_rss_mb, peak_rss_mb());
  }
  return result;
}

}  // namespace ev
