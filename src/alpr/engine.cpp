// AlprEngine: vehicle detection -> plate detection inside each vehicle -> rectification ->
// OCR -> region format -> per-track vote under the throttle rules.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>

#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>

#include "edgevision/alpr.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/preprocess.hpp"

namespace ev {
namespace {

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

TrackerParams plate_tracker_params(TrackerParams p, float conf) {
  // Plates are few and detected with modest scores: every detection may start a track and a
  // track is reported from its first frame, so the first read is not delayed.
  p.track_thresh = std::min(p.track_thresh, conf);
  p.new_track_thresh = std::min(p.new_track_thresh, conf);
  p.low_thresh = std::min(p.low_thresh, conf * 0.5f);
  p.min_hits = 1;
  p.max_tracks = std::min(p.max_tracks, 64);
  return p;
}

}  // namespace

AlprEngine::AlprEngine(AlprParams params, std::unique_ptr<ObjectDetector> vehicles,
                       std::unique_ptr<PlateDetector> plates, std::unique_ptr<PlateOcr> ocr)
    : params_(std::move(params)),
      vehicles_(std::move(vehicles)),
      plates_(std::move(plates)),
      ocr_(std::move(ocr)),
      book_(params_) {}

Result<std::unique_ptr<AlprEngine>> AlprEngine::create(const AlprParams& params,
                                                       ModelManager& models,
                                                       const std::string& vehicle_model) {
  std::unique_ptr<ObjectDetector> vehicles;
  if (!vehicle_model.empty()) {
    DetectorParams dp;
    dp.model = vehicle_model;
    dp.classes = params.vehicle_classes;
    auto v = ObjectDetector::create(dp, models);
    if (!v)
      return Result<std::unique_ptr<AlprEngine>>::Error("alpr: vehicle detector: " + v.error());
    vehicles = std::move(*v);
  }
  auto plates = create_plate_detector(params.plate, models);
  if (!plates) return Result<std::unique_ptr<AlprEngine>>::Error("alpr: " + plates.error());
  auto ocr = create_plate_ocr(params.ocr, models);
  if (!ocr) return Result<std::unique_ptr<AlprEngine>>::Error("alpr: " + ocr.error());
  if (!params.region.empty() && region_patterns(params.region).empty())
    return Result<std::unique_ptr<AlprEngine>>::Error("alpr: unknown region '" + params.region +
                                                      "'");
  auto engine = std::make_unique<AlprEngine>(params, std::move(vehicles), std::move(*plates),
                                             std::move(*ocr));
  if (params.haar_second_chance && engine->plates_->name() != "haar-plate") {
    PlateDetectorParams hp;
    hp.model = "haar";
    auto haar = create_plate_detector(hp, models);
    if (haar)
      engine->second_ = std::move(*haar);
    else
      spdlog::warn("alpr: no Haar second chance: {}", haar.error());
  }
  return engine;
}

Status AlprEngine::detect_plates(const cv::Mat& bgr, std::vector<PlateDetection>& out,
                                 std::vector<std::string>* vehicle_of) {
  out.clear();
  if (vehicle_of) vehicle_of->clear();
  timings_ = {};
  if (bgr.empty() || bgr.type() != CV_8UC3)
    return Status::Error("alpr: expected an 8-bit BGR image");
  const cv::Rect frame(0, 0, bgr.cols, bgr.rows);
  std::vector<PlateDetection> found;
  std::vector<std::string> owners;
  if (vehicles_) {
    auto t0 = std::chrono::steady_clock::now();
    std::vector<Detection> cars;
    Status s = vehicles_->detect(bgr, cars);
    timings_.vehicle_ms = ms_since(t0);
    if (!s.ok()) return s;
    t0 = std::chrono::steady_clock::now();
    std::vector<cv::Rect> rois;
    std::vector<std::string> labels;
    for (const auto& c : cars) {
      // A little margin: plates sit at the very bottom edge of tight vehicle boxes.
      const float mx = c.box.width * 0.05f, my = c.box.height * 0.08f;
      const cv::Rect roi = cv::Rect(cv::Rect2f(c.box.x - mx, c.box.y - my, c.box.width + 2 * mx,
                                               c.box.height + 2 * my)) &
                           frame;
      if (roi.width < 8 || roi.height < 8) continue;
      rois.push_back(roi);
      labels.push_back(c.label);
    }
    if (params_.plate_mosaic && rois.size() >= 2) {
      s = detect_in_mosaic(bgr, rois, labels, found, owners);
      if (!s.ok()) return s;
    } else {
      for (size_t i = 0; i < rois.size(); ++i) {
        std::vector<PlateDetection> in_car;
        s = plates_->detect(bgr, rois[i], in_car);
        if (!s.ok()) return s;
        for (auto& p : in_car) {
          found.push_back(p);
          owners.push_back(labels[i]);
        }
      }
    }
    timings_.plate_ms = ms_since(t0);
  }
  if (!vehicles_ || params_.whole_image_always || (found.empty() && params_.whole_image_fallback)) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<PlateDetection> whole;
    Status s = plates_->detect(bgr, {}, whole);
    timings_.plate_ms += ms_since(t0);
    if (!s.ok()) return s;
    found.insert(found.end(), whole.begin(), whole.end());
    owners.resize(found.size(), "");
  }
  if (found.empty() && second_) {
    const auto t0 = std::chrono::steady_clock::now();
    Status s = second_->detect(bgr, {}, found);
    timings_.plate_ms += ms_since(t0);
    if (!s.ok()) return s;
    owners.assign(found.size(), "");
  }
  // Overlapping vehicles find the same plate twice: keep the best of each.
  std::vector<cv::Rect2f> boxes;
  std::vector<float> scores;
  for (const auto& p : found) {
    boxes.push_back(p.box);
    scores.push_back(p.score);
  }
  for (int k : nms_boxes(boxes, scores, std::vector<int>(boxes.size(), 0), 0.f, 0.5f)) {
    out.push_back(found[k]);
    if (vehicle_of) vehicle_of->push_back(owners[k]);
  }
  return Status::Ok();
}

Status AlprEngine::detect_in_mosaic(const cv::Mat& bgr, const std::vector<cv::Rect>& rois,
                                    const std::vector<std::string>& labels,
                                    std::vector<PlateDetection>& found,
                                    std::vector<std::string>& owners) {
  std::vector<int> roi_of;
  const size_t before = found.size();
  Status s = detect_plates_in_regions(*plates_, bgr, rois, true, found, roi_of);
  if (!s.ok()) return s;
  for (size_t k = before; k < found.size(); ++k) owners.push_back(labels[roi_of[k - before]]);
  return Status::Ok();
}

Status detect_plates_in_regions(PlateDetector& detector, const cv::Mat& bgr,
                                const std::vector<cv::Rect>& rois, bool mosaic,
                                std::vector<PlateDetection>& found, std::vector<int>& roi_of) {
  if (!mosaic || rois.size() < 2) {
    for (size_t i = 0; i < rois.size(); ++i) {
      std::vector<PlateDetection> in_roi;
      Status s = detector.detect(bgr, rois[i], in_roi);
      if (!s.ok()) return s;
      for (auto& p : in_roi) {
        found.push_back(p);
        roi_of.push_back(static_cast<int>(i));
      }
    }
    return Status::Ok();
  }
  constexpr int kCell = 320;
  for (size_t first = 0; first < rois.size(); first += 4) {
    const size_t n = std::min<size_t>(4, rois.size() - first);
    cv::Mat canvas(2 * kCell, 2 * kCell, CV_8UC3, cv::Scalar::all(114));
    std::vector<cv::Rect> cells(n);
    std::vector<double> scales(n);
    for (size_t k = 0; k < n; ++k) {
      const cv::Rect& r = rois[first + k];
      scales[k] = std::min(static_cast<double>(kCell) / r.width, static_cast<double>(kCell) / r.height);
      const cv::Size sz(std::max(1, cvRound(r.width * scales[k])),
                        std::max(1, cvRound(r.height * scales[k])));
      cells[k] = cv::Rect(static_cast<int>(k % 2) * kCell, static_cast<int>(k / 2) * kCell, sz.width,
                          sz.height);
      cv::Mat small;
      cv::resize(bgr(r), small, sz, 0, 0, cv::INTER_AREA);
      small.copyTo(canvas(cells[k]));
    }
    std::vector<PlateDetection> dets;
    Status s = detector.detect(canvas, {}, dets);
    if (!s.ok()) return s;
    for (auto d : dets) {
      // Each detection belongs to the cell holding most of it; one straddling cells is dropped.
      int owner = -1;
      for (size_t k = 0; k < n; ++k)
        if ((d.box & cv::Rect2f(cells[k])).area() >= 0.8f * d.box.area()) owner = static_cast<int>(k);
      if (owner < 0) continue;
      const cv::Rect& cell = cells[owner];
      const cv::Rect& roi = rois[first + owner];
      const float inv = static_cast<float>(1.0 / scales[owner]);
      auto back = [&](cv::Point2f p) {
        return cv::Point2f((p.x - cell.x) * inv + roi.x, (p.y - cell.y) * inv + roi.y);
      };
      d.box = cv::Rect2f(back(d.box.tl()), back(d.box.br()));
      for (auto& c : d.corners) c = back(c);
      found.push_back(d);
      roi_of.push_back(static_cast<int>(first + owner));
    }
  }
  return Status::Ok();
}

Result<OcrResult> AlprEngine::read_plate(const cv::Mat& bgr, const PlateDetection& plate) {
  auto reads = read_plate_variants(
      bgr, plate, crop_variants(params_.crop_margin, std::clamp(params_.read_variants, 1, 3)));
  if (!reads) return reads.status();
  if (reads->empty()) return Result<OcrResult>::Error("alpr: empty plate crop");
  return combine_reads(*reads, params_.vote.similarity);
}

Result<std::vector<OcrResult>> AlprEngine::read_plate_variants(
    const cv::Mat& bgr, const PlateDetection& plate, const std::vector<CropVariant>& variants) {
  std::vector<OcrResult> out;
  for (const auto& v : variants) {
    const cv::Mat crop = rectify_plate(bgr, plate, ocr_->input_size(), v);
    if (crop.empty()) continue;
    const auto t0 = std::chrono::steady_clock::now();
    auto r = ocr_->read(crop);
    timings_.ocr_ms += ms_since(t0);
    ++stats_.ocr_calls;
    if (!r) return r.status();
    if (!params_.region.empty())
      r->text = apply_region_format(r->text, r->char_conf, params_.region).text;
    out.push_back(std::move(*r));
  }
  return out;
}

Status AlprEngine::begin_frame(const cv::Mat& bgr, std::vector<PlateRead>& out,
                               std::vector<PlateDetection>& plates,
                               std::vector<std::string>& owners) {
  out.clear();
  Status s = detect_plates(bgr, plates, &owners);
  if (!s.ok()) return s;
  ++stats_.frames;
  stats_.plates_seen += static_cast<int64_t>(plates.size());
  return Status::Ok();
}

Status AlprEngine::process_image(const cv::Mat& bgr, std::vector<PlateRead>& out) {
  std::vector<PlateDetection> plates;
  std::vector<std::string> owners;
  if (Status s = begin_frame(bgr, out, plates, owners); !s.ok()) return s;
  for (size_t i = 0; i < plates.size(); ++i) {
    PlateRead pr;
    pr.box = plates[i].box;
    pr.vehicle = owners[i];
    pr.detect_score = plates[i].score;
    auto r = read_plate(bgr, plates[i]);
    if (!r) return r.status();
    pr.read_now = true;
    pr.ocr = *r;
    pr.voted = {r->text, r->confidence, 1, 1};
    out.push_back(std::move(pr));
  }
  return Status::Ok();
}

Status AlprEngine::process_frame(const cv::Mat& bgr, std::vector<PlateRead>& out) {
  std::vector<PlateDetection> plates;
  std::vector<std::string> owners;
  if (Status s = begin_frame(bgr, out, plates, owners); !s.ok()) return s;
  const float diag = static_cast<float>(std::hypot(bgr.cols, bgr.rows));
  return book_.update(
      plates, owners, diag, [&](size_t i) { return read_plate(bgr, plates[i]); }, out, stats_);
}

PlateTrackBook::PlateTrackBook(const AlprParams& params)
    : params_(params), tracker_(plate_tracker_params(params.tracker, params.plate.conf)) {}

Status PlateTrackBook::update(const std::vector<PlateDetection>& plates,
                              const std::vector<std::string>& vehicles, float frame_diagonal,
                              const std::function<Result<OcrResult>(size_t)>& read,
                              std::vector<PlateRead>& out, AlprStats& stats) {
  out.clear();
  std::vector<Detection> dets;
  for (const auto& p : plates) dets.push_back({p.box, p.score, 0, "plate"});
  const std::vector<Track> tracks = tracker_.update(dets);
  for (size_t i = 0; i < plates.size(); ++i) {
    PlateRead pr;
    pr.box = plates[i].box;
    pr.vehicle = i < vehicles.size() ? vehicles[i] : "";
    pr.detect_score = plates[i].score;
    // The tracker does not say which detection fed which track: the best-overlapping one.
    float best = 0.3f;
    for (const auto& t : tracks) {
      const float o = iou(t.box, plates[i].box);
      if (o > best) {
        best = o;
        pr.track_id = t.id;
      }
    }
    if (pr.track_id == 0) {
      out.push_back(std::move(pr));  // not tracked yet: masked, not read
      continue;
    }
    TrackReadState& st = states_.try_emplace(pr.track_id, params_.vote).first->second;
    if (!pr.vehicle.empty()) vehicle_of_track_[pr.track_id] = pr.vehicle;
    const float area = plates[i].box.area();
    const cv::Point2f centre(plates[i].box.x + plates[i].box.width / 2,
                             plates[i].box.y + plates[i].box.height / 2);
    pr.decision = should_read(st, params_.throttle, area, centre, frame_diagonal);
    switch (pr.decision) {
      case ReadDecision::kTooSmall:
        ++stats.skipped_small;
        break;
      case ReadDecision::kSettled:
        ++stats.skipped_settled;
        break;
      case ReadDecision::kStill:
        ++stats.skipped_still;
        break;
      case ReadDecision::kCapped:
        ++stats.skipped_capped;
        break;
      case ReadDecision::kRead:
        break;
    }
    if (pr.decision == ReadDecision::kRead) {
      const bool was_settled = st.vote.settled();
      auto r = read(i);
      if (!r) return r.status();
      pr.read_now = true;
      pr.ocr = *r;
      st.vote.add(*r);
      ++st.ocr_calls;
      st.last_read_centre = centre;
      if (st.vote.settled() && (!was_settled || area > st.area_at_settle)) st.area_at_settle = area;
    }
    pr.voted = st.vote.result();
    out.push_back(std::move(pr));
  }
  // Forget the votes of tracks the tracker has dropped (bounded memory).
  std::set<int64_t> live;
  for (const auto& t : tracker_.live_tracks()) live.insert(t.id);
  for (auto it = states_.begin(); it != states_.end();) {
    if (live.count(it->first)) {
      ++it;
      continue;
    }
    if (it->second.vote.size() > 0) {
      finished_.push_back({it->first, it->second.vote.result(), it->second.ocr_calls,
                           vehicle_of_track_[it->first]});
      if (finished_.size() > 1024) finished_.pop_front();
    }
    vehicle_of_track_.erase(it->first);
    it = states_.erase(it);
  }
  return Status::Ok();
}

std::vector<PlateSummary> PlateTrackBook::summaries() const {
  std::vector<PlateSummary> out(finished_.begin(), finished_.end());
  for (const auto& [id, st] : states_) {
    if (st.vote.size() == 0) continue;
    auto v = vehicle_of_track_.find(id);
    out.push_back(
        {id, st.vote.result(), st.ocr_calls, v == vehicle_of_track_.end() ? "" : v->second});
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.track_id < b.track_id; });
  return out;
}

namespace {
constexpr float kMaskMinHeightPerWidth = 0.5f;
}  // namespace

void mask_plates(cv::Mat& bgr, const std::vector<cv::Rect2f>& plates, float margin) {
  PrivacyParams p;
  p.padding = margin;
  const auto applied = apply_masks(bgr, plates, AnonymizeMethod::kPixelate, p);
  (void)applied;
}

cv::Rect2f plate_mask_region(const PlateDetection& plate) {
  cv::Rect2f r = plate.box;
  if (plate.has_corners) {
    float x0 = r.x, y0 = r.y, x1 = r.br().x, y1 = r.br().y;
    for (const auto& c : plate.corners) {
      x0 = std::min(x0, c.x);
      y0 = std::min(y0, c.y);
      x1 = std::max(x1, c.x);
      y1 = std::max(y1, c.y);
    }
    r = cv::Rect2f(x0, y0, x1 - x0, y1 - y0);
  }
  const float min_height = kMaskMinHeightPerWidth * r.width;
  if (r.height < min_height) r.height = min_height;
  return r;
}

void mask_plates(cv::Mat& bgr, const std::vector<PlateDetection>& plates, float margin) {
  std::vector<cv::Rect2f> boxes;
  boxes.reserve(plates.size());
  for (const auto& p : plates) boxes.push_back(plate_mask_region(p));
  mask_plates(bgr, boxes, margin);
}

}  // namespace ev
