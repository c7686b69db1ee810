// `edgevision alpr INPUT`: licence plates read from an image, folder, video or stream (one
// JSON line per image/frame with --json, a summary line at the end); `edgevision alpr-eval
// --labels labels.csv IMAGES`: exact-match rate and character error rate per region.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "commands.hpp"
#include "edgevision/alpr.hpp"
#include "edgevision/io.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/progress.hpp"
#include "frame_loop.hpp"

namespace ev::cli {
namespace {

// A labelled photo, under IMAGES or else beside the labels file; empty (and logged) if unreadable.
cv::Mat read_labelled_image(const std::filesystem::path& root, const std::string& labels_file,
                            const std::string& image) {
  std::filesystem::path p = root / image;
  if (!std::filesystem::exists(p)) p = std::filesystem::path(labels_file).parent_path() / image;
  cv::Mat img = cv::imread(p.string(), cv::IMREAD_COLOR);
  if (img.empty()) spdlog::error("{}: cannot read image", p.string());
  return img;
}

// The detector/OCR choices `alpr` and `alpr-eval` share (add_engine_options).
struct EngineArgs {
  std::string vehicle_model = "yolox-nano";
  std::string plate_model = "plate-yolov5";
  std::string ocr = "cct";
  int threads = 0;
  float plate_conf = 0.1f;
  float crop_margin = 0.05f;
  int read_variants = 3;
  bool whole_frame = false;
  bool no_haar = false;
  bool no_mosaic = false;
};

struct AlprArgs : EngineArgs {
  std::string input;
  std::string output;
  std::string region;
  bool no_throttle = false;
  bool json = false;
  bool no_mask = false;
  int64_t max_frames = 0;
  float min_plate_area = 1000.f;
};

AlprParams make_params(const AlprArgs& a) {
  AlprParams p;
  p.plate.model = a.plate_model;
  p.plate.threads = a.threads;
  p.plate.conf = a.plate_conf;
  p.crop_margin = a.crop_margin;
  p.read_variants = a.read_variants;
  p.whole_image_always = a.whole_frame;
  p.haar_second_chance = !a.no_haar;
  p.plate_mosaic = !a.no_mosaic;
  p.ocr.engine = a.ocr;
  p.ocr.threads = a.threads;
  p.region = a.region;
  p.throttle.enabled = !a.no_throttle;
  p.throttle.min_plate_area = a.min_plate_area;
  return p;
}

nlohmann::ordered_json box_json(const cv::Rect2f& b) {
  return {round_to(b.x, 10), round_to(b.y, 10), round_to(b.width, 10), round_to(b.height, 10)};
}

int run_alpr(const AlprArgs& args, const GlobalOptions& global) {
  auto source = open_source(args.input);
  if (!source) {
    spdlog::error("{}", source.error());
    return 1;
  }
  const SourceInfo& info = (*source)->info();
  const bool per_image = info.kind == SourceKind::kImage || info.kind == SourceKind::kFolder;
  std::unique_ptr<FrameSink> sink;
  if (!open_optional_sink(args.output, info, sink)) return 1;
  if (sink && args.no_mask) spdlog::warn("alpr: --no-mask: plates are written unmasked");
  ModelManager models(global.model_manager_options());
  auto engine_or = AlprEngine::create(make_params(args), models,
                                      args.vehicle_model == "none" ? "" : args.vehicle_model);
  if (!engine_or) {
    spdlog::error("{}", engine_or.error());
    return 1;
  }
  AlprEngine& engine = **engine_or;
  spdlog::info("alpr: vehicles {}, plates {}, ocr {}, throttle {}", args.vehicle_model,
               engine.plate_detector().name(), engine.ocr().name(),
               args.no_throttle || per_image ? "off" : "on");

  ProgressBar bar("alpr", info.frame_count > 0 ? info.frame_count : 0, "frames");
  int64_t frames = 0, plates_read = 0;
  double vehicle_ms = 0, plate_ms = 0, ocr_ms = 0;
  int rc = 0;
  Frame frame;
  std::vector<PlateRead> reads;
  std::vector<nlohmann::ordered_json> table;
  for (;;) {
    if (args.max_frames > 0 && frames >= args.max_frames) break;
    const NextFrame next = read_next_frame(**source, frame, rc);
    if (next == NextFrame::kDone) break;
    if (next == NextFrame::kCorrupt) continue;
    ++frames;
    bar.update(frames);
    Status s = per_image ? engine.process_image(frame.image, reads)
                         : engine.process_frame(frame.image, reads);
    if (!s.ok()) {
      // Fail closed: a frame whose plates could not be located is not written.
      spdlog::error("frame {}: {}", frame.index, s.message());
      rc = 1;
      continue;
    }
    vehicle_ms += engine.last_timings().vehicle_ms;
    plate_ms += engine.last_timings().plate_ms;
    ocr_ms += engine.last_timings().ocr_ms;
    nlohmann::ordered_json j;
    if (per_image)
      j["image"] = info.kind == SourceKind::kFolder ? frame.name.string() : args.input;
    else
      j["frame_index"] = frame.index;
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    std::vector<PlateDetection> boxes;  // masked (plate_mask_region): box only, no corners
    for (const auto& r : reads) {
      boxes.emplace_back().box = r.box;
      if (r.voted.text.empty()) continue;
      ++plates_read;
      nlohmann::ordered_json p{{"text", r.voted.text},
                               {"confidence", round_to(r.voted.confidence, 1e4)},
                               {"box", box_json(r.box)}};
      if (!per_image) {
        p["track_id"] = r.track_id;
        p["reads"] = r.voted.reads;
        p["read_now"] = r.read_now;
      }
      p["vehicle"] = r.vehicle;
      list.push_back(p);
      if (per_image)
        table.push_back(
            {{"name", j["image"]}, {"text", r.voted.text}, {"confidence", r.voted.confidence}});
    }
    j["plates"] = list;
    if (args.json) std::printf("%s\n", j.dump().c_str());
    if (sink) {
      if (!args.no_mask) mask_plates(frame.image, boxes);
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
  const AlprStats& st = engine.stats();
  nlohmann::ordered_json summary{{"frames", frames}, {"ocr_calls", st.ocr_calls}};
  nlohmann::ordered_json voted = nlohmann::ordered_json::array();
  if (per_image) {
    summary["plates"] = plates_read;
  } else {
    const auto plates = engine.plate_summaries();
    summary["plates"] = plates.size();
    for (const auto& p : plates) {
      voted.push_back({{"track_id", p.track_id},
                       {"text", p.voted.text},
                       {"confidence", round_to(p.voted.confidence, 1e4)},
                       {"reads", p.voted.reads},
                       {"agreeing", p.voted.agreeing},
                       {"ocr_calls", p.ocr_calls},
                       {"vehicle", p.vehicle}});
      table.push_back({{"name", "track " + std::to_string(p.track_id)},
                       {"text", p.voted.text},
                       {"confidence", p.voted.confidence}});
    }
    summary["voted"] = voted;
    summary["skipped"] = {{"too_small", st.skipped_small},
                          {"settled", st.skipped_settled},
                          {"still", st.skipped_still},
                          {"capped", st.skipped_capped}};
  }
  const double n = frames ? static_cast<double>(frames) : 1.0;
  summary["ms_per_frame"] = {{"vehicle", round_to(vehicle_ms / n, 100)},
                             {"plate", round_to(plate_ms / n, 100)},
                             {"ocr", round_to(ocr_ms / n, 100)}};
  if (args.json) {
    std::printf("%s\n", nlohmann::ordered_json{{"summary", summary}}.dump().c_str());
  } else {
    std::printf("%-40s %-12s %s\n", "image / track", "plate", "confidence");
    for (const auto& t : table)
      std::printf("%-40s %-12s %.2f\n", t["name"].get<std::string>().c_str(),
                  t["text"].get<std::string>().c_str(), t["confidence"].get<double>());
    std::printf(
        "%lld frames, %lld OCR calls, %s plates; ms/frame: vehicle %.1f, plate %.1f, ocr %.1f\n",
        static_cast<long long>(frames), static_cast<long long>(st.ocr_calls),
        summary["plates"].dump().c_str(), vehicle_ms / n, plate_ms / n, ocr_ms / n);
  }
  return final_exit_code(frames, rc, args.input);
}

// ---------------------------------------------------------------------------------------
// alpr-eval
// ---------------------------------------------------------------------------------------

struct EvalArgs : EngineArgs {
  std::string labels;
  std::string images;
  std::string region = "none";  // labels: each row's region from the CSV; none; or a region
  bool gt_crops = false;
  bool json = false;
  double min_exact = 0;
  std::string dump_crops;  // folder: the rectified crop each read saw (to look at misses)
  bool mask_coverage = false;
  std::string mask_path = "service";  // service: the camera pipeline's PlateStage; cli: `alpr -o`
  double min_masked = 0.7;
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

struct LabelRow {
  std::string image, text, region;
  cv::Rect2f box;
};

Result<std::vector<LabelRow>> read_labels(const std::string& path) {
  std::ifstream f(path);
  if (!f) return Result<std::vector<LabelRow>>::Error(path + ": cannot open");
  std::vector<LabelRow> rows;
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || (n == 1 && line.rfind("image,", 0) == 0)) continue;
    std::vector<std::string> c;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) c.push_back(cell);
    if (c.size() != 7)
      return Result<std::vector<LabelRow>>::Error(path + ":" + std::to_string(n) +
                                                  ": expected image,text,x,y,w,h,region");
    try {
      rows.push_back(
          {c[0], c[1], c[6],
           cv::Rect2f(std::stof(c[2]), std::stof(c[3]), std::stof(c[4]), std::stof(c[5]))});
    } catch (const std::exception&) {
      return Result<std::vector<LabelRow>>::Error(path + ":" + std::to_string(n) +
                                                  ": x,y,w,h must be numbers");
    }
  }
  if (rows.empty()) return Result<std::vector<LabelRow>>::Error(path + ": no label rows");
  return rows;
}

struct Tally {
  int images = 0, detected = 0, exact = 0;
  int64_t edits = 0, chars = 0;
  void add(bool det, const std::string& read, const std::string& truth) {
    ++images;
    detected += det;
    exact += read == truth;
    edits += edit_distance(read, truth);
    chars += static_cast<int64_t>(truth.size());
  }
  nlohmann::ordered_json json() const {
    return {{"images", images},
            {"detected", detected},
            {"exact", exact},
            {"exact_rate", round_to(images ? static_cast<double>(exact) / images : 0, 1e4)},
            {"cer", round_to(chars ? static_cast<double>(edits) / chars : 0, 1e4)}};
  }
};

// `alpr-eval --mask-coverage`: each photo goes through the plate masking of the service (the
// camera pipeline's PlateStage, as `edgevision run` masks frames) or of `alpr -o`, and the
// share of the labelled plate box that changed is reported per photo, with the collateral.
int run_mask_coverage(const EvalArgs& args, const std::vector<LabelRow>& labels,
                      const GlobalOptions& global) {
  ModelManager models(global.model_manager_options());
  AlprArgs a;
  static_cast<EngineArgs&>(a) = args;
  const AlprParams params = make_params(a);
  std::unique_ptr<PlateStage> stage;
  std::unique_ptr<AlprEngine> engine;
  std::unique_ptr<ObjectDetector> vehicles;  // service path: what the track thread would know
  if (args.mask_path == "service") {
    PlateStageOptions o;
    o.camera = "alpr-eval";
    o.mask = true;
    o.read = false;
    o.params = params;
    auto s = PlateStage::create(o, models, nullptr);
    if (!s) {
      spdlog::error("{}", s.error());
      return 1;
    }
    stage = std::move(*s);
    if (args.vehicle_model != "none") {
      // The camera's steady state: its track thread has handed the plate stage the vehicles of
      // the scene's earlier frames (here: the same photo).
      DetectorParams dp;
      dp.model = args.vehicle_model;
      dp.classes = params.vehicle_classes;
      dp.threads = args.threads;
      auto v = ObjectDetector::create(dp, models);
      if (!v) {
        spdlog::error("{}", v.error());
        return 1;
      }
      vehicles = std::move(*v);
    }
  } else {
    auto e =
        AlprEngine::create(params, models, args.vehicle_model == "none" ? "" : args.vehicle_model);
    if (!e) {
      spdlog::error("{}", e.error());
      return 1;
    }
    engine = std::move(*e);
  }
  spdlog::info("alpr-eval: mask coverage of {} labelled plates through the {} path{}",
               labels.size(), args.mask_path,
               stage ? (vehicles ? ", vehicles known from earlier frames"
                                 : ", no vehicles known (first frame / detect: false)")
                     : "");
  const std::filesystem::path root = args.images;
  ProgressBar bar("alpr-eval", static_cast<int64_t>(labels.size()), "images");
  // A second, independent judge of a leak: the OCR reads the labelled plate box of the output
  // image (a pixelated low-contrast plate changes few pixels yet shows nothing).
  auto ocr = create_plate_ocr(params.ocr, models);
  if (!ocr) {
    spdlog::error("{}", ocr.error());
    return 1;
  }
  int rc = 0, below = 0, n = 0, readable = 0;
  double masked_sum = 0, masked_min = 1, collateral_sum = 0, ms_sum = 0;
  std::vector<nlohmann::ordered_json> rows;
  for (size_t i = 0; i < labels.size(); ++i) {
    const LabelRow& row = labels[i];
    bar.add();
    const cv::Mat img = read_labelled_image(root, args.labels, row.image);
    if (img.empty()) {
      rc = 1;
      continue;
    }
    cv::Mat out = img.clone();
    if (vehicles) {
      std::vector<Detection> cars;
      if (Status v = vehicles->detect(img, cars); !v.ok()) {
        spdlog::error("{}: {}", row.image, v.message());
        rc = 1;
        continue;
      }
      std::vector<Track> tracks;
      for (const auto& c : cars) {
        Track t;
        t.label = c.label;
        t.box = c.box;
        t.score = c.score;
        tracks.push_back(t);
      }
      stage->set_vehicles(static_cast<int64_t>(i), tracks);
    }
    const auto t0 = std::chrono::steady_clock::now();
    Status s = Status::Ok();
    if (stage) {
      s = stage->process(out, static_cast<int64_t>(i), 0);
    } else {
      std::vector<PlateDetection> plates;
      s = engine->detect_plates(out, plates);
      if (s.ok()) mask_plates(out, plates);
    }
    ms_sum += ms_since(t0);
    if (!s.ok()) {
      // The service withholds such a frame; nothing leaks, but the photo counts as a failure.
      spdlog::error("{}: {}", row.image, s.message());
      rc = 1;
      continue;
    }
    const PlateMaskCoverage c = plate_mask_coverage(img, out, {cv::Rect(row.box)});
    const double m = c.masked.empty() ? 0.0 : c.masked[0];
    PlateDetection labelled;
    labelled.box = row.box;
    auto after = (*ocr)->read(rectify_plate(out, labelled, (*ocr)->input_size(), 0.05f));
    if (!after) {
      spdlog::error("{}: {}", row.image, after.error());
      rc = 1;
      continue;
    }
    // Read exactly or one character off: the plate still leaks.
    const bool leaks = edit_distance(after->text, row.text) <= 1;
    readable += leaks;
    ++n;
    masked_sum += m;
    masked_min = std::min(masked_min, m);
    collateral_sum += c.collateral;
    if (m < args.min_masked) ++below;
    rows.push_back({{"image", row.image},
                    {"masked", round_to(m, 1e4)},
                    {"collateral", round_to(c.collateral, 1e4)},
                    {"read_after", after->text},
                    {"readable", leaks},
                    {"ok", m >= args.min_masked && !leaks}});
    if (args.json) std::printf("%s\n", rows.back().dump().c_str());
  }
  bar.finish();
  const double dn = n ? n : 1;
  nlohmann::ordered_json summary{
      {"path", args.mask_path},
      {"vehicles", stage ? vehicles != nullptr : true},
      {"plates", stage ? stage->detector_name() : engine->plate_detector().name()},
      {"images", n},
      {"min_masked", round_to(n ? masked_min : 0.0, 1e4)},
      {"mean_masked", round_to(masked_sum / dn, 1e4)},
      {"below_bar", below},
      {"bar", args.min_masked},
      {"mean_collateral", round_to(collateral_sum / dn, 1e5)},
      {"readable_after", readable},
      {"ms_per_image", round_to(ms_sum / dn, 100)}};
  if (args.json) {
    std::printf("%s\n", nlohmann::ordered_json{{"summary", summary}}.dump().c_str());
  } else {
    std::printf("%-32s %8s %11s  %-10s\n", "image", "masked%", "collateral%", "OCR after");
    for (const auto& r : rows)
      std::printf("%-32s %7.1f%% %10.2f%%  %-10s%s%s\n", r["image"].get<std::string>().c_str(),
                  100 * r["masked"].get<double>(), 100 * r["collateral"].get<double>(),
                  r["read_after"].get<std::string>().c_str(),
                  r["masked"].get<double>() >= args.min_masked ? "" : "  below bar",
                  r["readable"].get<bool>() ? "  READABLE" : "");
    std::printf(
        "%d images: masked min %.1f%%, mean %.1f%%; %d below %.0f%%; %d still readable; "
        "collateral mean %.2f%%; %.1f ms/image\n",
        n, 100 * (n ? masked_min : 0.0), 100 * masked_sum / dn, below, 100 * args.min_masked,
        readable, 100 * collateral_sum / dn, ms_sum / dn);
  }
  if (below > 0 || readable > 0) {
    spdlog::error(
        "alpr-eval: {} of {} labelled plates are less than {:.0f}% masked, {} still readable",
        below, n, 100 * args.min_masked, readable);
    return 1;
  }
  return rc;
}

int run_alpr_eval(const EvalArgs& args, const GlobalOptions& global) {
  auto labels = read_labels(args.labels);
  if (!labels) {
    spdlog::error("{}", labels.error());
    return 2;
  }
  if (args.mask_coverage) return run_mask_coverage(args, *labels, global);
  if (args.region != "labels" && args.region != "none" && region_patterns(args.region).empty()) {
    spdlog::error("--region: unknown region '{}' (labels, none, or one of the known regions)",
                  args.region);
    return 2;
  }
  ModelManager models(global.model_manager_options());
  AlprArgs a;
  static_cast<EngineArgs&>(a) = args;
  AlprParams params = make_params(a);
  auto engine_or = AlprEngine::create(
      params, models, args.gt_crops || args.vehicle_model == "none" ? "" : args.vehicle_model);
  if (!engine_or) {
    spdlog::error("{}", engine_or.error());
    return 1;
  }
  AlprEngine& engine = **engine_or;
  spdlog::info("alpr-eval: {} images, plates {}, ocr {}, {}", labels->size(),
               args.gt_crops ? "ground-truth boxes" : engine.plate_detector().name(),
               engine.ocr().name(), args.region == "labels" ? "region from labels" : args.region);
  const std::filesystem::path root = args.images;
  std::map<std::string, Tally> per_region;
  Tally all;
  ProgressBar bar("alpr-eval", static_cast<int64_t>(labels->size()), "images");
  int rc = 0;
  double vehicle_ms = 0, plate_ms = 0, ocr_ms = 0;
  for (const auto& row : *labels) {
    bar.add();
    const cv::Mat img = read_labelled_image(root, args.labels, row.image);
    if (img.empty()) {
      rc = 1;
      continue;
    }
    const std::string region = args.region == "labels" ? row.region
                               : args.region == "none" ? ""
                                                       : args.region;
    std::string read;
    bool detected = false;
    std::optional<PlateDetection> dumped;
    float score = 0.f;
    auto format = [&](const OcrResult& r) {
      return region.empty() ? r.text : apply_region_format(r.text, r.char_conf, region).text;
    };
    if (args.gt_crops) {
      PlateDetection d;
      d.box = row.box;
      const auto t0 = std::chrono::steady_clock::now();
      auto r = engine.read_plate(img, d);
      if (!r) {
        spdlog::error("{}: {}", row.image, r.error());
        rc = 1;
        continue;
      }
      ocr_ms += ms_since(t0);
      read = format(*r);
      detected = true;
      dumped = d;
    } else {
      std::vector<PlateDetection> plates;
      Status s = engine.detect_plates(img, plates);
      if (!s.ok()) {
        spdlog::error("{}: {}", row.image, s.message());
        rc = 1;
        continue;
      }
      vehicle_ms += engine.last_timings().vehicle_ms;
      plate_ms += engine.last_timings().plate_ms;
      // The labelled plate is the detection that overlaps its box most (the box is used only
      // to tell which detection is meant, never to find or crop the plate).
      const PlateDetection* best = nullptr;
      float best_iou = 0.05f;
      for (const auto& pl : plates) {
        const float o = iou(pl.box, row.box);
        if (o > best_iou) {
          best_iou = o;
          best = &pl;
        }
      }
      if (best) {
        detected = true;
        score = best->score;
        const auto t0 = std::chrono::steady_clock::now();
        auto r = engine.read_plate(img, *best);
        if (!r) {
          spdlog::error("{}: {}", row.image, r.error());
          rc = 1;
          continue;
        }
        ocr_ms += ms_since(t0);
        read = format(*r);
        dumped = *best;
      }
    }
    if (!args.dump_crops.empty() && dumped) {
      std::filesystem::create_directories(args.dump_crops);
      const std::string name = std::filesystem::path(row.image).stem().string() + "_" +
                               (read.empty() ? "-" : read) + ".png";
      const cv::Size s = engine.ocr().input_size();
      cv::imwrite((std::filesystem::path(args.dump_crops) / name).string(),
                  rectify_plate(img, *dumped, {s.width * 3, s.height * 3}, params.crop_margin));
    }
    per_region[row.region].add(detected, read, row.text);
    all.add(detected, read, row.text);
    if (args.json)
      std::printf("%s\n", nlohmann::ordered_json{{"image", row.image},
                                                 {"label", row.text},
                                                 {"read", read},
                                                 {"detected", detected},
                                                 {"detect_score", round_to(score, 1e3)},
                                                 {"correct", read == row.text}}
                              .dump()
                              .c_str());
  }
  bar.finish();
  const double n = all.images ? all.images : 1;
  if (args.json) {
    nlohmann::ordered_json regions;
    for (const auto& [k, t] : per_region) regions[k] = t.json();
    std::printf("%s\n",
                nlohmann::ordered_json{
                    {"summary",
                     {{"ocr", engine.ocr().name()},
                      {"plates", args.gt_crops ? "ground-truth" : engine.plate_detector().name()},
                      {"all", all.json()},
                      {"regions", regions},
                      {"ms_per_image",
                       {{"vehicle", round_to(vehicle_ms / n, 100)},
                        {"plate", round_to(plate_ms / n, 100)},
                        {"ocr", round_to(ocr_ms / n, 100)}}}}}}
                    .dump()
                    .c_str());
  } else {
    std::printf("%-8s %7s %9s %7s %8s %7s\n", "region", "images", "detected", "exact", "exact%",
                "CER");
    auto row = [](const std::string& name, const Tally& t) {
      std::printf("%-8s %7d %9d %7d %7.1f%% %7.3f\n", name.c_str(), t.images, t.detected, t.exact,
                  t.images ? 100.0 * t.exact / t.images : 0.0,
                  t.chars ? static_cast<double>(t.edits) / t.chars : 0.0);
    };
    for (const auto& [k, t] : per_region) row(k, t);
    row("all", all);
  }
  const double exact_rate = all.images ? static_cast<double>(all.exact) / all.images : 0.0;
  if (args.min_exact > 0 && exact_rate < args.min_exact) {
    spdlog::error("alpr-eval: exact match {:.1f}% is below --min-exact {:.1f}%", 100 * exact_rate,
                  100 * args.min_exact);
    return 1;
  }
  return rc;
}

void add_engine_options(CLI::App* cmd, EngineArgs& e) {
  cmd->add_option("--vehicle-model", e.vehicle_model,
                  "vehicle detector (manifest name or file; 'none' searches whole frames)")
      ->capture_default_str();
  cmd->add_option("--plate-model", e.plate_model, "plate detector: manifest name, file or 'haar'")
      ->capture_default_str();
  cmd->add_option("--ocr", e.ocr, "cct | tesseract | paddle")
      ->check(CLI::IsMember({"cct", "tesseract", "paddle"}))
      ->capture_default_str();
  cmd->add_option("--plate-conf", e.plate_conf, "plate detector confidence threshold")
      ->capture_default_str();
  cmd->add_option("--crop-margin", e.crop_margin, "context around each plate for the OCR")
      ->capture_default_str();
  cmd->add_option("--read-variants", e.read_variants,
                  "crops read per plate and voted: 1 corner warp, 2 + wider, 3 + axis-aligned box")
      ->check(CLI::Range(1, 3))
      ->capture_default_str();
  cmd->add_flag("--whole-frame", e.whole_frame,
                "search the whole frame for plates as well as the vehicles");
  cmd->add_flag("--no-mosaic", e.no_mosaic,
                "one plate-detector pass per vehicle instead of 2-4 vehicle crops tiled into one");
  cmd->add_flag("--no-haar", e.no_haar,
                "no Haar cascade second chance when the plate model finds nothing");
  cmd->add_option("--threads", e.threads, "inference threads (0: default)");
}

}  // namespace

void add_alpr_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<AlprArgs>();
  CLI::App* cmd =
      app.add_subcommand("alpr", "read licence plates in an image, folder, video or stream");
  cmd->add_option("input", args->input, "image, folder, video file, camera or stream URL")
      ->required();
  cmd->add_option("-o,--output", args->output,
                  "write frames with plates masked (same kind as input)");
  add_engine_options(cmd, *args);
  cmd->add_option("--region", args->region, "plate format rules: br, eu, nl, us (default none)")
      ->check(CLI::IsMember({"", "br", "eu", "nl", "us"}));
  cmd->add_option("--min-plate-area", args->min_plate_area,
                  "plates smaller than this (px^2) are not read")
      ->capture_default_str();
  cmd->add_flag("--no-throttle", args->no_throttle, "read every plate in every frame (to compare)");
  cmd->add_flag("--no-mask", args->no_mask, "write -o frames without masking plates");
  cmd->add_option("--max-frames", args->max_frames, "stop after this many frames");
  cmd->add_flag("--json", args->json, "one JSON line per image/frame and a summary line");
  cmd->callback([args, &global] { global.exit_code = run_alpr(*args, global); });

  auto eargs = std::make_shared<EvalArgs>();
  CLI::App* ev =
      app.add_subcommand("alpr-eval", "exact-match rate and CER of plate reads vs labels");
  add_engine_options(ev, *eargs);
  ev->add_option("--labels", eargs->labels, "CSV image,text,x,y,w,h,region")->required();
  ev->add_option("images", eargs->images, "folder the label image paths are relative to")
      ->required();
  ev->add_option("--region", eargs->region, "labels (each row's region), none, br, eu, nl, us")
      ->capture_default_str();
  ev->add_flag("--gt-crops", eargs->gt_crops, "read the labelled boxes (OCR alone, no detector)");
  ev->add_option("--min-exact", eargs->min_exact,
                 "exit 1 when the exact-match rate is below this (0..1)");
  ev->add_flag("--json", eargs->json, "one JSON line per image and a summary line");
  ev->add_option("--dump-crops", eargs->dump_crops,
                 "write the rectified plate crop of each read to this folder (PNG)");
  ev->add_flag("--mask-coverage", eargs->mask_coverage,
               "instead of reading: the share of each labelled plate the plate masking changed");
  ev->add_option("--mask-path", eargs->mask_path,
                 "with --mask-coverage: service (camera pipeline) or cli (`alpr -o`)")
      ->check(CLI::IsMember({"service", "cli"}))
      ->capture_default_str();
  ev->add_option("--min-masked", eargs->min_masked,
                 "with --mask-coverage: exit 1 when a plate is masked less than this (0..1)")
      ->capture_default_str();
  ev->callback([eargs, &global] { global.exit_code = run_alpr_eval(*eargs, global); });
}

}  // namespace ev::cli
