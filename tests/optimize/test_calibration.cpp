#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "edgevision/quantize.hpp"
#include "support/test_support.hpp"

namespace ev {
namespace {

TensorStats stats_of(const std::vector<float>& x) {
  TensorStats s;
  s.observe_range(x.data(), x.size());
  s.observe_histogram(x.data(), x.size());
  return s;
}

std::vector<float> gaussian(size_t n, unsigned seed = 1) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.f, 1.f);
  std::vector<float> x(n);
  for (auto& v : x) v = d(rng);
  return x;
}

TEST(Calibration, MinMaxIsExact) {
  std::vector<float> x{-2.f, 0.5f, 7.f};
  auto s = stats_of(x);
  auto r = s.range(CalibrationMethod::kMinMax, 0);
  EXPECT_EQ(r.min, -2.f);
  EXPECT_EQ(r.max, 7.f);
}

TEST(Calibration, PercentileOnGaussian) {
  auto s = stats_of(gaussian(400000));
  // Two-sided 99.99 keeps 0.01% in each tail: z = 3.72; 99.9 -> 3.09.
  auto r = s.range(CalibrationMethod::kPercentile, 99.99);
  EXPECT_GT(r.max, 3.4f);
  EXPECT_LT(r.max, 4.1f);
  EXPECT_LT(r.min, -3.4f);
  EXPECT_GT(r.min, -4.1f);
  auto r2 = s.range(CalibrationMethod::kPercentile, 99.9);
  EXPECT_NEAR(r2.max, 3.09f, 0.15f);
  EXPECT_NEAR(r2.min, -3.09f, 0.15f);
  EXPECT_LT(r2.max, s.max());
}

TEST(Calibration, EntropyClipsLaplaceTails) {
  // Activations are peaked with long tails (Laplace-like); KL calibration clips the sparse tail
  // to spend the 128 levels on the bulk. Laplace(0,1) with 400k samples has max |x| ~ 12-13.
  std::mt19937 rng(3);
  std::exponential_distribution<float> e(1.f);
  std::bernoulli_distribution sign(0.5);
  std::vector<float> x(400000);
  for (auto& v : x) v = sign(rng) ? e(rng) : -e(rng);
  auto s = stats_of(x);
  auto r = s.range(CalibrationMethod::kEntropy, 0);
  EXPECT_GT(r.max, 3.0f);
  EXPECT_LT(r.max, 0.9f * s.max_abs());
  EXPECT_NEAR(r.min, -r.max, 1e-6);
}

TEST(Calibration, EntropyOnSmoothGaussianStaysInRange) {
  // A smooth Gaussian loses little to 128 levels over its full range, so the threshold sits in
  // the far tail (>= 3 sigma) and never beyond the observed maximum.
  auto s = stats_of(gaussian(400000, 3));
  auto r = s.range(CalibrationMethod::kEntropy, 0);
  EXPECT_GT(r.max, 3.0f);
  EXPECT_LE(r.max, s.max());
}

TEST(Calibration, EntropyKeepsUniformRange) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  std::vector<float> x(200000);
  for (auto& v : x) v = u(rng);
  auto s = stats_of(x);
  auto r = s.range(CalibrationMethod::kEntropy, 0);
  // Nothing to clip in a uniform distribution: the threshold stays at the top.
  EXPECT_GT(r.max, 0.9f);
  EXPECT_EQ(r.min, s.min());  // one-sided data keeps its own minimum
}

TEST(Calibration, EntropyThresholdOnDecayingHistogram) {
  // 2048 bins over [0, 100], counts decaying geometrically: most mass in the first few percent.
  std::vector<double> h(2048, 0.0);
  for (int i = 0; i < 2048; ++i) h[i] = 1e6 * std::exp(-i / 40.0) + (i % 97 == 0 ? 1.0 : 0.0);
  const float t = entropy_threshold(h, 100.f, 128);
  EXPECT_GT(t, 5.f);
  EXPECT_LT(t, 60.f);
}

TEST(Calibration, TableRoundTrip) {
  CalibrationTable t;
  t.method = "percentile";
  t.percentile = 99.9;
  t.images = 12;
  t.model_sha256 = "abc";
  t.ranges["a"] = {-1.5f, 2.25f};
  t.ranges["b/c:0"] = {0.f, 6.f};
  auto path = test::temp_dir("optimize_cache") / "calib.json";
  ASSERT_TRUE(save_calibration_table(t, path).ok());
  auto back = load_calibration_table(path);
  ASSERT_TRUE(back.ok()) << back.error();
  EXPECT_EQ(back->method, "percentile");
  EXPECT_EQ(back->images, 12);
  EXPECT_EQ(back->ranges.size(), 2u);
  EXPECT_EQ(back->ranges["a"].min, -1.5f);
  EXPECT_EQ(back->ranges["b/c:0"].max, 6.f);
  EXPECT_FALSE(load_calibration_table(path.parent_path() / "missing.json").ok());
}

}  // namespace
}  // namespace ev
