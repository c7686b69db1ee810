// Plate localisation: the YOLOv5 plate model with 4 corner points (manifest "plate-yolov5"),
// or Debian opencv-data's Haar plate cascade as the always-available fallback.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include <spdlog/spdlog.h>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "edgevision/alpr.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"

namespace ev {

std::vector<PlateDetection> decode_yolov5_plates(const float* rows, int n, int stride, float conf,
                                                 float nms, float ratio, cv::Point2f pad) {
  std::vector<cv::Rect2f> boxes;
  std::vector<float> scores;
  std::vector<int> classes;
  std::vector<PlateDetection> cand;
  for (int i = 0; i < n; ++i) {
    const float* r = rows + static_cast<size_t>(i) * stride;
    const float obj = r[4];
    if (obj <= conf) continue;
    const float c0 = r[13] * obj, c1 = stride > 14 ? r[14] * obj : 0.f;
    const float score = std::max(c0, c1);
    if (score <= conf) continue;
    PlateDetection d;
    auto back = [&](float x, float y) {
      return cv::Point2f((x - pad.x) / ratio, (y - pad.y) / ratio);
    };
    const cv::Point2f tl = back(r[0] - r[2] / 2, r[1] - r[3] / 2);
    const cv::Point2f br = back(r[0] + r[2] / 2, r[1] + r[3] / 2);
    d.box = cv::Rect2f(tl, br);
    for (int k = 0; k < 4; ++k) d.corners[k] = back(r[5 + 2 * k], r[6 + 2 * k]);
    d.has_corners = true;
    d.score = score;
    d.rows = c1 > c0 ? 2 : 1;
    cand.push_back(d);
    boxes.push_back(d.box);
    scores.push_back(score);
    classes.push_back(0);  // one plate, one box, whatever its row count
  }
  std::vector<PlateDetection> out;
  for (int k : nms_boxes(boxes, scores, classes, conf, nms)) out.push_back(cand[k]);
  return out;
}

cv::Mat rectify_plate(const cv::Mat& bgr, const PlateDetection& plate, cv::Size size,
                      float margin) {
  CropVariant v;
  v.margin_x = v.margin_y = margin;
  return rectify_plate(bgr, plate, size, v);
}

cv::Mat rectify_plate(const cv::Mat& bgr, const PlateDetection& plate, cv::Size size,
                      const CropVariant& variant) {
  cv::Mat warped;
  const cv::Rect img(0, 0, bgr.cols, bgr.rows);
  bool corners_ok = plate.has_corners && variant.corners;
  if (corners_ok) {
    // Corners must form a plausible quad near the box; otherwise use the box.
    const double area = std::abs(
        cv::contourArea(std::vector<cv::Point2f>(plate.corners.begin(), plate.corners.end())));
    corners_ok = area > 0.3 * plate.box.area() && cv::isContourConvex(std::vector<cv::Point2f>(
                                                      plate.corners.begin(), plate.corners.end()));
  }
  if (corners_ok) {
    const float w = static_cast<float>(std::max(cv::norm(plate.corners[1] - plate.corners[0]),
                                                cv::norm(plate.corners[2] - plate.corners[3])));
    const float h = static_cast<float>(std::max(cv::norm(plate.corners[3] - plate.corners[0]),
                                                cv::norm(plate.corners[2] - plate.corners[1])));
    const float mx = w * variant.margin_x, my = h * variant.margin_y;
    const cv::Point2f dst[4] = {{mx, my}, {w + mx, my}, {w + mx, h + my}, {mx, h + my}};
    const cv::Mat m = cv::getPerspectiveTransform(plate.corners.data(), dst);
    cv::warpPerspective(
        bgr, warped, m,
        cv::Size(std::max(1, cvRound(w + 2 * mx)), std::max(1, cvRound(h + 2 * my))),
        cv::INTER_LINEAR, cv::BORDER_REPLICATE);
  } else {
    const float mx = plate.box.width * variant.margin_x, my = plate.box.height * variant.margin_y;
    const cv::Rect r = cv::Rect(cv::Rect2f(plate.box.x - mx, plate.box.y - my,
                                           plate.box.width + 2 * mx, plate.box.height + 2 * my)) &
                       img;
    if (r.empty()) return {};
    warped = bgr(r).clone();
  }
  if (warped.empty()) return {};
  if (plate.rows == 2 && variant.split_rows) {
    // Two-line plate: top 5/12 and bottom 2/3 side by side (the plate model author's recipe).
    const int h = warped.rows, w = warped.cols;
    cv::Mat top = warped(cv::Rect(0, 0, w, std::max(1, h * 5 / 12)));
    cv::Mat bottom = warped(cv::Rect(0, h / 3, w, h - h / 3));
    cv::Mat top_r;
    cv::resize(top, top_r, bottom.size());
    cv::hconcat(top_r, bottom, warped);
  }
  cv::Mat out;
  cv::resize(warped, out, size, 0, 0, cv::INTER_LINEAR);
  return out;
}

std::vector<CropVariant> crop_variants(float margin, int n) {
  std::vector<CropVariant> out;
  CropVariant tight;
  tight.margin_x = tight.margin_y = margin;
  out.push_back(tight);
  CropVariant wide;
  wide.margin_x = 0.10f;
  wide.margin_y = 0.20f;
  if (n >= 2) out.push_back(wide);
  wide.corners = false;
  if (n >= 3) out.push_back(wide);
  return out;
}

namespace {

class YoloPlateDetector final : public PlateDetector {
 public:
  YoloPlateDetector(std::unique_ptr<InferenceBackend> backend, PlateDetectorParams params)
      : backend_(std::move(backend)), params_(std::move(params)) {
    const auto& shape = backend_->inputs().front().shape;
    if (shape.size() == 4 && shape[2] > 0 && shape[3] > 0) {
      net_h_ = static_cast<int>(shape[2]);
      net_w_ = static_cast<int>(shape[3]);
    }
    pre_.width = net_w_;
    pre_.height = net_h_;
    pre_.color = "rgb";
    pre_.layout = "nchw";
    pre_.resize = "letterbox_center";
    pre_.pad_value = 114.f;
    pre_.scale = 1.f / 255.f;
  }
  std::string name() const override { return "plate-yolov5"; }

  Status detect(const cv::Mat& bgr, const cv::Rect& roi,
                std::vector<PlateDetection>& out) override {
    out.clear();
    const cv::Rect r =
        roi.empty() ? cv::Rect(0, 0, bgr.cols, bgr.rows) : roi & cv::Rect(0, 0, bgr.cols, bgr.rows);
    if (r.width < 8 || r.height < 8) return Status::Ok();
    const InputTransform t = make_input_tensor(bgr(r), pre_, net_w_, net_h_, input_);
    TensorView view{input_.data(), {1, 3, net_h_, net_w_}};
    Status s = backend_->run({view}, outputs_);
    if (!s.ok()) return s;
    const Tensor& o = outputs_.front();
    if (o.shape.size() != 3 || o.shape[2] < 14)
      return Status::Error("plate detector: expected a [1,N,15] output");
    out = decode_yolov5_plates(o.data.data(), static_cast<int>(o.shape[1]),
                               static_cast<int>(o.shape[2]), params_.conf, params_.nms, t.scale_x,
                               {t.pad_x, t.pad_y});
    for (auto& d : out) {
      d.box.x += r.x;
      d.box.y += r.y;
      for (auto& c : d.corners) c += cv::Point2f(static_cast<float>(r.x), static_cast<float>(r.y));
      d.box &= cv::Rect2f(0, 0, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
    }
    return Status::Ok();
  }

 private:
  std::unique_ptr<InferenceBackend> backend_;
  PlateDetectorParams params_;
  Preprocess pre_;
  int net_w_ = 640, net_h_ = 640;
  std::vector<float> input_;
  std::vector<Tensor> outputs_;
};

class HaarPlateDetector final : public PlateDetector {
 public:
  HaarPlateDetector(cv::CascadeClassifier cascade, float min_width)
      : cascade_(std::move(cascade)), min_width_(min_width) {}
  std::string name() const override { return "haar-plate"; }
  Status detect(const cv::Mat& bgr, const cv::Rect& roi,
                std::vector<PlateDetection>& out) override {
    out.clear();
    const cv::Rect r =
        roi.empty() ? cv::Rect(0, 0, bgr.cols, bgr.rows) : roi & cv::Rect(0, 0, bgr.cols, bgr.rows);
    if (r.width < 24 || r.height < 12) return Status::Ok();
    cv::Mat gray;
    cv::cvtColor(bgr(r), gray, cv::COLOR_BGR2GRAY);
    std::vector<cv::Rect> found;
    std::vector<int> levels;
    std::vector<double> weights;
    try {
      const int w = std::max(24, static_cast<int>(min_width_ * r.width));
      cascade_.detectMultiScale(gray, found, levels, weights, 1.1, 3, 0,
                                cv::Size(w, std::max(8, w / 3)), cv::Size(), true);
    } catch (const cv::Exception& e) {
      return Status::Error(std::string("haar plate cascade: ") + e.what());
    }
    for (size_t i = 0; i < found.size(); ++i) {
      PlateDetection d;
      d.box = cv::Rect2f(found[i] + r.tl());
      d.score =
          static_cast<float>(std::clamp(weights.size() > i ? weights[i] / 5.0 : 0.5, 0.0, 1.0));
      out.push_back(d);
    }
    return Status::Ok();
  }

 private:
  cv::CascadeClassifier cascade_;
  float min_width_ = 0.f;
};

// The cascade ships with Debian's opencv-data: used in place (hash-checked) even when
// downloads are off, so the fallback never depends on network policy.
Result<ResolvedModel> resolve_cascade(ModelManager& models) {
  auto resolved = models.resolve("haar-plate");
  if (resolved) return resolved;
  const ModelSpec* spec = models.manifest().find("haar-plate");
  if (!spec || spec->files.empty()) return resolved;
  for (const auto& source : spec->files.front().sources) {
    if (source.rfind("file://", 0) != 0) continue;
    const std::filesystem::path path = source.substr(7);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    auto sha = sha256_file(path);
    if (!sha || *sha != spec->files.front().sha256) continue;
    ResolvedModel r;
    r.spec = spec;
    r.paths.push_back(path);
    return r;
  }
  return resolved;
}

Result<std::unique_ptr<PlateDetector>> create_haar(ModelManager& models, float min_width) {
  auto resolved = resolve_cascade(models);
  if (!resolved) return resolved.status();
  cv::CascadeClassifier c;
  if (!c.load(resolved->primary().string()))
    return Result<std::unique_ptr<PlateDetector>>::Error("cannot load plate cascade " +
                                                         resolved->primary().string());
  return std::unique_ptr<PlateDetector>(
      std::make_unique<HaarPlateDetector>(std::move(c), min_width));
}

}  // namespace

Result<std::unique_ptr<PlateDetector>> create_plate_detector(const PlateDetectorParams& params,
                                                             ModelManager& models) {
  if (params.model == "haar" || params.model == "haar-plate")
    return create_haar(models, params.haar_min_width);
  std::string why;
  auto resolved = models.resolve(params.model);
  if (resolved) {
    BackendOptions bo;
    bo.threads = params.threads;
    auto backend = create_backend("onnxruntime", resolved->primary(), bo);
    if (backend)
      return std::unique_ptr<PlateDetector>(
          std::make_unique<YoloPlateDetector>(std::move(*backend), params));
    why = backend.error();
  } else {
    why = resolved.error();
  }
  if (!params.fallback_to_haar) return Result<std::unique_ptr<PlateDetector>>::Error(why);
  spdlog::warn("alpr: plate model '{}' unavailable ({}); falling back to the Haar plate cascade",
               params.model, why);
  return create_haar(models, params.haar_min_width);
}

}  // namespace ev
