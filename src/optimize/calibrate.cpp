// Calibration run: the FP32 model in ONNX Runtime with the activations to quantize exposed as
// extra graph outputs, fed with pre-processed calibration images.
#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/backend.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/progress.hpp"
#include "edgevision/quantize.hpp"
#include "optimize/onnx_util.hpp"

namespace ev {

Result<std::vector<std::filesystem::path>> list_calibration_images(const std::filesystem::path& dir,
                                                                   int max_images) {
  using R = Result<std::vector<std::filesystem::path>>;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec))
    return R::Error("calibration folder " + dir.string() + " does not exist");
  static const std::set<std::string> exts{".jpg", ".jpeg", ".png", ".bmp", ".webp"};
  for (auto it = std::filesystem::directory_iterator(dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    auto ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (exts.count(ext)) files.push_back(it->path());
  }
  if (ec) return R::Error("cannot list " + dir.string() + ": " + ec.message());
  std::sort(files.begin(), files.end());
  if (max_images > 0 && static_cast<int>(files.size()) > max_images) files.resize(max_images);
  if (files.empty()) return R::Error("no images (jpg, png, bmp, webp) in " + dir.string());
  return files;
}

Result<Preprocess> preprocess_preset(std::string_view name) {
  Preprocess p;
  if (name == "yolo") {
    p.color = "rgb";
    p.scale = 1.f / 255.f;
    p.resize = "letterbox_center";
  } else if (name == "raw") {
    p.color = "bgr";
    p.resize = "letterbox";
  } else if (name == "imagenet") {
    p.color = "rgb";
    p.resize = "stretch";
    p.scale = 1.f / 255.f;
    p.mean = {0.485f, 0.456f, 0.406f};
    p.std = {0.229f, 0.224f, 0.225f};
  } else {
    return Result<Preprocess>::Error("unknown pre-processing preset '" + std::string(name) +
                                     "' (yolo, raw, imagenet)");
  }
  return p;
}

Result<CalibrationTable> calibrate(const std::filesystem::path& model,
                                   const std::vector<std::string>& tensors,
                                   const std::vector<std::filesystem::path>& images,
                                   const Preprocess& pre, const CalibrationOptions& options) {
  using R = Result<CalibrationTable>;
  auto proto = onnxu::load(model);
  if (!proto) return proto.status();
  auto* graph = proto->mutable_graph();
  std::set<std::string> graph_inputs, outputs;
  for (const auto* in : onnxu::real_inputs(*graph)) graph_inputs.insert(in->name());
  if (graph_inputs.size() != 1)
    return R::Error("calibration supports models with one image input; this one has " +
                    std::to_string(graph_inputs.size()));
  for (const auto& o : graph->output()) outputs.insert(o.name());
  for (const auto& t : tensors) {
    if (graph_inputs.count(t) || outputs.count(t)) continue;
    auto* o = graph->add_output();
    o->set_name(t);
    o->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    outputs.insert(t);
  }
  auto tmp = std::filesystem::temp_directory_path() /
             ("edgevision-calib-" + std::to_string(::getpid()) + ".onnx");
  if (auto st = onnxu::save(*proto, tmp); !st) return st;
  BackendOptions bo;
  bo.threads = options.threads;
  auto backend = create_backend("onnxruntime", tmp, bo);
  std::error_code ec;
  std::filesystem::remove(tmp, ec);
  if (!backend) return R::Error("calibration model did not load: " + backend.error());
  auto& be = **backend;

  const auto& in_info = be.inputs().front();
  const std::vector<int64_t> shape = image_input_shape(in_info.shape, pre);
  if (shape.empty()) return R::Error("calibration needs a 4-D image input (NCHW or NHWC)");
  const cv::Size size = image_input_size(shape, pre);

  std::map<std::string, TensorStats> stats;
  std::map<std::string, size_t> out_index;
  for (size_t i = 0; i < be.outputs().size(); ++i) out_index[be.outputs()[i].name] = i;
  const std::string input_name = in_info.name;
  const bool want_input = std::find(tensors.begin(), tensors.end(), input_name) != tensors.end();
  for (const auto& t : tensors)
    if (t == input_name || out_index.count(t)) stats[t];

  const bool histograms = options.method != CalibrationMethod::kMinMax;
  const int passes = histograms ? 2 : 1;
  std::vector<float> input;
  std::vector<Tensor> outs;
  int used = 0;
  auto t0 = std::chrono::steady_clock::now();
  for (int pass = 0; pass < passes; ++pass) {
    ProgressBar bar(
        passes == 1 ? "calibrating" : (pass == 0 ? "calibration ranges" : "calibration histograms"),
        static_cast<int64_t>(images.size()), "img");
    if (!options.progress) bar.force_enabled(false);
    used = 0;
    for (const auto& path : images) {
      cv::Mat img = cv::imread(path.string(), cv::IMREAD_COLOR);
      if (img.empty()) {
        if (pass == 0) spdlog::warn("calibration: cannot read {}, skipped", path.string());
        bar.add();
        continue;
      }
      make_input_tensor(img, pre, size.width, size.height, input);
      if (auto st = be.run({TensorView{input.data(), shape}}, outs); !st)
        return R::Error("calibration inference failed on " + path.string() + ": " + st.message());
      for (auto& [name, s] : stats) {
        const float* data;
        size_t n;
        if (name == input_name) {
          if (!want_input) continue;
          data = input.data();
          n = input.size();
        } else {
          const auto& t = outs[out_index[name]];
          data = t.data.data();
          n = t.data.size();
        }
        if (pass == 0)
          s.observe_range(data, n);
        else
          s.observe_histogram(data, n);
      }
      ++used;
      bar.add();
    }
    bar.finish();
  }
  if (used == 0) return R::Error("no calibration image could be read");
  CalibrationTable table;
  table.method = to_string(options.method);
  table.percentile = options.method == CalibrationMethod::kPercentile ? options.percentile : 0;
  table.images = used;
  for (const auto& [name, s] : stats)
    if (s.has_range()) table.ranges[name] = s.range(options.method, options.percentile);
  spdlog::info("calibration: {} tensors over {} images ({}) in {:.1f} s", table.ranges.size(), used,
               table.method,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return table;
}

}  // namespace ev
