// Face detection only where pixels changed. A face cannot appear in a region that stayed the
// same, so between full-frame passes the wrapped detector runs on the padded, merged motion
// regions only, and faces found earlier in regions that did not change are reported again
// where they were (the masks stay on a person who sits still). A full pass every
// `full_pass_every` frames, on a scene change, after a size change and when motion covers
// most of the frame keeps any miss from lasting.
#include <algorithm>
#include <atomic>
#include <cmath>

#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>

#include "edgevision/pipeline.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/rects.hpp"

namespace ev {

namespace {

cv::Rect pad_rect(const cv::Rect& r, float fraction, int pixels, const cv::Rect& bounds) {
  const int dx = static_cast<int>(r.width * fraction) + pixels;
  const int dy = static_cast<int>(r.height * fraction) + pixels;
  return cv::Rect(r.x - dx, r.y - dy, r.width + 2 * dx, r.height + 2 * dy) & bounds;
}

int next_phase(int every) {
  static std::atomic<int> created{0};
  const double golden = 0.6180339887498949;
  const double f = std::fmod(created.fetch_add(1) * golden, 1.0);
  return std::min(every - 1, static_cast<int>(f * every));
}

}  // namespace

MotionGatedFaceDetector::MotionGatedFaceDetector(std::unique_ptr<FaceDetector> inner,
                                                 MotionFaceOptions options)
    : inner_(std::move(inner)), options_(options) {
  options_.full_pass_every = std::max(1, options_.full_pass_every);
  options_.phase = options_.phase < 0 ? next_phase(options_.full_pass_every)
                                      : options_.phase % options_.full_pass_every;
}

MotionGatedFaceDetector::~MotionGatedFaceDetector() {
  if (stats_.full + stats_.regions + stats_.still > 0)
    spdlog::info("motion faces: {} full passes, {} region searches, {} still frames", stats_.full,
                 stats_.regions, stats_.still);
}

std::string MotionGatedFaceDetector::name() const {
  return inner_->name();
}

Result<std::vector<Face>> MotionGatedFaceDetector::full_pass(const cv::Mat& bgr) {
  auto faces = inner_->detect(bgr);
  if (!faces) return faces;
  ++stats_.full;
  since_full_ = stats_.full == 1 ? options_.phase : 0;  // the phase shifts the later ones
  last_regions_ = {cv::Rect(0, 0, bgr.cols, bgr.rows)};
  known_ = *faces;
  return faces;
}

Result<std::vector<Face>> MotionGatedFaceDetector::detect(const cv::Mat& bgr) {
  using R = Result<std::vector<Face>>;
  if (bgr.empty()) return R::Error("motion faces: empty frame");
  cv::Mat gray, small;
  if (bgr.channels() == 3) {
    cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  } else {
    gray = bgr;
  }
  const int w = std::max(16, options_.analysis_width);
  const int h = std::max(1, gray.rows * w / std::max(1, gray.cols));
  shrink_area(gray, small, cv::Size(w, h));
  cv::GaussianBlur(small, small, cv::Size(5, 5), 0);
  cv::Mat previous = std::move(previous_);
  previous_ = small;
  ++since_full_;
  if (previous.size() != small.size() || frame_size_ != bgr.size() ||
      since_full_ >= options_.full_pass_every) {
    frame_size_ = bgr.size();
    return full_pass(bgr);
  }

  cv::Mat diff;
  cv::absdiff(small, previous, diff);
  cv::threshold(diff, diff, options_.diff_threshold, 255, cv::THRESH_BINARY);
  const double changed =
      static_cast<double>(cv::countNonZero(diff)) / static_cast<double>(diff.total());
  if (changed > options_.scene_change) return full_pass(bgr);

  // Motion blobs, in frame pixels, padded so that a face half inside one is whole in its crop.
  cv::dilate(diff, diff, cv::Mat(), cv::Point(-1, -1), 2);
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(diff, contours, cv::RETR_EXTERNAL, cv::CHAIN_APPROX_SIMPLE);
  const double sx = static_cast<double>(bgr.cols) / small.cols;
  const double sy = static_cast<double>(bgr.rows) / small.rows;
  const cv::Rect frame(0, 0, bgr.cols, bgr.rows);
  std::vector<cv::Rect> regions;
  for (const auto& c : contours) {
    const cv::Rect b = cv::boundingRect(c);
    const cv::Rect full(static_cast<int>(b.x * sx), static_cast<int>(b.y * sy),
                        static_cast<int>(std::ceil(b.width * sx)),
                        static_cast<int>(std::ceil(b.height * sy)));
    regions.push_back(pad_rect(full, options_.pad_fraction, options_.pad_pixels, frame));
  }
  regions = merge_overlapping_rects(std::move(regions));
  // A known face touched by motion is re-detected whole: its region grows to contain it.
  for (const Face& f : known_) {
    const cv::Rect fb = pad_rect(cv::Rect(f.box) & frame, 0.25f, 8, frame);
    for (auto& r : regions)
      if ((r & fb).area() > 0) r |= fb;
  }
  regions = merge_overlapping_rects(std::move(regions));
  double area = 0;
  for (const auto& r : regions) area += r.area();
  if (area > options_.max_region_fraction * frame.area() ||
      static_cast<int>(regions.size()) > options_.max_regions)
    return full_pass(bgr);

  std::vector<Face> out;
  // Still faces: where nothing changed, the face is where it was.
  for (const Face& f : known_) {
    const cv::Rect fb = cv::Rect(f.box) & frame;
    const bool moved = std::any_of(regions.begin(), regions.end(),
                                   [&](const cv::Rect& r) { return (r & fb).area() > 0; });
    if (!moved) out.push_back(f);
  }
  for (const auto& r : regions) {
    auto faces = inner_->detect(bgr(r).clone());
    if (!faces) return faces;  // fail closed: the caller withholds the frame
    for (Face f : *faces) {
      f.box.x += static_cast<float>(r.x);
      f.box.y += static_cast<float>(r.y);
      for (auto& p : f.landmarks)
        p += cv::Point2f(static_cast<float>(r.x), static_cast<float>(r.y));
      out.push_back(std::move(f));
    }
  }
  if (regions.empty()) {
    ++stats_.still;
  } else {
    ++stats_.regions;
  }
  last_regions_ = regions;
  known_ = out;
  return out;
}

}  // namespace ev
