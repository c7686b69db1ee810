#include "edgevision/foreground.hpp"
#include "edgevision/preprocess.hpp"

#include <algorithm>
#include <cmath>

#include <opencv2/imgproc.hpp>

#ifdef __GLIBC__
#include <malloc.h>
#endif

namespace ev {

namespace {
cv::Ptr<cv::BackgroundSubtractorMOG2> make_mog(const ForegroundParams& p) {
  auto mog = cv::createBackgroundSubtractorMOG2(p.history, p.var_threshold, /*detectShadows=*/true);
  mog->setNMixtures(p.mixtures);
  return mog;
}
}  // namespace

ForegroundModel::ForegroundModel(ForegroundParams params)
    : p_(params), mog_(make_mog(p_)), demand_(p_.idle_frames) {}

ForegroundFrame ForegroundModel::prepare(const cv::Mat& bgr, const ForegroundParams& p) {
  ForegroundFrame f;
  if (bgr.empty()) return f;
  f.full = bgr.size();
  const double scale = std::min(1.0, static_cast<double>(p.work_width) / std::max(1, f.full.width));
  if (scale < 1.0) {
    shrink_area(bgr, f.small,
                cv::Size(std::max(1, static_cast<int>(std::lround(f.full.width * scale))),
                         std::max(1, static_cast<int>(std::lround(f.full.height * scale)))));
  } else {
    f.small = bgr;
  }
  return f;
}

bool ForegroundModel::update_while(const cv::Mat& bgr, bool person_present) {
  if (!demand_.wanted(person_present)) {
    release();
    return false;  // released: not even the frame is scaled
  }
  update(bgr);
  return true;
}

void ForegroundModel::release() {
  if (!mog_) return;
  mog_.release();
  mask_.release();
  frame_ = cv::Size();
  frames_ = 0;
  fraction_ = 0;
#ifdef __GLIBC__
  // Freed model buffers otherwise stay in the process heap (glibc raises its mmap threshold
  // after the first large free): RSS did not drop at all without this (bench/README.md).
  malloc_trim(0);
#endif
}

void ForegroundModel::update(const ForegroundFrame& frame) {
  if (frame.small.empty() || frame.full.width <= 0) return;
  if (frame_ != frame.full || !mog_ || (!mask_.empty() && mask_.size() != frame.small.size())) {
    // A new size (a source that reconnected at another resolution) starts a new background.
    frame_ = frame.full;
    mog_ = make_mog(p_);
    frames_ = 0;
  }
  // The mask's scale as it came (prepare() with other params would still map back right).
  scale_ = static_cast<double>(frame.small.cols) / frame_.width;
  cv::Mat raw;
  mog_->apply(frame.small, raw);
  // 127 = shadow: a shadow on the floor is not the person.
  cv::compare(raw, 200, mask_, cv::CMP_GT);
  static const cv::Mat kernel = cv::getStructuringElement(cv::MORPH_ELLIPSE, cv::Size(3, 3));
  cv::morphologyEx(mask_, mask_, cv::MORPH_OPEN, kernel);
  cv::morphologyEx(mask_, mask_, cv::MORPH_CLOSE, kernel, cv::Point(-1, -1), 2);
  fraction_ = static_cast<double>(cv::countNonZero(mask_)) / static_cast<double>(mask_.total());
  ++frames_;
}

bool ForegroundModel::usable() const {
  return frames_ >= p_.warmup_frames && fraction_ <= p_.max_fraction;
}

std::optional<ForegroundBlob> ForegroundModel::blob(const cv::Rect2f& region,
                                                    const cv::Rect2f& anchor,
                                                    double min_area_frac) const {
  if (!usable() || mask_.empty()) return std::nullopt;
  const auto to_small = [&](const cv::Rect2f& r) {
    return cv::Rect(static_cast<int>(std::floor(r.x * scale_)),
                    static_cast<int>(std::floor(r.y * scale_)),
                    static_cast<int>(std::ceil(r.width * scale_)),
                    static_cast<int>(std::ceil(r.height * scale_)));
  };
  const cv::Rect roi = to_small(region) & cv::Rect(0, 0, mask_.cols, mask_.rows);
  if (roi.area() <= 0) return std::nullopt;
  cv::Rect a = to_small(anchor) & cv::Rect(0, 0, mask_.cols, mask_.rows);
  if (a.area() <= 0) return std::nullopt;
  a -= roi.tl();
  cv::Mat labels, stats, centroids;
  const int n = cv::connectedComponentsWithStats(mask_(roi), labels, stats, centroids, 8);
  const double min_area = std::max(4.0, min_area_frac * anchor.area() * scale_ * scale_);
  cv::Rect u;
  double pixels = 0;
  for (int i = 1; i < n; ++i) {
    if (stats.at<int>(i, cv::CC_STAT_AREA) < min_area) continue;
    const cv::Rect c(stats.at<int>(i, cv::CC_STAT_LEFT), stats.at<int>(i, cv::CC_STAT_TOP),
                     stats.at<int>(i, cv::CC_STAT_WIDTH), stats.at<int>(i, cv::CC_STAT_HEIGHT));
    if ((c & a).area() <= 0) continue;
    u = u.area() > 0 ? (u | c) : c;
    pixels += stats.at<int>(i, cv::CC_STAT_AREA);
  }
  if (u.area() <= 0) return std::nullopt;
  u += roi.tl();
  const float inv = static_cast<float>(1.0 / scale_);
  return ForegroundBlob{cv::Rect2f(u.x * inv, u.y * inv, u.width * inv, u.height * inv),
                        pixels * inv * inv};
}

}  // namespace ev
