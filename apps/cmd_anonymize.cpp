// `edgevision anonymize INPUT -o OUTPUT`: faces covered on every frame of an image, folder,
// video, camera or stream. Reading, anonymizing and writing run on their own threads joined by
// small bounded queues, so decode and encode overlap with detection; the face pass, the costly
// part, runs on several frames at once (frames in flight), each on one thread, and the masks
// are applied in frame order.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "audio_remux.hpp"
#include "commands.hpp"
#include "core/thread_name.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/bounded_queue.hpp"
#include "edgevision/io.hpp"
#include "edgevision/progress.hpp"
#include "frame_loop.hpp"

namespace ev::cli {
namespace {

struct AnonymizeArgs {
  std::string input;
  std::string output;
  std::string detector = "yunet";
  std::string mode = "balanced";
  std::string method = "blur";
  std::string level = "medium";
  std::string model;
  std::string on_failure = "black";
  float score = 0.f;
  float context_score = 0.f;
  int min_face = 0;
  int threads = 0;
  int in_flight = 0;  // 0: auto
  int64_t max_frames = 0;
  int jpeg_quality = 0;  // 0: SinkOptions' defaults (images 95, MJPG video 85)
  bool json = false;
  bool keep_audio = false;
  bool strict = false;
  bool no_head_fallback = false;
  std::string person_model = HeadFallbackOptions{}.detector.model;
  int crowd_tiles = HeadFallbackOptions{}.crowd_tiles;
  int crowd_faces = FaceContextOptions{}.crowd_faces;
  float person_search_score = HeadFallbackOptions{}.search_score;
  int person_large_input = kPhotoPersonInput;
  bool no_photo_flip = false;
};

struct Counters {
  int64_t frames = 0;  // frames read and decoded
  int64_t written = 0;
  int64_t faces = 0;                // detections
  int64_t heads = 0;                // head-fallback masks (persons with no detected face)
  int64_t person_searches = 0;      // face passes on person crops (head fallback face search)
  int64_t masks = 0;                // masks drawn (detections + held tracks)
  int64_t dropped = 0;              // fail-closed frames (detection failed)
  std::atomic<int64_t> corrupt{0};  // undecodable input frames/files (reader thread)
  int64_t write_errors = 0;
};

struct Item {
  Frame frame;
  FrameResult result;
};

// What a frame's face pass found, and how long it took.
struct FacePass {
  Result<std::vector<Face>> faces;
  double ms = 0;
};

// A frame on its way through the face pass; the main thread takes slots in frame order and
// waits for each one's faces.
struct Slot {
  Item item;
  std::promise<FacePass> pass;
};

int online_cores() {
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

// Frames whose face pass runs at once: one per core (each run on one thread uses a core better
// than one run spread over two: ORT's second worker was busy 20% of the time, bench/README.md),
// at most 4 (each holds its own activations, tens of MB at 720p).
int frames_in_flight(int asked, int threads) {
  if (asked > 0) return asked;
  if (threads > 0) return std::max(1, std::min(4, online_cores() / threads));
  return std::min(4, online_cores());
}

int run_anonymize(const AnonymizeArgs& args, const GlobalOptions& global) {
  AnonymizerOptions options;
  auto method = parse_anonymize_method(args.method);
  auto level = parse_privacy_level(args.level);
  auto mode = parse_detect_mode(args.mode);
  for (const Status* s : {&method.status(), &level.status(), &mode.status()}) {
    if (!s->ok()) {
      spdlog::error("{}", s->message());
      return 2;
    }
  }
  options.method = *method;
  options.level = *level;
  options.detector.detector = args.detector;
  options.detector.mode = *mode;
  options.detector.score_threshold = args.score;
  options.detector.context_score = args.context_score;
  options.detector.min_face = args.min_face;
  options.detector.threads = args.threads;
  options.detector.model = args.model;
  if (args.no_head_fallback) options.head_fallback.enabled = false;
  options.head_fallback.detector.model = args.person_model;
  options.head_fallback.crowd_tiles = args.crowd_tiles;
  options.context.crowd_faces = args.crowd_faces;
  options.head_fallback.search_score = args.person_search_score;

  auto source = open_source(args.input);
  if (!source) {
    spdlog::error("{}", source.error());
    return 1;
  }
  const SourceInfo& info = (*source)->info();
  // Still photos get the larger person pass; video keeps one pass per 3rd frame (its speed).
  if (info.kind == SourceKind::kImage || info.kind == SourceKind::kFolder) {
    options.head_fallback.large_input = args.person_large_input;
    options.photo_flip = !args.no_photo_flip;
  }
  SinkOptions sink_options;
  if (args.jpeg_quality > 0)
    sink_options.jpeg_quality = sink_options.mjpeg_quality = args.jpeg_quality;
  auto sink = open_sink(args.output, info, sink_options);
  if (!sink) {
    spdlog::error("{}", sink.error());
    return 1;
  }
  // One image has one frame to pass.
  int in_flight =
      info.kind == SourceKind::kImage ? 1 : frames_in_flight(args.in_flight, args.threads);
  {
    // Reader, detector and writer threads share the cores with ONNX Runtime's pool: spinning
    // workers take the cores the decoder and encoder need (median 13.5 -> 16.5 fps on 720p
    // here, and a third less CPU; bench/README.md).
    RuntimeOptions rt = runtime_options();
    rt.allow_spinning = false;
    // The face passes in flight share one session (one thread each): it must let them run at
    // once.
    rt.runs_per_session = std::max(rt.runs_per_session, in_flight);
    set_runtime_options(rt);
  }
  const int pass_threads =
      args.threads > 0 ? args.threads : std::max(1, online_cores() / in_flight);
  // The head fallback's person pass runs on the main thread beside the face passes in flight:
  // it takes their share of the cores, not all of them (720p, medians of 5: 44.6 against 42.9
  // fps for the build before, bench/README.md).
  if (in_flight > 1 && options.head_fallback.detector.threads == 0)
    options.head_fallback.detector.threads = pass_threads;
  ModelManager models(global.model_manager_options());
  auto anonymizer = Anonymizer::create(options, models);
  if (!anonymizer) {
    spdlog::error("no face detector can run: {}", anonymizer.error());
    return 1;
  }
  Anonymizer& anon = **anonymizer;
  // One detector per frame in flight, sharing the cores; with one, the anonymizer's own frame
  // pass runs. The anonymizer's detector keeps its threads for the passes it makes itself
  // (crowd mirror, person search) on the main thread.
  std::vector<std::unique_ptr<FaceDetector>> frame_detectors;
  for (int i = 0; in_flight > 1 && i < in_flight; ++i) {
    auto d = anon.make_frame_detector(models, pass_threads);
    if (!d) {
      spdlog::info("one frame at a time: {}", d.error());
      frame_detectors.clear();
      in_flight = 1;
      break;
    }
    frame_detectors.push_back(std::move(*d));
  }
  if (args.strict && !anon.fallback_note().empty()) {
    spdlog::error("--strict: {}", anon.fallback_note());
    return 1;
  }
  if (!anon.head_fallback_note().empty()) {
    if (args.strict) {
      spdlog::error("--strict: {}", anon.head_fallback_note());
      return 1;
    }
    spdlog::warn("{}; faces only (--no-head-fallback silences this)", anon.head_fallback_note());
  }
  spdlog::info("anonymizing {} ({}) -> {} with {} / {} / {}", args.input, to_string(info.kind),
               args.output, anon.detector_name(), args.method, args.level);

  const bool per_image = info.kind == SourceKind::kImage || info.kind == SourceKind::kFolder;
  // Fail closed: a frame whose detection failed is blacked out; video keeps the black frame so
  // timing is preserved, images are not written at all unless asked.
  const bool write_failed_frames = args.on_failure == "black" && !per_image;

  Counters c;
  // Slots in frame order (bounds the frames read ahead), and the same slots for the face pass.
  BoundedQueue<std::shared_ptr<Slot>> to_process(static_cast<size_t>(in_flight) + 3);
  BoundedQueue<std::shared_ptr<Slot>> to_detect(static_cast<size_t>(in_flight));
  BoundedQueue<Item> to_write(4);
  std::atomic<bool> stop{false};

  std::thread reader([&] {
    set_thread_name("reader");
    Frame frame;
    std::string message;
    for (;;) {
      if (stop) break;
      if (args.max_frames > 0 && c.frames + c.corrupt >= args.max_frames) break;
      const ReadStatus st = (*source)->read(frame, message);
      if (st == ReadStatus::kEnd) break;
      if (st == ReadStatus::kError) {
        spdlog::error("{}", message);
        break;
      }
      if (st == ReadStatus::kCorrupt) {
        spdlog::warn("{}", message);
        ++c.corrupt;
        continue;
      }
      ++c.frames;
      auto slot = std::make_shared<Slot>();
      slot->item.frame = frame;
      frame = Frame{};
      if (!to_process.push(slot)) break;
      if (!frame_detectors.empty() && !to_detect.push(std::move(slot))) break;
    }
    to_process.close();
    to_detect.close();
  });

  // The face pass of the frames in flight; the detectors only read the frame.
  std::vector<std::thread> face_passes;
  for (auto& detector : frame_detectors) {
    face_passes.emplace_back([&to_detect, d = detector.get(), i = face_passes.size()] {
      set_thread_name("faces-", std::to_string(i));
      while (auto slot = to_detect.pop()) {
        const auto t0 = std::chrono::steady_clock::now();
        Result<std::vector<Face>> faces = detect_faces(*d, (*slot)->item.frame.image);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        (*slot)->pass.set_value({std::move(faces), ms});
      }
    });
  }

  std::string write_error;  // the writer thread's last one (close() may repeat it)
  std::thread writer([&] {
    set_thread_name("writer");
    while (auto item = to_write.pop()) {
      if (!item->result.emitted && !write_failed_frames) continue;
      Status s = (*sink)->write(item->frame);
      if (!s) {
        ++c.write_errors;
        spdlog::error("{}", s.message());
        write_error = s.message();
        if (!per_image) {
          stop = true;
          to_write.close();  // the main thread may be waiting to push into a full queue
          break;
        }
      } else {
        ++c.written;
      }
    }
  });

  ProgressBar bar("anonymize", info.frame_count > 0 ? info.frame_count : 0, "frames");
  if (args.max_frames > 0 && (info.frame_count <= 0 || info.frame_count > args.max_frames))
    bar.set_total(args.max_frames);
  const auto t0 = std::chrono::steady_clock::now();
  int64_t processed = 0;
  while (auto slot = to_process.pop()) {
    Item& item = (*slot)->item;
    if (per_image) anon.reset_tracking();
    if (frame_detectors.empty()) {
      item.result = anon.process(item.frame.image);
    } else {
      FacePass pass = (*slot)->pass.get_future().get();
      item.result = anon.process(item.frame.image, std::move(pass.faces), pass.ms);
    }
    if (!item.result.emitted) {
      ++c.dropped;
      spdlog::warn(
          "frame {}{}: face detection failed ({}); frame withheld (fail closed)", item.frame.index,
          item.frame.name.empty() ? "" : " (" + item.frame.name.string() + ")", item.result.error);
    }
    c.faces += item.result.faces_detected;
    c.masks += item.result.masks_applied;
    c.heads += item.result.heads_masked;
    c.person_searches += item.result.person_searches;
    bar.update(++processed + c.corrupt);
    if (!to_write.push(std::move(item))) break;
    if (stop) break;
  }
  stop = true;
  to_write.close();
  to_process.close();
  to_detect.close();
  reader.join();
  for (auto& t : face_passes) t.join();
  writer.join();
  bar.finish();
  // A video sink reports at close what reached the disk; report that, not the attempts.
  if (Status closed = (*sink)->close(); !closed) {
    if (closed.message() != write_error) {
      spdlog::error("{}", closed.message());
      ++c.write_errors;
    }
    if (!per_image) c.written = (*sink)->frames_written();
  }
  bool audio_failed = false;
  if (args.keep_audio && info.kind == SourceKind::kVideo && c.written > 0 && c.write_errors == 0) {
    if (Status st = remux_audio(args.input, args.output); !st) {
      spdlog::error("{}", st.message());
      audio_failed = true;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double fps = seconds > 0 ? processed / seconds : 0.0;

  nlohmann::json summary = {
      {"input", args.input},
      {"output", args.output},
      {"source_kind", to_string(info.kind)},
      {"frames", c.frames},
      {"frames_written", c.written},
      {"faces", c.faces},
      {"masks", c.masks},
      {"dropped_frames", c.dropped},
      {"corrupt_frames", c.corrupt.load()},
      {"write_errors", c.write_errors},
      {"seconds", seconds},
      {"fps", fps},
      {"frames_in_flight", in_flight},
      {"detector", anon.detector_name()},
      {"mode", args.mode},
      {"method", args.method},
      {"level", args.level},
  };
  if (!anon.fallback_note().empty()) summary["fallback"] = anon.fallback_note();
  summary["head_fallback"] = !anon.options().head_fallback.enabled.value_or(false) ? "off"
                             : anon.head_fallback_note().empty()                   ? "on"
                                                                                   : "unavailable";
  summary["heads_masked"] = c.heads;
  summary["person_searches"] = c.person_searches;
  if (args.json) {
    std::printf("%s\n", summary.dump().c_str());
  } else {
    spdlog::info(
        "done: {} frames, {} written, {} faces, {} dropped (fail closed), {} corrupt, {:.1f} fps",
        c.frames, c.written, c.faces, c.dropped, c.corrupt.load(), fps);
  }
  return final_exit_code(c.frames, c.write_errors > 0 || audio_failed ? 1 : 0, args.input);
}

}  // namespace

void add_anonymize_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<AnonymizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "anonymize", "cover every face in an image, folder, video, camera or stream");
  cmd->add_option("input", args->input, "image, folder, video file, /dev/videoN or rtsp:// URL")
      ->required();
  cmd->add_option("-o,--output", args->output, "output of the same kind as the input")->required();
  cmd->add_option(
         "--detector", args->detector,
         "face detector: " +
             [] {
               std::string s;
               for (const auto& n : face_detector_names()) s += (s.empty() ? "" : ", ") + n;
               return s;
             }())
      ->capture_default_str();
  cmd->add_option("--mode", args->mode, "fast | balanced | accurate")->capture_default_str();
  cmd->add_option("--method", args->method, "blur | pixelate | blackbox | emoji")
      ->capture_default_str();
  cmd->add_option("--level", args->level,
                  "privacy level: low | medium | high | maximum (mask padding and hold)")
      ->capture_default_str();
  cmd->add_option("--model", args->model,
                  "face model (manifest name or file) overriding the detector's default");
  cmd->add_option("--score", args->score, "detection score threshold (0 = detector default)");
  cmd->add_option("--context-score", args->context_score,
                  "faces scoring at least this (below --score) are masked beside a face or "
                  "around a person's head (0 = level default, negative = off)");
  cmd->add_option("--min-face", args->min_face, "smallest face in pixels (0 = detector default)");
  cmd->add_option("--threads", args->threads,
                  "inference threads per face pass (0 = the cores shared by the frames in flight)");
  cmd->add_option("--frames-in-flight", args->in_flight,
                  "frames whose face pass runs at once (0 = one per core, at most 4)")
      ->check(CLI::Range(0, 16));
  cmd->add_option("--max-frames", args->max_frames, "stop after N frames (0 = all)");
  cmd->add_option("--jpeg-quality", args->jpeg_quality,
                  "JPEG quality of written images and of MJPG video frames (.avi, .mkv), 1-100 "
                  "(0 = 95 for images, 85 for video)")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--on-failure", args->on_failure,
                  "when face detection fails on a video frame: black (write a black frame) or drop")
      ->check(CLI::IsMember({"black", "drop"}))
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "print one JSON summary on stdout at the end");
  cmd->add_flag("--keep-audio", args->keep_audio,
                "carry the input's audio track over to the output video (needs ffmpeg; the audio "
                "is not anonymized)");
  cmd->add_flag("--strict", args->strict,
                "fail (exit 1) instead of falling back to a weaker face detector or running "
                "without the head fallback");
  cmd->add_flag("--no-photo-flip", args->no_photo_flip,
                "images: no mirrored face pass (on at level medium for images; video has none)");
  cmd->add_flag("--no-head-fallback", args->no_head_fallback,
                "do not mask the head region of persons with no detected face (backs of heads, "
                "masks, occlusion; on at level medium and above)");
  cmd->add_option("--crowd-faces", args->crowd_faces,
                  "faces that make a crowd: weak faces confirmed down to 0.1 and a mirrored face "
                  "pass there (0 = off)")
      ->capture_default_str();
  cmd->add_option("--person-large-input", args->person_large_input,
                  "images: a second person pass at N x N for the head fallback (0 = off; video "
                  "has none)")
      ->check(kNetworkSide)
      ->capture_default_str();
  cmd->add_option("--person-search-score", args->person_search_score,
                  "head fallback: face pass on the upper part of each person with no face in its "
                  "head region, its best face scoring this much masked (0 = off)")
      ->capture_default_str();
  cmd->add_option("--crowd-tiles", args->crowd_tiles,
                  "head fallback: N x N person tiles where the first pass found a crowd (0 = off)")
      ->capture_default_str();
  cmd->add_option("--person-model", args->person_model,
                  "object detector that finds persons for the head fallback")
      ->capture_default_str();
  cmd->callback([args, &global] { global.exit_code = run_anonymize(*args, global); });
}

}  // namespace ev::cli
