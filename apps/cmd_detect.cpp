// `edgevision detect INPUT --model M`: YOLO detections on an image, folder or video, as JSON
// lines and/or annotated output of the same kind as the input. Objects are detected on the
// original frame (a mask over a face costs the detector people); faces are covered before
// any image is written, unless --no-anonymize.
#include <chrono>
#include <cmath>
#include <cstdio>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/io.hpp"
#include "edgevision/progress.hpp"
#include "frame_loop.hpp"

namespace ev::cli {
namespace {

struct DetectArgs {
  std::string input;
  std::string output;
  std::string model = "yolox-nano";
  float conf = 0.f;
  float nms = 0.f;
  std::vector<std::string> classes;
  std::vector<int> roi;
  std::string backend;
  int threads = 0;
  bool rect = true;
  int64_t max_frames = 0;
  bool json = false;
  bool anonymize = true;  // private by default; --no-anonymize opts out
};

nlohmann::ordered_json detections_json(const std::string& source, int64_t frame,
                                       const std::vector<Detection>& dets) {
  nlohmann::ordered_json j;
  j["source"] = source;
  j["frame"] = frame;
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const auto& d : dets) {
    list.push_back({{"class", d.label},
                    {"class_id", d.class_id},
                    {"score", round_to(d.score, 1e4)},
                    {"box",
                     {round_to(d.box.x, 10), round_to(d.box.y, 10), round_to(d.box.width, 10),
                      round_to(d.box.height, 10)}}});
  }
  j["detections"] = list;
  return j;
}

// People read a table; `--json` is for machines. The header is printed once per run.
void print_detections_table(const std::string& source, int64_t frame,
                            const std::vector<Detection>& dets, bool& header_done) {
  if (!header_done) {
    std::printf("%-32s %6s %-14s %6s %8s %8s %8s %8s\n", "SOURCE", "FRAME", "CLASS", "SCORE", "X",
                "Y", "W", "H");
    header_done = true;
  }
  if (dets.empty()) {
    std::printf("%-32s %6lld %-14s\n", source.c_str(), static_cast<long long>(frame), "(none)");
    return;
  }
  for (const auto& d : dets)
    std::printf("%-32s %6lld %-14s %6.3f %8.1f %8.1f %8.1f %8.1f\n", source.c_str(),
                static_cast<long long>(frame), d.label.c_str(), d.score, d.box.x, d.box.y,
                d.box.width, d.box.height);
}

int run_detect(const DetectArgs& args, const GlobalOptions& global) {
  if (!args.roi.empty() && args.roi.size() != 4) {
    spdlog::error("--roi takes x,y,w,h");
    return 2;
  }
  auto source = open_source(args.input);
  if (!source) {
    spdlog::error("{}", source.error());
    return 1;
  }
  const SourceInfo& info = (*source)->info();
  std::unique_ptr<FrameSink> sink;
  if (!open_optional_sink(args.output, info, sink)) return 1;

  ModelManager models(global.model_manager_options());
  std::unique_ptr<Anonymizer> anonymizer;
  const bool per_image = info.kind == SourceKind::kImage || info.kind == SourceKind::kFolder;
  if (!make_output_anonymizer(args.anonymize, sink != nullptr, models, anonymizer, per_image))
    return 1;
  DetectorParams params;
  params.model = args.model;
  params.conf = args.conf;
  params.nms = args.nms;
  params.classes = args.classes;
  params.backend = args.backend;
  params.threads = args.threads;
  params.rect = args.rect;
  if (args.roi.size() == 4)
    params.roi = cv::Rect(args.roi[0], args.roi[1], args.roi[2], args.roi[3]);
  auto created = ObjectDetector::create(params, models);
  if (!created) {
    spdlog::error("{}", created.error());
    return 1;
  }
  ObjectDetector& detector = **created;

  ProgressBar bar("detect", info.frame_count > 0 ? info.frame_count : 0, "frames");
  int64_t frames = 0, withheld = 0, corrupt = 0, total_dets = 0;
  double detect_ms = 0;
  int rc = 0;
  Frame frame;
  std::vector<Detection> dets;
  bool table_header_done = false;
  for (;;) {
    if (args.max_frames > 0 && frames >= args.max_frames) break;
    const NextFrame next = read_next_frame(**source, frame, rc);
    if (next == NextFrame::kDone) break;
    if (next == NextFrame::kCorrupt) {
      ++corrupt;
      continue;
    }
    ++frames;
    bar.update(frames + corrupt);
    const std::string name = per_image && !frame.name.empty() && info.kind == SourceKind::kFolder
                                 ? (std::filesystem::path(args.input) / frame.name).string()
                                 : args.input;
    Status s = detector.detect(frame.image, dets);
    if (!s.ok()) {
      spdlog::error("frame {} ({}): {}", frame.index, name, s.message());
      rc = 1;
      continue;
    }
    detect_ms += detector.last_timings().total();
    total_dets += static_cast<int64_t>(dets.size());
    if (args.json)
      std::printf("%s\n", detections_json(name, frame.index, dets).dump().c_str());
    else
      print_detections_table(name, frame.index, dets, table_header_done);
    if (sink) {
      if (anonymizer) {
        if (per_image) anonymizer->reset_tracking();
        // Photos: the anonymizer's own person passes (set_persons would replace them), unless
        // its person model is unavailable.
        if (!per_image || !anonymizer->head_fallback_note().empty()) anonymizer->set_persons(dets);
        const FrameResult fr = anonymizer->process(frame.image);
        if (!fr.emitted) {
          // Fail closed: the image does not leave.
          ++withheld;
          spdlog::warn("frame {} ({}): face detection failed ({}); image withheld", frame.index,
                       name, fr.error);
          continue;
        }
      }
      draw_detections(frame.image, dets);
      Status w = sink->write(frame);
      if (!w.ok()) {
        spdlog::error("{}", w.message());
        rc = 1;
        if (!per_image) break;
      }
    }
  }
  bar.finish();
  close_optional_sink(sink, rc);
  spdlog::info("detect: {} frames, {} detections, {} withheld, {} corrupt, {:.1f} ms/frame ({})",
               frames, total_dets, withheld, corrupt, frames ? detect_ms / frames : 0.0,
               detector.decoder_name());
  return final_exit_code(frames, rc, args.input);
}

}  // namespace

void add_detect_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<DetectArgs>();
  CLI::App* cmd =
      app.add_subcommand("detect", "YOLO object detection on an image, folder or video");
  cmd->add_option("input", args->input, "image, folder, video file, camera or stream URL")
      ->required();
  cmd->add_option("--model,-m", args->model, "manifest name or model file (.onnx, .weights/.cfg)");
  cmd->add_option("--conf", args->conf, "confidence threshold (default: model's, else 0.25)");
  cmd->add_option("--nms", args->nms, "NMS IoU threshold (default: model's, else 0.45)");
  cmd->add_option("--classes", args->classes, "keep only these classes, e.g. person,car")
      ->delimiter(',');
  cmd->add_option("--roi", args->roi, "infer only this region x,y,w,h (boxes stay in frame pixels)")
      ->delimiter(',');
  cmd->add_option("--backend", args->backend, "onnxruntime | opencv | auto (default: model's)");
  cmd->add_option("--threads", args->threads, "inference threads (0: backend default)");
  cmd->add_flag("!--square", args->rect,
                "letterbox to the model's full square input (default: pad only to a multiple of "
                "32, rect inference)");
  cmd->add_option("--max-frames", args->max_frames, "stop after this many frames");
  cmd->add_option("-o,--output", args->output, "annotated output (same kind as the input)");
  cmd->add_flag("--json", args->json,
                "one JSON object per image/frame on stdout (default: a table)");
  cmd->add_flag("--anonymize,!--no-anonymize", args->anonymize,
                "cover faces in written images (default; --no-anonymize writes clear faces)");
  cmd->callback([args, &global] { global.exit_code = run_detect(*args, global); });
}

}  // namespace ev::cli
