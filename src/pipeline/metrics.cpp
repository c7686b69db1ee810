#include "pipeline/metrics.hpp"

#include <fstream>

#include <unistd.h>

#include "edgevision/pipeline.hpp"

namespace ev {

namespace {
using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries b = {
      0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0};
  return b;
}
}  // namespace

ServiceMetrics::ServiceMetrics()
    : frames_in(BuildCounter()
                    .Name("edgevision_frames_in_total")
                    .Help("Frames read from the source")
                    .Register(*registry)),
      frames_out(BuildCounter()
                     .Name("edgevision_frames_out_total")
                     .Help("Frames that went through every stage")
                     .Register(*registry)),
      frames_dropped(BuildCounter()
                         .Name("edgevision_frames_dropped_total")
                         .Help("Frames dropped because a stage fell behind (live sources)")
                         .Register(*registry)),
      frames_failed(BuildCounter()
                        .Name("edgevision_frames_failed_total")
                        .Help("Frames withheld because face detection failed (fail closed)")
                        .Register(*registry)),
      motion_skipped(BuildCounter()
                         .Name("edgevision_motion_skipped_total")
                         .Help("Frames where the object detector was skipped: no motion")
                         .Register(*registry)),
      behind_skipped(BuildCounter()
                         .Name("edgevision_behind_skipped_total")
                         .Help("Frames where the object detector was skipped because the camera "
                               "was behind (the frame was still anonymized and emitted)")
                         .Register(*registry)),
      faces(BuildCounter()
                .Name("edgevision_faces_anonymized_total")
                .Help("Face masks applied")
                .Register(*registry)),
      fps_in(BuildGauge()
                 .Name("edgevision_fps_in")
                 .Help("Frames read per second")
                 .Register(*registry)),
      fps_out(BuildGauge()
                  .Name("edgevision_fps_out")
                  .Help("Frames fully processed per second")
                  .Register(*registry)),
      up(BuildGauge()
             .Name("edgevision_camera_up")
             .Help("1 while the camera's source delivers frames")
             .Register(*registry)),
      tracks(BuildGauge()
                 .Name("edgevision_active_tracks")
                 .Help("Confirmed tracks in the latest frame")
                 .Register(*registry)),
      stage(BuildHistogram()
                .Name("edgevision_stage_latency_seconds")
                .Help("Time spent per frame in each pipeline stage")
                .Register(*registry)),
      latency(BuildHistogram()
                  .Name("edgevision_frame_latency_seconds")
                  .Help("End-to-end latency from read to tracked, per frame")
                  .Register(*registry)),
      inference(BuildHistogram()
                    .Name("edgevision_inference_seconds")
                    .Help("Object detector inference time per frame")
                    .Register(*registry)),
      events(BuildCounter()
                 .Name("edgevision_events_total")
                 .Help("Events published, by camera and type")
                 .Register(*registry)),
      spool_depth(BuildGauge()
                      .Name("edgevision_spool_depth")
                      .Help("Events waiting in a sink's disk spool")
                      .Register(*registry)),
      spool_bytes(BuildGauge()
                      .Name("edgevision_spool_bytes")
                      .Help("Bytes of a sink's disk spool")
                      .Register(*registry)),
      sink_connected(BuildGauge()
                         .Name("edgevision_sink_connected")
                         .Help("1 while the sink is connected")
                         .Register(*registry)),
      spool_dropped(BuildCounter()
                        .Name("edgevision_spool_dropped_total")
                        .Help("Events dropped because a spool was full")
                        .Register(*registry)),
      delivered(BuildCounter()
                    .Name("edgevision_events_delivered_total")
                    .Help("Events acknowledged by a sink")
                    .Register(*registry)),
      rss(BuildGauge()
              .Name("process_resident_memory_bytes")
              .Help("Resident memory size in bytes")
              .Register(*registry)
              .Add({})) {}

std::shared_ptr<CameraMetrics> ServiceMetrics::add_camera(const std::string& camera,
                                                          const std::string& model) {
  auto m = std::make_shared<CameraMetrics>();
  m->camera = camera;
  const prometheus::Labels l{{"camera", camera}};
  m->frames_in = &frames_in.Add(l);
  m->frames_out = &frames_out.Add(l);
  m->frames_dropped = &frames_dropped.Add(l);
  m->frames_failed = &frames_failed.Add(l);
  m->motion_skipped = &motion_skipped.Add(l);
  m->behind_skipped = &behind_skipped.Add(l);
  m->faces_anonymized = &faces.Add(l);
  m->fps_in = &fps_in.Add(l);
  m->fps_out = &fps_out.Add(l);
  m->up = &up.Add(l);
  m->active_tracks = &tracks.Add(l);
  m->stage_source = &stage.Add({{"camera", camera}, {"stage", "source"}}, latency_buckets());
  m->stage_anonymize = &stage.Add({{"camera", camera}, {"stage", "anonymize"}}, latency_buckets());
  m->stage_detect = &stage.Add({{"camera", camera}, {"stage", "detect"}}, latency_buckets());
  m->stage_track = &stage.Add({{"camera", camera}, {"stage", "track"}}, latency_buckets());
  m->latency = &latency.Add(l, latency_buckets());
  m->inference = &inference.Add({{"camera", camera}, {"model", model}}, latency_buckets());
  return m;
}

void ServiceMetrics::remove_camera(const CameraMetrics& m) {
  frames_in.Remove(m.frames_in);
  frames_out.Remove(m.frames_out);
  frames_dropped.Remove(m.frames_dropped);
  frames_failed.Remove(m.frames_failed);
  motion_skipped.Remove(m.motion_skipped);
  behind_skipped.Remove(m.behind_skipped);
  faces.Remove(m.faces_anonymized);
  fps_in.Remove(m.fps_in);
  fps_out.Remove(m.fps_out);
  up.Remove(m.up);
  tracks.Remove(m.active_tracks);
  for (auto* h : {m.stage_source, m.stage_anonymize, m.stage_detect, m.stage_track})
    stage.Remove(h);
  latency.Remove(m.latency);
  inference.Remove(m.inference);
}

SinkMetrics& ServiceMetrics::sink(const std::string& name) {
  auto it = sinks.find(name);
  if (it != sinks.end()) return it->second;
  SinkMetrics s;
  const prometheus::Labels l{{"sink", name}};
  s.depth = &spool_depth.Add(l);
  s.bytes = &spool_bytes.Add(l);
  s.connected = &sink_connected.Add(l);
  s.dropped = &spool_dropped.Add(l);
  s.delivered = &delivered.Add(l);
  return sinks.emplace(name, s).first->second;
}

void ServiceMetrics::count_event(const std::string& camera, const std::string& type) {
  events.Add({{"camera", camera}, {"type", type}}).Increment();
}

void ServiceMetrics::count_scene_event(const nlohmann::json& e) {
  const std::string type = e.value("type", "");
  if (type != "line_cross" && type != "zone_enter" && type != "zone_exit") return;
  const std::string camera = e.value("camera", "");
  if (type == "line_cross") {
    if (!line_crossings) {
      line_crossings = &BuildCounter()
                            .Name("edgevision_line_crossings_total")
                            .Help("Objects that crossed a configured line, by direction and class")
                            .Register(*registry);
    }
    line_crossings
        ->Add({{"camera", camera},
               {"line", e.value("line", "")},
               {"direction", e.value("direction", "")},
               {"class", e.value("class", "")}})
        .Increment();
    return;
  }
  if (!zone_occupancy) {
    zone_occupancy = &BuildGauge()
                          .Name("edgevision_zone_occupancy")
                          .Help("Objects inside a configured zone now")
                          .Register(*registry);
  }
  if (e.contains("occupancy") && e["occupancy"].is_number()) {
    zone_occupancy->Add({{"camera", camera}, {"zone", e.value("zone", "")}})
        .Set(e["occupancy"].get<double>());
  }
}

uint64_t process_rss_bytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  if (!(in >> size >> resident)) return 0;
  return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace ev
