// How much of each labelled plate an output image has masked, and how much else it changed;
// judged on pixels (output vs input) like the face coverage metric, so that a mask that
// changes nothing does not count.
#include <algorithm>

#include <opencv2/core.hpp>

#include "edgevision/alpr.hpp"

namespace ev {

PlateMaskCoverage plate_mask_coverage(const cv::Mat& before, const cv::Mat& after,
                                      const std::vector<cv::Rect>& plates,
                                      const PlateMaskCoverageOptions& options) {
  PlateMaskCoverage out;
  if (before.empty() || before.size() != after.size() || before.type() != after.type()) return out;
  cv::Mat diff, change;
  cv::absdiff(before, after, diff);
  std::vector<cv::Mat> channels;
  cv::split(diff, channels);
  change = channels[0];
  for (size_t c = 1; c < channels.size(); ++c) cv::max(change, channels[c], change);
  const cv::Mat changed = change > options.changed_level;
  const cv::Mat strongly_changed = change > options.collateral_level;
  const cv::Rect bounds(0, 0, before.cols, before.rows);
  cv::Mat zone = cv::Mat::zeros(before.size(), CV_8U);
  for (const auto& p : plates) {
    const cv::Rect b = p & bounds;
    out.masked.push_back(b.area() > 0 ? cv::countNonZero(changed(b)) / static_cast<double>(b.area())
                                      : 0.0);
    const int gx = static_cast<int>(p.width * options.zone_padding / 2);
    const int gy = static_cast<int>(p.height * options.zone_padding / 2);
    zone(cv::Rect(p.x - gx, p.y - gy, p.width + 2 * gx, p.height + 2 * gy) & bounds).setTo(255);
  }
  cv::Mat away;
  cv::bitwise_and(strongly_changed, ~zone, away);
  const int outside = static_cast<int>(before.total()) - cv::countNonZero(zone);
  out.collateral = outside > 0 ? cv::countNonZero(away) / static_cast<double>(outside) : 0.0;
  return out;
}

}  // namespace ev
