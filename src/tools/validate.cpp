// `edgevision validate`: runs a detector over a YOLO-format val split and scores it.
#include <chrono>
#include <cmath>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/progress.hpp"
#include "edgevision/validate.hpp"

namespace ev {

Result<ValidationReport> validate_detector(const ValidateOptions& options, ModelManager& models) {
  using R = Result<ValidationReport>;
  auto data = parse_data_yaml(options.data);
  if (!data) return R(data.status());
  auto images = list_val_images(*data);
  if (!images) return R(images.status());
  if (options.max_images > 0 && static_cast<int>(images->size()) > options.max_images)
    images->resize(options.max_images);

  DetectorParams dp;
  dp.model = options.model;
  dp.conf = options.conf;
  dp.nms = options.nms;
  dp.threads = options.threads;
  dp.rect = options.rect;
  dp.backend = options.backend;
  dp.max_detections = 100;  // COCO maxDets
  auto det = ObjectDetector::create(dp, models);
  if (!det) return R(det.status());
  ObjectDetector& detector = *det.value();
  const int nc = static_cast<int>(data->names.size());
  if (static_cast<int>(detector.labels().size()) != nc)
    spdlog::warn("validate: model has {} classes, data set {}; matching by class id",
                 detector.labels().size(), nc);

  ValidationReport report;
  report.model = options.model;
  report.decoder = detector.decoder_name();
  report.backend = detector.backend_name();
  report.names = data->names;
  MapEvaluator eval(nc);
  ProgressBar bar("validate " + options.model, static_cast<int64_t>(images->size()), "img");
  if (!options.progress) bar.force_enabled(false);
  const auto start = std::chrono::steady_clock::now();
  std::vector<Detection> dets;
  for (const auto& item : *images) {
    bar.add();
    cv::Mat img = cv::imread(item.image.string(), cv::IMREAD_COLOR);
    if (img.empty()) {
      spdlog::warn("validate: cannot read {}; skipped", item.image.string());
      ++report.skipped_images;
      continue;
    }
    auto gts = read_yolo_labels(item.label, img.size(), nc);
    if (!gts) {
      spdlog::warn("validate: {}; image skipped", gts.error());
      ++report.skipped_images;
      continue;
    }
    Status st = detector.detect(img, dets);
    if (!st.ok()) return R::Error("validate: " + item.image.string() + ": " + st.message());
    eval.add_image(*gts, dets);
  }
  bar.finish();
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  report.metrics = eval.compute();
  spdlog::info("validate: model={} images={} map50={:.4f} map50_95={:.4f} time={:.1f}s",
               report.model, report.metrics.images, report.metrics.map50, report.metrics.map50_95,
               report.seconds);
  return report;
}

namespace {

double round6(double v) {
  return std::round(v * 1e6) / 1e6;
}

}  // namespace

std::string validation_json(const ValidationReport& r, const ValidationReport* compare) {
  nlohmann::ordered_json j;
  j["model"] = r.model;
  j["map50"] = round6(r.metrics.map50);
  j["map50_95"] = round6(r.metrics.map50_95);
  nlohmann::ordered_json per_class = nlohmann::ordered_json::object();
  for (size_t c = 0; c < r.metrics.ap50_95.size() && c < r.names.size(); ++c)
    if (r.metrics.ap50_95[c] >= 0) per_class[r.names[c]] = round6(r.metrics.ap50_95[c]);
  j["per_class"] = per_class;
  j["images"] = r.metrics.images;
  if (compare) {
    nlohmann::ordered_json c;
    c["model"] = compare->model;
    c["map50"] = round6(compare->metrics.map50);
    c["map50_95"] = round6(compare->metrics.map50_95);
    // Points: compare - model, x100 (negative = the compared model is worse).
    c["diff_map50_points"] = round6((compare->metrics.map50 - r.metrics.map50) * 100);
    c["diff_map50_95_points"] = round6((compare->metrics.map50_95 - r.metrics.map50_95) * 100);
    if (r.metrics.map50_95 > 0)
      c["diff_map50_95_percent"] =
          round6((compare->metrics.map50_95 - r.metrics.map50_95) / r.metrics.map50_95 * 100);
    j["compare"] = c;
  }
  return j.dump();
}

std::string validation_text(const ValidationReport& r, const ValidationReport* compare) {
  std::string s = fmt::format("{:<24} {:>8} {:>8} {:>10}\n", "class", "GT", "AP50", "AP50-95");
  for (size_t c = 0; c < r.metrics.ap50_95.size() && c < r.names.size(); ++c) {
    if (r.metrics.ap50_95[c] < 0) continue;
    s += fmt::format("{:<24} {:>8} {:>8.3f} {:>10.3f}\n", r.names[c], r.metrics.gt_count[c],
                     r.metrics.ap50[c], r.metrics.ap50_95[c]);
  }
  s += fmt::format("\n{:<32} {:>8} {:>8} {:>10}\n", "model", "images", "mAP50", "mAP50-95");
  auto row = [&](const ValidationReport& x) {
    s += fmt::format("{:<32} {:>8} {:>8.4f} {:>10.4f}   ({} / {}, {:.1f} s)\n", x.model,
                     x.metrics.images, x.metrics.map50, x.metrics.map50_95, x.decoder, x.backend,
                     x.seconds);
  };
  row(r);
  if (compare) {
    row(*compare);
    s += fmt::format("{:<32} {:>8} {:>+8.2f} {:>+10.2f}   points\n", "difference", "",
                     (compare->metrics.map50 - r.metrics.map50) * 100,
                     (compare->metrics.map50_95 - r.metrics.map50_95) * 100);
  }
  if (r.skipped_images > 0) s += fmt::format("skipped images: {}\n", r.skipped_images);
  return s;
}

}  // namespace ev
