// Prometheus metric families of the service and the per-camera handles into them.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>

namespace ev {

struct CameraMetrics {
  std::string camera;
  prometheus::Counter* frames_in = nullptr;
  prometheus::Counter* frames_out = nullptr;
  prometheus::Counter* frames_dropped = nullptr;
  prometheus::Counter* frames_failed = nullptr;
  prometheus::Counter* motion_skipped = nullptr;
  prometheus::Counter* behind_skipped = nullptr;
  prometheus::Counter* faces_anonymized = nullptr;
  prometheus::Gauge* fps_in = nullptr;
  prometheus::Gauge* fps_out = nullptr;
  prometheus::Gauge* up = nullptr;
  prometheus::Gauge* active_tracks = nullptr;
  prometheus::Histogram* stage_source = nullptr;
  prometheus::Histogram* stage_anonymize = nullptr;
  prometheus::Histogram* stage_detect = nullptr;
  prometheus::Histogram* stage_track = nullptr;
  prometheus::Histogram* latency = nullptr;    // read -> tracked, end to end
  prometheus::Histogram* inference = nullptr;  // detector inference only
  // Counter values already pushed (counters only go up, so the stats thread adds deltas).
  uint64_t last_in = 0, last_out = 0, last_dropped = 0, last_failed = 0, last_skipped = 0,
           last_behind = 0, last_faces = 0;
};

struct SinkMetrics {
  prometheus::Gauge* depth = nullptr;
  prometheus::Gauge* bytes = nullptr;
  prometheus::Gauge* connected = nullptr;
  prometheus::Counter* dropped = nullptr;
  prometheus::Counter* delivered = nullptr;
  uint64_t last_dropped = 0, last_delivered = 0;
};

struct ServiceMetrics {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  prometheus::Family<prometheus::Counter>& frames_in;
  prometheus::Family<prometheus::Counter>& frames_out;
  prometheus::Family<prometheus::Counter>& frames_dropped;
  prometheus::Family<prometheus::Counter>& frames_failed;
  prometheus::Family<prometheus::Counter>& motion_skipped;
  prometheus::Family<prometheus::Counter>& behind_skipped;
  prometheus::Family<prometheus::Counter>& faces;
  prometheus::Family<prometheus::Gauge>& fps_in;
  prometheus::Family<prometheus::Gauge>& fps_out;
  prometheus::Family<prometheus::Gauge>& up;
  prometheus::Family<prometheus::Gauge>& tracks;
  prometheus::Family<prometheus::Histogram>& stage;
  prometheus::Family<prometheus::Histogram>& latency;
  prometheus::Family<prometheus::Histogram>& inference;
  prometheus::Family<prometheus::Counter>& events;
  prometheus::Family<prometheus::Gauge>& spool_depth;
  prometheus::Family<prometheus::Gauge>& spool_bytes;
  prometheus::Family<prometheus::Gauge>& sink_connected;
  prometheus::Family<prometheus::Counter>& spool_dropped;
  prometheus::Family<prometheus::Counter>& delivered;
  prometheus::Gauge& rss;
  std::map<std::string, SinkMetrics> sinks;

  ServiceMetrics();
  std::shared_ptr<CameraMetrics> add_camera(const std::string& camera, const std::string& model);
  void remove_camera(const CameraMetrics& m);
  SinkMetrics& sink(const std::string& name);
  void count_event(const std::string& camera, const std::string& type);
  // Scene analytics (src/activity): line crossings and zone occupancy from their events.
  void count_scene_event(const nlohmann::json& event);
  prometheus::Family<prometheus::Counter>* line_crossings = nullptr;
  prometheus::Family<prometheus::Gauge>* zone_occupancy = nullptr;
};

}  // namespace ev
