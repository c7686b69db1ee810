// Face coverage evaluation: the fraction of labelled faces whose central region ends up
// anonymized, at several image scales, and how much else of the picture was masked.
#pragma once

#include <filesystem>
#include <map>
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

// The metric of ../shared/data/faces_wider/README.md, judged on pixels (output vs input), so
// that a mask that changes nothing (black box on a black face) does not count as covering.
struct CoverageOptions {
  std::vector<double> scales{1.0, 0.5, 1.0 / 3.0};
  float central_fraction = 0.8f;   // the central 80% (each side) of a labelled box is judged
  float covered_threshold = 0.7f;  // fraction of those central pixels that must have changed
  int changed_level = 6;           // a pixel changed when a channel differs by more than this
  float face_zone_padding = 0.5f;  // labelled box grown to 2x (centred) counts as "face" zone
  int collateral_level = 40;       // collateral: pixels outside face zones changed by more
  // Optional `image,x,y,w,h,tag` file (faces_wider/tags.csv): coverage per tag.
  std::filesystem::path tags_csv;
  // Optional folder: each anonymized output is written there with the labelled boxes outlined
  // (green covered, red missed), to see where masks landed. Only anonymized images are written.
  std::filesystem::path save_dir;
};

// One image at one scale: where its collateral comes from.
struct ImageCoverage {
  std::string image;
  int faces = 0;
  int covered = 0;
  double collateral = 0;        // share of this image's non-face-zone pixels changed
  std::vector<cv::Rect> masks;  // as applied
};

// Coverage of the faces that carry one tag (e.g. "size:08-15"), at one scale.
struct TagCoverage {
  std::string tag;
  int faces = 0;
  int covered = 0;
  double coverage() const { return faces > 0 ? static_cast<double>(covered) / faces : 0.0; }
};

struct ScaleCoverage {
  double scale = 1.0;
  int faces = 0;
  int covered = 0;
  int masks = 0;
  int masks_off_labels = 0;            // masks touching no labelled face (FP or unlabelled face)
  double masked_outside_fraction = 0;  // masked pixels outside face zones / all pixels
  double collateral = 0;  // mean over images: share of non-face-zone pixels changed (README)
  std::vector<TagCoverage> tags;  // sorted by tag; empty without CoverageOptions::tags_csv
  double ms_per_image = 0;
  std::vector<std::string> missed;  // "image#k (w x h)"
  std::vector<ImageCoverage> images;
  double coverage() const { return faces > 0 ? static_cast<double>(covered) / faces : 0.0; }
};

struct CoverageReport {
  std::string detector;
  std::vector<ScaleCoverage> scales;
  int faces = 0;
  int covered = 0;
  double coverage() const { return faces > 0 ? static_cast<double>(covered) / faces : 0.0; }
};

// `image,x,y,w,h,tag` rows -> tags of each labelled face, keyed by "image,x,y,w,h".
Result<std::map<std::string, std::vector<std::string>>> load_face_tags(
    const std::filesystem::path& csv);

// `data_dir` holds labels.csv and the images it names.
Result<CoverageReport> evaluate_face_coverage(const std::filesystem::path& data_dir,
                                              Anonymizer& anonymizer,
                                              const CoverageOptions& options = {});

}  // namespace ev
