// How well a candidate face model keeps the faces a reference version of it finds: the judge of
// `quantize` (INT8 vs FP32) and `models update` (candidate vs serving version) for face models.
// A face detector exists to anonymize, so what counts is whether the same faces still end up
// masked (face coverage, src/anonymize/face_coverage.cpp, judged on pixels), not whether the
// raw outputs agree.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/models.hpp"
#include "edgevision/status.hpp"

namespace ev {

class FaceDetector;

// Face coverage says little with fewer labels than this (each face is several points); callers
// judge by raw outputs instead and say so.
constexpr int kMinFacesForCoverage = 10;

class FaceCoverageJudge {
 public:
  // `models` resolves fallback detectors while a model's detector family is probed; it must
  // outlive the judge. `log_prefix` and `reference` (what the labelling model is) name the
  // caller in the log line that counts the labels.
  FaceCoverageJudge(ModelManager& models, int threads, std::string log_prefix = "quantize",
                    std::string reference = "the FP32 model");
  ~FaceCoverageJudge();
  FaceCoverageJudge(const FaceCoverageJudge&) = delete;
  FaceCoverageJudge& operator=(const FaceCoverageJudge&) = delete;

  // The faces the reference `model` finds on the images become the labels (replacing earlier
  // ones). Returns how many. Unreadable files are skipped.
  Result<int> label(const std::filesystem::path& model, const std::vector<cv::Mat>& images);
  Result<int> label(const std::filesystem::path& model,
                    const std::vector<std::filesystem::path>& images);
  // Coverage (%) of the labelled faces by `model` through the anonymizer's default masking.
  // Error when nothing was labelled yet or there are no faces.
  Result<double> coverage(const std::filesystem::path& model);

  int faces() const { return faces_; }
  // The detector family (face_detector_names()) that reads the models; empty before label().
  const std::string& family() const { return family_; }

 private:
  Result<std::unique_ptr<FaceDetector>> make_detector(const std::filesystem::path& model);

  ModelManager& models_;
  int threads_;
  std::string log_prefix_;
  std::string reference_;
  std::string family_;
  std::filesystem::path dir_;
  int faces_ = 0;
};

}  // namespace ev
