#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "edgevision/quantize.hpp"

namespace ev {
namespace {

TEST(QuantMath, Uint8RoundTripWithinHalfStep) {
  std::vector<float> x;
  for (int i = 0; i <= 1000; ++i) x.push_back(-1.f + 4.f * i / 1000.f);
  auto p = asymmetric_uint8_params(-1.f, 3.f);
  EXPECT_NEAR(p.scale, 4.f / 255.f, 1e-7);
  EXPECT_EQ(p.zero_point, 64);  // round(1 / (4/255)) = round(63.75)
  for (float v : x)
    EXPECT_LE(std::fabs(dequantize(quantize_uint8(v, p), p) - v), p.scale / 2 + 1e-6);
  EXPECT_EQ(dequantize(quantize_uint8(0.f, p), p), 0.f);  // zero is exact (padding)
  // Out of range saturates.
  EXPECT_EQ(quantize_uint8(10.f, p), 255);
  EXPECT_EQ(quantize_uint8(-10.f, p), 0);
}

TEST(QuantMath, RangeIsWidenedToIncludeZero) {
  auto p = asymmetric_uint8_params(0.5f, 2.f);  // positive-only range still represents 0
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_NEAR(p.scale, 2.f / 255.f, 1e-7);
  auto q = asymmetric_uint8_params(-3.f, -1.f);
  EXPECT_EQ(q.zero_point, 255);
  auto d = asymmetric_uint8_params(0.f, 0.f);  // degenerate: valid non-zero scale
  EXPECT_GT(d.scale, 0.f);
}

TEST(QuantMath, Int8SymmetricPerTensor) {
  std::vector<float> w{-0.5f, -0.25f, 0.f, 0.1f, 0.5f};
  auto q = quantize_weights(w, {5}, 0, false);
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_NEAR(q.scales[0], 0.5f / 127.f, 1e-8);
  EXPECT_EQ(q.data.front(), -127);
  EXPECT_EQ(q.data.back(), 127);
  auto back = dequantize_weights(q, {5});
  for (size_t i = 0; i < w.size(); ++i)
    EXPECT_LE(std::fabs(back[i] - w[i]), q.scales[0] / 2 + 1e-7);
}

TEST(QuantMath, Int8PerChannelBeatsPerTensorOnUnevenChannels) {
  // 3 output channels with magnitudes 100x apart, 2x2 kernels: [3,1,2,2].
  const std::vector<int64_t> shape{3, 1, 2, 2};
  std::vector<float> w;
  const float mags[3] = {1.f, 0.1f, 0.01f};
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int c = 0; c < 3; ++c)
    for (int i = 0; i < 4; ++i) w.push_back(mags[c] * u(rng));
  auto pc = quantize_weights(w, shape, 0, true);
  auto pt = quantize_weights(w, shape, 0, false);
  ASSERT_EQ(pc.scales.size(), 3u);
  auto bpc = dequantize_weights(pc, shape);
  auto bpt = dequantize_weights(pt, shape);
  double err_pc = 0, err_pt = 0;
  for (size_t i = 0; i < w.size(); ++i) {
    const int c = static_cast<int>(i / 4);
    EXPECT_LE(std::fabs(bpc[i] - w[i]), pc.scales[c] / 2 + 1e-8) << i;
    EXPECT_LE(pc.scales[c], mags[c] / 127.f + 1e-8);
    if (c == 2) {
      err_pc += std::fabs(bpc[i] - w[i]);
      err_pt += std::fabs(bpt[i] - w[i]);
    }
  }
  EXPECT_LT(err_pc * 10, err_pt + 1e-9);  // the small channel is ~100x finer per-channel
}

TEST(QuantMath, PerChannelAlongAxis1) {
  // Gemm weight [K=2, N=3] without transB: channels are columns (axis 1).
  std::vector<float> w{1.f, 10.f, 100.f, -1.f, -10.f, -100.f};
  auto q = quantize_weights(w, {2, 3}, 1, true);
  ASSERT_EQ(q.scales.size(), 3u);
  EXPECT_NEAR(q.scales[0], 1.f / 127, 1e-6);
  EXPECT_NEAR(q.scales[2], 100.f / 127, 1e-4);
  for (auto v : q.data) EXPECT_EQ(std::abs(v), 127);
}

TEST(QuantMath, ParseMethod) {
  EXPECT_EQ(*parse_calibration_method("entropy"), CalibrationMethod::kEntropy);
  EXPECT_EQ(*parse_calibration_method("kl"), CalibrationMethod::kEntropy);
  EXPECT_FALSE(parse_calibration_method("mse").ok());
}

}  // namespace
}  // namespace ev
