// Face coverage evaluation: the fraction of labelled faces whose central region ends up
// anonymized, at several image scales, and how much else of the picture was masked.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/anonymize.hpp"
#include "edgevision/status.hpp"

namespace ev {

struct LabelledFace {
  std::string image;  // relative to the data folder
  cv::Rect box;
};

// CSV with header "image,x,y,w,h" (pixels).
Result<std::vector<LabelledFace>> load_face_labels(const std::filesystem::path& csv);

struct CoverageOptions {
  std::vector<double> scales{1.0, 0.5, 1.0 / 3.0};
  float central_fraction = 0.5f;    // the central w/2 x h/2 of a labelled face must be masked
  float covered_threshold = 0.95f;  // fraction of that central region that must be masked
  float face_zone_padding = 0.5f;   // labelled face + this margin counts as "face", not "else"
};

struct ScaleCoverage {
  double scale = 1.0;
  int faces = 0;
  int covered = 0;
  int masks = 0;
  int masks_off_labels = 0;            // masks touching no labelled face (FP or unlabelled face)
  double masked_outside_fraction = 0;  // masked pixels outside face zones / all pixels
  double ms_per_image = 0;
  std::vector<std::string> missed;  // "image#k (w x h)"
  double coverage() const { return faces > 0 ? static_cast<double>(covered) / faces : 0.0; }
};

struct CoverageReport {
  std::string detector;
  std::vector<ScaleCoverage> scales;
  int faces = 0;
  int covered = 0;
  double coverage() const { return faces > 0 ? static_cast<double>(covered) / faces : 0.0; }
};

// `data_dir` holds labels.csv and the images it names.
Result<CoverageReport> evaluate_face_coverage(const std::filesystem::path& data_dir,
                                              Anonymizer& anonymizer,
                                              const CoverageOptions& options = {});

}  // namespace ev
