// The service runtime: one CameraPipeline per camera (source -> anonymize -> detect -> track
// -> events, each stage on its own thread, bounded queues between them) and the Service that
// owns all cameras, the event sinks and the metrics, and implements the REST server's view
// (service.hpp). See docs/configuration.md for the knobs.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/benchmark.hpp"
#include "edgevision/config.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/events.hpp"
#include "edgevision/face.hpp"
#include "edgevision/models.hpp"
#include "edgevision/ota.hpp"
#include "edgevision/service.hpp"
#include "edgevision/track.hpp"

namespace prometheus {
class Registry;
}

namespace ev {

// ---------------------------------------------------------------------------------------
// Analytics hooks: the extension point for the activity / zone / ALPR analyzers to come.
// A hook sees every frame after tracking (the anonymized image, detections and tracks) on the
// camera's tracking thread and may emit events. New event types must be registered in
// EventTypeRegistry first. Hooks must be quick; the frame is only valid during the call.
// ---------------------------------------------------------------------------------------
struct AnalyticsFrame {
  const std::string& camera;
  int64_t index;
  double time_ms;
  const cv::Mat& image;                      // anonymized
  const std::vector<Detection>& detections;  // empty when the detector was skipped
  const std::vector<Track>& tracks;          // confirmed tracks matched this frame
  bool detector_ran;
};
using EventEmitter = std::function<void(nlohmann::json event)>;
class AnalyticsHook {
 public:
  virtual ~AnalyticsHook() = default;
  virtual void on_frame(const AnalyticsFrame& frame, const EventEmitter& emit) = 0;
};
using AnalyticsHookFactory = std::function<std::unique_ptr<AnalyticsHook>(const CameraConfig&)>;

// Per-camera metric handles (src/pipeline/metrics.hpp); may be null.
struct CameraMetrics;

struct PipelineSettings {
  CameraConfig camera;
  PrivacyConfig privacy;
  DetectionConfig detection;
  TrackingConfig tracking;
  AlprConfig alpr;  // with privacy.plates: plate masking and reading (src/alpr)
  bool operator==(const PipelineSettings&) const = default;
};

// What the config sections ask for, in the parameter structs of the stages.
DetectorParams detector_params(const DetectionConfig& detection);
// The head fallback's own person detector (when it needs one) is `detection`'s model.
Result<AnonymizerOptions> anonymizer_options(const PrivacyConfig& privacy,
                                             const DetectionConfig& detection);
TrackerParams tracker_params(const TrackingConfig& tracking);
ModelManagerOptions model_manager_options(const ModelsConfig& models);
// The process-wide inference runtime the service asks for (backend.hpp): sessions shared
// across cameras, spinning as configured, and intra-op threads sized so that the cameras'
// inference stages (two per camera: faces, objects) times the threads each fill `cores`
// (runtime.threads, else the online cores) without exceeding it: max(1, cores / stages).
RuntimeOptions runtime_options_for(const Config& config);
// The same for one camera run on its own (`scene`, `bench --video`), so that its stages get
// the threads they would get in `run` rather than ONNX Runtime's defaults.
RuntimeOptions runtime_options_for(const RuntimeConfig& runtime, const CameraConfig& camera);
// The plate stage a camera runs: masking when privacy.plates, reading when alpr.enabled.
struct PlateStageOptions;
PlateStageOptions plate_stage_options(const PipelineSettings& settings);
// The part of a decoded frame a camera analyses: its `roi` (clipped to the frame; a copy, so
// the decoder's buffer can be reused), or the whole frame when the roi is empty or outside it.
cv::Mat crop_to_roi(cv::Mat frame, const cv::Rect& roi);

// `edgevision bench --pipeline/--video`: one camera's stages run one after the other on this
// thread, each timed per frame (decode, face_detect, anonymize, detect_preprocess,
// detect_inference, detect_postprocess, track). Sequential on purpose: the service runs the
// stages on their own threads, so these per-stage times add up to the frame latency and the
// slowest stage bounds the throughput (`bottleneck`).
struct PipelineBenchOptions {
  int max_frames = 300;  // timed frames; 0: the whole source
  int warmup = 5;        // frames processed first, not timed
  bool progress = true;
  // Afterwards, also run the threaded CameraPipeline (fps cap off) over warmup + the frames
  // the sequential run timed, and measure its throughput. Fails, never hangs, when the source
  // stops (camera failed or reconnecting, or no frame for 30 s).
  bool threaded = false;
};
Result<PipelineBenchResult> benchmark_pipeline(const PipelineSettings& settings,
                                               ModelManager& models,
                                               const PipelineBenchOptions& options = {});

class CameraPipeline {
 public:
  // Loads the models (may take a while). `emit` receives events from the tracking thread.
  static Result<std::unique_ptr<CameraPipeline>> create(
      const PipelineSettings& settings, ModelManager& models, EventEmitter emit,
      std::shared_ptr<CameraMetrics> metrics = nullptr,
      const std::vector<AnalyticsHookFactory>& hooks = {});
  ~CameraPipeline();  // stop()

  void start();
  void stop();  // joins all stage threads
  // Source ended and every frame went through (file without loop).
  bool finished() const { return finished_.load(); }

  CameraStatus status() const;
  // Latest frame that passed the anonymizer, as JPEG: encoded here, on request (once per new
  // frame), so cameras nobody watches spend nothing on it.
  std::optional<std::vector<uint8_t>> snapshot_jpeg() const;
  // The anonymized frame of one of this camera's events (its `snapshot` field); nullopt when
  // unknown or already dropped from the bounded store (analytics.snapshots).
  std::optional<std::vector<uint8_t>> event_snapshot_jpeg(const std::string& event_id) const;
  void update_rates();  // once per second: recomputes fps_in / fps_out
  // Hot model switch (OTA): loads the new detector now and swaps it in between two frames.
  // On error the old detector keeps serving.
  Status switch_model(const ota::InstalledModel& model);
  const PipelineSettings& settings() const { return settings_; }

  struct Impl;

 private:
  explicit CameraPipeline(PipelineSettings settings);
  PipelineSettings settings_;
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> finished_{false};
};

// Motion gate: frame differencing on a downscaled, blurred gray frame.
class MotionDetector {
 public:
  explicit MotionDetector(double threshold = 0.002, int width = 160)
      : threshold_(threshold), width_(width) {}
  // True when more than `threshold` of the pixels changed since the previous frame (always
  // true for the first frame and after a size change).
  bool update(const cv::Mat& bgr);
  double last_fraction() const { return last_fraction_; }

 private:
  double threshold_;
  int width_;
  cv::Mat previous_;
  double last_fraction_ = 1.0;
};

// Face detection on the frame's motion regions only (privacy.motion_regions). Wraps any
// FaceDetector: between full-frame passes it runs the detector on the padded, merged regions
// where pixels changed, and reports faces found earlier in unchanged regions where they were,
// so a person who stands still stays masked. A full pass runs every `full_pass_every` frames,
// on the first frame, after a size change, on a scene change and when the regions cover more
// than `max_region_fraction` of the frame. A detector error is returned as is (fail closed).
struct MotionFaceOptions {
  int full_pass_every = 10;           // frames
  double scene_change = 0.35;         // changed fraction of the frame: full pass
  double max_region_fraction = 0.45;  // regions covering more than this: full pass
  int max_regions = 4;                // more separate regions than this: full pass
  int analysis_width = 160;           // motion is measured on a gray frame this wide
  int diff_threshold = 15;            // gray levels (after a 5x5 blur) that count as a change
  float pad_fraction = 0.5f;          // each motion blob grows by this much of its size ...
  int pad_pixels = 48;                // ... plus this many pixels on every side
  // Frames by which this detector's periodic full passes come early (0 .. full_pass_every-1).
  // Cameras started together would otherwise all run their full pass on the same frame and
  // queue up behind one another in the shared face session; -1 picks a phase per detector
  // created in this process (spread by the golden ratio).
  int phase = -1;
};

class MotionGatedFaceDetector final : public FaceDetector {
 public:
  MotionGatedFaceDetector(std::unique_ptr<FaceDetector> inner, MotionFaceOptions options = {});
  ~MotionGatedFaceDetector() override;
  std::string name() const override;
  Result<std::vector<Face>> detect(const cv::Mat& bgr) override;
  void set_small_face_runs(bool on) override { inner_->set_small_face_runs(on); }

  struct Stats {
    int64_t full = 0;     // frames that got a full-frame pass
    int64_t regions = 0;  // frames where only motion regions were searched
    int64_t still = 0;    // frames without motion: no inference at all
  };
  const Stats& stats() const { return stats_; }
  // Where the last frame was searched (the whole frame after a full pass).
  const std::vector<cv::Rect>& last_regions() const { return last_regions_; }

 private:
  Result<std::vector<Face>> full_pass(const cv::Mat& bgr);
  std::unique_ptr<FaceDetector> inner_;
  MotionFaceOptions options_;
  cv::Mat previous_;
  cv::Size frame_size_;
  int since_full_ = 0;
  std::vector<Face> known_;
  std::vector<cv::Rect> last_regions_;
  Stats stats_;
};

// Resident set size of this process in bytes (from /proc/self/statm; 0 if unknown).
uint64_t process_rss_bytes();

struct ServiceMetrics;

// ---------------------------------------------------------------------------------------
// Service: all cameras + event sinks + metrics. Implements the server's view.
// ---------------------------------------------------------------------------------------
class Service final : public ServiceView, public EventFeed {
 public:
  static Result<std::unique_ptr<Service>> create(const Config& config);
  ~Service() override;

  // Hooks apply to cameras started after the call (call before start()).
  void add_analytics_hook(AnalyticsHookFactory factory);
  // Starts the sinks (replaying their spools) and every enabled camera. A camera whose models
  // cannot be loaded is reported as failed; the others run.
  Status start();
  // Stops cameras, then gives the sinks up to drain_ms to deliver what is spooled.
  void stop(int drain_ms = 2000);
  // Applies a new configuration: cameras that are new/removed/changed are started/stopped/
  // restarted; unchanged cameras keep running. Event sinks are rebuilt if their section
  // changed (spools persist). api changes need a restart (logged).
  Status reload(const Config& config);
  // Publishes an event (adds "seq", logs it, fans it out to subscribers and sinks).
  void publish(nlohmann::json event);
  // True when every enabled camera's source has ended (files without loop).
  bool all_finished() const;
  std::vector<SinkStats> sink_stats() const;
  Config config() const;

  // ServiceView
  std::vector<CameraStatus> cameras() const override;
  std::optional<std::vector<uint8_t>> snapshot_jpeg(const std::string& camera_id) const override;
  std::optional<std::vector<uint8_t>> event_snapshot_jpeg(
      const std::string& event_id) const override;
  EventFeed& events() override { return *this; }
  prometheus::Registry& metrics() override;
  nlohmann::json health() const override;
  nlohmann::json live_tracks(const std::string& camera_id) const override;
  nlohmann::json scene(const std::string& camera_id) const override;  // service_scene.cpp

  // EventFeed
  uint64_t subscribe(Callback callback) override;
  void unsubscribe(uint64_t id) override;
  std::vector<nlohmann::json> recent(size_t max_events) const override;

 private:
  struct CameraEntry;
  Service() = default;
  std::unique_ptr<CameraEntry> make_camera(const CameraConfig& camera);
  std::unique_ptr<ModelManager> make_models() const;
  void stats_loop();
  void update_metrics();

  mutable std::mutex mutex_;  // config_, cameras_, router_, models_
  std::mutex reload_mutex_;   // one reload at a time (it releases mutex_ while cameras stop)
  Config config_;
  std::unique_ptr<ModelManager> models_;
  std::map<std::string, std::unique_ptr<CameraEntry>> cameras_;
  mutable std::mutex router_mutex_;  // router_ (publish() must not wait for mutex_)
  std::unique_ptr<EventRouter> router_;
  std::atomic<bool> log_events_{true};
  std::vector<AnalyticsHookFactory> hooks_;
  // Watches the OTA `current` link of the detection model; switches cameras without a restart.
  std::unique_ptr<ota::UpdateWatcher> ota_watcher_;
  void on_model_update(const ota::InstalledModel& model);
  std::unique_ptr<ServiceMetrics> metrics_;
  bool started_ = false;

  std::mutex publish_mutex_;  // one event at a time, so every sink sees the same order
  uint64_t next_seq_ = 1;
  mutable std::mutex feed_mutex_;
  std::map<uint64_t, Callback> subscribers_;
  uint64_t next_subscriber_ = 1;
  std::vector<nlohmann::json> recent_;  // ring, kRecentEvents
  size_t recent_head_ = 0;

  // MQTT state beside the events (src/pipeline/service_mqtt.cpp): confirmed tracks per class
  // and camera from a built-in analytics hook, published as retained counts; periodic stats.
  std::shared_ptr<struct LiveCounts> live_counts_;
  std::chrono::steady_clock::time_point last_mqtt_stats_{};
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  void init_mqtt_state();     // from create()
  void publish_mqtt_state();  // from the stats thread, mutex_ not held

  // Line crossings per direction and zone occupancy per camera, from the scene events, for
  // the dashboard (service_scene.cpp).
  struct SceneCounts {
    std::mutex mutex;
    std::map<std::string, std::map<std::string, std::map<std::string, uint64_t>>> lines;
    std::map<std::string, std::map<std::string, int>> zones;
  };
  mutable SceneCounts scene_counts_;
  void count_scene(const nlohmann::json& event);  // from publish()

  std::thread stats_thread_;
  std::mutex stats_mutex_;
  std::condition_variable stats_wake_;
  bool stats_stop_ = false;
};

}  // namespace ev
