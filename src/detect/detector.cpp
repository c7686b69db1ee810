#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <opencv2/imgproc.hpp>

#include "detect/decoder.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/preprocess.hpp"

namespace ev {
namespace fs = std::filesystem;
using detect_internal::Candidate;
using DetectorResult = Result<std::unique_ptr<ObjectDetector>>;

namespace {

std::string lower_ext(const fs::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return std::tolower(c); });
  return e;
}

// [net] width/height of a Darknet cfg: OpenCV reports no input shape for Darknet models.
cv::Size darknet_input_size(const fs::path& cfg) {
  std::ifstream in(cfg);
  std::string line;
  cv::Size size;
  bool in_net = false;
  while (std::getline(in, line)) {
    line.erase(std::remove_if(line.begin(), line.end(), ::isspace), line.end());
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == '[') {
      if (in_net) break;
      in_net = line == "[net]";
      continue;
    }
    if (!in_net) continue;
    if (line.rfind("width=", 0) == 0) size.width = std::atoi(line.c_str() + 6);
    if (line.rfind("height=", 0) == 0) size.height = std::atoi(line.c_str() + 7);
  }
  return size;
}

// OpenCV zeroes Darknet class scores below each [yolo] layer's `thresh` (default 0.2), which
// would hide every low-confidence box from mAP validation. A temporary copy of the cfg with
// `thresh` set to our own threshold makes the output complete; the caller deletes it.
fs::path darknet_cfg_with_thresh(const fs::path& cfg, float conf) {
  std::ifstream in(cfg);
  if (!in) return {};
  std::ostringstream out;
  std::string line;
  while (std::getline(in, line)) {
    std::string compact = line;
    compact.erase(std::remove_if(compact.begin(), compact.end(), ::isspace), compact.end());
    if (compact.rfind("thresh=", 0) == 0) continue;  // ours replaces any given one
    out << line << '\n';
    if (compact == "[yolo]" || compact == "[region]") out << "thresh = " << conf << '\n';
  }
  const fs::path tmp = fs::temp_directory_path() /
                       ("edgevision-" + std::to_string(::getpid()) + "-" + cfg.filename().string());
  std::ofstream o(tmp);
  o << out.str();
  return o.good() ? tmp : fs::path();
}

std::vector<std::string> read_names(const fs::path& file) {
  std::vector<std::string> names;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) names.push_back(line);
  }
  return names;
}

// Pre-processing each layout's reference exporter uses, for models given as bare files.
Preprocess default_preprocess(const std::string& decoder) {
  Preprocess p;
  p.pad_value = 114.f;
  if (decoder == "yolox") {  // YOLOX >= 0.2: BGR, raw 0..255, image at the top-left
    p.color = "bgr";
    p.resize = "letterbox";
    p.scale = 1.f;
  } else if (decoder == "darknet") {  // Darknet: plain resize, RGB, /255
    p.color = "rgb";
    p.resize = "stretch";
    p.scale = 1.f / 255.f;
  } else {  // Ultralytics: RGB, /255, centred letterbox
    p.color = "rgb";
    p.resize = "letterbox_center";
    p.scale = 1.f / 255.f;
  }
  return p;
}

// COCO names differ between Darknet's coco.names and Ultralytics' data.yaml.
const std::map<std::string, std::string>& label_aliases() {
  static const std::map<std::string, std::string> aliases = {
      {"motorcycle", "motorbike"},
      {"motorbike", "motorcycle"},
      {"airplane", "aeroplane"},
      {"aeroplane", "airplane"},
      {"couch", "sofa"},
      {"sofa", "couch"},
      {"potted plant", "pottedplant"},
      {"pottedplant", "potted plant"},
      {"dining table", "diningtable"},
      {"diningtable", "dining table"},
      {"tv", "tvmonitor"},
      {"tvmonitor", "tv"},
  };
  return aliases;
}

bool shapes_known(const std::vector<TensorInfo>& infos) {
  for (const auto& i : infos) {
    if (i.shape.empty()) return false;
    for (auto d : i.shape)
      if (d <= 0) return false;
  }
  return !infos.empty();
}

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

ObjectDetector::~ObjectDetector() = default;

std::string ObjectDetector::backend_name() const {
  return backend_ ? std::string(backend_->name()) : std::string();
}

DetectorResult ObjectDetector::create(const DetectorParams& params,
                                      const std::vector<fs::path>& files, const ModelSpec* spec) {
  if (files.empty()) return DetectorResult::Error("detector: no model file given");
  std::unique_ptr<ObjectDetector> det(new ObjectDetector());
  DetectorParams& p = det->params_;
  p = params;
  if (p.conf <= 0.f) p.conf = spec && spec->conf_threshold > 0 ? spec->conf_threshold : 0.25f;
  if (p.nms <= 0.f) p.nms = spec && spec->nms_threshold > 0 ? spec->nms_threshold : 0.45f;
  if (p.backend.empty()) p.backend = spec && !spec->backend.empty() ? spec->backend : "auto";
  if (p.max_detections <= 0) p.max_detections = 300;

  fs::path model = files[0], config, names_file;
  for (size_t i = 1; i < files.size(); ++i) {
    const std::string e = lower_ext(files[i]);
    if (e == ".cfg" || e == ".pbtxt" || e == ".prototxt") config = files[i];
    if (e == ".names" || e == ".txt") names_file = files[i];
  }
  // Darknet given as a bare file: the other half of the pair sits next to it.
  std::error_code ec;
  if (lower_ext(model) == ".cfg") {
    config = model;
    model = fs::path(model).replace_extension(".weights");
    if (!fs::is_regular_file(model, ec))
      return DetectorResult::Error("detector: no weights next to " + config.string() +
                                   " (expected " + model.string() + ")");
  }
  if (lower_ext(model) == ".weights" && config.empty()) {
    fs::path cfg = fs::path(model).replace_extension(".cfg");
    if (!fs::is_regular_file(cfg, ec))
      return DetectorResult::Error("detector: Darknet weights need a .cfg (expected " +
                                   cfg.string() + ")");
    config = cfg;
  }
  if (names_file.empty() && !spec) {
    fs::path n = fs::path(model).replace_extension(".names");
    if (fs::is_regular_file(n, ec)) names_file = n;
  }
  const bool darknet = lower_ext(config) == ".cfg";

  BackendOptions bo;
  bo.threads = p.threads;
  bo.device = p.device;
  bo.config = config;
  const bool resized = p.input_size.width > 0 && p.input_size.height > 0;
  if (resized) {
    if (p.input_size.width % 32 != 0 || p.input_size.height % 32 != 0)
      return DetectorResult::Error("detector: input size " + std::to_string(p.input_size.width) +
                                   "x" + std::to_string(p.input_size.height) +
                                   " is not a multiple of 32");
    if (darknet)
      return DetectorResult::Error("detector: an input size needs an ONNX model, not Darknet");
    bo.free_image_size = true;
  }
  // Rect inference needs the square size before the model's dims are freed: the manifest's or
  // the one asked for (a bare file's fixed size is only known once loaded).
  const bool square_known =
      resized || (spec && spec->preprocess.width > 0 && spec->preprocess.height > 0);
  const std::string resize_mode = spec ? spec->preprocess.resize : std::string();
  det->rect_ = p.rect && square_known && (!spec || spec->preprocess.rect) && !darknet &&
               lower_ext(model) == ".onnx" &&
               (resize_mode == "letterbox" || resize_mode == "letterbox_center");
  if (det->rect_) bo.free_image_size = true;
  fs::path patched;
  if (darknet) {
    patched = darknet_cfg_with_thresh(config, std::min(p.conf, 0.2f));
    if (!patched.empty()) bo.config = patched;
  }
  auto backend = create_backend(p.backend, model, bo);
  if (!backend && det->rect_ && !resized) {
    // Some graphs do not load with free sizes (shapes recorded inside that contradict them).
    spdlog::warn("detector: {} does not load with a free input size ({}); square input",
                 model.filename().string(), backend.error());
    det->rect_ = false;
    bo.free_image_size = false;
    backend = create_backend(p.backend, model, bo);
  }
  if (!patched.empty()) fs::remove(patched, ec);
  if (!backend) return DetectorResult(backend.status());
  det->backend_ = std::move(backend.value());
  if (det->backend_->name() != "onnxruntime") det->rect_ = false;

  // Network input size: manifest, then the model's own input shape, then the Darknet cfg.
  Preprocess pre = spec ? spec->preprocess : Preprocess{};
  int w = pre.width, h = pre.height;
  if ((w <= 0 || h <= 0) && !det->backend_->inputs().empty()) {
    const auto& s = det->backend_->inputs()[0].shape;
    if (s.size() == 4) {
      const bool nhwc = pre.layout == "nhwc" || (s[3] == 3 && s[1] != 3);
      h = static_cast<int>(nhwc ? s[1] : s[2]);
      w = static_cast<int>(nhwc ? s[2] : s[3]);
    }
  }
  if ((w <= 0 || h <= 0) && darknet) {
    const cv::Size s = darknet_input_size(config);
    w = s.width;
    h = s.height;
  }
  if (w <= 0 || h <= 0) w = h = 640;  // the Ultralytics default for dynamic exports
  if (resized) {
    w = p.input_size.width;
    h = p.input_size.height;
  }
  det->net_w_ = w;
  det->net_h_ = h;

  std::vector<TensorInfo> out_infos = det->backend_->outputs();
  std::string decoder = p.decoder;
  if (decoder.empty() && spec && detect_internal::make_decoder(spec->decoder))
    decoder = spec->decoder;
  if (decoder.empty() && darknet) decoder = "darknet";
  if (decoder.empty() || !shapes_known(out_infos)) {
    // Dynamic or unreported output shapes: one dry run on a blank input gives concrete ones.
    const Preprocess probe = spec ? pre : default_preprocess(decoder.empty() ? "yolov8" : decoder);
    cv::Mat blank(h, w, CV_8UC3, cv::Scalar::all(114));
    std::vector<float> input;
    make_input_tensor(blank, probe, w, h, input);
    const int c = probe.color == "gray" ? 1 : 3;
    std::vector<int64_t> shape = probe.layout == "nhwc" ? std::vector<int64_t>{1, h, w, c}
                                                        : std::vector<int64_t>{1, c, h, w};
    std::vector<Tensor> outs;
    Status st = det->backend_->run({TensorView{input.data(), shape}}, outs);
    if (!st.ok()) return DetectorResult::Error("detector: dry run failed: " + st.message());
    for (size_t i = 0; i < outs.size() && i < out_infos.size(); ++i)
      out_infos[i].shape = outs[i].shape;
    if (out_infos.size() < outs.size())
      for (size_t i = out_infos.size(); i < outs.size(); ++i)
        out_infos.push_back({outs[i].name, outs[i].shape});
  }
  if (decoder.empty()) {
    auto r = recognise_decoder(out_infos, w, h);
    if (!r)
      return DetectorResult::Error("detector: " + model.filename().string() + ": " + r.error());
    decoder = r.value();
  }
  det->decoder_ = detect_internal::make_decoder(decoder);
  if (!det->decoder_)
    return DetectorResult::Error("detector: unknown decoder '" + decoder + "' (known: yolox, " +
                                 "yolov5, yolov8, yolo_e2e, darknet)");
  det->decoder_name_ = std::string(det->decoder_->name());
  p.decoder = det->decoder_name_;

  if (!spec) pre = default_preprocess(det->decoder_name_);
  pre.width = w;
  pre.height = h;
  det->pre_ = pre;

  // Labels: manifest, then a names file, then COCO-80 for 80-class models.
  const int nc = det->decoder_->num_classes(out_infos);
  if (spec && !spec->labels.empty()) det->labels_ = spec->labels;
  if (det->labels_.empty() && !names_file.empty()) det->labels_ = read_names(names_file);
  if (det->labels_.empty() && (nc == 80 || (nc <= 0 && det->decoder_name_ == "yolo_e2e")))
    det->labels_ = coco80_labels();
  if (nc > 0 && static_cast<int>(det->labels_.size()) != nc) {
    if (!det->labels_.empty())
      spdlog::warn("detector: {} labels for a {}-class model; using class numbers",
                   det->labels_.size(), nc);
    det->labels_.clear();
    for (int i = 0; i < nc; ++i) det->labels_.push_back("class" + std::to_string(i));
  }

  if (!p.classes.empty()) {
    det->allowed_.assign(std::max<size_t>(det->labels_.size(), 1), 0);
    for (const auto& name : p.classes) {
      bool found = false;
      for (size_t i = 0; i < det->labels_.size(); ++i) {
        const auto alias = label_aliases().find(name);
        if (det->labels_[i] == name ||
            (alias != label_aliases().end() && det->labels_[i] == alias->second)) {
          det->allowed_[i] = 1;
          found = true;
        }
      }
      if (!found) return DetectorResult::Error("detector: unknown class '" + name + "'");
    }
  }
  spdlog::info("detector: model={} decoder={} backend={} input={}x{}{} conf={} nms={} threads={}",
               model.filename().string(), det->decoder_name_, det->backend_->name(), w, h,
               det->rect_ ? " (rect)" : "", p.conf, p.nms,
               p.threads > 0 ? std::to_string(p.threads) : "auto");
  return det;
}

cv::Size ObjectDetector::input_size_for(cv::Size frame) const {
  if (!rect_ || frame.width <= 0 || frame.height <= 0) return {net_w_, net_h_};
  // The scale is the square letterbox's; only the padding beyond the next multiple of 32 (the
  // largest stride of the grid decoders) goes.
  const float scale =
      std::min(static_cast<float>(net_w_) / frame.width, static_cast<float>(net_h_) / frame.height);
  auto side = [&](int pixels, int net) {
    // Rounded up, so the canvas never cuts the fitted image and its scale stays the square's.
    const int fitted = static_cast<int>(std::ceil(pixels * scale - 1e-3f));
    return std::min(net, std::max(32, (fitted + 31) / 32 * 32));
  };
  return {side(frame.width, net_w_), side(frame.height, net_h_)};
}

Status ObjectDetector::detect(const cv::Mat& frame, std::vector<Detection>& out) {
  out.clear();
  timings_ = {};
  if (frame.empty()) return Status::Error("detect: empty frame");
  if (frame.depth() != CV_8U) return Status::Error("detect: frame must be 8-bit");
  cv::Mat bgr = frame;
  if (frame.channels() == 1) cv::cvtColor(frame, bgr, cv::COLOR_GRAY2BGR);
  if (frame.channels() == 4) cv::cvtColor(frame, bgr, cv::COLOR_BGRA2BGR);
  const cv::Rect full(0, 0, bgr.cols, bgr.rows);
  const cv::Rect region = params_.roi.empty() ? full : (params_.roi & full);
  if (region.empty()) return Status::Error("detect: ROI lies outside the frame");
  const cv::Mat crop = bgr(region);

  const cv::Size net = input_size_for(crop.size());
  auto t0 = std::chrono::steady_clock::now();
  const InputTransform tr = make_input_tensor(crop, pre_, net.width, net.height, input_);
  const int64_t c = pre_.color == "gray" ? 1 : 3;
  std::vector<int64_t> shape = pre_.layout == "nhwc"
                                   ? std::vector<int64_t>{1, net.height, net.width, c}
                                   : std::vector<int64_t>{1, c, net.height, net.width};
  timings_.preprocess_ms = ms_since(t0);

  auto t1 = std::chrono::steady_clock::now();
  Status st = backend_->run({TensorView{input_.data(), std::move(shape)}}, outputs_);
  timings_.inference_ms = ms_since(t1);

  auto t2 = std::chrono::steady_clock::now();
  detect_internal::DecodeParams dp;
  dp.net_w = net.width;
  dp.net_h = net.height;
  dp.conf = params_.conf;
  dp.allowed = &allowed_;
  std::vector<Candidate> cands;
  if (st.ok()) st = decoder_->decode(outputs_, dp, cands);
  if (!st.ok() && net != cv::Size(net_w_, net_h_)) {
    // A graph with sizes baked into its reshapes refuses other sizes: the square from now on.
    spdlog::warn("detector: {}x{} input refused ({}); running at the square {}x{}", net.width,
                 net.height, st.message(), net_w_, net_h_);
    rect_ = false;
    return detect(frame, out);
  }
  if (!st.ok()) return st;

  // Bound NMS cost on degenerate outputs (very low thresholds), as Ultralytics does.
  constexpr size_t kMaxNms = 30000;
  auto by_score = [](const Candidate& a, const Candidate& b) { return a.score > b.score; };
  if (cands.size() > kMaxNms) {
    std::partial_sort(cands.begin(), cands.begin() + kMaxNms, cands.end(), by_score);
    cands.resize(kMaxNms);
  }
  std::vector<int> keep;
  if (decoder_->needs_nms()) {
    std::vector<cv::Rect2f> boxes(cands.size());
    std::vector<float> scores(cands.size());
    std::vector<int> ids(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) {
      boxes[i] = cands[i].box;
      scores[i] = cands[i].score;
      ids[i] = cands[i].class_id;
    }
    keep = nms_boxes(boxes, scores, ids, params_.conf, params_.nms, params_.max_detections);
  } else {
    keep.resize(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) keep[i] = static_cast<int>(i);
    std::stable_sort(keep.begin(), keep.end(),
                     [&](int a, int b) { return cands[a].score > cands[b].score; });
    if (static_cast<int>(keep.size()) > params_.max_detections) keep.resize(params_.max_detections);
  }

  const cv::Rect2f bounds(0.f, 0.f, static_cast<float>(crop.cols), static_cast<float>(crop.rows));
  out.reserve(keep.size());
  for (int k : keep) {
    const Candidate& cd = cands[k];
    const cv::Rect2f b = tr.to_frame(cd.box) & bounds;
    if (b.width <= 0.f || b.height <= 0.f) continue;
    Detection d;
    d.box = cv::Rect2f(b.x + region.x, b.y + region.y, b.width, b.height);
    d.score = cd.score;
    d.class_id = cd.class_id;
    if (cd.class_id >= 0 && cd.class_id < static_cast<int>(labels_.size()))
      d.label = labels_[cd.class_id];
    out.push_back(std::move(d));
  }
  timings_.postprocess_ms = ms_since(t2);
  return Status::Ok();
}

Result<std::vector<Detection>> ObjectDetector::detect(const cv::Mat& bgr) {
  std::vector<Detection> out;
  Status st = detect(bgr, out);
  if (!st.ok()) return st;
  return out;
}

}  // namespace ev
