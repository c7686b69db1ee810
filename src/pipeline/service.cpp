// Service: cameras, event fan-out (log, recent ring, subscribers, sinks), metrics, reload.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <thread>

#include "core/thread_name.hpp"
#include "edgevision/pipeline.hpp"
#include "edgevision/redact.hpp"
#include "pipeline/metrics.hpp"

namespace ev {

namespace {
constexpr size_t kRecentEvents = 256;
}

struct Service::CameraEntry {
  CameraConfig config;
  PipelineSettings settings;
  std::unique_ptr<CameraPipeline> pipeline;  // null: disabled or failed to start
  std::string error;
  std::shared_ptr<CameraMetrics> metrics;
  bool restarting = false;  // placeholder while reload() stops the old pipeline outside mutex_
};

Result<std::unique_ptr<Service>> Service::create(const Config& config) {
  std::unique_ptr<Service> s(new Service());
  s->config_ = config;
  s->metrics_ = std::make_unique<ServiceMetrics>();
  s->recent_.reserve(kRecentEvents);
  s->models_ = s->make_models();
  s->init_mqtt_state();
  return s;
}

Service::~Service() {
  stop(0);
  // Pipelines hold handles into the metric families: they must go before metrics_ does.
  std::lock_guard lock(mutex_);
  cameras_.clear();
}

RuntimeOptions runtime_options_for(const Config& config) {
  RuntimeOptions o;
  o.share_sessions = config.runtime.share_sessions;
  o.allow_spinning = config.runtime.allow_spinning;
  o.runs_per_session = config.runtime.runs_per_session;
  o.shared_session_arena = config.runtime.session_arena;
  const int cores = config.runtime.threads > 0
                        ? config.runtime.threads
                        : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  int stages = 0;
  for (const auto& c : config.cameras)
    if (c.enabled) stages += c.detect ? 2 : 1;
  o.max_intra_op_threads = std::max(1, cores / std::max(1, stages));
  // Several cameras take turns on one shared session; with one intra-op thread per run, one
  // run at a time leaves the other cores idle while cameras queue for the face model.
  if (o.runs_per_session <= 0)
    o.runs_per_session = std::clamp(cores / o.max_intra_op_threads, 1, 64);
  return o;
}

RuntimeOptions runtime_options_for(const RuntimeConfig& runtime, const CameraConfig& camera) {
  Config one;
  one.runtime = runtime;
  one.cameras = {camera};
  one.cameras.front().enabled = true;
  return runtime_options_for(one);
}

namespace {
// Called with mutex_ held, before cameras load models; sessions already loaded keep theirs.
void apply_runtime(const Config& config) {
  const RuntimeOptions o = runtime_options_for(config);
  if (o == runtime_options()) return;
  set_runtime_options(o);
  spdlog::info(
      "inference runtime: {} sessions, {} intra-op thread{} per session, spinning {}, {} run{} "
      "in flight per session, arena {}",
      o.share_sessions ? "shared" : "per-camera", o.max_intra_op_threads,
      o.max_intra_op_threads == 1 ? "" : "s", o.allow_spinning ? "on" : "off", o.runs_per_session,
      o.runs_per_session == 1 ? "" : "s", o.shared_session_arena ? "on" : "off");
}
}  // namespace

std::unique_ptr<ModelManager> Service::make_models() const {
  return std::make_unique<ModelManager>(model_manager_options(config_.models));
}

void Service::add_analytics_hook(AnalyticsHookFactory factory) {
  std::lock_guard lock(mutex_);
  hooks_.push_back(std::move(factory));
}

// Called with mutex_ held.
std::unique_ptr<Service::CameraEntry> Service::make_camera(const CameraConfig& camera) {
  auto e = std::make_unique<CameraEntry>();
  e->config = camera;
  e->settings = {camera, config_.privacy, config_.detection, config_.tracking, config_.alpr};
  if (!camera.enabled) return e;
  e->metrics = metrics_->add_camera(camera.id, camera.detect ? config_.detection.model : "none");
  auto p = CameraPipeline::create(
      e->settings, *models_, [this](nlohmann::json ev) { publish(std::move(ev)); }, e->metrics,
      hooks_);
  if (!p) {
    e->error = redact_text(p.error());
    spdlog::error("camera {}: cannot start: {}", camera.id, e->error);
    return e;
  }
  e->pipeline = std::move(*p);
  e->pipeline->start();
  return e;
}

Status Service::start() {
  {
    std::lock_guard lock(mutex_);
    if (started_) return Status::Ok();
    auto router = EventRouter::create(config_.events);
    if (!router) return Status::Error("events: " + router.error());
    {
      std::lock_guard router_lock(router_mutex_);
      router_ = std::move(*router);
    }
    log_events_ = config_.events.log;
    apply_runtime(config_);
    for (const auto& c : config_.cameras) cameras_[c.id] = make_camera(c);
    started_ = true;
    if (!config_.detection.model.empty()) {
      ota_watcher_ = std::make_unique<ota::UpdateWatcher>(
          ota::ModelStore(models_->cache_dir() / "ota"),
          std::vector<std::string>{config_.detection.model},
          [this](const ota::InstalledModel& m) { on_model_update(m); });
    }
  }
  stats_stop_ = false;
  stats_thread_ = std::thread([this] {
    set_thread_name("stats");
    stats_loop();
  });
  spdlog::info("service started: {} cameras, sinks: {}", config_.cameras.size(), [&] {
    std::string s;
    for (const auto& st : sink_stats()) s += (s.empty() ? "" : ", ") + st.name;
    return s.empty() ? std::string("none") : s;
  }());
  return Status::Ok();
}

void Service::on_model_update(const ota::InstalledModel& model) {
  std::lock_guard lock(mutex_);
  if (!started_ || model.name != config_.detection.model) return;
  int switched = 0;
  for (auto& [id, e] : cameras_) {
    if (!e->pipeline) continue;
    if (Status st = e->pipeline->switch_model(model); st) {
      ++switched;
    } else {
      spdlog::error("model update {} {}: {}; camera keeps the previous model", model.name,
                    model.version, st.message());
    }
  }
  spdlog::info("model update: {} version {} now serving on {} cameras", model.name, model.version,
               switched);
}

void Service::stop(int drain_ms) {
  // First: the watcher's callback takes mutex_, so it must be gone before stop() holds it.
  ota_watcher_.reset();
  {
    std::lock_guard lock(stats_mutex_);
    stats_stop_ = true;
  }
  stats_wake_.notify_all();
  if (stats_thread_.joinable()) stats_thread_.join();
  std::unique_ptr<EventRouter> router;
  {
    std::lock_guard lock(mutex_);
    if (!started_) return;
    for (auto& [id, e] : cameras_) {
      if (e->pipeline) e->pipeline->stop();
    }
    std::lock_guard router_lock(router_mutex_);
    router = std::move(router_);
    started_ = false;
  }
  // Pipelines are stopped, so no more events: drain the sinks outside the lock.
  if (router) router->stop(drain_ms);
  {
    std::lock_guard lock(mutex_);
    update_metrics();
  }
  std::vector<SinkStats> final_stats = router ? router->stats() : std::vector<SinkStats>{};
  for (const auto& st : final_stats) {
    if (st.spool.pending > 0) {
      spdlog::warn("event sink {}: {} events left in the spool for the next start", st.name,
                   st.spool.pending);
    }
  }
  router.reset();
}

Status Service::reload(const Config& config) {
  // A camera can take seconds to stop (a stream stuck in FFmpeg). /health, /cameras and the
  // stats loop need mutex_, so the old pipelines are swapped out under it and stopped after it
  // is released; the new ones start once the old ones (same device, same metric labels) are gone.
  std::lock_guard reload_lock(reload_mutex_);
  std::unique_lock lock(mutex_);
  if (!started_) {
    config_ = config;
    return Status::Ok();
  }
  if (!(config.api == config_.api)) {
    spdlog::warn("reload: changes to 'api' take effect after a restart");
  }
  const bool models_changed = !(config.models == config_.models);
  if (!(config.events == config_.events)) {
    spdlog::info("reload: event sinks changed; restarting them (spools are kept)");
    std::unique_ptr<EventRouter> old;
    {
      std::lock_guard router_lock(router_mutex_);
      old = std::move(router_);
    }
    // The old sinks must release their spool directories before new ones open them.
    if (old) old->stop(1000);
    old.reset();
    auto router = EventRouter::create(config.events);
    if (!router) {
      spdlog::error("reload: events: {}", router.error());
    } else {
      std::lock_guard router_lock(router_mutex_);
      router_ = std::move(*router);
    }
  }
  log_events_ = config.events.log;
  const ApiConfig api = config_.api;
  config_ = config;
  config_.api = api;  // the server keeps running with what it was started with
  // Old pipelines may still use the old manager until they are stopped below.
  std::unique_ptr<ModelManager> old_models;
  if (models_changed) {
    old_models = std::move(models_);
    models_ = make_models();
  }
  apply_runtime(config_);

  std::set<std::string> wanted;
  std::vector<std::unique_ptr<CameraEntry>> retired;
  std::vector<CameraConfig> to_start;
  int added = 0, removed = 0, restarted = 0, kept = 0;
  for (const auto& c : config.cameras) {
    wanted.insert(c.id);
    auto it = cameras_.find(c.id);
    const PipelineSettings settings{c, config.privacy, config.detection, config.tracking,
                                    config.alpr};
    if (it != cameras_.end() && it->second->settings == settings && !models_changed &&
        (it->second->pipeline || !c.enabled)) {
      ++kept;
      continue;
    }
    if (it != cameras_.end()) {
      retired.push_back(std::move(it->second));
      ++restarted;
    } else {
      ++added;
    }
    auto placeholder = std::make_unique<CameraEntry>();
    placeholder->config = c;
    placeholder->settings = settings;
    placeholder->restarting = c.enabled;
    cameras_[c.id] = std::move(placeholder);
    to_start.push_back(c);
  }
  for (auto it = cameras_.begin(); it != cameras_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    retired.push_back(std::move(it->second));
    it = cameras_.erase(it);
    ++removed;
  }
  lock.unlock();

  for (auto& e : retired) {
    e->pipeline.reset();  // stops it; before its metric handles are removed
    if (e->metrics) metrics_->remove_camera(*e->metrics);
  }
  retired.clear();
  old_models.reset();

  lock.lock();
  for (const auto& c : to_start) {
    auto it = cameras_.find(c.id);
    if (it == cameras_.end()) continue;
    // stop() ran meanwhile: leave the camera stopped rather than start it on a dead service.
    if (!started_) {
      it->second->restarting = false;
      continue;
    }
    it->second = make_camera(c);
  }
  spdlog::info("reload: {} cameras kept, {} added, {} restarted, {} removed", kept, added,
               restarted, removed);
  return Status::Ok();
}

void Service::publish(nlohmann::json event) {
  std::lock_guard publish_lock(publish_mutex_);
  event["seq"] = next_seq_++;
  const std::string type = event.value("type", "");
  const std::string camera = event.value("camera", "");
  if (log_events_) {
    // One line per event: the fields an operator scans for.
    spdlog::info("event {} camera={} track={} class={} score={}", type, camera,
                 event.contains("track_id") ? event["track_id"].dump() : "-",
                 event.value("class", "-"), event.contains("score") ? event["score"].dump() : "-");
  }
  metrics_->count_event(camera, type);
  metrics_->count_scene_event(event);
  count_scene(event);
  if (!event.contains("event_id"))
    event["event_id"] = camera + "-" + std::to_string(event["seq"].get<uint64_t>());
  std::vector<Callback> callbacks;
  {
    std::lock_guard lock(feed_mutex_);
    if (recent_.size() < kRecentEvents) {
      recent_.push_back(event);
    } else {
      recent_[recent_head_] = event;
      recent_head_ = (recent_head_ + 1) % kRecentEvents;
    }
    for (const auto& [id, cb] : subscribers_) callbacks.push_back(cb);
  }
  for (const auto& cb : callbacks) cb(event);
  // Not mutex_: reload() holds it while joining the camera threads that call publish().
  std::lock_guard router_lock(router_mutex_);
  if (router_) router_->publish(event);
}

bool Service::all_finished() const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, e] : cameras_) {
    if (e->pipeline && !e->pipeline->finished()) return false;
  }
  return true;
}

std::vector<SinkStats> Service::sink_stats() const {
  std::lock_guard lock(router_mutex_);
  return router_ ? router_->stats() : std::vector<SinkStats>{};
}

Config Service::config() const {
  std::lock_guard lock(mutex_);
  return config_;
}

std::vector<CameraStatus> Service::cameras() const {
  std::lock_guard lock(mutex_);
  std::vector<CameraStatus> out;
  for (const auto& [id, e] : cameras_) {
    if (e->pipeline) {
      out.push_back(e->pipeline->status());
      out.back().fps_cap = e->config.fps;
      continue;
    }
    CameraStatus s;
    s.id = id;
    s.source = redact_url(e->config.source);
    s.state = e->restarting ? "starting" : e->error.empty() ? "stopped" : "failed";
    s.error = e->error;
    s.fps_cap = e->config.fps;
    out.push_back(s);
  }
  return out;
}

std::optional<std::vector<uint8_t>> Service::snapshot_jpeg(const std::string& camera_id) const {
  std::lock_guard lock(mutex_);
  const auto it = cameras_.find(camera_id);
  if (it == cameras_.end() || !it->second->pipeline) return std::nullopt;
  return it->second->pipeline->snapshot_jpeg();
}

std::optional<std::vector<uint8_t>> Service::event_snapshot_jpeg(
    const std::string& event_id) const {
  std::lock_guard lock(mutex_);
  for (const auto& [id, cam] : cameras_) {
    // Event ids start with the camera id (SceneAnalyzer), so only that camera is asked.
    if (!cam->pipeline || event_id.rfind(id + "-", 0) != 0) continue;
    if (auto jpeg = cam->pipeline->event_snapshot_jpeg(event_id)) return jpeg;
  }
  return std::nullopt;
}

prometheus::Registry& Service::metrics() {
  return *metrics_->registry;
}

nlohmann::json Service::health() const {
  nlohmann::json cams = nlohmann::json::object();
  bool ok = true;
  int enabled = 0, working = 0, failed = 0;
  for (const auto& c : cameras()) {
    cams[c.id] = {{"state", c.state}, {"error", c.error}, {"fps_in", c.fps_in}};
    if (c.state == "failed" || c.state == "reconnecting" || c.state == "stalled") ok = false;
    if (c.state == "stopped" && c.error.empty()) continue;  // disabled or finished
    ++enabled;
    if (c.state == "running" || c.state == "starting") ++working;
    if (c.state == "failed") ++failed;
  }
  nlohmann::json sinks = nlohmann::json::object();
  for (const auto& s : sink_stats()) {
    sinks[s.name] = {{"connected", s.connected},
                     {"spooled", s.spool.pending},
                     {"dropped", s.spool.dropped},
                     {"error", redact_text(s.last_error)}};
    if (!s.connected) ok = false;
    // A spool that cannot write loses events on the next outage: never "ok".
    if (s.spool.failing || s.spool.commit_errors > 0) {
      auto& j = sinks[s.name];
      j["spool_failing"] = s.spool.failing;
      j["spool_write_errors"] = s.spool.write_errors;
      j["commit_errors"] = s.spool.commit_errors;
      j["spool_error"] = s.spool.last_io_error;
      j["sent_directly"] = s.direct;
      j["direct_dropped"] = s.direct_dropped;
      if (s.spool.failing || !s.spool.last_io_error.empty()) ok = false;
    }
  }
  // Half-configured is not healthy: when cameras are configured and every one of them failed
  // to start (a model that cannot load, say), nothing is being watched: 503 with the reason.
  if (enabled > 0 && working == 0 && failed == enabled)
    return {{"status", "failed"},
            {"reason", "no camera is running (" + std::to_string(failed) + " failed to start)"},
            {"cameras", cams},
            {"rss_bytes", process_rss_bytes()}};
  return {{"status", ok ? "ok" : "degraded"},
          {"cameras", cams},
          {"sinks", sinks},
          {"rss_bytes", process_rss_bytes()}};
}

uint64_t Service::subscribe(Callback callback) {
  std::lock_guard lock(feed_mutex_);
  const uint64_t id = next_subscriber_++;
  subscribers_[id] = std::move(callback);
  return id;
}

void Service::unsubscribe(uint64_t id) {
  std::lock_guard lock(feed_mutex_);
  subscribers_.erase(id);
}

std::vector<nlohmann::json> Service::recent(size_t max_events) const {
  std::lock_guard lock(feed_mutex_);
  std::vector<nlohmann::json> out;
  const size_t n = recent_.size();
  const size_t take = std::min(max_events, n);
  for (size_t i = n - take; i < n; ++i) out.push_back(recent_[(recent_head_ + i) % n]);
  return out;
}

// Called with mutex_ held.
void Service::update_metrics() {
  auto add = [](prometheus::Counter* c, uint64_t now, uint64_t& last) {
    if (c && now > last) c->Increment(static_cast<double>(now - last));
    last = now;
  };
  for (auto& [id, e] : cameras_) {
    if (!e->pipeline || !e->metrics) continue;
    e->pipeline->update_rates();
    const CameraStatus s = e->pipeline->status();
    CameraMetrics& m = *e->metrics;
    add(m.frames_in, s.frames_in, m.last_in);
    add(m.frames_out, s.frames_out, m.last_out);
    add(m.frames_dropped, s.frames_dropped, m.last_dropped);
    add(m.frames_failed, s.frames_failed, m.last_failed);
    add(m.motion_skipped, s.motion_skipped, m.last_skipped);
    add(m.behind_skipped, s.behind_skipped, m.last_behind);
    add(m.faces_anonymized, s.faces_anonymized, m.last_faces);
    m.fps_in->Set(s.fps_in);
    m.fps_out->Set(s.fps_out);
    m.active_tracks->Set(s.active_tracks);
  }
  {
    for (const auto& st : sink_stats()) {
      SinkMetrics& m = metrics_->sink(st.name);
      m.depth->Set(static_cast<double>(st.spool.pending));
      m.bytes->Set(static_cast<double>(st.spool.bytes));
      m.connected->Set(st.connected ? 1 : 0);
      add(m.dropped, st.spool.dropped, m.last_dropped);
      add(m.delivered, st.delivered, m.last_delivered);
    }
  }
  metrics_->rss.Set(static_cast<double>(process_rss_bytes()));
}

void Service::stats_loop() {
  for (;;) {
    {
      std::unique_lock lock(stats_mutex_);
      if (stats_wake_.wait_for(lock, std::chrono::seconds(1), [&] { return stats_stop_; })) return;
    }
    {
      std::lock_guard lock(mutex_);
      update_metrics();
    }
    publish_mqtt_state();
  }
}

}  // namespace ev
