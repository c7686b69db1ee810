// `models update` compares the candidate with the serving model on images before it switches:
// a model that loads and runs but computes something else is refused.
#include <unistd.h>

#include <algorithm>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "edgevision/detect.hpp"
#include "edgevision/face_agreement.hpp"
#include "edgevision/ota.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/quantize.hpp"

namespace ev::ota {
namespace fs = std::filesystem;

std::vector<cv::Mat> builtin_check_images() {
  std::vector<cv::Mat> out;
  cv::RNG rng(20261130);
  for (int i = 0; i < 6; ++i) {
    cv::Mat img(480, 640, CV_8UC3);
    // Smooth background gradient, then shapes with hard edges, a textured patch and text:
    // enough structure that every layer of a vision model sees a spread of activations.
    for (int y = 0; y < img.rows; ++y)
      img.row(y).setTo(cv::Scalar(40 + y * 150 / img.rows, 90 + 20 * i, 200 - y * 120 / img.rows));
    for (int k = 0; k < 12; ++k) {
      const cv::Scalar colour(rng.uniform(0, 256), rng.uniform(0, 256), rng.uniform(0, 256));
      const cv::Point c(rng.uniform(0, img.cols), rng.uniform(0, img.rows));
      if (k % 3 == 0)
        cv::circle(img, c, rng.uniform(10, 90), colour, cv::FILLED, cv::LINE_AA);
      else if (k % 3 == 1)
        cv::rectangle(img, c, c + cv::Point(rng.uniform(20, 160), rng.uniform(20, 200)), colour,
                      cv::FILLED);
      else
        cv::line(img, c, {rng.uniform(0, img.cols), rng.uniform(0, img.rows)}, colour,
                 rng.uniform(2, 9), cv::LINE_AA);
    }
    cv::Mat noise(120, 160, CV_8UC3);
    rng.fill(noise, cv::RNG::UNIFORM, 0, 256);
    noise.copyTo(img(cv::Rect(rng.uniform(0, 480), rng.uniform(0, 360), 160, 120)));
    cv::putText(img, fmt::format("edgevision {}", i), {30, 440}, cv::FONT_HERSHEY_SIMPLEX, 1.5,
                cv::Scalar(255, 255, 255), 3);
    out.push_back(img);
  }
  return out;
}

namespace {

Result<std::vector<cv::Mat>> check_images(const AgreementOptions& o, std::string& label) {
  if (o.images.empty()) {
    label = "built-in synthetic set";
    return builtin_check_images();
  }
  auto files = list_calibration_images(o.images, o.max_images);
  if (!files) return files.status();
  std::vector<cv::Mat> out;
  for (const auto& f : *files) {
    cv::Mat img = cv::imread(f.string(), cv::IMREAD_COLOR);
    if (!img.empty()) out.push_back(std::move(img));
  }
  if (out.empty()) return Status::Error("no readable image in " + o.images.string());
  label = o.images.string();
  return out;
}

float iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  const float inter = (a & b).area();
  const float uni = a.area() + b.area() - inter;
  return uni > 0 ? inter / uni : 0.f;
}

// Greedy matching, best candidate score first, same class, IoU >= 0.5.
int match(const std::vector<Detection>& ref, std::vector<Detection> cand) {
  std::sort(cand.begin(), cand.end(),
            [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<bool> used(ref.size(), false);
  int matched = 0;
  for (const auto& c : cand) {
    int best = -1;
    float best_iou = 0.5f;
    for (size_t i = 0; i < ref.size(); ++i) {
      if (used[i] || ref[i].class_id != c.class_id) continue;
      const float v = iou(ref[i].box, c.box);
      if (v >= best_iou) best = static_cast<int>(i), best_iou = v;
    }
    if (best >= 0) used[best] = true, ++matched;
  }
  return matched;
}

// Face models: the candidate's face coverage of the faces the serving model finds (the judge of
// `quantize`). False: not judged this way (no detector family reads the serving model, or too
// few faces on the images); the caller compares raw outputs.
Result<bool> compare_faces(const fs::path& serving, const fs::path& candidate,
                           const std::vector<cv::Mat>& images, const AgreementOptions& options,
                           AgreementReport& rep) {
  ModelManagerOptions mo;
  mo.allow_download = false;
  ModelManager models(mo);
  FaceCoverageJudge judge(models, 1, "models update", "the serving model");
  auto faces = judge.label(serving, images);
  if (!faces) {
    spdlog::info(
        "models update: the serving face model cannot be judged by face coverage ({}); "
        "comparing raw outputs instead",
        faces.error());
    return false;
  }
  rep.serving_faces = *faces;
  if (*faces < kMinFacesForCoverage) {
    spdlog::warn(
        "models update: the serving model finds {} faces on the {} ({} needed to judge by face "
        "coverage); comparing raw outputs instead; pass --check-images with photos of people",
        *faces, rep.image_set, kMinFacesForCoverage);
    return false;
  }
  auto own = judge.coverage(serving);
  if (!own) return Status::Error("serving model: " + own.error());
  auto cand = judge.coverage(candidate);
  if (!cand) return Status::Error("candidate: " + cand.error());
  rep.method = "faces";
  rep.serving_coverage = *own;
  rep.candidate_coverage = *cand;
  rep.agree = *cand >= *own - options.max_face_drop;
  rep.summary = fmt::format(
      "face coverage on {} images ({}) of the {} faces the serving model finds: serving {:.1f}%, "
      "candidate {:.1f}% (need >= {:.1f}%, at most {:.1f} points below)",
      rep.images, rep.image_set, *faces, *own, *cand, *own - options.max_face_drop,
      options.max_face_drop);
  return true;
}

}  // namespace

Result<AgreementReport> compare_versions(const ModelSpec& serving,
                                         const std::vector<fs::path>& serving_paths,
                                         const ModelSpec& candidate,
                                         const std::vector<fs::path>& candidate_paths,
                                         const AgreementOptions& options) {
  using R = Result<AgreementReport>;
  AgreementReport rep;
  auto images = check_images(options, rep.image_set);
  if (!images) return images.status();
  rep.images = static_cast<int>(images->size());
  // A serving version that cannot be run cannot be a reference (and an update may be what
  // fixes it): the check is skipped, said in the summary; the candidate's own errors refuse it.
  auto skipped = [&](const std::string& why) {
    rep.method = "skipped";
    rep.agree = true;
    rep.summary = "the serving version could not be run for the comparison (" + why +
                  "); the candidate was not compared";
    spdlog::warn("models update: {}", rep.summary);
    return rep;
  };
  const bool detector = serving.task == "detect" && candidate.task == "detect";
  if (detector) {
    DetectorParams dp;
    dp.threads = 1;
    auto a = ObjectDetector::create(dp, serving_paths, &serving);
    if (!a) return skipped(a.error());
    auto b = ObjectDetector::create(dp, candidate_paths, &candidate);
    if (!b) return R::Error("candidate: " + b.error());
    for (const auto& img : *images) {
      auto da = (*a)->detect(img);
      if (!da) return skipped(da.error());
      auto db = (*b)->detect(img);
      if (!db) return R::Error("candidate: " + db.error());
      rep.serving_detections += static_cast<int>(da->size());
      rep.candidate_detections += static_cast<int>(db->size());
      rep.matched += match(*da, *db);
    }
    if (rep.serving_detections >= options.min_reference_detections) {
      rep.method = "detections";
      rep.f1 = 2.0 * rep.matched / (rep.serving_detections + rep.candidate_detections);
      rep.agree = rep.f1 >= options.min_f1;
      rep.summary = fmt::format(
          "detections on {} images ({}): serving {}, candidate {}, matched {} (class, IoU >= "
          "0.5): F1 {:.2f} (need >= {:.2f})",
          rep.images, rep.image_set, rep.serving_detections, rep.candidate_detections, rep.matched,
          rep.f1, options.min_f1);
      return rep;
    }
    spdlog::info(
        "models update: the serving model finds {} objects on the {} ({} needed to judge by "
        "detections); comparing raw outputs instead",
        rep.serving_detections, rep.image_set, options.min_reference_detections);
  }
  if (serving.task == "face" && candidate.task == "face" && !serving_paths.empty() &&
      !candidate_paths.empty()) {
    auto judged = compare_faces(serving_paths[0], candidate_paths[0], *images, options, rep);
    if (!judged) return judged.status();
    if (*judged) return rep;
  }
  // Raw outputs on the same pre-processed tensors.
  if (serving_paths.empty() || candidate_paths.empty() || serving_paths[0].extension() != ".onnx" ||
      candidate_paths[0].extension() != ".onnx")
    return R::Error("the output comparison needs ONNX models");
  const fs::path dir = fs::temp_directory_path() / fmt::format("edgevision-check-{}", ::getpid());
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::vector<fs::path> files;
  for (size_t i = 0; i < images->size(); ++i) {
    files.push_back(dir / fmt::format("{:03}.png", i));
    cv::imwrite(files.back().string(), (*images)[i]);
  }
  auto ref = reference_run(serving_paths[0], files, serving.preprocess, 1);
  if (!ref) {
    fs::remove_all(dir, ec);
    return skipped(ref.error());
  }
  Result<double> q = candidate_sqnr_db(candidate_paths[0], *ref, 1);
  fs::remove_all(dir, ec);
  if (!q) return q.status();
  rep.method = "outputs";
  rep.sqnr_db = *q;
  rep.agree = rep.sqnr_db >= options.min_sqnr_db;
  rep.summary =
      fmt::format("raw outputs on {} images ({}): SQNR {:.1f} dB vs serving (need >= {:.1f})",
                  rep.images, rep.image_set, rep.sqnr_db, options.min_sqnr_db);
  return rep;
}

}  // namespace ev::ota
