// PlateStage: plate privacy and reading inside a camera pipeline. Plates are located and
// masked on the anonymize thread (so no output image ever carries one); the crops taken just
// before masking go through a bounded queue to an OCR thread of their own, so a slow read
// never stalls tracking.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>

#include <spdlog/spdlog.h>

#include "core/thread_name.hpp"
#include "edgevision/alpr.hpp"
#include "edgevision/events.hpp"
#include "edgevision/preprocess.hpp"

namespace ev {
namespace {

// Vehicle boxes are grown by this share of their width / height on each side before their
// plates are searched, as AlprEngine does (plates sit at the very bottom edge of tight vehicle
// boxes). The same margin also absorbs the few frames the tracks lag this thread: 10 % / 15 %
// lost car2.jpg's plate (it then fills a smaller part of the detector's input).
constexpr float kVehicleMarginX = 0.05f;
constexpr float kVehicleMarginY = 0.08f;
constexpr float kHaarMinWidth = 0.1f;

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

int plate_owner(const cv::Rect2f& plate, const std::vector<Track>& vehicles,
                const std::vector<std::string>& classes) {
  const cv::Point2f c(plate.x + plate.width / 2, plate.y + plate.height / 2);
  int best = -1;
  float best_area = 0;
  for (size_t i = 0; i < vehicles.size(); ++i) {
    const Track& v = vehicles[i];
    if (std::find(classes.begin(), classes.end(), v.label) == classes.end()) continue;
    const float mx = v.box.width * 0.05f, my = v.box.height * 0.08f;
    const cv::Rect2f grown(v.box.x - mx, v.box.y - my, v.box.width + 2 * mx, v.box.height + 2 * my);
    if (!grown.contains(c)) continue;
    // A confirmed track (id > 0) beats a tentative one; then the smaller box.
    const bool better = best < 0 || (v.id > 0) > (vehicles[best].id > 0) ||
                        ((v.id > 0) == (vehicles[best].id > 0) && v.box.area() < best_area);
    if (better) {
      best = static_cast<int>(i);
      best_area = v.box.area();
    }
  }
  return best;
}

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
  std::unique_ptr<PlateStage> stage(
      new PlateStage(options, std::move(*det), std::move(ocr), std::move(emit)));
  if (options.params.haar_second_chance && stage->detector_->name() != "haar-plate") {
    PlateDetectorParams hp;
    hp.model = "haar";
    // The cascade is the fail-safe for close-ups the plate model misses (plates 31-71 % of the
    // frame's width on the shared photos); small plates are the vehicle pass's job. Not
    // scanning below a tenth of the width cuts its cost on every plate-less frame and its
    // false boxes.
    hp.haar_min_width = kHaarMinWidth;
    auto haar = create_plate_detector(hp, models);
    if (haar)
      stage->second_ = std::move(*haar);
    else
      spdlog::warn("plates: no Haar second chance: {}", haar.error());
  }
  return stage;
}

PlateStage::~PlateStage() {
  stop();
}

void PlateStage::start() {
  if (!options_.read || thread_.joinable()) return;
  thread_ = std::thread([this] {
    set_thread_name("ocr-", options_.camera);
    run();
  });
}

void PlateStage::stop() {
  {
    std::lock_guard lock(vehicles_mutex_);
    stopping_ = true;  // what is still queued is read without waiting for vehicles
  }
  vehicles_cv_.notify_all();
  queue_.close();
  if (thread_.joinable()) thread_.join();
}

bool PlateStage::submit(PlateWork work) {
  return queue_.push_drop_oldest(std::move(work));
}

void PlateStage::vehicles_ended() {
  {
    std::lock_guard lock(vehicles_mutex_);
    vehicles_ended_ = true;
    latest_vehicles_.clear();
  }
  vehicles_cv_.notify_all();
}

void PlateStage::set_vehicles(int64_t index, const std::vector<Track>& tracks) {
  if (!options_.read && !options_.vehicle_pass) return;
  {
    std::lock_guard lock(vehicles_mutex_);
    std::vector<Track> kept;
    for (const auto& t : tracks)
      if (std::find(options_.params.vehicle_classes.begin(), options_.params.vehicle_classes.end(),
                    t.label) != options_.params.vehicle_classes.end())
        kept.push_back(t);
    latest_vehicles_.clear();
    for (const auto& t : kept) latest_vehicles_.push_back(t.box);
    if (!options_.read) return;
    vehicles_.emplace_back(index, std::move(kept));
    // The OCR thread lags the track thread by at most its queue; a few frames more suffice.
    while (vehicles_.size() > options_.queue_size + 8) vehicles_.pop_front();
  }
  vehicles_cv_.notify_all();
}

Status PlateStage::locate(const cv::Mat& frame, std::vector<PlateDetection>& plates,
                          bool* fail_safe) {
  plates.clear();
  if (fail_safe) *fail_safe = false;
  Status s = detector_->detect(frame, {}, plates);
  if (!s.ok()) return s;
  // The whole-frame pass sees a 1080p frame at a third of its size, so a distant plate is a
  // few pixels tall; the vehicles tracked on the latest frames are searched again at their own
  // scale, the way `edgevision alpr` searches vehicle crops.
  std::vector<cv::Rect> rois;
  if (options_.vehicle_pass) {
    std::lock_guard lock(vehicles_mutex_);
    const cv::Rect bounds(0, 0, frame.cols, frame.rows);
    for (const auto& b : latest_vehicles_) {
      const float mx = b.width * kVehicleMarginX, my = b.height * kVehicleMarginY;
      const cv::Rect roi =
          cv::Rect(cv::Rect2f(b.x - mx, b.y - my, b.width + 2 * mx, b.height + 2 * my)) & bounds;
      if (roi.width >= 8 && roi.height >= 8) rois.push_back(roi);
    }
  }
  if (!rois.empty()) {
    std::vector<int> roi_of;
    s = detect_plates_in_regions(*detector_, frame, rois, options_.params.plate_mosaic, plates,
                                 roi_of);
    if (!s.ok()) return s;
  }
  // Nothing at all: the plate model misses some close-ups (a plate filling the frame); the
  // Haar cascade, as in `edgevision alpr`.
  if (plates.empty() && second_) {
    s = second_->detect(frame, {}, plates);
    if (!s.ok()) return s;
    if (fail_safe) *fail_safe = !plates.empty();
  }
  if (!rois.empty() && plates.size() > 1) {
    // A plate found by both passes is masked (and read) once.
    std::vector<cv::Rect2f> boxes;
    std::vector<float> scores;
    for (const auto& p : plates) {
      boxes.push_back(p.box);
      scores.push_back(p.score);
    }
    std::vector<PlateDetection> kept;
    for (int k : nms_boxes(boxes, scores, std::vector<int>(boxes.size(), 0), 0.f, 0.5f))
      kept.push_back(plates[k]);
    plates = std::move(kept);
  }
  return Status::Ok();
}

Status PlateStage::process(cv::Mat& frame, int64_t index, double time_ms) {
  std::vector<PlateDetection> plates;
  bool fail_safe = false;
  Status s = locate(frame, plates, &fail_safe);
  if (!s.ok()) return s;
  if (options_.read) {
    // Haar boxes are masked, not read: on a frame without plates the cascade's false boxes
    // (lettering, grilles) would become plate_read events. The frame still goes to the OCR
    // thread, without plates, so plate tracks age as usual.
    const std::vector<PlateDetection> none;
    const std::vector<PlateDetection>& to_read = fail_safe ? none : plates;
    PlateWork w;
    w.frame_index = index;
    w.time_ms = time_ms;
    w.frame_diagonal = static_cast<float>(std::hypot(frame.cols, frame.rows));
    const auto variants = crop_variants(options_.params.crop_margin,
                                        std::clamp(options_.params.read_variants, 1, 3));
    for (const auto& p : to_read) {
      std::vector<cv::Mat> cuts;
      if (p.box.area() >= options_.params.throttle.min_plate_area)
        for (const auto& v : variants) {
          cv::Mat c = rectify_plate(frame, p, ocr_->input_size(), v);
          if (!c.empty()) cuts.push_back(std::move(c));
        }
      w.crops.push_back(std::move(cuts));
    }
    w.plates = to_read;
    submit(std::move(w));
  }
  if (options_.mask) {
    mask_plates(frame, plates, options_.mask_margin);
    masked_ += static_cast<int64_t>(plates.size());
  }
  return Status::Ok();
}

void PlateStage::run() {
  while (auto w = queue_.pop()) consume(*w);
}

void PlateStage::consume(const PlateWork& work) {
  // The vehicle of each plate, from the vehicle tracks of this frame or, failing that, of the
  // nearest frame at most kLookahead away (a vehicle's first track appears a frame or two
  // after it does). The track thread runs behind the anonymize thread that queued this work,
  // so wait for it a little.
  constexpr int64_t kLookahead = 2;
  std::vector<std::string> vehicle_of(work.plates.size());
  std::vector<int64_t> vehicle_track(work.plates.size(), 0);
  {
    std::unique_lock lock(vehicles_mutex_);
    if (options_.vehicle_wait_ms > 0)
      vehicles_cv_.wait_for(lock, std::chrono::milliseconds(options_.vehicle_wait_ms), [&] {
        return stopping_ || vehicles_ended_ ||
               (!vehicles_.empty() && vehicles_.back().first >= work.frame_index + kLookahead);
      });
    std::vector<const std::pair<int64_t, std::vector<Track>>*> nearest;
    for (const auto& v : vehicles_)
      if (std::llabs(v.first - work.frame_index) <= kLookahead) nearest.push_back(&v);
    std::stable_sort(nearest.begin(), nearest.end(), [&](auto* a, auto* b) {
      return std::llabs(a->first - work.frame_index) < std::llabs(b->first - work.frame_index);
    });
    for (size_t i = 0; i < work.plates.size(); ++i)
      for (const auto* v : nearest) {
        const int k = plate_owner(work.plates[i].box, v->second, options_.params.vehicle_classes);
        if (k < 0) continue;
        vehicle_of[i] = v->second[k].label;
        vehicle_track[i] = v->second[k].id;
        break;
      }
  }
  std::vector<PlateRead> reads;
  std::lock_guard lock(book_mutex_);
  Status s = book_.update(
      work.plates, vehicle_of, work.frame_diagonal,
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
  for (size_t i = 0; i < reads.size(); ++i) {
    const PlateRead& r = reads[i];
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
    // The vehicle of this frame, else the one last seen with this plate track.
    const std::string vehicle = r.vehicle.empty() ? book_.vehicle_of(r.track_id) : r.vehicle;
    e["vehicle"] = vehicle.empty() ? nlohmann::json() : nlohmann::json(vehicle);
    if (i < vehicle_track.size() && vehicle_track[i] > 0) e["vehicle_track_id"] = vehicle_track[i];
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
