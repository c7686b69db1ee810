// Object detection (YOLO family): one detector stage for the common output layouts (YOLOX,
// YOLOv5, YOLOv8/11, end-to-end NMS-free YOLO26, Darknet YOLO through OpenCV DNN). The decoder
// comes from the manifest entry, or is recognised from the output shape (docs/detection.md).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/backend.hpp"
#include "edgevision/models.hpp"
#include "edgevision/status.hpp"

namespace ev {

struct Detection {
  cv::Rect2f box;  // frame pixels, top-left + size
  float score = 0.f;
  int class_id = -1;
  std::string label;
};

struct DetectorParams {
  std::string model = "yolox-nano";  // manifest name or a file path
  float conf = 0.f;                  // 0: manifest value, else 0.25
  float nms = 0.f;                   // IoU threshold; 0: manifest value, else 0.45
  std::vector<std::string> classes;  // keep only these labels; empty keeps all
  cv::Rect roi;                      // empty: whole frame; else only this region is inferred
  int threads = 0;                   // 0: backend default
  std::string backend;               // empty: manifest value, else "auto"
  std::string decoder;               // empty: manifest value, else recognised from the outputs
  int max_detections = 300;          // per frame, after NMS
  std::string device = "cpu";        // execution provider (BackendOptions::device)
  // Empty: the manifest's or the model's own input size. Else the network runs at this size
  // (ONNX Runtime only: the model's fixed H/W are freed at load, BackendOptions::
  // free_image_size); both sides must be multiples of 32 for the grid decoders.
  cv::Size input_size;
  // Rect inference (Ultralytics' `rect`): the letterboxed frame is padded only to the next
  // multiple of 32 instead of the full square, so a 16:9 frame at 416 runs at 416x256, 62% of
  // the square's pixels, with the same scale and the same boxes up to border effects. ONNX
  // Runtime with a letterbox pre-processing and a square size known before loading (manifest
  // or input_size); otherwise, or if the model refuses the size, the square (announced once).
  bool rect = true;
};

// Time spent in the last detect() call, milliseconds.
struct DetectTimings {
  double preprocess_ms = 0;
  double inference_ms = 0;
  double postprocess_ms = 0;  // decode + NMS + mapping
  double total() const { return preprocess_ms + inference_ms + postprocess_ms; }
};

namespace detect_internal {
class Decoder;
}

class ObjectDetector {
 public:
  // Resolves params.model through the manager (manifest name, or a path to .onnx / .weights /
  // .cfg; Darknet companions are found next to the file).
  static Result<std::unique_ptr<ObjectDetector>> create(const DetectorParams& params,
                                                        ModelManager& models);
  // From already-resolved files. `spec` may be null (bare files: everything is inferred).
  static Result<std::unique_ptr<ObjectDetector>> create(
      const DetectorParams& params, const std::vector<std::filesystem::path>& files,
      const ModelSpec* spec);
  ~ObjectDetector();

  // Detections in full-frame coordinates, best first. `bgr` is 8-bit BGR.
  Status detect(const cv::Mat& bgr, std::vector<Detection>& out);
  Result<std::vector<Detection>> detect(const cv::Mat& bgr);

  void set_roi(const cv::Rect& roi) { params_.roi = roi; }
  void set_conf(float conf) { params_.conf = conf; }
  const DetectorParams& params() const { return params_; }  // with defaults filled in
  const std::vector<std::string>& labels() const { return labels_; }
  const std::string& decoder_name() const { return decoder_name_; }
  std::string backend_name() const;
  cv::Size input_size() const { return {net_w_, net_h_}; }
  // The network size a frame (or ROI) of `frame` pixels runs at: input_size(), or with rect
  // inference its letterbox padded to multiples of 32.
  cv::Size input_size_for(cv::Size frame) const;
  const Preprocess& preprocess() const { return pre_; }
  const DetectTimings& last_timings() const { return timings_; }

 private:
  ObjectDetector() = default;

  DetectorParams params_;
  Preprocess pre_;
  std::string decoder_name_;
  std::unique_ptr<detect_internal::Decoder> decoder_;
  std::unique_ptr<InferenceBackend> backend_;
  std::vector<std::string> labels_;
  std::vector<uint8_t> allowed_;  // per class id; empty = all allowed
  int net_w_ = 0, net_h_ = 0;
  bool rect_ = false;  // rect inference on (DetectorParams::rect and the model allows it)
  std::vector<float> input_;
  std::vector<Tensor> outputs_;
  DetectTimings timings_;
};

// The 80 COCO class names (order of coco.names / Ultralytics); default for 80-class models.
const std::vector<std::string>& coco80_labels();

// Names of the registered decoders ("yolox", "yolov5", "yolov8", "yolo_e2e", "darknet").
std::vector<std::string> detection_decoders();

// Recognises the decoder from output shapes and the network input size; an error explains
// why the shape is ambiguous or unknown. See docs/detection.md for the rules.
Result<std::string> recognise_decoder(const std::vector<TensorInfo>& outputs, int net_w, int net_h);

// Draws boxes with "label score" captions (annotated output of `edgevision detect`).
void draw_detections(cv::Mat& bgr, const std::vector<Detection>& detections);

}  // namespace ev
