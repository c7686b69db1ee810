// `edgevision coverage DATA_DIR`: how many labelled faces the anonymizer covers, at full,
// half and third size, and how much else of the picture it touches.
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "edgevision/face_coverage.hpp"

namespace ev::cli {
namespace {

struct CoverageArgs {
  std::string data_dir;
  std::string detector = "yunet";
  std::string model;
  std::string mode = "balanced";
  std::string level = "medium";
  std::vector<double> scales{1.0, 0.5, 1.0 / 3.0};
  double min_coverage = 0.0;
  bool json = false;
  std::string tags;
  std::string save_dir;
  float score = 0.f;
  int min_face = 0;
  bool flip = false;
  bool multi_scale = false;
  bool no_head_fallback = false;
  std::string person_model = HeadFallbackOptions{}.detector.model;
  float person_score = HeadFallbackOptions{}.person_score;
  int crowd_tiles = HeadFallbackOptions{}.crowd_tiles;
  int person_input = 0;
  int person_large = kPhotoPersonInput;
  bool no_photo_flip = false;
  float search_score = HeadFallbackOptions{}.search_score;
  float search_top = HeadFallbackOptions{}.search_top;
  int max_searches = HeadFallbackOptions{}.max_searches;
  bool no_search_keeps_head = false;
  int crowd_faces = FaceContextOptions{}.crowd_faces;
  float tiny_face_px = FaceContextOptions{}.tiny_face_px;
  float crowd_small_face = FaceContextOptions{}.crowd_small_face;
  float stacked_overlap = FaceContextOptions{}.stacked_overlap;
  float crowd_score = FaceContextOptions{}.crowd_score;
  bool no_crowd_flip = false;
  float small_face = -1.f;
  std::vector<std::string> ensemble;
  float upscale = 0.f;
  bool upscale_everywhere = false;
  float large_face_score = 0.f;
  float context_score = 0.f;
  int threads = 0;
};

int run_coverage(const CoverageArgs& args, const GlobalOptions& global) {
  AnonymizerOptions options;
  auto mode = parse_detect_mode(args.mode);
  auto level = parse_privacy_level(args.level);
  if (!mode || !level) {
    spdlog::error("{}", !mode ? mode.error() : level.error());
    return 2;
  }
  options.detector.detector = args.detector;
  options.detector.model = args.model;
  options.detector.mode = *mode;
  options.detector.score_threshold = args.score;
  options.detector.min_face = args.min_face;
  options.detector.flip = args.flip;
  options.detector.multi_scale = args.multi_scale;
  options.detector.ensemble = args.ensemble;
  options.detector.upscale = args.upscale;
  options.detector.upscale_everywhere = args.upscale_everywhere;
  options.detector.threads = args.threads;
  options.detector.large_face_score = args.large_face_score;
  options.detector.context_score = args.context_score;
  options.level = *level;
  options.method = AnonymizeMethod::kBlackBox;
  if (args.no_head_fallback) options.head_fallback.enabled = false;
  options.head_fallback.detector.model = args.person_model;
  options.head_fallback.person_score = args.person_score;
  options.head_fallback.crowd_tiles = args.crowd_tiles;
  options.head_fallback.large_input = args.person_large;
  options.photo_flip = !args.no_photo_flip;
  if (args.person_input > 0)
    options.head_fallback.detector.input_size = {args.person_input, args.person_input};
  options.head_fallback.search_score = args.search_score;
  options.head_fallback.search_top = args.search_top;
  options.head_fallback.max_searches = args.max_searches;
  options.head_fallback.search_keeps_head = !args.no_search_keeps_head;
  options.context.crowd_faces = args.crowd_faces;
  options.context.tiny_face_px = args.tiny_face_px;
  options.context.crowd_small_face = args.crowd_small_face;
  options.context.stacked_overlap = args.stacked_overlap;
  options.context.crowd_score = args.crowd_score;
  options.context.crowd_flip = !args.no_crowd_flip;
  options.small_face = args.small_face;
  ModelManager models(global.model_manager_options());
  auto anonymizer = Anonymizer::create(options, models);
  if (!anonymizer) {
    spdlog::error("{}", anonymizer.error());
    return 1;
  }
  // Measuring a fallback detector instead of the model asked for would report the wrong
  // model's coverage (the privacy path falls back; a measurement of a given model must not).
  if (!args.model.empty() && !(*anonymizer)->fallback_note().empty()) {
    spdlog::error("coverage: {}; not measuring another detector in its place",
                  (*anonymizer)->fallback_note());
    return 2;
  }
  if (!(*anonymizer)->head_fallback_note().empty()) {
    spdlog::error("coverage: {}", (*anonymizer)->head_fallback_note());
    return 1;
  }
  CoverageOptions copts;
  copts.scales = args.scales;
  copts.tags_csv = args.tags;
  copts.save_dir = args.save_dir;
  auto report = evaluate_face_coverage(args.data_dir, **anonymizer, copts);
  if (!report) {
    spdlog::error("{}", report.error());
    return 1;
  }
  nlohmann::json j = {{"detector", report->detector}, {"mode", args.mode},
                      {"level", args.level},          {"faces", report->faces},
                      {"covered", report->covered},   {"coverage", report->coverage()}};
  for (const auto& s : report->scales) {
    j["scales"].push_back({{"scale", s.scale},
                           {"faces", s.faces},
                           {"covered", s.covered},
                           {"coverage", s.coverage()},
                           {"masks", s.masks},
                           {"masks_off_labels", s.masks_off_labels},
                           {"masked_outside_fraction", s.masked_outside_fraction},
                           {"collateral", s.collateral},
                           {"ms_per_image", s.ms_per_image},
                           {"missed", s.missed}});
    nlohmann::json tags = nlohmann::json::object();
    for (const auto& t : s.tags)
      tags[t.tag] = {{"faces", t.faces}, {"covered", t.covered}, {"coverage", t.coverage()}};
    if (!s.tags.empty()) j["scales"].back()["tags"] = tags;
    nlohmann::json images = nlohmann::json::array();
    for (const auto& im : s.images) {
      nlohmann::json masks = nlohmann::json::array();
      for (const auto& m : im.masks) masks.push_back({m.x, m.y, m.width, m.height});
      images.push_back({{"image", im.image},
                        {"faces", im.faces},
                        {"covered", im.covered},
                        {"collateral", im.collateral},
                        {"masks", masks}});
    }
    j["scales"].back()["images"] = images;
  }
  if (args.json) {
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("face coverage, detector %s (%s), level %s\n", report->detector.c_str(),
                args.mode.c_str(), args.level.c_str());
    std::printf("%-7s %6s %8s %9s %6s %10s %14s %11s %9s\n", "scale", "faces", "covered",
                "coverage", "masks", "off-label", "masked-else", "collateral", "ms/img");
    for (const auto& s : report->scales) {
      std::printf("%-7.3f %6d %8d %8.1f%% %6d %10d %13.2f%% %10.2f%% %9.1f\n", s.scale, s.faces,
                  s.covered, 100 * s.coverage(), s.masks, s.masks_off_labels,
                  100 * s.masked_outside_fraction, 100 * s.collateral, s.ms_per_image);
      // With tags the per-tag table replaces the (long) list of missed faces.
      if (s.tags.empty())
        for (const auto& m : s.missed) std::printf("        missed %s\n", m.c_str());
      for (const auto& t : s.tags)
        std::printf("        %-28s %5d %6d %8.1f%%\n", t.tag.c_str(), t.faces, t.covered,
                    100 * t.coverage());
    }
    std::printf("total   %6d %8d %8.1f%%\n", report->faces, report->covered,
                100 * report->coverage());
  }
  if (report->coverage() + 1e-12 >= args.min_coverage) return 0;
  spdlog::error("coverage {:.1f}% is below --min-coverage {:.1f}%", 100 * report->coverage(),
                100 * args.min_coverage);
  return 1;
}

}  // namespace

void add_coverage_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<CoverageArgs>();
  CLI::App* cmd =
      app.add_subcommand("coverage", "measure face coverage of the anonymizer on labelled photos");
  cmd->add_option("data_dir", args->data_dir,
                  "folder with labels.csv (image,x,y,w,h) and its images")
      ->required();
  cmd->add_option("--detector", args->detector, "face detector")->capture_default_str();
  cmd->add_option("--model", args->model,
                  "face model (manifest name or file) overriding the detector's default, e.g. "
                  "an INT8 or FP16 model from `quantize`, to check it still covers every face");
  cmd->add_option("--mode", args->mode, "fast | balanced | accurate")->capture_default_str();
  cmd->add_option("--level", args->level, "privacy level")->capture_default_str();
  cmd->add_option("--scales", args->scales, "image scales to test")->delimiter(',');
  cmd->add_option("--min-coverage", args->min_coverage,
                  "exit 1 when total coverage is below this fraction");
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->add_option("--tags", args->tags,
                  "image,x,y,w,h,tag file (e.g. faces_wider/tags.csv): coverage per tag");
  cmd->add_option("--save-dir", args->save_dir,
                  "write each anonymized output here with labelled boxes outlined (green "
                  "covered, red missed)");
  cmd->add_option("--score", args->score, "detection score threshold (0 = detector default)");
  cmd->add_option("--min-face", args->min_face, "smallest face in pixels (0 = detector default)");
  cmd->add_option("--threads", args->threads, "inference threads (0 = all cores)");
  cmd->add_flag("--flip", args->flip, "also detect on the mirrored image (test-time augmentation)");
  cmd->add_flag("--no-photo-flip", args->no_photo_flip,
                "no mirrored face pass at level medium (`anonymize` runs one on images)");
  cmd->add_flag("--no-head-fallback", args->no_head_fallback,
                "do not mask the head region of persons with no detected face (on at level "
                "medium and above)");
  cmd->add_option("--person-model", args->person_model,
                  "object detector for the head fallback (manifest name or file)");
  cmd->add_option("--person-score", args->person_score, "person score for the head fallback");
  cmd->add_option("--crowd-tiles", args->crowd_tiles,
                  "head fallback: N x N person tiles where the first pass found a crowd (0 = off)")
      ->capture_default_str();
  cmd->add_option("--person-input", args->person_input,
                  "head fallback: run the person detector at N x N (a multiple of 32; 0 = the "
                  "model's own size)")
      ->check(kNetworkSide)
      ->capture_default_str();
  cmd->add_option("--person-large-input", args->person_large,
                  "head fallback: a second person pass at N x N on photos >= 1.5x the first "
                  "pass's input; its new persons are added (0 = off)")
      ->check(kNetworkSide)
      ->capture_default_str();
  cmd->add_option("--person-search-score", args->search_score,
                  "head fallback: face pass on the upper part of each person with no face in its "
                  "head region; its best face scoring this much is masked too (0 = off)")
      ->capture_default_str();
  cmd->add_option("--person-search-top", args->search_top,
                  "part of the person box (from its top) the person face search looks at")
      ->capture_default_str();
  cmd->add_option("--person-searches", args->max_searches,
                  "at most this many person face searches per image (largest persons first)")
      ->capture_default_str();
  cmd->add_flag("--person-search-no-head", args->no_search_keeps_head,
                "a new face the person search found replaces the head region (default: both "
                "masked)");
  cmd->add_option("--crowd-small-face", args->crowd_small_face,
                  "in crowds, faces shorter than this (px) get larger masks (0 = off)")
      ->capture_default_str();
  cmd->add_option("--tiny-face", args->tiny_face_px,
                  "faces narrower than this (px) must score 0.5 (0 = off)")
      ->capture_default_str();
  cmd->add_option("--stacked-overlap", args->stacked_overlap,
                  "close-ups: drop a face (>= 1/5 of the image height) lying this much inside a "
                  "better one of that size (0 = off)")
      ->capture_default_str();
  cmd->add_option("--crowd-faces", args->crowd_faces,
                  "faces that make a crowd (weak faces confirmed down to --crowd-score, mirrored "
                  "pass); 0 = off")
      ->capture_default_str();
  cmd->add_option("--crowd-score", args->crowd_score, "weakest context face counted in crowds")
      ->capture_default_str();
  cmd->add_flag("--no-crowd-flip", args->no_crowd_flip, "no mirrored face pass in crowds");
  cmd->add_option(
         "--small-face", args->small_face,
         "faces shorter than this (px) get relatively larger masks (-1 = level's, 0 = off)")
      ->capture_default_str();
  cmd->add_flag("--multi-scale", args->multi_scale,
                "also run the face model on the whole image fitted into 640x640 (second scale)");
  cmd->add_option("--ensemble", args->ensemble,
                  "extra face detectors merged with --detector by NMS, e.g. yunet2022,blazeface")
      ->delimiter(',');
  cmd->add_option("--upscale", args->upscale,
                  "small-face pass at this scale (e.g. 2), on tiles where small faces were found");
  cmd->add_option("--context-score", args->context_score,
                  "faces scoring at least this (below --score) are kept inside a detected "
                  "person's head region (0 = level default, negative = off)");
  cmd->add_option("--large-face-score", args->large_face_score,
                  "score faces of 48 px or more need (with a low --score; 0 = off)");
  cmd->add_flag("--upscale-everywhere", args->upscale_everywhere,
                "run the --upscale pass on every tile");
  cmd->callback([args, &global] { global.exit_code = run_coverage(*args, global); });
}

}  // namespace ev::cli
