// Detector accuracy on a YOLO-format data set: COCO-style mAP@0.5 and mAP@0.5:0.95
// (IoU .50:.05:.95, 101-point interpolated precision, greedy matching by score per class,
// at most 100 detections per image, classes without ground truth left out of the mean).
#pragma once

#include <array>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/detect.hpp"
#include "edgevision/status.hpp"

namespace ev {

// Ultralytics data.yaml: path (root; relative to the yaml's folder), val (folder of images or
// a .txt list, relative to path), names (list or {id: name} map), optional nc.
struct DatasetSpec {
  std::filesystem::path root;
  std::filesystem::path val;  // as resolved: a folder or a .txt list
  std::vector<std::string> names;
};
Result<DatasetSpec> parse_data_yaml(const std::filesystem::path& yaml_file);
Result<DatasetSpec> parse_data_yaml_text(const std::string& text,
                                         const std::filesystem::path& yaml_dir);

struct LabelledImage {
  std::filesystem::path image;
  std::filesystem::path label;  // may not exist: no objects
};
// Images of the val split, sorted, with their label paths (…/images/… -> …/labels/….txt).
Result<std::vector<LabelledImage>> list_val_images(const DatasetSpec& data);

struct GroundTruth {
  cv::Rect2f box;  // pixels
  int class_id = 0;
};
// Reads `class cx cy w h` (normalized) lines; a missing file means no objects.
Result<std::vector<GroundTruth>> read_yolo_labels(const std::filesystem::path& label_file,
                                                  cv::Size image_size, int num_classes);

struct MapResult {
  double map50 = 0;
  double map50_95 = 0;
  std::vector<double> ap50;     // per class; -1 where the class has no ground truth
  std::vector<double> ap50_95;  // per class; -1 where the class has no ground truth
  std::vector<int> gt_count;    // per class
  int images = 0;
  int classes_evaluated = 0;
};

// Accumulates images, then computes the COCO metrics.
class MapEvaluator {
 public:
  explicit MapEvaluator(int num_classes, int max_dets = 100);
  void add_image(const std::vector<GroundTruth>& gts, const std::vector<Detection>& dets);
  MapResult compute() const;

 private:
  struct Scored {
    float score;
    int image;
    std::array<bool, 10> tp;  // matched at each IoU threshold
  };
  int num_classes_;
  int max_dets_;
  int images_ = 0;
  std::vector<std::vector<Scored>> per_class_;
  std::vector<int> gt_count_;
};

// The 10 IoU thresholds .50:.05:.95.
const std::array<double, 10>& coco_iou_thresholds();

struct ValidateOptions {
  std::string model;
  std::filesystem::path data;  // data.yaml
  float conf = 0.001f;
  float nms = 0.f;  // 0: model default
  int threads = 0;
  std::string backend;   // empty: manifest
  int max_images = 0;    // 0: all
  bool progress = true;  // bar on a terminal
  bool rect = true;      // DetectorParams::rect (false: the full square letterbox)
};

struct ValidationReport {
  std::string model;
  std::string decoder;
  std::string backend;
  MapResult metrics;
  std::vector<std::string> names;  // data set class names
  int skipped_images = 0;          // unreadable images / label files
  double seconds = 0;
};

Result<ValidationReport> validate_detector(const ValidateOptions& options, ModelManager& models);

// {"model","map50","map50_95","per_class":{name: ap50_95},"images"} and, with `compare`,
// "compare":{"model","map50","map50_95"} plus the differences in points (compare - model).
std::string validation_json(const ValidationReport& report, const ValidationReport* compare);
// Human-readable table.
std::string validation_text(const ValidationReport& report, const ValidationReport* compare);

}  // namespace ev
