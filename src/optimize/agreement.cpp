// How close a candidate (quantized) model's outputs are to the FP32 model's: the quality
// measure of quantize's accuracy guard (see quantize.hpp, output_sqnr_db).
#include <cmath>

#include <opencv2/imgcodecs.hpp>

#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/quantize.hpp"

namespace ev {

Result<ReferenceRun> reference_run(const std::filesystem::path& model,
                                   const std::vector<std::filesystem::path>& images,
                                   const Preprocess& pre, int threads) {
  using R = Result<ReferenceRun>;
  BackendOptions bo;
  bo.threads = threads;
  auto be = create_backend("onnxruntime", model, bo);
  if (!be) return R::Error("reference model did not load: " + be.error());
  if ((*be)->inputs().size() != 1)
    return R::Error("the quality check supports models with one image input");
  ReferenceRun ref;
  ref.shape = image_input_shape((*be)->inputs().front().shape, pre);
  if (ref.shape.empty()) return R::Error("the quality check needs a 4-D image input");
  const cv::Size size = image_input_size(ref.shape, pre);
  for (const auto& path : images) {
    cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
    if (img.empty()) continue;
    std::vector<float> input;
    make_input_tensor(img, pre, size.width, size.height, input);
    std::vector<Tensor> outs;
    if (Status st = (*be)->run({TensorView{input.data(), ref.shape}}, outs); !st)
      return R::Error("FP32 inference failed on " + path.string() + ": " + st.message());
    ref.inputs.push_back(std::move(input));
    ref.outputs.push_back(std::move(outs));
  }
  if (ref.inputs.empty()) return R::Error("none of the quality-check images could be read");
  return ref;
}

double output_sqnr_db(const std::vector<std::vector<Tensor>>& ref,
                      const std::vector<std::vector<Tensor>>& got) {
  if (ref.empty() || ref.size() != got.size()) return -120.0;
  const size_t n_out = ref.front().size();
  double nmse_sum = 0;
  int channels_total = 0;
  for (size_t o = 0; o < n_out; ++o) {
    const auto& shape = ref.front()[o].shape;
    const int64_t last = shape.size() >= 2 && shape.back() > 0 ? shape.back() : 0;
    const int64_t total = static_cast<int64_t>(ref.front()[o].data.size());
    // Channels along the last axis when it looks like a feature axis; the whole tensor otherwise.
    const int64_t channels = last > 1 && total / last >= 2 ? last : 1;
    std::vector<double> sum(channels, 0), sum2(channels, 0), noise(channels, 0);
    std::vector<int64_t> count(channels, 0);
    for (size_t i = 0; i < ref.size(); ++i) {
      if (o >= ref[i].size() || o >= got[i].size()) return -120.0;
      const auto& a = ref[i][o].data;
      const auto& b = got[i][o].data;
      if (a.size() != b.size()) return -120.0;
      for (size_t k = 0; k < a.size(); ++k) {
        const int64_t c = channels == 1 ? 0 : static_cast<int64_t>(k) % channels;
        const double x = a[k], d = static_cast<double>(b[k]) - x;
        if (!std::isfinite(d)) return -120.0;
        sum[c] += x;
        sum2[c] += x * x;
        noise[c] += d * d;
        ++count[c];
      }
    }
    for (int64_t c = 0; c < channels; ++c) {
      if (count[c] == 0) continue;
      const double mean = sum[c] / count[c];
      // Variance sum; a constant channel is measured against its magnitude instead.
      double signal = sum2[c] - count[c] * mean * mean;
      if (signal <= 1e-12 * std::max(1.0, sum2[c])) signal = sum2[c];
      nmse_sum += signal > 0 ? noise[c] / signal : (noise[c] > 0 ? 1.0 : 0.0);
      ++channels_total;
    }
  }
  if (channels_total == 0) return -120.0;
  const double nmse = nmse_sum / channels_total;
  if (nmse <= 1e-12) return 120.0;
  return -10.0 * std::log10(nmse);
}

Result<double> candidate_sqnr_db(const std::filesystem::path& candidate, const ReferenceRun& ref,
                                 int threads) {
  BackendOptions bo;
  bo.threads = threads;
  auto be = create_backend("onnxruntime", candidate, bo);
  if (!be) return Result<double>::Error("candidate model did not load: " + be.error());
  std::vector<std::vector<Tensor>> got(ref.inputs.size());
  for (size_t i = 0; i < ref.inputs.size(); ++i)
    if (Status st = (*be)->run({TensorView{ref.inputs[i].data(), ref.shape}}, got[i]); !st)
      return Result<double>::Error("candidate inference failed: " + st.message());
  return output_sqnr_db(ref.outputs, got);
}

}  // namespace ev
