// Plate OCR engines behind PlateOcr: fast-plate-ocr's CCT (default; ONNX Runtime, uint8 NHWC
// input, which the float-only InferenceBackend cannot feed), PaddleOCR (paddle.cpp) and
// Tesseract (Debian) as the baseline.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>
#include <tesseract/baseapi.h>
#include <opencv2/imgproc.hpp>

#include "edgevision/alpr.hpp"
#include "alpr/paddle.hpp"

namespace ev {
namespace {

Ort::Env& ocr_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "edgevision-ocr");
  return env;
}

class CctOcr final : public PlateOcr {
 public:
  CctOcr(Ort::Session session, CctConfig config)
      : session_(std::move(session)), config_(std::move(config)) {
    Ort::AllocatorWithDefaultOptions alloc;
    input_name_ = session_.GetInputNameAllocated(0, alloc).get();
    output_name_ = session_.GetOutputNameAllocated(0, alloc).get();
  }
  std::string name() const override { return "cct"; }
  cv::Size input_size() const override { return {config_.img_width, config_.img_height}; }

  Result<OcrResult> read(const cv::Mat& plate_bgr) override {
    if (plate_bgr.empty() || plate_bgr.type() != CV_8UC3)
      return Result<OcrResult>::Error("cct: expected a non-empty 8-bit BGR plate");
    cv::Mat rgb;
    cv::resize(plate_bgr, rgb, input_size(), 0, 0, cv::INTER_LINEAR);
    cv::cvtColor(rgb, rgb, cv::COLOR_BGR2RGB);
    if (!rgb.isContinuous()) rgb = rgb.clone();
    const std::array<int64_t, 4> shape{1, config_.img_height, config_.img_width, 3};
    try {
      Ort::Value in = Ort::Value::CreateTensor<uint8_t>(mem_, rgb.data, rgb.total() * 3,
                                                        shape.data(), shape.size());
      const char* in_names[] = {input_name_.c_str()};
      const char* out_names[] = {output_name_.c_str()};
      auto out = session_.Run(Ort::RunOptions{nullptr}, in_names, &in, 1, out_names, 1);
      auto info = out[0].GetTensorTypeAndShapeInfo();
      const auto oshape = info.GetShape();
      if (oshape.size() != 3 || oshape[2] != static_cast<int64_t>(config_.alphabet.size()))
        return Result<OcrResult>::Error("cct: output shape does not match the plate config");
      return decode_cct(out[0].GetTensorData<float>(), static_cast<int>(oshape[1]), config_);
    } catch (const Ort::Exception& e) {
      return Result<OcrResult>::Error(std::string("cct: ") + e.what());
    }
  }

 private:
  Ort::Session session_;
  CctConfig config_;
  std::string input_name_, output_name_;
  Ort::MemoryInfo mem_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
};

class TesseractOcr final : public PlateOcr {
 public:
  TesseractOcr() = default;
  ~TesseractOcr() override { api_.End(); }
  Status init() {
    if (api_.Init(nullptr, "eng", tesseract::OEM_LSTM_ONLY) != 0)
      return Status::Error(
          "tesseract: cannot load the 'eng' language data (Debian package tesseract-ocr-eng)");
    api_.SetPageSegMode(tesseract::PSM_SINGLE_LINE);
    api_.SetVariable("tessedit_char_whitelist", "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    api_.SetVariable("debug_file", "/dev/null");
    return Status::Ok();
  }
  std::string name() const override { return "tesseract"; }
  cv::Size input_size() const override { return {320, 80}; }

  Result<OcrResult> read(const cv::Mat& plate_bgr) override {
    if (plate_bgr.empty() || plate_bgr.type() != CV_8UC3)
      return Result<OcrResult>::Error("tesseract: expected a non-empty 8-bit BGR plate");
    cv::Mat gray, big, bin;
    cv::cvtColor(plate_bgr, gray, cv::COLOR_BGR2GRAY);
    cv::resize(gray, big, input_size(), 0, 0, cv::INTER_CUBIC);
    cv::threshold(big, bin, 0, 255, cv::THRESH_BINARY | cv::THRESH_OTSU);
    // Tesseract wants dark text on light ground; light-on-dark plates are inverted.
    if (cv::mean(bin)[0] < 127) cv::bitwise_not(bin, bin);
    cv::copyMakeBorder(bin, bin, 10, 10, 10, 10, cv::BORDER_CONSTANT, cv::Scalar(255));
    api_.SetImage(bin.data, bin.cols, bin.rows, 1, static_cast<int>(bin.step));
    if (api_.Recognize(nullptr) != 0)
      return Result<OcrResult>::Error("tesseract: recognise failed");
    OcrResult r;
    std::unique_ptr<tesseract::ResultIterator> it(api_.GetIterator());
    if (it) {
      do {
        std::unique_ptr<char[]> sym(it->GetUTF8Text(tesseract::RIL_SYMBOL));
        if (!sym) continue;
        const char c = sym[0];
        if (sym[1] != '\0' || !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) continue;
        r.text.push_back(c);
        r.char_conf.push_back(std::clamp(it->Confidence(tesseract::RIL_SYMBOL) / 100.f, 0.f, 1.f));
      } while (it->Next(tesseract::RIL_SYMBOL));
    }
    float sum = 0;
    for (float c : r.char_conf) sum += c;
    r.confidence = r.char_conf.empty() ? 0.f : sum / static_cast<float>(r.char_conf.size());
    return r;
  }

 private:
  tesseract::TessBaseAPI api_;
};

// fast-plate-ocr publishes "<model>_plate_config.yaml" beside each model; use it when it is
// there, else the values this model was released with.
CctConfig load_cct_config(const std::filesystem::path& model) {
  const auto yaml = model.parent_path() / (model.stem().string() + "_plate_config.yaml");
  std::ifstream f(yaml);
  if (f) {
    std::stringstream ss;
    ss << f.rdbuf();
    auto c = parse_cct_config(ss.str());
    if (c) return *c;
    spdlog::warn("alpr: ignoring {}: {}", yaml.string(), c.error());
  }
  return CctConfig{};
}

}  // namespace

Result<std::unique_ptr<PlateOcr>> create_plate_ocr(const OcrParams& params, ModelManager& models) {
  using R = Result<std::unique_ptr<PlateOcr>>;
  if (params.engine == "tesseract") {
    auto t = std::make_unique<TesseractOcr>();
    Status s = t->init();
    if (!s.ok()) return s;
    return std::unique_ptr<PlateOcr>(std::move(t));
  }
  if (params.engine != "cct" && params.engine != "paddle")
    return R::Error("alpr: unknown OCR engine '" + params.engine + "' (cct | tesseract | paddle)");
  const bool paddle = params.engine == "paddle";
  auto resolved = models.resolve(!params.model.empty() ? params.model
                                 : paddle            ? "ppocr-v4"
                                                     : "cct-xs-global");
  if (!resolved) return resolved.status();
  if (paddle) return create_paddle_ocr(*resolved, params.threads);
  try {
    Ort::SessionOptions so;
    if (params.threads > 0) so.SetIntraOpNumThreads(params.threads);
    so.SetInterOpNumThreads(1);
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    Ort::Session session(ocr_env(), resolved->primary().c_str(), so);
    return std::unique_ptr<PlateOcr>(
        std::make_unique<CctOcr>(std::move(session), load_cct_config(resolved->primary())));
  } catch (const Ort::Exception& e) {
    return R::Error("cct: cannot load " + resolved->primary().string() + ": " + e.what());
  }
}

}  // namespace ev
