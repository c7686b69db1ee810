#include <spdlog/spdlog.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <iterator>

#include <opencv2/core.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/preprocess.hpp"

namespace ev {

Result<AnonymizeMethod> parse_anonymize_method(const std::string& text) {
  if (text == "blur") return AnonymizeMethod::kBlur;
  if (text == "pixelate") return AnonymizeMethod::kPixelate;
  if (text == "blackbox" || text == "black" || text == "box") return AnonymizeMethod::kBlackBox;
  if (text == "emoji") return AnonymizeMethod::kEmoji;
  return Result<AnonymizeMethod>::Error("unknown anonymization method '" + text +
                                        "' (expected blur, pixelate, blackbox, emoji)");
}

const char* to_string(AnonymizeMethod method) {
  switch (method) {
    case AnonymizeMethod::kBlur:
      return "blur";
    case AnonymizeMethod::kPixelate:
      return "pixelate";
    case AnonymizeMethod::kBlackBox:
      return "blackbox";
    case AnonymizeMethod::kEmoji:
      return "emoji";
  }
  return "unknown";
}

Result<PrivacyLevel> parse_privacy_level(const std::string& text) {
  if (text == "low") return PrivacyLevel::kLow;
  if (text == "medium") return PrivacyLevel::kMedium;
  if (text == "high") return PrivacyLevel::kHigh;
  if (text == "maximum" || text == "max") return PrivacyLevel::kMaximum;
  return Result<PrivacyLevel>::Error("unknown privacy level '" + text +
                                     "' (expected low, medium, high, maximum)");
}

const char* to_string(PrivacyLevel level) {
  switch (level) {
    case PrivacyLevel::kLow:
      return "low";
    case PrivacyLevel::kMedium:
      return "medium";
    case PrivacyLevel::kHigh:
      return "high";
    case PrivacyLevel::kMaximum:
      return "maximum";
  }
  return "unknown";
}

PrivacyParams privacy_params(PrivacyLevel level) {
  // Padding covers hair and ears, which identify people too; hold bridges detector misses
  // (frames at 25-30 fps: medium holds ~1/3 s).
  switch (level) {
    case PrivacyLevel::kLow:
      return {0.10f, 5, 0.8f};
    case PrivacyLevel::kMedium:
      return {0.20f, 10, 1.0f};
    case PrivacyLevel::kHigh:
      return {0.35f, 20, 1.5f};
    case PrivacyLevel::kMaximum:
      return {0.50f, 30, 2.0f};
  }
  return {};
}

Anonymizer::Anonymizer(AnonymizerOptions options, std::unique_ptr<FaceDetector> detector,
                       std::string fallback_note)
    : options_(std::move(options)),
      params_(privacy_params(options_.level)),
      detector_(std::move(detector)),
      plain_detector_(detector_.get()),
      tracker_(params_.hold_frames),
      fallback_note_(std::move(fallback_note)) {
  // Unset: the level decides (docs/face-detectors.md, "Hard faces").
  options_.head_fallback.enabled =
      options_.head_fallback.enabled.value_or(options_.level != PrivacyLevel::kLow);
  if (options_.small_face >= 0.f) params_.small_face = options_.small_face;
  if (options_.small_face_interval > 0) params_.small_face_interval = options_.small_face_interval;
  // Cameras started together take turns rather than all running the upscaled runs at once.
  static std::atomic<int> created{0};
  small_face_phase_ = created.fetch_add(1) % std::max(1, params_.small_face_interval);
}

namespace {

constexpr float kContextScore = 0.2f;
constexpr float kHighContextScore = 0.1f;

// The privacy level also sets how hard the face detector looks (docs/face-detectors.md, "Hard
// faces"; measured on faces_wider in bench/README.md). Only for YuNet, whose scores these
// thresholds are calibrated on; a value the user set is kept.
FaceDetectorOptions level_detector_options(FaceDetectorOptions o, PrivacyLevel level,
                                           bool photo_flip) {
  if (o.detector != "yunet" || level == PrivacyLevel::kLow) return o;
  if (photo_flip) o.flip = true;
  // 0.3 instead of 0.6 finds blurred, occluded and small faces; large faces must still score
  // 0.5, since a large false positive masks the most scenery.
  if (o.score_threshold <= 0.f) o.score_threshold = 0.3f;
  if (o.large_face_score <= 0.f) o.large_face_score = 0.5f;
  // Tiles with faces near the first pass's size limit are run again at 2x: crowds and
  // far-away groups, where the next face is smaller still.
  if (o.upscale <= 0.f) o.upscale = 2.f;
  // Beside a face of its size or in a detected person's head region a face is expected, so a
  // weaker score is evidence enough there (AnonymizerOptions::context). 0.2, not 0.1: 0.1
  // covered 1.8 points more on faces_wider but more than doubled the masks off the labelled
  // faces on ordinary group photos (bench/README.md, "Context-confirmed faces"). Negative = off.
  const bool above_medium = level == PrivacyLevel::kHigh || level == PrivacyLevel::kMaximum;
  // The levels above medium trade picture for coverage: 0.1 covers more crowd faces.
  if (o.context_score == 0.f) o.context_score = above_medium ? kHighContextScore : kContextScore;
  if (above_medium) {
    o.flip = true;
    o.multi_scale = true;
  }
  return o;
}

}  // namespace

cv::Rect2f head_region(const cv::Rect2f& person) {
  // A head is about half as wide as the shoulders (the box width of an upper body) and about
  // 1/7 of a standing person's height; 0.6 of the width capped at 0.4 of the height errs on the
  // large side for both. 1.2x wider and 1.3x taller than that square, centred: heads turn and
  // person boxes are loose in crowds.
  const float side = std::min(0.6f * person.width, 0.4f * person.height);
  const float w = 1.2f * side;
  const float h = 1.3f * side;
  return {person.x + person.width / 2 - w / 2, person.y - 0.1f * side, w, h};
}

namespace {
// A person scoring >= min_score whose head region holds no face's centre.
bool lacks_face(const Detection& p, const std::vector<Face>& faces, float min_score) {
  if (p.score < min_score || p.box.width <= 0.f || p.box.height <= 0.f) return false;
  const cv::Rect2f head = head_region(p.box);
  return std::none_of(faces.begin(), faces.end(), [&](const Face& f) {
    return head.contains({f.box.x + f.box.width / 2, f.box.y + f.box.height / 2});
  });
}

std::vector<size_t> persons_without_faces(const std::vector<Detection>& persons,
                                          const std::vector<Face>& faces, float min_score) {
  std::vector<size_t> without;
  for (size_t i = 0; i < persons.size(); ++i)
    if (lacks_face(persons[i], faces, min_score)) without.push_back(i);
  return without;
}
}  // namespace

std::vector<cv::Rect2f> heads_without_faces(const std::vector<Detection>& persons,
                                            const std::vector<Face>& faces, float min_score) {
  std::vector<cv::Rect2f> heads;
  for (size_t i : persons_without_faces(persons, faces, min_score))
    heads.push_back(head_region(persons[i].box));
  return heads;
}

Result<std::unique_ptr<Anonymizer>> Anonymizer::create(
    const AnonymizerOptions& options, ModelManager& models,
    const FrameDetectorWrapper& wrap_frame_pass) {
  std::string note;
  FaceDetectorOptions face_options =
      level_detector_options(options.detector, options.level, options.photo_flip);
  const bool context = reports_context_faces(face_options);
  const FaceContextOptions& ctx = options.context;
  // In crowds weak faces count down to the crowd score, so the detector reports down to it;
  // outside crowds the context score stays the floor.
  const float floor = context ? face_options.context_score : 0.f;
  if (context && ctx.crowd_faces > 0 && ctx.crowd_score > 0.f &&
      ctx.crowd_score < face_options.context_score)
    face_options.context_score = ctx.crowd_score;
  auto detector = create_face_detector(face_options, models, &note);
  if (!detector) return Result<std::unique_ptr<Anonymizer>>(detector.status());
  FaceDetector* plain = detector->get();
  std::unique_ptr<FaceDetector> frame_pass =
      wrap_frame_pass ? wrap_frame_pass(std::move(*detector)) : std::move(*detector);
  std::unique_ptr<Anonymizer> anonymizer(new Anonymizer(options, std::move(frame_pass), note));
  anonymizer->plain_detector_ = plain;
  // Stateless frame passes only: a wrapper (motion gating) or spaced small-face runs depend on
  // the frames each instance saw.
  if (!wrap_frame_pass && anonymizer->params_.small_face_interval <= 1)
    anonymizer->frame_options_ = face_options;
  // A fallback detector uses its own threshold and reports no context candidates.
  if (note.empty() && context) {
    anonymizer->context_below_ = face_options.score_threshold;
    anonymizer->context_floor_ = floor;
    // A detector that already runs on the mirrored frame needs no crowd pass of it.
    anonymizer->crowd_flip_ = options.context.crowd_flip && !face_options.flip;
    anonymizer->crowd_ = true;
    anonymizer->person_search_ = true;
  }
  if (*anonymizer->options_.head_fallback.enabled && options.head_fallback.own_detector) {
    DetectorParams params = options.head_fallback.detector;
    params.classes = {"person"};
    params.conf = options.head_fallback.person_score;
    if (params.threads == 0) params.threads = options.detector.threads;
    // Still photos keep the square letterbox the photo levers were measured with (rect found
    // the same faces but one on faces_wider, 647 vs 648); video takes rect for its speed.
    if (options.photo_flip) params.rect = false;
    auto persons = ObjectDetector::create(params, models);
    if (persons && options.head_fallback.large_input > 0) {
      params.input_size = {options.head_fallback.large_input, options.head_fallback.large_input};
      auto large = ObjectDetector::create(params, models);
      // The first pass still runs: the head fallback stays on, one line says what is missing.
      if (large)
        anonymizer->person_detector_large_ = std::move(*large);
      else
        spdlog::warn("head fallback: no larger person pass ({})", large.error());
    }
    if (persons) {
      anonymizer->person_detector_ = std::move(*persons);
    } else {
      anonymizer->head_fallback_note_ = "head fallback off: person detector '" + params.model +
                                        "' unavailable (" + persons.error() + ")";
    }
  }
  return anonymizer;
}

void Anonymizer::set_persons(const std::vector<Detection>& detections) {
  persons_.clear();
  for (const Detection& d : detections)
    if (d.label == "person") persons_.push_back(d);
  persons_external_ = true;
  persons_fresh_ = true;
}

std::unique_ptr<Anonymizer> Anonymizer::create_with_detector(
    const AnonymizerOptions& options, std::unique_ptr<FaceDetector> detector) {
  std::unique_ptr<Anonymizer> anonymizer(new Anonymizer(options, std::move(detector), ""));
  // The detector reports what it was built for; context needs both thresholds set explicitly.
  const FaceDetectorOptions& d = options.detector;
  if (reports_context_faces(d)) {
    anonymizer->context_below_ = d.score_threshold;
    anonymizer->context_floor_ = d.context_score;
    // The crowd score applies; no mirrored pass: such a detector may keep state between frames
    // (motion gating), which a mirrored frame would disturb.
    anonymizer->crowd_ = true;
  }
  return anonymizer;
}

Status Anonymizer::add_mirrored_faces(const cv::Mat& frame, std::vector<Face>& faces) {
  cv::Mat mirrored;
  cv::flip(frame, mirrored, 1);
  Result<std::vector<Face>> more = detect_faces(*plain_detector_, mirrored);
  if (!more) return more.status();
  const float w = static_cast<float>(frame.cols);
  const size_t first = faces.size();
  for (Face& f : *more) {
    f.box.x = w - f.box.x - f.box.width;
    for (auto& p : f.landmarks) p.x = w - p.x;
    const bool known = std::any_of(faces.begin(), faces.begin() + static_cast<long>(first),
                                   [&](const Face& g) { return iou(f.box, g.box) > 0.3f; });
    // Only faces that pass the threshold: weak mirrored faces confirmed by context added 0.7
    // points of coverage but 0.17 of collateral on faces_wider (bench/README.md, "Crowds").
    if (!known && f.score >= context_below_) faces.push_back(std::move(f));
  }
  return Status::Ok();
}

Status Anonymizer::detect_persons(const cv::Mat& frame) {
  person_tiles_ran_ = false;
  persons_fresh_ = true;
  if (Status s = person_detector_->detect(frame, persons_); !s.ok()) return s;
  const HeadFallbackOptions& o = options_.head_fallback;
  const cv::Size net = person_detector_->input_size();
  if (person_detector_large_ && net.width > 0 && net.height > 0 &&
      std::max(static_cast<double>(frame.cols) / net.width,
               static_cast<double>(frame.rows) / net.height) >= 1.5) {
    std::vector<Detection> large;
    if (Status s = person_detector_large_->detect(frame, large); !s.ok()) return s;
    const size_t first = persons_.size();
    for (Detection& d : large) {
      const bool known = std::any_of(persons_.begin(), persons_.begin() + static_cast<long>(first),
                                     [&](const Detection& p) { return iou(p.box, d.box) > 0.5f; });
      if (!known && d.score >= o.person_score) persons_.push_back(std::move(d));
    }
  }
  const int n = o.crowd_tiles;
  if (n < 2 || net.width <= 0 || net.height <= 0) return Status::Ok();
  const size_t persons =
      static_cast<size_t>(std::count_if(persons_.begin(), persons_.end(), [&](const Detection& d) {
        return d.score >= o.person_score;
      }));
  // Persons, not faces: drivers' faces behind windscreens made 720p traffic frames "crowds"
  // (13 head masks and 4 person runs per detected frame on highway_cars for 1 face more on
  // faces_wider; bench/README.md, "Crowds").
  if (persons < static_cast<size_t>(std::max(1, o.crowd_min))) return Status::Ok();
  // Letterboxed, the frame is seen at this fraction of its size; tiles of a frame the network
  // already sees at (almost) full size find nothing new.
  const double seen = std::min(static_cast<double>(net.width) / frame.cols,
                               static_cast<double>(net.height) / frame.rows);
  if (seen > 1.0 / 1.5) return Status::Ok();
  // Tiles overlap by a fifth of their size, so a person cut by one tile's edge lies whole in
  // the next one; boxes touching an inner tile edge are dropped (a cut person's head region
  // would land on a torso).
  const int tw = static_cast<int>(std::ceil(frame.cols / (n - 0.2 * (n - 1))));
  const int th = static_cast<int>(std::ceil(frame.rows / (n - 0.2 * (n - 1))));
  person_tiles_ran_ = true;
  std::vector<Detection> extra, tile_persons;
  Status status = Status::Ok();
  for (int r = 0; r < n && status.ok(); ++r) {
    for (int c = 0; c < n && status.ok(); ++c) {
      const int x = std::min(frame.cols - tw, static_cast<int>(c * 0.8 * tw));
      const int y = std::min(frame.rows - th, static_cast<int>(r * 0.8 * th));
      const cv::Rect tile(std::max(0, x), std::max(0, y), std::min(tw, frame.cols),
                          std::min(th, frame.rows));
      person_detector_->set_roi(tile);
      status = person_detector_->detect(frame, tile_persons);
      constexpr float kEdge = 2.f;
      for (Detection& d : tile_persons) {
        const bool cut = (tile.x > 0 && d.box.x < tile.x + kEdge) ||
                         (tile.y > 0 && d.box.y < tile.y + kEdge) ||
                         (tile.br().x < frame.cols && d.box.br().x > tile.br().x - kEdge) ||
                         (tile.br().y < frame.rows && d.box.br().y > tile.br().y - kEdge);
        if (!cut && d.score >= o.person_score) extra.push_back(std::move(d));
      }
    }
  }
  person_detector_->set_roi({});
  if (!status.ok()) return status;
  std::stable_sort(extra.begin(), extra.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  // A tile's person is new unless it lies mostly inside (or over) a person already kept: the
  // whole-frame pass first, then the better-scoring tile boxes.
  for (Detection& d : extra) {
    const bool known = std::any_of(persons_.begin(), persons_.end(), [&](const Detection& p) {
      const float overlap = (p.box & d.box).area();
      return overlap > 0.6f * std::min(p.box.area(), d.box.area());
    });
    if (!known) persons_.push_back(std::move(d));
  }
  return Status::Ok();
}

Status Anonymizer::search_person_faces(const cv::Mat& frame, const std::vector<Face>& faces,
                                       FrameResult& result) {
  const HeadFallbackOptions& o = options_.head_fallback;
  person_faces_.assign(persons_.size(), cv::Rect2f());
  person_face_known_.assign(persons_.size(), false);
  std::vector<size_t> order = persons_without_faces(persons_, faces, o.person_score);
  // The largest persons first: their faces are the largest, most identifiable ones.
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return persons_[a].box.area() > persons_[b].box.area();
  });
  if (order.size() > static_cast<size_t>(std::max(0, o.max_searches)))
    order.resize(static_cast<size_t>(std::max(0, o.max_searches)));
  const cv::Rect bounds(0, 0, frame.cols, frame.rows);
  for (size_t i : order) {
    const cv::Rect2f& b = persons_[i].box;
    const cv::Rect crop =
        cv::Rect(cv::Point(static_cast<int>(std::floor(b.x)), static_cast<int>(std::floor(b.y))),
                 cv::Point(static_cast<int>(std::ceil(b.br().x)),
                           static_cast<int>(std::ceil(b.y + o.search_top * b.height)))) &
        bounds;
    if (crop.width < 8 || crop.height < 8) continue;
    Result<std::vector<Face>> found = detect_faces(*plain_detector_, frame(crop));
    if (!found) return found.status();
    ++result.person_searches;
    const Face* best = nullptr;
    for (const Face& f : *found) {
      // A face is narrower than the shoulders and not a speck beside them.
      if (f.score < o.search_score || f.box.width > b.width || f.box.width < 0.08f * b.width)
        continue;
      if (!best || f.score > best->score) best = &f;
    }
    if (!best) continue;
    const cv::Rect2f box(best->box.x + crop.x, best->box.y + crop.y, best->box.width,
                         best->box.height);
    // The person's face is one the frame pass already found, off the head region's centre
    // (leaning, a wide box): no head mask needed.
    const bool known = std::any_of(faces.begin(), faces.end(),
                                   [&](const Face& f) { return iou(f.box, box) > 0.3f; });
    person_faces_[i] = box;
    person_face_known_[i] = known;
  }
  return Status::Ok();
}

Result<std::unique_ptr<FaceDetector>> Anonymizer::make_frame_detector(ModelManager& models,
                                                                      int threads) const {
  using R = Result<std::unique_ptr<FaceDetector>>;
  if (!frame_options_)
    return R::Error(
        "the frame pass keeps state between frames (motion regions, spaced "
        "small-face runs) or was built outside the anonymizer");
  // Its fallback was announced once; another instance would say it again.
  if (!fallback_note_.empty()) return R::Error("the face detector is a fallback");
  FaceDetectorOptions options = *frame_options_;
  if (threads > 0) options.threads = threads;
  std::string note;
  auto detector = create_face_detector(options, models, &note);
  if (!detector) return R(detector.status());
  // A second instance that fell back to another detector would mask differently.
  if (!note.empty()) return R::Error("the frame pass's detector differs (" + note + ")");
  return R(std::move(*detector));
}

namespace {
using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}
}  // namespace

FrameResult Anonymizer::process(cv::Mat& frame, Result<std::vector<Face>> faces, double detect_ms) {
  FrameResult result;
  if (frame.empty()) {
    result.error = "empty frame";
    return result;
  }
  result.detect_ms = detect_ms;
  return finish(frame, std::move(faces), std::move(result));
}

FrameResult Anonymizer::process(cv::Mat& frame) {
  FrameResult result;
  if (frame.empty()) {
    result.error = "empty frame";
    return result;
  }
  const auto t_detect = Clock::now();
  const int interval = std::max(1, params_.small_face_interval);
  if (interval > 1)
    detector_->set_small_face_runs(frames_ == 0 || (frames_ + small_face_phase_) % interval == 0);
  Result<std::vector<Face>> faces = detect_faces(*detector_, frame);
  // The mirrored and person-search passes below look for faces the frame pass missed: with
  // their small-face runs.
  if (interval > 1) detector_->set_small_face_runs(true);
  result.detect_ms = ms_since(t_detect);
  return finish(frame, std::move(faces), std::move(result));
}

FrameResult Anonymizer::finish(cv::Mat& frame, Result<std::vector<Face>> faces,
                               FrameResult result) {
  const auto t_mask = Clock::now();
  // Fail closed: nothing of this frame may leave un-anonymized.
  const auto fail_closed = [&](std::string error) {
    frame.setTo(cv::Scalar::all(0));
    tracker_.update({});
    result.error = std::move(error);
    return result;
  };
  if (!faces) return fail_closed(faces.error());
  const FaceContextOptions& ctx = options_.context;
  const bool crowd = crowd_ && ctx.crowd_faces > 0 &&
                     std::count_if(faces->begin(), faces->end(), [&](const Face& f) {
                       return f.score >= std::max(context_below_, ctx.crowd_face_score);
                     }) >= ctx.crowd_faces;
  result.crowd = crowd;
  if (crowd && crowd_flip_) {
    if (Status s = add_mirrored_faces(frame, *faces); !s.ok())
      return fail_closed("crowd mirrored pass: " + s.message());
  }
  if (context_below_ > 0.f) {
    // Calibrated on YuNet's scores, like the context faces (FaceContextOptions, trims).
    const float big = ctx.stacked_min * static_cast<float>(frame.rows);
    const auto trimmed = [&](const Face& f) {
      // Not in crowds: there a tiny detection sits among real small faces (6 of those lost
      // on faces_wider).
      if (!crowd && f.box.width < ctx.tiny_face_px && f.score < ctx.tiny_face_score) return true;
      if (ctx.stacked_overlap <= 0.f || f.box.height < big) return false;
      return std::any_of(faces->begin(), faces->end(), [&](const Face& g) {
        return g.score > f.score && g.box.height >= big &&
               (f.box & g.box).area() >= ctx.stacked_overlap * f.box.area();
      });
    };
    std::vector<Face> kept;
    kept.reserve(faces->size());
    for (const Face& f : *faces)
      if (!trimmed(f)) kept.push_back(f);
    *faces = std::move(kept);
  }
  std::vector<Face> candidates;  // below the face threshold: kept only where context confirms
  std::vector<Face> confirmed_weak;
  if (context_below_ > 0.f) {
    const auto weak = std::stable_partition(
        faces->begin(), faces->end(), [&](const Face& f) { return f.score >= context_below_; });
    const float floor =
        crowd && ctx.crowd_score > 0.f ? std::min(ctx.crowd_score, context_floor_) : context_floor_;
    std::copy_if(std::make_move_iterator(weak), std::make_move_iterator(faces->end()),
                 std::back_inserter(candidates), [&](const Face& f) { return f.score >= floor; });
    faces->erase(weak, faces->end());
  }
  const HeadFallbackOptions& heads = options_.head_fallback;
  const bool use_persons = *heads.enabled && (person_detector_ || persons_external_);
  if (use_persons && person_detector_ && !persons_external_ &&
      frames_ % std::max(1, heads.interval) == 0) {
    // The head fallback is part of the privacy path: it fails closed like the face detector.
    if (Status s = detect_persons(frame); !s.ok())
      return fail_closed("head fallback: " + s.message());
    result.person_tiles = person_tiles_ran_;
  }
  // Weak faces where context confirms one: beside a face of similar size (crowds, groups) or
  // around a person's head. A confirmed weak face also counts as the face in that head region.
  for (Face& f : candidates) {
    const cv::Point2f centre(f.box.x + f.box.width / 2, f.box.y + f.box.height / 2);
    bool confirmed =
        ctx.near_faces > 0.f && std::any_of(faces->begin(), faces->end(), [&](const Face& g) {
          const float ratio = f.box.height / std::max(1.f, g.box.height);
          const float reach = ctx.near_faces * g.box.height;
          return ratio >= 0.5f && ratio <= 2.f &&
                 std::abs(g.box.x + g.box.width / 2 - centre.x) < reach &&
                 std::abs(g.box.y + g.box.height / 2 - centre.y) < reach;
        });
    if (!confirmed && use_persons && ctx.head_scale > 0.f)
      confirmed = std::any_of(persons_.begin(), persons_.end(), [&](const Detection& p) {
        const cv::Rect2f head = head_region(p.box);
        const cv::Size2f grow(head.width * (ctx.head_scale - 1.f) / 2,
                              head.height * (ctx.head_scale - 1.f) / 2);
        const cv::Rect2f area(head.x - grow.width, head.y - grow.height,
                              head.width + 2 * grow.width, head.height + 2 * grow.height);
        return p.score >= heads.person_score && area.contains(centre);
      });
    if (confirmed) confirmed_weak.push_back(std::move(f));
  }
  // Confirmed-weak faces are kept in a separate list so the near-faces test above only uses
  // faces that passed the threshold (a chain of weak faces would spread over textures).
  for (Face& f : confirmed_weak) faces->push_back(std::move(f));
  if (use_persons) {
    // The region errs large for the has-a-face test; the mask is its central part (mask_scale),
    // and masks are padded for hair and ears, which that part already includes.
    const float unpad = heads.mask_scale / (1.f + 2.f * params_.padding);
    std::vector<cv::Rect2f> without = heads_without_faces(persons_, *faces, heads.person_score);
    const bool search =
        person_search_ && heads.search_score > 0.f && (!persons_external_ || heads.search_external);
    if (search && persons_fresh_) {
      // Searched once per person pass; the frames in between reuse what it found, as they
      // reuse the persons.
      persons_fresh_ = false;
      if (Status s = search_person_faces(frame, *faces, result); !s.ok())
        return fail_closed("head fallback face search: " + s.message());
    }
    if (search && !without.empty()) {
      // Persons whose face the search found get that face masked, not the head region.
      without.clear();
      for (size_t i = 0; i < persons_.size(); ++i) {
        // Judged against the faces found so far, those added for earlier persons included.
        if (!lacks_face(persons_[i], *faces, heads.person_score)) continue;
        const cv::Rect2f head = head_region(persons_[i].box);
        const cv::Rect2f found = i < person_faces_.size() ? person_faces_[i] : cv::Rect2f();
        if (found.area() > 0.f) {
          Face f;
          f.box = found;
          faces->push_back(std::move(f));
          ++result.person_faces;
          const bool known = i < person_face_known_.size() && person_face_known_[i];
          if (known || !heads.search_keeps_head) continue;
        }
        without.push_back(head);
      }
    }
    for (const cv::Rect2f& head : without) {
      Face f;
      const cv::Size2f size(head.width * unpad, head.height * unpad);
      f.box = cv::Rect2f(head.x + (head.width - size.width) / 2,
                         head.y + (head.height - size.height) / 2, size.width, size.height);
      faces->push_back(std::move(f));
      ++result.heads_masked;
    }
  }
  result.faces_detected = static_cast<int>(faces->size()) - result.heads_masked;
  ++frames_;
  const std::vector<cv::Rect2f> boxes = tracker_.update(*faces);
  PrivacyParams params = params_;
  if (crowd && ctx.crowd_small_face > params.small_face) params.small_face = ctx.crowd_small_face;
  if (defer_masks_) {
    result.deferred = MaskPlan{boxes, options_.method, params};
  } else {
    result.masks = apply_masks(frame, boxes, options_.method, params);
    result.masks_applied = static_cast<int>(result.masks.size());
  }
  result.emitted = true;
  result.mask_ms = ms_since(t_mask);
  return result;
}

}  // namespace ev
