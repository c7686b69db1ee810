// PaddleOCR PP-OCRv4 behind PlateOcr: det (DB text map) finds the text lines in the plate
// crop, cls turns upside-down lines upright, rec reads each line (CTC over the PaddleOCR
// dictionary). Lines are read top to bottom and joined, so two-row plates come out as one
// string. Run through ONNX Runtime, which loads the npm package's models as they are (OpenCV
// 4.6 cannot: see ../shared/models/MANIFEST.md).
#include "alpr/paddle.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>

namespace ev {

std::vector<std::string> paddle_charset(const std::string& dictionary_text) {
  std::vector<std::string> charset{""};  // 0: CTC blank
  std::istringstream in(dictionary_text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() == 1 && line[0] >= 'a' && line[0] <= 'z')
      line[0] = static_cast<char>(line[0] - 'a' + 'A');
    charset.push_back(line);
  }
  charset.push_back(" ");
  return charset;
}

namespace {

// tl, tr, br, bl as PaddleOCR's get_mini_boxes orders a rectangle's points.
std::array<cv::Point2f, 4> order_corners(const cv::RotatedRect& r) {
  std::array<cv::Point2f, 4> p;
  r.points(p.data());
  std::sort(p.begin(), p.end(), [](auto a, auto b) { return a.x < b.x; });
  const cv::Point2f tl = p[0].y <= p[1].y ? p[0] : p[1];
  const cv::Point2f bl = p[0].y <= p[1].y ? p[1] : p[0];
  const cv::Point2f tr = p[2].y <= p[3].y ? p[2] : p[3];
  const cv::Point2f br = p[2].y <= p[3].y ? p[3] : p[2];
  return {tl, tr, br, bl};
}

// Mean probability inside the box (PaddleOCR's box_score_fast).
float box_score(const cv::Mat& prob, const std::array<cv::Point2f, 4>& box) {
  float x0 = box[0].x, x1 = box[0].x, y0 = box[0].y, y1 = box[0].y;
  for (const auto& q : box) {
    x0 = std::min(x0, q.x);
    x1 = std::max(x1, q.x);
    y0 = std::min(y0, q.y);
    y1 = std::max(y1, q.y);
  }
  const int xmin = std::clamp(static_cast<int>(std::floor(x0)), 0, prob.cols - 1);
  const int xmax = std::clamp(static_cast<int>(std::ceil(x1)), 0, prob.cols - 1);
  const int ymin = std::clamp(static_cast<int>(std::floor(y0)), 0, prob.rows - 1);
  const int ymax = std::clamp(static_cast<int>(std::ceil(y1)), 0, prob.rows - 1);
  cv::Mat mask = cv::Mat::zeros(ymax - ymin + 1, xmax - xmin + 1, CV_8U);
  std::vector<cv::Point> poly;
  for (const auto& q : box)
    poly.emplace_back(static_cast<int>(std::lround(q.x)) - xmin,
                      static_cast<int>(std::lround(q.y)) - ymin);
  cv::fillPoly(mask, std::vector<std::vector<cv::Point>>{poly}, cv::Scalar(1));
  return static_cast<float>(cv::mean(prob(cv::Rect(xmin, ymin, mask.cols, mask.rows)), mask)[0]);
}

}  // namespace

std::vector<TextBox> db_postprocess(const cv::Mat& prob, const DbParams& params, float scale_x,
                                    float scale_y, cv::Size image) {
  std::vector<TextBox> out;
  if (prob.empty() || prob.type() != CV_32F) return out;
  if (image.empty())
    image = cv::Size(static_cast<int>(std::lround(prob.cols * scale_x)),
                     static_cast<int>(std::lround(prob.rows * scale_y)));
  cv::Mat bitmap = prob > params.thresh;
  std::vector<std::vector<cv::Point>> contours;
  cv::findContours(bitmap, contours, cv::RETR_LIST, cv::CHAIN_APPROX_SIMPLE);
  const size_t n =
      std::min(contours.size(), static_cast<size_t>(std::max(0, params.max_candidates)));
  for (size_t i = 0; i < n; ++i) {
    const cv::RotatedRect r = cv::minAreaRect(contours[i]);
    if (std::min(r.size.width, r.size.height) < static_cast<float>(params.min_size)) continue;
    const float score = box_score(prob, order_corners(r));
    if (score < params.box_thresh) continue;
    // Unclip: the DB map marks a shrunk text core; PaddleOCR offsets the polygon outwards by
    // area * ratio / perimeter. For a rectangle the offset polygon's min-area rectangle is the
    // rectangle grown by that distance on every side.
    const float w = r.size.width, h = r.size.height;
    const float d = w * h * params.unclip / (2.f * (w + h));
    const cv::RotatedRect grown(r.center, cv::Size2f(w + 2 * d, h + 2 * d), r.angle);
    if (std::min(grown.size.width, grown.size.height) < static_cast<float>(params.min_size + 2))
      continue;
    TextBox t;
    t.score = score;
    t.corners = order_corners(grown);
    for (auto& q : t.corners) {
      q.x = std::clamp(std::round(q.x * scale_x), 0.f, static_cast<float>(image.width));
      q.y = std::clamp(std::round(q.y * scale_y), 0.f, static_cast<float>(image.height));
    }
    out.push_back(t);
  }
  // Top to bottom; boxes whose tops are within 10 px count as one line, read left to right.
  std::sort(out.begin(), out.end(), [](const TextBox& a, const TextBox& b) {
    return a.corners[0].y != b.corners[0].y ? a.corners[0].y < b.corners[0].y
                                            : a.corners[0].x < b.corners[0].x;
  });
  for (size_t i = 0; i + 1 < out.size(); ++i) {
    for (size_t j = i + 1; j-- > 0;) {
      const auto& a = out[j].corners[0];
      const auto& b = out[j + 1].corners[0];
      if (std::abs(b.y - a.y) < 10.f && b.x < a.x)
        std::swap(out[j], out[j + 1]);
      else
        break;
    }
  }
  return out;
}

namespace {

Ort::Env& paddle_env() {
  static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "edgevision-paddle");
  return env;
}

struct OrtModel {
  Ort::Session session{nullptr};
  std::string input, output;
};

OrtModel load_model(const std::filesystem::path& path, int threads) {
  Ort::SessionOptions so;
  if (threads > 0) so.SetIntraOpNumThreads(threads);
  so.SetInterOpNumThreads(1);
  so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  OrtModel m;
  m.session = Ort::Session(paddle_env(), path.c_str(), so);
  Ort::AllocatorWithDefaultOptions alloc;
  m.input = m.session.GetInputNameAllocated(0, alloc).get();
  m.output = m.session.GetOutputNameAllocated(0, alloc).get();
  return m;
}

// NCHW float blob of a BGR image: (x / 255 - mean) / std per channel, zero-padded on the
// right to `width` (normalised zero).
std::vector<float> to_blob(const cv::Mat& bgr, int width, const cv::Scalar& mean,
                           const cv::Scalar& std) {
  const int h = bgr.rows;
  std::vector<float> blob(static_cast<size_t>(3) * h * width, 0.f);
  for (int y = 0; y < h; ++y) {
    const auto* row = bgr.ptr<cv::Vec3b>(y);
    for (int x = 0; x < bgr.cols && x < width; ++x)
      for (int c = 0; c < 3; ++c)
        blob[(static_cast<size_t>(c) * h + y) * width + x] =
            static_cast<float>((row[x][c] / 255.0 - mean[c]) / std[c]);
  }
  return blob;
}

class PaddleOcr final : public PlateOcr {
 public:
  PaddleOcr(OrtModel det, OrtModel rec, OrtModel cls, std::vector<std::string> charset)
      : det_(std::move(det)),
        rec_(std::move(rec)),
        cls_(std::move(cls)),
        charset_(std::move(charset)) {}
  std::string name() const override { return "paddle"; }
  // Plates are cut at 3:1 with room for two rows; det finds the lines inside.
  cv::Size input_size() const override { return {384, 128}; }

  Result<OcrResult> read(const cv::Mat& plate_bgr) override {
    if (plate_bgr.empty() || plate_bgr.type() != CV_8UC3)
      return Result<OcrResult>::Error("paddle: expected a non-empty 8-bit BGR plate");
    try {
      auto lines = find_lines(plate_bgr);
      if (!lines) return lines.status();
      // A tight plate crop where det sees no line is still worth one rec pass as a whole.
      if (lines->empty()) lines->push_back(plate_bgr);
      OcrResult r;
      for (cv::Mat& line : *lines) {
        auto part = recognise(line);
        if (!part) return part.status();
        // cls alone turned right-way-up plates over (NYZ0897 read as L680ZAN), so its verdict
        // only earns a second read of the turned line, and the more confident read is kept.
        if (cls_.session && upside_down(line)) {
          cv::Mat turned;
          cv::rotate(line, turned, cv::ROTATE_180);
          auto other = recognise(turned);
          if (!other) return other.status();
          if (other->confidence > part->confidence) part = std::move(other);
        }
        r.text += part->text;
        r.char_conf.insert(r.char_conf.end(), part->char_conf.begin(), part->char_conf.end());
      }
      float sum = 0;
      for (float c : r.char_conf) sum += c;
      r.confidence = r.char_conf.empty() ? 0.f : sum / static_cast<float>(r.char_conf.size());
      return r;
    } catch (const Ort::Exception& e) {
      return Result<OcrResult>::Error(std::string("paddle: ") + e.what());
    } catch (const cv::Exception& e) {
      return Result<OcrResult>::Error(std::string("paddle: ") + e.what());
    }
  }

 private:
  static constexpr int kDetHeight = 160;  // det input height for a plate crop (x32)
  static constexpr int kDetMaxWidth = 1280;
  static constexpr int kRecHeight = 48;

  // The plate's text lines, cut upright, top to bottom. Lines under 0.7 of the tallest's
  // height (state names, dealer frames, stickers) are left out: they are not the registration.
  Result<std::vector<cv::Mat>> find_lines(const cv::Mat& plate) {
    const int pad = std::max(8, plate.rows / 8);
    cv::Mat padded;
    const cv::Scalar fill = cv::mean(plate);
    cv::copyMakeBorder(plate, padded, pad, pad, pad, pad, cv::BORDER_CONSTANT, fill);
    // 160 px high; a very wide cut is scaled down instead so det memory stays bounded.
    const double s = std::min(static_cast<double>(kDetHeight) / padded.rows,
                              static_cast<double>(kDetMaxWidth) / padded.cols);
    const int dw = std::max(32, static_cast<int>(std::lround(padded.cols * s / 32.0)) * 32);
    const int dh = std::max(32, static_cast<int>(std::lround(padded.rows * s / 32.0)) * 32);
    cv::Mat in;
    cv::resize(padded, in, cv::Size(dw, dh), 0, 0, cv::INTER_LINEAR);
    auto blob = to_blob(in, dw, {0.485, 0.456, 0.406}, {0.229, 0.224, 0.225});
    const std::array<int64_t, 4> shape{1, 3, dh, dw};
    Ort::Value t = Ort::Value::CreateTensor<float>(mem_, blob.data(), blob.size(), shape.data(), 4);
    const char* in_names[] = {det_.input.c_str()};
    const char* out_names[] = {det_.output.c_str()};
    auto out = det_.session.Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
    const auto oshape = out[0].GetTensorTypeAndShapeInfo().GetShape();
    if (oshape.size() != 4 || oshape[2] != dh || oshape[3] != dw)
      return Result<std::vector<cv::Mat>>::Error("paddle: det output is not a [1,1,H,W] map");
    const cv::Mat prob(dh, dw, CV_32F, const_cast<float*>(out[0].GetTensorData<float>()));
    const auto boxes = db_postprocess(prob, DbParams{}, static_cast<float>(padded.cols) / dw,
                                      static_cast<float>(padded.rows) / dh, padded.size());
    std::vector<cv::Mat> lines;
    int tallest = 0;
    for (const auto& b : boxes) {
      const auto& c = b.corners;
      const float w = std::max(cv::norm(c[0] - c[1]), cv::norm(c[3] - c[2]));
      const float h = std::max(cv::norm(c[0] - c[3]), cv::norm(c[1] - c[2]));
      if (w < 2 || h < 2) continue;
      const std::array<cv::Point2f, 4> dst{cv::Point2f(0, 0), cv::Point2f(w, 0), cv::Point2f(w, h),
                                           cv::Point2f(0, h)};
      cv::Mat line;
      cv::warpPerspective(
          padded, line, cv::getPerspectiveTransform(c.data(), dst.data()),
          cv::Size(static_cast<int>(std::lround(w)), static_cast<int>(std::lround(h))),
          cv::INTER_CUBIC, cv::BORDER_REPLICATE);
      if (line.rows >= 1.5 * line.cols) cv::rotate(line, line, cv::ROTATE_90_COUNTERCLOCKWISE);
      tallest = std::max(tallest, line.rows);
      lines.push_back(line);
    }
    std::vector<cv::Mat> kept;
    for (auto& l : lines)
      if (10 * l.rows >= 7 * tallest) kept.push_back(l);
    return kept;
  }

  // cls: 180 degrees with confidence > 0.9 (PaddleOCR's cls_thresh).
  bool upside_down(const cv::Mat& line) {
    constexpr int kH = 48, kW = 192;
    const int w =
        std::min(kW, static_cast<int>(std::ceil(kH * static_cast<double>(line.cols) / line.rows)));
    cv::Mat in;
    cv::resize(line, in, cv::Size(std::max(1, w), kH));
    auto blob = to_blob(in, kW, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5});
    const std::array<int64_t, 4> shape{1, 3, kH, kW};
    Ort::Value t = Ort::Value::CreateTensor<float>(mem_, blob.data(), blob.size(), shape.data(), 4);
    const char* in_names[] = {cls_.input.c_str()};
    const char* out_names[] = {cls_.output.c_str()};
    auto out = cls_.session.Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
    if (out[0].GetTensorTypeAndShapeInfo().GetElementCount() != 2) return false;
    const float* p = out[0].GetTensorData<float>();
    return p[1] > p[0] && p[1] > 0.9f;
  }

  Result<OcrResult> recognise(const cv::Mat& line) {
    const double ratio = static_cast<double>(line.cols) / line.rows;
    // Lines wider than 40:1 are squeezed: rec cost grows with the width.
    const int w = std::clamp(static_cast<int>(std::ceil(kRecHeight * ratio)), 1, 40 * kRecHeight);
    const int width = std::max(320, w);
    cv::Mat in;
    cv::resize(line, in, cv::Size(w, kRecHeight), 0, 0, cv::INTER_LINEAR);
    auto blob = to_blob(in, width, {0.5, 0.5, 0.5}, {0.5, 0.5, 0.5});
    const std::array<int64_t, 4> shape{1, 3, kRecHeight, width};
    Ort::Value t = Ort::Value::CreateTensor<float>(mem_, blob.data(), blob.size(), shape.data(), 4);
    const char* in_names[] = {rec_.input.c_str()};
    const char* out_names[] = {rec_.output.c_str()};
    auto out = rec_.session.Run(Ort::RunOptions{nullptr}, in_names, &t, 1, out_names, 1);
    const auto oshape = out[0].GetTensorTypeAndShapeInfo().GetShape();
    if (oshape.size() != 3 || oshape[2] != static_cast<int64_t>(charset_.size()))
      return Result<OcrResult>::Error(
          fmt::format("paddle: rec output has {} classes, the dictionary {}",
                      oshape.size() == 3 ? oshape[2] : -1, charset_.size()));
    const int steps = static_cast<int>(oshape[1]), classes = static_cast<int>(oshape[2]);
    // The exported rec ends in a softmax; decode_ctc softmaxes its scores, so it gets logs.
    std::vector<float> scores(out[0].GetTensorData<float>(),
                              out[0].GetTensorData<float>() + static_cast<size_t>(steps) * classes);
    for (float& v : scores) v = std::log(std::max(v, 1e-12f));
    return decode_ctc(scores.data(), steps, classes, charset_, 0);
  }

  OrtModel det_, rec_, cls_;
  std::vector<std::string> charset_;
  Ort::MemoryInfo mem_ = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
};

}  // namespace

Result<std::unique_ptr<PlateOcr>> create_paddle_ocr(const ResolvedModel& model, int threads) {
  using R = Result<std::unique_ptr<PlateOcr>>;
  // Manifest order: rec, dictionary, det, cls (cls optional for a hand-assembled model).
  if (model.paths.size() < 3)
    return R::Error("paddle: the model needs rec, dictionary and det files (manifest ppocr-v4)");
  std::ifstream f(model.paths[1]);
  if (!f) return R::Error("paddle: cannot read the dictionary " + model.paths[1].string());
  std::stringstream ss;
  ss << f.rdbuf();
  auto charset = paddle_charset(ss.str());
  try {
    OrtModel rec = load_model(model.paths[0], threads);
    OrtModel det = load_model(model.paths[2], threads);
    OrtModel cls;
    if (model.paths.size() > 3) cls = load_model(model.paths[3], threads);
    return std::unique_ptr<PlateOcr>(std::make_unique<PaddleOcr>(
        std::move(det), std::move(rec), std::move(cls), std::move(charset)));
  } catch (const Ort::Exception& e) {
    return R::Error(std::string("paddle: cannot load the PP-OCR models: ") + e.what());
  }
}

}  // namespace ev
