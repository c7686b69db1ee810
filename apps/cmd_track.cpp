// `edgevision track INPUT --model M`: detection + multi-object tracking on a video (or an
// image folder taken as a sequence); MOTChallenge text, JSON lines and/or annotated video.
#include <cmath>
#include <cstdio>
#include <memory>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "commands.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/io.hpp"
#include "edgevision/progress.hpp"
#include "edgevision/track.hpp"
#include "frame_loop.hpp"

namespace ev::cli {
namespace {

struct TrackArgs {
  std::string input;
  std::string output;
  std::string mot;
  std::string model = "yolox-nano";
  float conf = 0.f;
  std::vector<std::string> classes;
  std::string backend;
  int threads = 0;
  int64_t max_frames = 0;
  bool json = false;
  bool anonymize = true;  // private by default; --no-anonymize opts out
  TrackerParams tracker;
};

nlohmann::ordered_json tracks_json(const std::string& source, int64_t frame,
                                   const std::vector<Track>& tracks) {
  nlohmann::ordered_json j;
  j["source"] = source;
  j["frame"] = frame;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& t : tracks) {
    list.push_back({{"id", t.id},
                    {"class", t.label},
                    {"class_id", t.class_id},
                    {"score", round_to(t.score, 1e4)},
                    {"box",
                     {round_to(t.box.x, 10), round_to(t.box.y, 10), round_to(t.box.width, 10),
                      round_to(t.box.height, 10)}},
                    {"state", to_string(t.state)},
                    {"age", t.age},
                    {"hits", t.hits}});
  }
  j["tracks"] = list;
  return j;
}

// A stable, well-spread colour per id (golden-ratio hue steps).
cv::Scalar id_color(int64_t id) {
  const double hue = std::fmod(static_cast<double>(id) * 0.618033988749895, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, 200, 255)), bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const auto c = bgr.at<cv::Vec3b>(0, 0);
  return {static_cast<double>(c[0]), static_cast<double>(c[1]), static_cast<double>(c[2])};
}

void draw_tracks(cv::Mat& img, const std::vector<Track>& tracks) {
  for (const auto& t : tracks) {
    const cv::Scalar color = id_color(t.id);
    const cv::Rect r(cv::Point(static_cast<int>(t.box.x), static_cast<int>(t.box.y)),
                     cv::Size(static_cast<int>(t.box.width), static_cast<int>(t.box.height)));
    cv::rectangle(img, r, color, 2);
    const std::string caption = "#" + std::to_string(t.id) + " " + t.label;
    int base = 0;
    const cv::Size ts = cv::getTextSize(caption, cv::FONT_HERSHEY_SIMPLEX, 0.45, 1, &base);
    const cv::Point org(r.x, std::max(ts.height + 2, r.y - 3));
    cv::rectangle(img, org + cv::Point(0, base), org + cv::Point(ts.width, -ts.height - 2), color,
                  cv::FILLED);
    cv::putText(img, caption, org, cv::FONT_HERSHEY_SIMPLEX, 0.45, cv::Scalar(0, 0, 0), 1,
                cv::LINE_AA);
  }
}

int run_track(const TrackArgs& args, const GlobalOptions& global) {
  auto tracker_or = Tracker::create(args.tracker);
  if (!tracker_or) {
    spdlog::error("{}", tracker_or.error());
    return 2;
  }
  Tracker tracker = std::move(tracker_or.value());
  auto source = open_source(args.input);
  if (!source) {
    spdlog::error("{}", source.error());
    return 1;
  }
  const SourceInfo& info = (*source)->info();
  if (info.kind == SourceKind::kImage) {
    spdlog::error("{}: tracking needs a video, stream or image folder", args.input);
    return 2;
  }
  std::unique_ptr<FrameSink> sink;
  if (!open_optional_sink(args.output, info, sink)) return 1;

  ModelManager models(global.model_manager_options());
  std::unique_ptr<Anonymizer> anonymizer;
  if (!make_output_anonymizer(args.anonymize, sink != nullptr, models, anonymizer)) return 1;
  DetectorParams params;
  params.model = args.model;
  // ByteTrack's second association needs the low-score boxes, so by default the detector
  // keeps everything above the tracker's low threshold rather than the model's own default.
  params.conf = args.conf > 0.f ? args.conf : std::max(0.01f, args.tracker.low_thresh);
  params.classes = args.classes;
  params.backend = args.backend;
  params.threads = args.threads;
  auto created = ObjectDetector::create(params, models);
  if (!created) {
    spdlog::error("{}", created.error());
    return 1;
  }
  ObjectDetector& detector = **created;

  std::vector<MotRecord> mot;
  ProgressBar bar("track", info.frame_count > 0 ? info.frame_count : 0, "frames");
  int64_t frames = 0, corrupt = 0, detections = 0;
  double detect_ms = 0;
  int rc = 0;
  Frame frame;
  std::vector<Detection> dets;
  for (;;) {
    if (args.max_frames > 0 && frames + corrupt >= args.max_frames) break;
    const NextFrame next = read_next_frame(**source, frame, rc);
    if (next == NextFrame::kDone) break;
    if (next == NextFrame::kCorrupt) {
      // The frame keeps its slot in time: the tracker coasts through it.
      ++corrupt;
      tracker.update({});
      continue;
    }
    ++frames;
    bar.update(frames + corrupt);
    Status s = detector.detect(frame.image, dets);
    if (!s.ok()) {
      spdlog::error("frame {}: {}", frame.index, s.message());
      dets.clear();
      rc = 1;
    }
    detect_ms += detector.last_timings().total();
    detections += static_cast<int64_t>(dets.size());
    const std::vector<Track> tracks = tracker.update(dets);
    const int64_t frame_no = frame.index + 1;  // MOTChallenge frames are 1-based
    if (!args.mot.empty()) {
      for (const auto& t : tracks)
        mot.push_back({static_cast<int>(frame_no), t.id, t.box, t.score});
    }
    if (args.json) std::printf("%s\n", tracks_json(args.input, frame_no, tracks).dump().c_str());
    if (sink) {
      // Objects were found on the original frame; the written one has its faces covered.
      if (anonymizer) anonymizer->set_persons(dets);
      if (anonymizer && !anonymizer->process(frame.image).emitted) {
        // Fail closed: this frame is not written (tracking above has already used it).
        spdlog::warn("frame {}: face detection failed; frame withheld", frame.index);
        continue;
      }
      draw_tracks(frame.image, tracks);
      Status w = sink->write(frame);
      if (!w.ok()) {
        spdlog::error("{}", w.message());
        rc = 1;
        break;
      }
    }
  }
  bar.finish();
  close_optional_sink(sink, rc);
  if (!args.mot.empty()) {
    Status w = write_mot_file(args.mot, mot);
    if (!w.ok()) {
      spdlog::error("{}", w.message());
      rc = 1;
    }
  }
  const TrackerStats ts = tracker.stats();
  spdlog::info("track: {} frames, {} detections, {} track ids, {} corrupt, {:.1f} ms/frame detect",
               frames, detections, ts.next_id - 1, corrupt, frames ? detect_ms / frames : 0.0);
  return final_exit_code(frames, rc, args.input);
}

}  // namespace

void add_track_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<TrackArgs>();
  CLI::App* cmd =
      app.add_subcommand("track", "detect and track objects (ByteTrack-style) in a video");
  cmd->add_option("input", args->input, "video file, image folder, camera or stream URL")
      ->required();
  cmd->add_option("--model,-m", args->model, "manifest name or model file");
  cmd->add_option("--conf", args->conf,
                  "detector confidence threshold (default: the tracker's --low-thresh)");
  cmd->add_option("--classes", args->classes, "track only these classes, e.g. person,car")
      ->delimiter(',');
  cmd->add_option("--backend", args->backend, "onnxruntime | opencv | auto (default: model's)");
  cmd->add_option("--threads", args->threads, "inference threads (0: backend default)");
  cmd->add_option("--max-frames", args->max_frames, "stop after this many frames");
  cmd->add_option("--mot", args->mot,
                  "write tracks as MOTChallenge text (frame,id,x,y,w,h,conf,-1,-1,-1)");
  cmd->add_option("-o,--output", args->output, "annotated video (or folder for a folder input)");
  cmd->add_flag("--json", args->json, "one JSON object per frame on stdout");
  cmd->add_flag("--anonymize,!--no-anonymize", args->anonymize,
                "cover faces in the written video (default; --no-anonymize writes clear faces)");
  TrackerParams& p = args->tracker;
  cmd->add_option("--track-thresh", p.track_thresh, "high-score detection threshold")
      ->capture_default_str();
  cmd->add_option("--low-thresh", p.low_thresh, "low-score detection threshold")
      ->capture_default_str();
  cmd->add_option("--new-track-thresh", p.new_track_thresh, "minimum score to start a track")
      ->capture_default_str();
  cmd->add_option("--match-thresh", p.match_thresh, "first association: max 1 - IoU")
      ->capture_default_str();
  cmd->add_option("--max-lost", p.max_lost, "frames a lost track is kept")->capture_default_str();
  cmd->add_option("--min-hits", p.min_hits, "hits before a track is reported")
      ->capture_default_str();
  cmd->add_option("--max-tracks", p.max_tracks, "cap on live tracks")->capture_default_str();
  cmd->callback([args, &global] { global.exit_code = run_track(*args, global); });
}

}  // namespace ev::cli
