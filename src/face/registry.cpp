// The one place face detectors are registered (name -> factory), and the fallback chain.
//
// Default: "yunet" (YuNet-s 2023 via ONNX Runtime) in "balanced" mode. The network takes any
// input size, so a 1280x720 frame is one run at 0.89x (the short side fitted to the 640 px
// YuNet was trained at), plus 2x runs around the faces found near that run's size limit
// (tiling.cpp), so faces down to ~10 px are found. "fast" (one run fitted into 640x640) is
// ~2x faster but misses faces under ~25 px at 720p, the CCTV case. Numbers:
// docs/face-detectors.md and bench/README.md.
//
// Fallback order when a detector's model cannot be had (best coverage first):
//   yunet -> yunet2022 -> ssd -> blazeface -> blazeface128 -> haar
// The requested detector is tried first, then the rest of this list in order. Haar is last
// because its cascade ships with the OS (Debian opencv-data) and is nearly always there.
#include <algorithm>
#include <mutex>
#include <set>
#include <string>

#include <spdlog/spdlog.h>

#include "face/face_internal.hpp"

namespace ev {
namespace face {
namespace {

using Factory = DetectorResult (*)(const FaceDetectorOptions&, ModelManager&);

struct Entry {
  const char* name;
  Factory factory;
};

// In fallback order (see the comment at the top).
const std::vector<Entry>& registry() {
  static const std::vector<Entry> entries = {
      {"yunet", create_yunet},
      {"yunet2022", create_yunet2022},
      {"ssd", create_ssd},
      {"blazeface", create_blazeface_back},
      {"blazeface128", create_blazeface_front},
      {"haar", create_haar},
  };
  return entries;
}

// file:// sources are files installed with the OS (the Haar cascades of Debian opencv-data).
// Reading one in place is not a download, so it must work offline and with downloads
// disabled; otherwise the last resort of the chain would depend on network policy. The hash
// is still checked, as the manager does for every copy it uses.
Result<ResolvedModel> resolve_local_sources(ModelManager& models, const std::string& name) {
  const ModelSpec* spec = models.manifest().find(name);
  if (!spec || spec->files.empty()) return Result<ResolvedModel>::Error("no manifest entry");
  ResolvedModel r;
  r.spec = spec;
  for (const auto& file : spec->files) {
    bool found = false;
    for (const auto& source : file.sources) {
      if (source.rfind("file://", 0) != 0) continue;
      const std::filesystem::path path = source.substr(7);
      std::error_code ec;
      if (!std::filesystem::is_regular_file(path, ec)) continue;
      auto sha = sha256_file(path);
      if (!sha || (!file.sha256.empty() && *sha != file.sha256)) {
        spdlog::warn("face: ignoring {}: sha256 {} does not match the manifest", path.string(),
                     sha ? *sha : sha.error());
        continue;
      }
      r.paths.push_back(path);
      found = true;
      break;
    }
    if (!found) return Result<ResolvedModel>::Error("no local file:// copy of " + file.file);
  }
  spdlog::info("face: model '{}' used in place from {}", name, r.primary().string());
  return r;
}

}  // namespace

Result<ResolvedModel> resolve_model(const FaceDetectorOptions& options, ModelManager& models,
                                    const std::string& default_model) {
  const std::string& name = options.model.empty() ? default_model : options.model;
  auto resolved = models.resolve(name);
  if (!resolved) {
    if (auto local = resolve_local_sources(models, name)) return local;
    return Result<ResolvedModel>::Error("model '" + name + "' is unavailable: " + resolved.error());
  }
  if (resolved->paths.empty())
    return Result<ResolvedModel>::Error("model '" + name + "' resolved to no files");
  return resolved;
}

Result<OnnxFaceModel> open_onnx_model(const FaceDetectorOptions& options, ModelManager& models,
                                      const std::string& default_model, bool free_image_size) {
  auto model = resolve_model(options, models, default_model);
  if (!model) return model.status();
  BackendOptions bo;
  bo.threads = options.threads;
  bo.free_image_size = free_image_size;
  auto backend = create_backend("onnxruntime", model->primary(), bo);
  if (!backend) return backend.status();
  return OnnxFaceModel{std::move(*model), std::move(*backend)};
}

float pick_nms(const ResolvedModel& model, float fallback) {
  return model.spec && model.spec->nms_threshold > 0 ? static_cast<float>(model.spec->nms_threshold)
                                                     : fallback;
}

float pick_threshold(const FaceDetectorOptions& options, const ResolvedModel& model,
                     float fallback) {
  if (options.score_threshold > 0.f) return options.score_threshold;
  if (model.spec && model.spec->conf_threshold > 0.0)
    return static_cast<float>(model.spec->conf_threshold);
  return fallback;
}

}  // namespace face

Result<DetectMode> parse_detect_mode(const std::string& text) {
  if (text == "fast") return DetectMode::kFast;
  if (text == "balanced") return DetectMode::kBalanced;
  if (text == "accurate") return DetectMode::kAccurate;
  return Result<DetectMode>::Error("unknown detect mode '" + text +
                                   "' (expected fast, balanced or accurate)");
}

const char* to_string(DetectMode mode) {
  switch (mode) {
    case DetectMode::kFast:
      return "fast";
    case DetectMode::kBalanced:
      return "balanced";
    case DetectMode::kAccurate:
      return "accurate";
  }
  return "balanced";
}

Result<std::vector<Face>> detect_faces(FaceDetector& detector, const cv::Mat& bgr) {
  try {
    return detector.detect(bgr);
  } catch (const std::exception& e) {
    return Result<std::vector<Face>>::Error(std::string("detector threw: ") + e.what());
  }
}

std::vector<std::string> face_detector_names() {
  std::vector<std::string> names;
  for (const auto& e : face::registry()) names.emplace_back(e.name);
  return names;
}

namespace {

Result<std::unique_ptr<FaceDetector>> create_one(const FaceDetectorOptions& options,
                                                 ModelManager& models, std::string* fallback_note) {
  if (fallback_note) fallback_note->clear();
  const auto& entries = face::registry();
  auto requested = std::find_if(entries.begin(), entries.end(),
                                [&](const face::Entry& e) { return options.detector == e.name; });
  if (requested == entries.end()) {
    std::string known;
    for (const auto& e : entries) known += std::string(known.empty() ? "" : ", ") + e.name;
    return face::DetectorResult::Error("unknown face detector '" + options.detector +
                                       "' (known: " + known + ")");
  }
  std::vector<const face::Entry*> order{&*requested};
  for (const auto& e : entries)
    if (&e != &*requested) order.push_back(&e);

  std::string requested_error;  // why the requested detector failed, in full
  std::string skipped;          // fallbacks that failed too (their reasons are logged)
  std::string failures;
  for (const face::Entry* e : order) {
    FaceDetectorOptions opts = options;
    opts.detector = e->name;
    // A model override names the requested detector's model; fallbacks use their own.
    if (e != &*requested) opts.model.clear();
    // Score thresholds are calibrated per model; a fallback uses its own.
    if (e != &*requested) opts.score_threshold = opts.large_face_score = 0.f;
    auto det = e->factory(opts, models);
    if (det) {
      if (e != &*requested) {
        std::string note =
            "face detector '" + options.detector + "' is unavailable: " + requested_error;
        if (!skipped.empty()) note += "; also unavailable: " + skipped;
        note += "; using '" + std::string(e->name) + "' instead";
        spdlog::warn("face: {}", note);
        if (fallback_note) *fallback_note = note;
      } else {
        // Once per detector and mode: `anonymize` builds one per frame in flight, the service
        // one per camera, and the same line again says nothing new.
        static std::mutex announced_mutex;
        static std::set<std::string> announced;
        const std::string what =
            std::string("'") + e->name + "' (" + to_string(options.mode) + " mode)";
        bool first = false;
        {
          std::lock_guard lock(announced_mutex);
          first = announced.insert(what).second;
        }
        spdlog::log(first ? spdlog::level::info : spdlog::level::debug, "face: detector {} ready",
                    what);
      }
      return det;
    }
    // One warning line sums up a fallback below; each failure in full only at debug level.
    spdlog::debug("face: detector '{}' cannot be created: {}", e->name, det.error());
    if (e == &*requested) {
      requested_error = det.error();
    } else {
      skipped += std::string(skipped.empty() ? "" : ", ") + e->name;
    }
    failures += std::string(failures.empty() ? "" : "; ") + e->name + ": " + det.error();
  }
  return face::DetectorResult::Error("no face detector could be created: " + failures);
}

void apply_upscale(FaceDetector& detector, const FaceDetectorOptions& options) {
  auto* tiled = dynamic_cast<face::TiledFaceDetector*>(&detector);
  if (tiled && options.large_face_score > 0.f)
    tiled->set_large_face_score(options.large_face_score, options.large_face_px);
  if (tiled) tiled->set_multi_scale(options.multi_scale);
  if (options.upscale <= 0.f) return;
  if (tiled) {
    tiled->set_upscale(options.upscale, options.upscale_everywhere);
  } else {
    // A fallback (Haar, BlazeFace) gets the level's options too; not worth a warning.
    spdlog::debug("face: detector '{}' has no upscaled pass; upscale {} ignored", detector.name(),
                  options.upscale);
  }
}

}  // namespace

Result<std::unique_ptr<FaceDetector>> create_face_detector(const FaceDetectorOptions& options,
                                                           ModelManager& models,
                                                           std::string* fallback_note) {
  // Context candidates: the main detector reports down to context_score; the caller confirms.
  const bool context = reports_context_faces(options);
  FaceDetectorOptions main_options = options;
  if (context) main_options.score_threshold = options.context_score;
  auto main = create_one(main_options, models, fallback_note);
  if (!main) return main;
  apply_upscale(**main, options);
  if (auto* tiled = dynamic_cast<face::TiledFaceDetector*>(main->get()); tiled && context)
    tiled->set_small_face_min_score(options.score_threshold);
  if (!options.flip && options.ensemble.empty()) return main;
  std::vector<std::unique_ptr<FaceDetector>> members;
  members.push_back(std::move(*main));
  for (const auto& name : options.ensemble) {
    if (name == options.detector) continue;
    FaceDetectorOptions opts = options;
    opts.detector = name;
    opts.model.clear();
    opts.score_threshold = 0.f;  // each member's own calibrated threshold
    opts.ensemble.clear();
    std::string note;
    // A member that falls back would duplicate another member; use it only as itself.
    auto member = create_one(opts, models, &note);
    if (!member || !note.empty()) {
      const std::string why = member ? note : member.error();
      return Result<std::unique_ptr<FaceDetector>>::Error("face ensemble member '" + name +
                                                          "' is unavailable: " + why);
    }
    apply_upscale(**member, options);
    members.push_back(std::move(*member));
  }
  return face::make_ensemble(std::move(members), options.flip);
}

}  // namespace ev
