#include "edgevision/face_agreement.hpp"

#include <unistd.h>

#include <atomic>
#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/face.hpp"
#include "edgevision/face_coverage.hpp"

namespace ev {
namespace fs = std::filesystem;

FaceCoverageJudge::FaceCoverageJudge(ModelManager& models, int threads, std::string log_prefix,
                                     std::string reference)
    : models_(models),
      threads_(threads),
      log_prefix_(std::move(log_prefix)),
      reference_(std::move(reference)) {}

FaceCoverageJudge::~FaceCoverageJudge() {
  std::error_code ec;
  if (!dir_.empty()) fs::remove_all(dir_, ec);
}

// The detector family whose decoder reads this model: the first that loads it as it is (a
// fallback to another family's own model does not count).
Result<std::unique_ptr<FaceDetector>> FaceCoverageJudge::make_detector(const fs::path& model) {
  std::string errors;
  for (const auto& name : family_.empty() ? face_detector_names() : std::vector{family_}) {
    if (name == "haar") continue;
    FaceDetectorOptions fo;
    fo.detector = name;
    fo.model = model.string();
    fo.threads = threads_;
    std::string note;
    auto det = create_face_detector(fo, models_, &note);
    if (det && note.empty()) {
      family_ = name;
      return det;
    }
    errors += fmt::format(" {}: {};", name, det ? note : det.error());
  }
  return Status::Error("no face detector reads " + model.string() + ":" + errors);
}

Result<int> FaceCoverageJudge::label(const fs::path& model, const std::vector<fs::path>& images) {
  std::vector<cv::Mat> read;
  for (const auto& path : images) read.push_back(cv::imread(path.string(), cv::IMREAD_COLOR));
  return label(model, read);
}

Result<int> FaceCoverageJudge::label(const fs::path& model, const std::vector<cv::Mat>& images) {
  faces_ = 0;
  family_.clear();
  auto det = make_detector(model);
  if (!det) return det.status();
  std::error_code ec;
  if (dir_.empty()) {
    // Two judges in one process (a test, a service updating two models) need their own folders.
    static std::atomic<int> serial{0};
    dir_ = fs::temp_directory_path() /
           fmt::format("edgevision-face-truth-{}-{}", ::getpid(), serial++);
  }
  fs::remove_all(dir_, ec);
  fs::create_directories(dir_, ec);
  if (ec) return Status::Error("cannot create " + dir_.string() + ": " + ec.message());
  std::ofstream csv(dir_ / "labels.csv");
  csv << "image,x,y,w,h\n";
  int faces = 0;
  int used = 0;
  for (size_t i = 0; i < images.size(); ++i) {
    const cv::Mat& img = images[i];
    if (img.empty()) continue;
    const std::string name = fmt::format("{:03}.png", i);
    if (!cv::imwrite((dir_ / name).string(), img))
      return Status::Error("cannot write " + (dir_ / name).string());
    auto found = (*det)->detect(img);
    if (!found) return found.status();
    ++used;
    for (const auto& f : *found) {
      const cv::Rect b = cv::Rect(f.box) & cv::Rect(0, 0, img.cols, img.rows);
      if (b.area() <= 0) continue;
      csv << name << ',' << b.x << ',' << b.y << ',' << b.width << ',' << b.height << '\n';
      ++faces;
    }
  }
  csv.close();
  if (!csv) return Status::Error("cannot write " + (dir_ / "labels.csv").string());
  faces_ = faces;
  spdlog::info("{}: {} faces found by {} on {} images are the labels", log_prefix_, faces,
               reference_, used);
  return faces;
}

Result<double> FaceCoverageJudge::coverage(const fs::path& model) {
  if (dir_.empty()) return Status::Error("no face labels yet: label() with the reference model");
  if (faces_ == 0) return Status::Error("no face labels to judge face coverage by");
  auto det = make_detector(model);
  if (!det) return det.status();
  AnonymizerOptions ao;
  // Only the face model is judged: the head fallback would mask heads whatever it finds.
  ao.head_fallback.enabled = false;
  auto anonymizer = Anonymizer::create_with_detector(ao, std::move(*det));
  CoverageOptions co;
  co.scales = {1.0};
  auto rep = evaluate_face_coverage(dir_, *anonymizer, co);
  if (!rep) return rep.status();
  return rep->coverage() * 100.0;
}

}  // namespace ev
