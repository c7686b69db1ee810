#include "track/kalman.hpp"

#include <algorithm>

namespace ev::track_detail {

cv::Matx<double, 4, 1> KalmanBoxFilter::to_xyah(const cv::Rect2f& box) {
  const double h = std::max(1e-3f, box.height);
  return {box.x + box.width / 2.0, box.y + box.height / 2.0, box.width / h, h};
}

cv::Rect2f KalmanBoxFilter::to_rect(const KalmanState& s) {
  const double h = std::max(0.0, s.mean(3));
  const double w = std::max(0.0, s.mean(2) * h);
  return {static_cast<float>(s.mean(0) - w / 2.0), static_cast<float>(s.mean(1) - h / 2.0),
          static_cast<float>(w), static_cast<float>(h)};
}

KalmanState KalmanBoxFilter::initiate(const cv::Rect2f& box) const {
  KalmanState s;
  const auto z = to_xyah(box);
  s.mean = cv::Matx<double, 8, 1>::zeros();
  for (int i = 0; i < 4; ++i) s.mean(i) = z(i);
  const double h = z(3);
  const double sp = std_weight_position_ * h, sv = std_weight_velocity_ * h;
  const double sd[8] = {2 * sp, 2 * sp, 1e-2, 2 * sp, 10 * sv, 10 * sv, 1e-5, 10 * sv};
  s.cov = cv::Matx<double, 8, 8>::zeros();
  for (int i = 0; i < 8; ++i) s.cov(i, i) = sd[i] * sd[i];
  return s;
}

void KalmanBoxFilter::predict(KalmanState& s) const {
  const double h = s.mean(3);
  const double sp = std_weight_position_ * h, sv = std_weight_velocity_ * h;
  const double sd[8] = {sp, sp, 1e-2, sp, sv, sv, 1e-5, sv};
  cv::Matx<double, 8, 8> f = cv::Matx<double, 8, 8>::eye();
  for (int i = 0; i < 4; ++i) f(i, i + 4) = 1.0;
  cv::Matx<double, 8, 8> q = cv::Matx<double, 8, 8>::zeros();
  for (int i = 0; i < 8; ++i) q(i, i) = sd[i] * sd[i];
  s.mean = f * s.mean;
  s.cov = f * s.cov * f.t() + q;
}

void KalmanBoxFilter::update(KalmanState& s, const cv::Rect2f& box) const {
  const auto z = to_xyah(box);
  const double h = s.mean(3);
  const double sp = std_weight_position_ * h;
  const double sd[4] = {sp, sp, 1e-1, sp};
  cv::Matx<double, 4, 8> hm = cv::Matx<double, 4, 8>::zeros();
  for (int i = 0; i < 4; ++i) hm(i, i) = 1.0;
  cv::Matx<double, 4, 4> r = cv::Matx<double, 4, 4>::zeros();
  for (int i = 0; i < 4; ++i) r(i, i) = sd[i] * sd[i];
  const cv::Matx<double, 4, 4> sproj = hm * s.cov * hm.t() + r;
  const cv::Matx<double, 8, 4> pht = s.cov * hm.t();
  const cv::Matx<double, 8, 4> gain = pht * sproj.inv(cv::DECOMP_CHOLESKY);
  const cv::Matx<double, 4, 1> innovation = z - hm * s.mean;
  s.mean = s.mean + gain * innovation;
  s.cov = s.cov - gain * sproj * gain.t();
}

}  // namespace ev::track_detail
