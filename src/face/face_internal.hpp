// Pieces shared by the face detectors (tiling, merging, decoders). Internal to src/face and
// its tests; the public API is include/edgevision/face.hpp.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "edgevision/backend.hpp"
#include "edgevision/face.hpp"
#include "edgevision/models.hpp"

namespace ev::face {

// One network run: `region` of the frame, resized by `scale` (the result fits the network).
struct Pass {
  cv::Rect region;
  float scale = 1.f;
};

// How a frame is cut into network runs. Fixed-size networks: small frames are upscaled into one
// run (at most max_upscale); frames larger than the network at the mode's target scale are
// tiled with overlap, plus one whole-frame run so faces larger than the overlap are not cut.
// Dynamic networks (net = 0x0) get one whole-frame run at the scale a 640x640 network's tiles
// would use.
// multi_scale: dynamic networks also get a run at the scale that fits the frame into 640x640.
std::vector<Pass> plan_passes(cv::Size frame, cv::Size net, DetectMode mode,
                              bool multi_scale = false);

// Score-ordered NMS over faces from all passes. Also drops a face that lies mostly (>= 80%)
// inside a better one, which is what a face cut by a tile edge looks like next to the
// whole-frame detection of the same face.
std::vector<Face> merge_faces(std::vector<Face> faces, float iou_threshold);

// A detector that runs a network on pre-scaled crops (passes) and merges the results.
class TiledFaceDetector : public FaceDetector {
 public:
  Result<std::vector<Face>> detect(const cv::Mat& bgr) override;
  // See FaceDetectorOptions::upscale.
  void set_upscale(float scale, bool everywhere) {
    upscale_ = scale;
    upscale_everywhere_ = everywhere;
  }
  // See FaceDetectorOptions::multi_scale.
  void set_multi_scale(bool on) { multi_scale_ = on; }
  // See FaceDetectorOptions::large_face_score.
  void set_large_face_score(float score, int px) {
    large_face_score_ = score;
    large_face_px_ = px;
  }
  // Faces scoring below this (context candidates, FaceDetectorOptions::context_score) do not
  // ask for upscaled runs.
  void set_small_face_min_score(float score) { small_face_min_score_ = score; }
  void set_small_face_runs(bool on) override { small_face_runs_ = on; }

 protected:
  TiledFaceDetector(DetectMode mode, int min_face) : mode_(mode), min_face_(min_face) {}
  // Fixed network input (w,h), or 0x0 when the network takes any size.
  virtual cv::Size net_size() const = 0;
  // Faces in the coordinates of `scaled` (a BGR image no larger than net_size()).
  virtual Status detect_scaled(const cv::Mat& scaled, std::vector<Face>& out) = 0;
  virtual float nms_threshold() const { return 0.3f; }

  DetectMode mode_;
  int min_face_;
  float upscale_ = 0.f;
  bool upscale_everywhere_ = false;
  bool multi_scale_ = false;
  float large_face_score_ = 0.f;
  int large_face_px_ = 48;
  float small_face_min_score_ = 0.f;
  bool small_face_runs_ = true;

 private:
  // Runs one pass and appends its faces (frame coordinates) to `all`.
  Status run_pass(const cv::Mat& bgr, const Pass& pass, std::vector<Face>& all);
};

// Tiles of the frame for the upscaled small-face pass: net-sized at `scale`, overlapping.
std::vector<Pass> plan_upscaled_passes(cv::Size frame, cv::Size net, float scale);

// Upscaled runs around faces found near the first pass's size limit (`faces`, frame
// coordinates). Fixed-size networks: the plan_upscaled_passes tiles holding a face. Dynamic
// networks: a padded crop around each face, overlapping crops merged; a crop with more network
// pixels than 1152x640 is cut into 640x640 runs.
std::vector<Pass> plan_small_face_passes(cv::Size frame, cv::Size net, float scale,
                                         const std::vector<cv::Rect2f>& faces);

// Runs several detectors (and/or each on the mirrored frame) and merges by NMS.
std::unique_ptr<FaceDetector> make_ensemble(std::vector<std::unique_ptr<FaceDetector>> members,
                                            bool flip);

// Converts gray/BGRA/16-bit input to 8-bit BGR; empty result for unusable input.
cv::Mat to_bgr8(const cv::Mat& image);

// ---- YuNet 2023 (raw heads) ----
struct YuNetLevel {
  int stride = 8;
  int cols = 0;  // padded input width / stride
  int rows = 0;
  const float* cls = nullptr;   // [rows*cols]
  const float* obj = nullptr;   // [rows*cols]
  const float* bbox = nullptr;  // [rows*cols, 4]
  const float* kps = nullptr;   // [rows*cols, 10]
};
// Candidates above `score_threshold` in input pixels (no NMS). Boxes whose centre lies outside
// `valid` (the unpadded image) are dropped.
void decode_yunet(const std::vector<YuNetLevel>& levels, float score_threshold, cv::Size valid,
                  std::vector<Face>& out);

// ---- BlazeFace ----
// 896 anchor centres (normalised 0..1): 16x16 cells x 2, then 8x8 cells x 6, row-major.
const std::vector<cv::Point2f>& blazeface_anchors();
// `scores` [896] logits and `boxes` [896,16] for all anchors (16x16 part first); `size` = S.
// Faces in input pixels; boxes centred outside `valid` are dropped.
void decode_blazeface(const float* scores, const float* boxes, int size, float score_threshold,
                      cv::Size valid, std::vector<Face>& out);

// ---- factories (registered in registry.cpp) ----
using DetectorResult = Result<std::unique_ptr<FaceDetector>>;
DetectorResult create_haar(const FaceDetectorOptions& options, ModelManager& models);
DetectorResult create_ssd(const FaceDetectorOptions& options, ModelManager& models);
DetectorResult create_yunet2022(const FaceDetectorOptions& options, ModelManager& models);
DetectorResult create_yunet(const FaceDetectorOptions& options, ModelManager& models);
DetectorResult create_blazeface_back(const FaceDetectorOptions& options, ModelManager& models);
DetectorResult create_blazeface_front(const FaceDetectorOptions& options, ModelManager& models);

// Resolves options.model (if set) or `default_model`; the error says which model and why.
Result<ResolvedModel> resolve_model(const FaceDetectorOptions& options, ModelManager& models,
                                    const std::string& default_model);
// resolve_model() and an ONNX Runtime backend on it with the options' thread count.
struct OnnxFaceModel {
  ResolvedModel model;
  std::unique_ptr<InferenceBackend> backend;
};
// free_image_size: see BackendOptions::free_image_size.
Result<OnnxFaceModel> open_onnx_model(const FaceDetectorOptions& options, ModelManager& models,
                                      const std::string& default_model,
                                      bool free_image_size = false);
// Threshold from options, else the manifest, else `fallback`.
float pick_threshold(const FaceDetectorOptions& options, const ResolvedModel& model,
                     float fallback);
// NMS IoU threshold from the manifest, else `fallback`.
float pick_nms(const ResolvedModel& model, float fallback);

}  // namespace ev::face
