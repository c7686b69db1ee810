// YOLOX-nano latency, same process, same input, same thread count:
//   edgevision  ObjectDetector::detect (letterbox + tensor, ORT run, decode, NMS, mapping)
//   bare ORT    Ort::Session::Run on the prepared tensor (inference only)
//   OpenCV DNN  Net::forward on the same tensor (inference only)
// Each variant runs in blocks of 10 (after a warm-up) so ORT's spinning worker threads of one
// session never steal cycles from the other; blocks alternate round-robin so a change in
// machine load hits all three alike.
//
// usage: bench_detect_latency [runs=100] [threads=2] [image] [model.onnx]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgcodecs.hpp>

#include "edgevision/detect.hpp"
#include "edgevision/preprocess.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Stats {
  double median = 0, min = 0, max = 0;
};

Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  Stats s;
  s.min = v.front();
  s.max = v.back();
  s.median = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  return s;
}

void time_block(const std::function<void()>& fn, int warmup, int runs, std::vector<double>& out) {
  for (int i = 0; i < warmup; ++i) fn();
  for (int i = 0; i < runs; ++i) {
    const auto t = Clock::now();
    fn();
    out.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = argc > 1 ? std::atoi(argv[1]) : 100;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const std::string shared = EV_SHARED_DIR;
  const std::string image = argc > 3 ? argv[3] : shared + "/data/images/dog.jpg";
  const std::string model = argc > 4 ? argv[4] : shared + "/models/detect/yolox_nano.onnx";
  const int warmup = 5;
  spdlog::set_level(spdlog::level::warn);

  cv::Mat img = cv::imread(image);
  if (img.empty()) {
    std::fprintf(stderr, "cannot read %s\n", image.c_str());
    return 1;
  }
  const ev::ModelSpec* spec = ev::builtin_manifest().find("yolox-nano");
  ev::DetectorParams params;
  params.model = model;
  params.threads = threads;
  auto created = ev::ObjectDetector::create(params, {model}, spec);
  if (!created) {
    std::fprintf(stderr, "%s\n", created.error().c_str());
    return 1;
  }
  ev::ObjectDetector& det = **created;
  const cv::Size net = det.input_size();

  // The exact tensor edgevision feeds, for the two inference-only baselines.
  std::vector<float> input;
  ev::make_input_tensor(img, det.preprocess(), net.width, net.height, input);
  std::vector<int64_t> shape{1, 3, net.height, net.width};

  Ort::Env env(ORT_LOGGING_LEVEL_WARNING, "bench");
  Ort::SessionOptions so;
  so.SetIntraOpNumThreads(threads);
  so.SetInterOpNumThreads(1);
  so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
  Ort::Session session(env, model.c_str(), so);
  Ort::AllocatorWithDefaultOptions alloc;
  auto in_name = session.GetInputNameAllocated(0, alloc);
  auto out_name = session.GetOutputNameAllocated(0, alloc);
  const char* in_names[] = {in_name.get()};
  const char* out_names[] = {out_name.get()};
  auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
  Ort::Value tensor =
      Ort::Value::CreateTensor<float>(mem, input.data(), input.size(), shape.data(), shape.size());

  cv::setNumThreads(threads);
  cv::dnn::Net cvnet = cv::dnn::readNetFromONNX(model);
  cvnet.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  cvnet.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  const std::vector<int> blob_shape{1, 3, net.height, net.width};
  cv::Mat blob(blob_shape, CV_32F, input.data());

  std::vector<double> t_ev, t_ort, t_cv, t_pre, t_inf, t_post;
  std::vector<ev::Detection> dets;
  size_t n_dets = 0;
  auto run_ev = [&] {
    det.detect(img, dets);
    n_dets = dets.size();
  };
  auto run_ev_timed = [&] {
    run_ev();
    const auto& t = det.last_timings();
    t_pre.push_back(t.preprocess_ms);
    t_inf.push_back(t.inference_ms);
    t_post.push_back(t.postprocess_ms);
  };
  auto run_ort = [&] {
    auto out = session.Run(Ort::RunOptions{nullptr}, in_names, &tensor, 1, out_names, 1);
    (void)out;
  };
  auto run_cv = [&] {
    cvnet.setInput(blob);
    cv::Mat out = cvnet.forward();
    (void)out;
  };
  constexpr int kBlock = 10;
  std::vector<double> discard;
  time_block(run_ort, warmup, 0, discard);
  time_block(run_ev, warmup, 0, discard);
  time_block(run_cv, warmup, 0, discard);
  for (int done = 0; done < runs; done += kBlock) {
    const int n = std::min(kBlock, runs - done);
    time_block(run_ort, 1, n, t_ort);
    time_block(run_ev_timed, 1, n, t_ev);
    time_block(run_cv, 1, n, t_cv);
  }
  t_pre.erase(t_pre.begin(), t_pre.begin() + (t_pre.size() - t_ev.size()));
  t_inf.erase(t_inf.begin(), t_inf.begin() + (t_inf.size() - t_ev.size()));
  t_post.erase(t_post.begin(), t_post.begin() + (t_post.size() - t_ev.size()));
  const Stats e = stats(t_ev), o = stats(t_ort), c = stats(t_cv);
  std::printf(
      "YOLOX-nano %dx%d, image %s (%dx%d), %d threads, %d warm-up + %d runs each (blocks of 10, "
      "round-robin)\n",
      net.width, net.height, image.c_str(), img.cols, img.rows, threads, warmup, runs);
  std::printf("ONNX Runtime %s, OpenCV %s, %zu detections\n", Ort::GetVersionString().c_str(),
              CV_VERSION, n_dets);
  std::printf("%-34s %9s %9s %9s %8s\n", "variant", "median", "min", "max", "ratio");
  auto row = [&](const char* name, const Stats& s) {
    std::printf("%-34s %7.2fms %7.2fms %7.2fms %7.3fx\n", name, s.median, s.min, s.max,
                s.median / o.median);
  };
  row("edgevision detect (end-to-end)", e);
  row("bare ORT session (inference)", o);
  row("OpenCV DNN (inference)", c);
  const Stats p = stats(t_pre), i = stats(t_inf), q = stats(t_post);
  std::printf(
      "edgevision stages (median): preprocess %.2f ms, inference %.2f ms, "
      "decode+NMS+map %.3f ms\n",
      p.median, i.median, q.median);
  std::printf("edgevision inference-stage median / bare ORT median: %.3fx\n", i.median / o.median);
  // Where pre-processing time goes: OpenCV's own thread pool (resize, split, convert) is the
  // one knob, so time it alone with 1 and with `threads` OpenCV threads.
  std::vector<float> scratch;
  for (int nt : {1, threads}) {
    cv::setNumThreads(nt);
    std::vector<double> t;
    time_block(
        [&] { ev::make_input_tensor(img, det.preprocess(), net.width, net.height, scratch); },
        warmup, runs, t);
    const Stats s = stats(t);
    std::printf("letterbox+tensor alone, %d OpenCV thread(s): median %.2f ms, min %.2f ms\n", nt,
                s.median, s.min);
  }
  return 0;
}
