// PlateStage: plate privacy and reading inside a camera pipeline. Plates are located and
// masked on the anonymize thread (so no output image ever carries one); the crops taken just
// before masking go through a bounded queue to an OCR thread of their own, so a slow read
// never stalls tracking.
#include <algorithm>
#include <cmath>

#include <spdlog/spdlog.h>

#include "edgevision/alpr.hpp"
#include "edgevision/events.hpp"

namespace ev {
namespace {

void register_plate_events() {
  static std::once_flag once;
  std::call_once(once, [] {
    auto& reg = EventTypeRegistry::instance();
    for (const EventTypeInfo& t :
         {EventTypeInfo{"plate_read", "a plate track got its first voted reading"},
          EventTypeInfo{"plate_updated", "a plate track's voted reading changed"}})
      if (!reg.contains(t.name)) {
        Status s = reg.add(t);
        if (!s.ok()) spdlog::warn("alpr: {}", s.message());
      }
  });
}

}  // namespace

PlateStage::PlateStage(PlateStageOptions options, std::unique_ptr<PlateDetector> detector,
                       std::unique_ptr<PlateOcr> ocr, Emit emit)
    : options_(std::move(options)),
      detector_(std::move(detector)),
      ocr_(std::move(ocr)),
      emit_(std::move(emit)),
      queue_(options_.queue_size),
      book_(options_.params) {}

Result<std::unique_ptr<PlateStage>> PlateStage::create(const PlateStageOptions& options,
                                                       ModelManager& models, Emit emit) {
  using R = Result<std::unique_ptr<PlateStage>>;
  auto det = create_plate_detector(options.params.plate, models);
  if (!det) return R::Error("plates: " + det.error());
  std::unique_ptr<PlateOcr> ocr;
  if (options.read) {
    auto o = create_plate_ocr(options.params.ocr, models);
    if (!o) return R::Error("alpr: " + o.error());
    ocr = std::move(*o);
    register_plate_events();
  }
  return std::unique_ptr<PlateStage>(
      new PlateStage(options, std::move(*det), std::move(ocr), std::move(emit)));
}

PlateStage::~PlateStage() {
  stop();
}

void PlateStage::start() {
  if (!options_.read || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void PlateStage::stop() {
  queue_.close();
  if (thread_.joinable()) thread_.join();
}

bool PlateStage::submit(PlateWork work) {
  return queue_.push_drop_oldest(std::move(work));
}

Status PlateStage::process(cv::Mat& frame, int64_t index, double time_ms) {
  std::vector<PlateDetection> plates;
  Status s = detector_->detect(frame, {}, plates);
  if (!s.ok()) return s;
  if (options_.read) {
    PlateWork w;
    w.frame_index = index;
    w.time_ms = time_ms;
    w.frame_diagonal = static_cast<float>(std::hypot(frame.cols, frame.rows));
    const auto variants = crop_variants(options_.params.crop_margin,
                                        std::clamp(options_.params.read_variants, 1, 3));
    for (const auto& p : plates) {
      std::vector<cv::Mat> cuts;
      if (p.box.area() >= options_.params.throttle.min_plate_area)
        for (const auto& v : variants) {
          cv::Mat c = rectify_plate(frame, p, ocr_->input_size(), v);
          if (!c.empty()) cuts.push_back(std::move(c));
        }
      w.crops.push_back(std::move(cuts));
    }
    w.plates = plates;
    submit(std::move(w));
  }
  if (options_.mask) {
    std::vector<cv::Rect2f> boxes;
    for (const auto& p : plates) boxes.push_back(p.box);
    mask_plates(frame, boxes, options_.mask_margin);
    masked_ += static_cast<int64_t>(boxes.size());
  }
  return Status::Ok();
}

void PlateStage::run() {
  while (auto w = queue_.pop()) consume(*w);
}

void PlateStage::consume(const PlateWork& work) {
  std::vector<PlateRead> reads;
  std::lock_guard lock(book_mutex_);
  Status s = book_.update(
      work.plates, {}, work.frame_diagonal,
      [&](size_t i) -> Result<OcrResult> {
        if (i >= work.crops.size() || work.crops[i].empty())
          return Result<OcrResult>::Error("no crop");
        std::vector<OcrResult> variants;
        for (const auto& crop : work.crops[i]) {
          ++ocr_calls_;
          auto r = ocr_->read(crop);
          if (!r) return r;
          if (!options_.params.region.empty())
            r->text = apply_region_format(r->text, r->char_conf, options_.params.region).text;
          variants.push_back(std::move(*r));
        }
        return combine_reads(variants, options_.params.vote.similarity);
      },
      reads, stats_);
  if (!s.ok()) {
    spdlog::warn("camera {}: plate OCR failed on frame {}: {}", options_.camera, work.frame_index,
                 s.message());
    return;
  }
  for (const auto& r : reads) {
    if (!r.read_now || r.voted.text.empty()) continue;
    TrackReadState* st = book_.find(r.track_id);
    if (!st) continue;
    std::string& last = st->last_reported;
    if (last == r.voted.text) continue;
    nlohmann::json e = make_event(last.empty() ? "plate_read" : "plate_updated", options_.camera);
    e["track_id"] = r.track_id;
    e["text"] = r.voted.text;
    e["confidence"] = std::round(r.voted.confidence * 1000.0) / 1000.0;
    e["reads"] = r.voted.reads;
    e["region"] = options_.params.region;
    e["box"] = {std::lround(r.box.x), std::lround(r.box.y), std::lround(r.box.width),
                std::lround(r.box.height)};
    e["vehicle"] = r.vehicle.empty() ? nlohmann::json() : nlohmann::json(r.vehicle);
    const std::string known = match_known_plate(options_.known, r.voted.text);
    if (!known.empty()) e["known"] = known;
    e["frame_index"] = work.frame_index;
    e["frame_time_ms"] = std::round(work.time_ms * 10.0) / 10.0;
    if (!last.empty()) e["previous"] = last;
    last = r.voted.text;
    if (emit_) emit_(std::move(e));
  }
}

std::vector<PlateSummary> PlateStage::summaries() const {
  std::lock_guard lock(book_mutex_);
  return book_.summaries();
}

}  // namespace ev
