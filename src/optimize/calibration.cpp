// Quantization arithmetic and calibration statistics (min-max, percentile, entropy/KL).
//
// Written here rather than taken from a library: the reference implementations (ONNX Runtime's
// Python quantizer, TensorRT, NNCF) are Python or closed, and nothing in Debian offers them
// as a C++ API. The entropy method follows TensorRT's published algorithm (Migacz, "8-bit
// Inference with TensorRT", GTC 2017): 2048-bin |x| histogram, candidate thresholds from
// `quant_levels` bins up, KL(P||Q) with P's outliers folded into its last bin.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>

#include <nlohmann/json.hpp>

#include "edgevision/quantize.hpp"

namespace ev {

QuantParams asymmetric_uint8_params(float rmin, float rmax) {
  rmin = std::min(rmin, 0.f);
  rmax = std::max(rmax, 0.f);
  QuantParams p;
  if (rmax - rmin < 1e-12f) return {1.f, 0};
  p.scale = (rmax - rmin) / 255.f;
  p.zero_point = static_cast<int32_t>(std::lround(-rmin / p.scale));
  p.zero_point = std::clamp(p.zero_point, 0, 255);
  return p;
}

QuantParams symmetric_int8_params(float max_abs) {
  if (!(max_abs > 1e-12f)) return {1.f, 0};
  return {max_abs / 127.f, 0};
}

uint8_t quantize_uint8(float x, QuantParams p) {
  const long q = std::lround(x / p.scale) + p.zero_point;
  return static_cast<uint8_t>(std::clamp<long>(q, 0, 255));
}

int8_t quantize_int8(float x, QuantParams p) {
  const long q = std::lround(x / p.scale) + p.zero_point;
  return static_cast<int8_t>(std::clamp<long>(q, -127, 127));
}

QuantizedWeights quantize_weights(const std::vector<float>& w, const std::vector<int64_t>& shape,
                                  int axis, bool per_channel) {
  QuantizedWeights q;
  q.axis = axis;
  q.data.resize(w.size());
  if (!per_channel || shape.empty()) {
    float m = 0.f;
    for (float v : w) m = std::max(m, std::fabs(v));
    auto p = symmetric_int8_params(m);
    q.scales = {p.scale};
    for (size_t i = 0; i < w.size(); ++i) q.data[i] = quantize_int8(w[i], p);
    return q;
  }
  // Element i belongs to channel (i / inner) % channels for a row-major tensor.
  const int64_t channels = shape[axis];
  int64_t inner = 1;
  for (size_t d = axis + 1; d < shape.size(); ++d) inner *= shape[d];
  std::vector<float> max_abs(channels, 0.f);
  for (size_t i = 0; i < w.size(); ++i) {
    auto c = (static_cast<int64_t>(i) / inner) % channels;
    max_abs[c] = std::max(max_abs[c], std::fabs(w[i]));
  }
  q.scales.resize(channels);
  for (int64_t c = 0; c < channels; ++c) q.scales[c] = symmetric_int8_params(max_abs[c]).scale;
  for (size_t i = 0; i < w.size(); ++i) {
    auto c = (static_cast<int64_t>(i) / inner) % channels;
    q.data[i] = quantize_int8(w[i], {q.scales[c], 0});
  }
  return q;
}

std::vector<float> dequantize_weights(const QuantizedWeights& q,
                                      const std::vector<int64_t>& shape) {
  std::vector<float> w(q.data.size());
  if (q.scales.size() == 1) {
    for (size_t i = 0; i < w.size(); ++i) w[i] = q.data[i] * q.scales[0];
    return w;
  }
  const int64_t channels = shape[q.axis];
  int64_t inner = 1;
  for (size_t d = q.axis + 1; d < shape.size(); ++d) inner *= shape[d];
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = q.data[i] * q.scales[(static_cast<int64_t>(i) / inner) % channels];
  return w;
}

Result<CalibrationMethod> parse_calibration_method(std::string_view name) {
  if (name == "minmax") return CalibrationMethod::kMinMax;
  if (name == "percentile") return CalibrationMethod::kPercentile;
  if (name == "entropy" || name == "kl") return CalibrationMethod::kEntropy;
  return Result<CalibrationMethod>::Error("unknown calibration method '" + std::string(name) +
                                          "' (minmax, percentile, entropy)");
}

const char* to_string(CalibrationMethod m) {
  switch (m) {
    case CalibrationMethod::kMinMax:
      return "minmax";
    case CalibrationMethod::kPercentile:
      return "percentile";
    case CalibrationMethod::kEntropy:
      return "entropy";
  }
  return "?";
}

void TensorStats::observe_range(const float* x, size_t n) {
  if (n == 0) return;
  float lo = count_ ? min_ : std::numeric_limits<float>::max();
  float hi = count_ ? max_ : std::numeric_limits<float>::lowest();
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  if (lo > hi) return;  // all non-finite
  min_ = lo;
  max_ = hi;
  count_ += static_cast<int64_t>(n);
}

float TensorStats::max_abs() const {
  return std::max(std::fabs(min_), std::fabs(max_));
}

void TensorStats::observe_histogram(const float* x, size_t n) {
  if (!has_range()) return;
  if (signed_.empty()) {
    signed_.assign(kBins, 0.0);
    abs_.assign(kBins, 0.0);
  }
  const float width = max_ - min_;
  const float amax = max_abs();
  if (!(width > 0.f) || !(amax > 0.f)) {
    signed_[0] += static_cast<double>(n);
    abs_[0] += static_cast<double>(n);
    return;
  }
  const float sk = kBins / width, ak = kBins / amax;
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) continue;
    int b = static_cast<int>((v - min_) * sk);
    signed_[std::clamp(b, 0, kBins - 1)] += 1.0;
    int a = static_cast<int>(std::fabs(v) * ak);
    abs_[std::clamp(a, 0, kBins - 1)] += 1.0;
  }
}

TensorRange percentile_range(const std::vector<double>& hist, float lo, float hi,
                             double percentile) {
  TensorRange r{lo, hi};
  const double total = std::accumulate(hist.begin(), hist.end(), 0.0);
  if (hist.empty() || total <= 0 || percentile >= 100.0) return r;
  const double tail = total * (100.0 - percentile) / 100.0;
  const double width = (hi - lo) / static_cast<double>(hist.size());
  // Lower bound: first bin edge where the cumulative mass exceeds the tail; same from the top.
  double acc = 0;
  size_t i = 0;
  for (; i < hist.size(); ++i) {
    if (acc + hist[i] > tail) break;
    acc += hist[i];
  }
  r.min = static_cast<float>(lo + width * static_cast<double>(i));
  acc = 0;
  size_t j = hist.size();
  for (; j > 0; --j) {
    if (acc + hist[j - 1] > tail) break;
    acc += hist[j - 1];
  }
  r.max = static_cast<float>(lo + width * static_cast<double>(j));
  if (r.max < r.min) std::swap(r.min, r.max);
  return r;
}

float entropy_threshold(const std::vector<double>& hist, float max_abs, int quant_levels) {
  const int bins = static_cast<int>(hist.size());
  if (bins <= quant_levels || max_abs <= 0.f) return max_abs;
  const double width = static_cast<double>(max_abs) / bins;
  const double total = std::accumulate(hist.begin(), hist.end(), 0.0);
  if (total <= 0) return max_abs;
  double best_kl = std::numeric_limits<double>::max();
  int best_i = bins;
  std::vector<double> p, q;
  double outliers = total;  // mass at or above bin i, updated as i grows
  for (int k = 0; k < quant_levels; ++k) outliers -= hist[k];
  for (int i = quant_levels; i <= bins; ++i) {
    // P: reference clipped at i bins, outliers folded into the last bin.
    p.assign(hist.begin(), hist.begin() + i);
    p[i - 1] += outliers;
    // Q: hist[0:i] merged into quant_levels groups, expanded back over the non-empty bins.
    q.assign(i, 0.0);
    const double per = static_cast<double>(i) / quant_levels;
    for (int g = 0; g < quant_levels; ++g) {
      const int start = static_cast<int>(std::floor(g * per));
      const int stop = (g == quant_levels - 1) ? i : static_cast<int>(std::floor((g + 1) * per));
      double sum = 0;
      int nonzero = 0;
      for (int k = start; k < stop; ++k) {
        sum += hist[k];
        nonzero += hist[k] != 0.0;
      }
      if (nonzero == 0) continue;
      for (int k = start; k < stop; ++k)
        if (hist[k] != 0.0) q[k] = sum / nonzero;
    }
    double psum = 0, qsum = 0;
    for (int k = 0; k < i; ++k) {
      psum += p[k];
      qsum += q[k];
    }
    double kl = 0;
    if (qsum > 0) {
      for (int k = 0; k < i; ++k) {
        if (p[k] <= 0) continue;
        const double pk = p[k] / psum;
        // An empty Q bin where P has mass: smoothed with a small epsilon, as TensorRT does.
        const double qk = q[k] > 0 ? q[k] / qsum : 1e-4 / qsum;
        kl += pk * std::log(pk / qk);
      }
    } else {
      kl = std::numeric_limits<double>::max();
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
    if (i < bins) outliers -= hist[i];
  }
  return static_cast<float>((best_i + 0.5) * width > max_abs ? max_abs : (best_i + 0.5) * width);
}

TensorRange TensorStats::range(CalibrationMethod method, double percentile) const {
  TensorRange r{min_, max_};
  if (method == CalibrationMethod::kMinMax || signed_.empty()) return r;
  if (method == CalibrationMethod::kPercentile)
    return percentile_range(signed_, min_, max_, percentile);
  // Entropy: the threshold applies to the magnitude; a mostly non-negative tensor (post
  // Sigmoid/SiLU/ReLU) gets all 255 uint8 levels on its positive side, a signed one about half.
  const float amax = max_abs();
  const bool one_sided = min_ >= -0.05f * amax;
  const float t = entropy_threshold(abs_, amax, one_sided ? 255 : 128);
  r.max = std::min(max_, t);
  r.min = std::max(min_, -t);
  return r;
}

Status save_calibration_table(const CalibrationTable& table, const std::filesystem::path& path) {
  nlohmann::json j;
  j["format"] = "edgevision-calibration-1";
  j["method"] = table.method;
  j["percentile"] = table.percentile;
  j["images"] = table.images;
  j["model_sha256"] = table.model_sha256;
  nlohmann::json ranges = nlohmann::json::object();
  for (const auto& [name, r] : table.ranges) ranges[name] = {r.min, r.max};
  j["ranges"] = ranges;
  try {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path);
    out << j.dump(1) << "\n";
    if (!out) return Status::Error("cannot write calibration cache " + path.string());
  } catch (const std::exception& e) {
    return Status::Error("cannot write calibration cache " + path.string() + ": " + e.what());
  }
  return Status::Ok();
}

Result<CalibrationTable> load_calibration_table(const std::filesystem::path& path) {
  using R = Result<CalibrationTable>;
  std::ifstream in(path);
  if (!in) return R::Error("cannot open calibration cache " + path.string());
  try {
    auto j = nlohmann::json::parse(in);
    if (j.value("format", "") != "edgevision-calibration-1")
      return R::Error(path.string() + " is not an edgevision calibration cache");
    CalibrationTable t;
    t.method = j.value("method", "");
    t.percentile = j.value("percentile", 0.0);
    t.images = j.value("images", 0);
    t.model_sha256 = j.value("model_sha256", "");
    for (const auto& [name, v] : j.at("ranges").items())
      t.ranges[name] = {v.at(0).get<float>(), v.at(1).get<float>()};
    return t;
  } catch (const std::exception& e) {
    return R::Error("calibration cache " + path.string() + ": " + e.what());
  }
}

}  // namespace ev
