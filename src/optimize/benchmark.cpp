// Model latency benchmark and the /proc readers behind peak RSS and CPU%.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <onnxruntime_cxx_api.h>
#include <spdlog/spdlog.h>
#include <opencv2/imgcodecs.hpp>

#include "backend/ort_custom_ops.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/benchmark.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/progress.hpp"
#include "optimize/onnx_util.hpp"

namespace ev {

Result<OrtGraphSummary> ort_optimized_graph(const std::filesystem::path& model,
                                            const std::filesystem::path& save_as, int threads) {
  using R = Result<OrtGraphSummary>;
  std::error_code ec;
  if (!std::filesystem::exists(model, ec)) return R::Error("no such model " + model.string());
  if (save_as.has_parent_path()) std::filesystem::create_directories(save_as.parent_path(), ec);
  try {
    // ORT keeps one environment per process: this returns the backend's when it exists.
    static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "edgevision-ort-graph");
    Ort::SessionOptions so;
    if (threads > 0) so.SetIntraOpNumThreads(threads);
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    add_edgevision_ops(so);
    so.SetLogSeverityLevel(ORT_LOGGING_LEVEL_ERROR);  // not the "hardware specific" warning
    so.SetOptimizedModelFilePath(save_as.c_str());
    Ort::Session session(env, model.c_str(), so);
  } catch (const Ort::Exception& e) {
    return R::Error("onnxruntime: cannot load " + model.string() + ": " + e.what());
  }
  auto saved = onnxu::load(save_as);
  if (!saved) return saved.status();
  OrtGraphSummary s;
  s.saved = save_as;
  for (const auto& n : saved->graph().node()) {
    const bool std_domain = n.domain().empty() || n.domain() == "ai.onnx";
    const std::string& op = n.op_type();
    ++s.op_counts[std_domain ? op : n.domain() + ":" + op];
    if (op.rfind("QLinear", 0) == 0 || op == "ConvInteger" || op == "MatMulInteger" ||
        op == "MatMulIntegerToFloat" || op == "DynamicQuantizeMatMul")
      ++s.integer_ops;
    if (op == "QuantizeLinear") ++s.quantize_linear;
    if (op == "DequantizeLinear") ++s.dequantize_linear;
    if (op == "Conv" || op == "FusedConv") ++s.float_convs;
  }
  return s;
}

Result<OpProfile> ort_op_profile(const std::filesystem::path& model,
                                 const std::filesystem::path& trace_dir, int threads, int runs,
                                 int warmup) {
  using R = Result<OpProfile>;
  std::error_code ec;
  if (!std::filesystem::exists(model, ec)) return R::Error("no such model " + model.string());
  if (runs < 1) return R::Error("op profile: runs must be >= 1");
  std::filesystem::create_directories(trace_dir, ec);
  if (ec) return R::Error("cannot create " + trace_dir.string() + ": " + ec.message());
  OpProfile prof;
  prof.runs = runs;
  try {
    static Ort::Env env(ORT_LOGGING_LEVEL_ERROR, "edgevision-op-profile");
    Ort::SessionOptions so;
    if (threads > 0) so.SetIntraOpNumThreads(threads);
    so.SetGraphOptimizationLevel(GraphOptimizationLevel::ORT_ENABLE_ALL);
    add_edgevision_ops(so);
    so.SetLogSeverityLevel(ORT_LOGGING_LEVEL_ERROR);
    so.EnableProfiling((trace_dir / model.stem()).c_str());
    Ort::Session session(env, model.c_str(), so);
    Ort::AllocatorWithDefaultOptions alloc;
    std::vector<Ort::AllocatedStringPtr> in_names_own, out_names_own;
    std::vector<const char*> in_names, out_names;
    std::vector<std::vector<float>> buffers;
    std::vector<Ort::Value> inputs;
    auto mem = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
    std::mt19937 rng(1);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (size_t i = 0; i < session.GetInputCount(); ++i) {
      in_names_own.push_back(session.GetInputNameAllocated(i, alloc));
      in_names.push_back(in_names_own.back().get());
      const Ort::TypeInfo type = session.GetInputTypeInfo(i);  // owns what info points to
      auto info = type.GetTensorTypeAndShapeInfo();
      if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT)
        return R::Error("op profile: input " + std::to_string(i) + " is not float");
      auto shape = info.GetShape();
      size_t n = 1;
      for (auto& d : shape) n *= static_cast<size_t>(d = d > 0 ? d : 1);
      buffers.emplace_back(n);
      for (auto& v : buffers.back()) v = u(rng);
      inputs.push_back(Ort::Value::CreateTensor<float>(mem, buffers.back().data(), n, shape.data(),
                                                       shape.size()));
    }
    for (size_t i = 0; i < session.GetOutputCount(); ++i) {
      out_names_own.push_back(session.GetOutputNameAllocated(i, alloc));
      out_names.push_back(out_names_own.back().get());
    }
    for (int r = 0; r < warmup + runs; ++r)
      session.Run(Ort::RunOptions{nullptr}, in_names.data(), inputs.data(), inputs.size(),
                  out_names.data(), out_names.size());
    prof.trace = session.EndProfilingAllocated(alloc).get();
  } catch (const Ort::Exception& e) {
    return R::Error("onnxruntime: cannot profile " + model.string() + ": " + e.what());
  }
  std::ifstream in(prof.trace);
  auto events = nlohmann::json::parse(in, nullptr, false);
  if (events.is_discarded() || !events.is_array())
    return R::Error("op profile: unreadable ORT trace " + prof.trace.string());
  // The timed runs are the last `runs` "model_run" events; kernel events before the first of
  // them belong to the warm-up (and session set-up) and are skipped.
  std::vector<int64_t> run_starts;
  for (const auto& e : events)
    if (e.value("name", "") == "model_run") run_starts.push_back(e.value("ts", int64_t{0}));
  if (static_cast<int>(run_starts.size()) < runs)
    return R::Error("op profile: the ORT trace has " + std::to_string(run_starts.size()) +
                    " runs, expected " + std::to_string(warmup + runs));
  std::sort(run_starts.begin(), run_starts.end());
  const int64_t first = run_starts[run_starts.size() - runs];
  std::map<std::string, double> us;
  std::map<std::string, std::set<std::string>> nodes;
  for (const auto& e : events) {
    if (e.value("cat", "") != "Node" || !e.contains("args")) continue;
    const std::string name = e.value("name", "");
    if (name.size() < 12 || name.compare(name.size() - 12, 12, "_kernel_time") != 0) continue;
    const std::string op = e["args"].value("op_name", "?");
    nodes[op].insert(name);
    if (e.value("ts", int64_t{0}) < first) continue;
    us[op] += e.value("dur", 0.0);
  }
  for (const auto& [op, t] : us) {
    prof.ops.push_back({op, static_cast<int>(nodes[op].size()), t / 1000.0 / runs});
    prof.kernel_ms += t / 1000.0 / runs;
  }
  std::sort(prof.ops.begin(), prof.ops.end(),
            [](const OpTypeTime& a, const OpTypeTime& b) { return a.ms > b.ms; });
  return prof;
}

nlohmann::json to_json(const OpProfile& p) {
  nlohmann::json ops = nlohmann::json::array();
  for (const auto& o : p.ops) ops.push_back({{"op", o.op}, {"nodes", o.nodes}, {"ms", o.ms}});
  return {{"kernel_ms", p.kernel_ms}, {"runs", p.runs}, {"trace", p.trace.string()}, {"ops", ops}};
}

std::string format_op_counts(const OrtGraphSummary& s) {
  std::vector<std::pair<int, std::string>> v;
  for (const auto& [op, n] : s.op_counts) v.emplace_back(n, op);
  std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::string out;
  for (const auto& [n, op] : v) out += (out.empty() ? "" : ", ") + std::to_string(n) + " " + op;
  return out;
}

double percentile_of_sorted(const std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

LatencyStats compute_latency_stats(std::vector<double> samples) {
  LatencyStats s;
  s.runs = static_cast<int>(samples.size());
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.min_ms = samples.front();
  s.max_ms = samples.back();
  s.mean_ms = std::accumulate(samples.begin(), samples.end(), 0.0) / samples.size();
  s.median_ms = percentile_of_sorted(samples, 50);
  s.p90_ms = percentile_of_sorted(samples, 90);
  s.p95_ms = percentile_of_sorted(samples, 95);
  s.p99_ms = percentile_of_sorted(samples, 99);
  double var = 0;
  for (double x : samples) var += (x - s.mean_ms) * (x - s.mean_ms);
  s.stddev_ms = std::sqrt(var / samples.size());
  s.fps = s.mean_ms > 0 ? 1000.0 / s.mean_ms : 0;
  return s;
}

double peak_rss_mb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) {
      std::istringstream is(line.substr(6));
      double kb = 0;
      is >> kb;
      return kb / 1024.0;
    }
  }
  return 0;
}

void reset_peak_rss() {
  // Linux >= 4.0: writing 5 resets VmHWM to the current RSS, so each model gets its own peak.
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

double process_cpu_seconds() {
  std::ifstream in("/proc/self/stat");
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the ")" that closes the command name; utime and stime are fields 14 and 15.
  auto pos = content.rfind(')');
  if (pos == std::string::npos) return 0;
  std::istringstream is(content.substr(pos + 2));
  std::string field;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && is >> field; ++i) {
    if (i == 14) utime = std::stod(field);
    if (i == 15) stime = std::stod(field);
  }
  const double hz = static_cast<double>(sysconf(_SC_CLK_TCK));
  return hz > 0 ? (utime + stime) / hz : 0;
}

Result<BenchResult> benchmark_model(const std::string& label, const std::filesystem::path& model,
                                    const Preprocess* pre, const BenchOptions& options) {
  using R = Result<BenchResult>;
  using clock = std::chrono::steady_clock;
  BenchResult r;
  r.label = label;
  r.path = model.string();
  r.warmup = options.warmup;
  reset_peak_rss();
  BackendOptions bo;
  bo.threads = options.threads;
  bo.device = options.device;
  const auto t0 = clock::now();
  auto backend = create_backend(options.backend, model, bo);
  if (!backend) return backend.status();
  r.load_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  auto& be = **backend;
  r.backend = std::string(be.name());
  r.device = options.device;
  r.threads = options.threads > 0
                  ? options.threads
                  : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

  // Inputs: dynamic dims from the manifest size, else batch 1 and 640.
  std::vector<std::vector<float>> data(be.inputs().size());
  std::vector<TensorView> views;
  for (size_t k = 0; k < be.inputs().size(); ++k) {
    auto shape = be.inputs()[k].shape;
    const bool nhwc = pre && pre->layout == "nhwc";
    for (size_t d = 0; d < shape.size(); ++d) {
      if (shape[d] > 0) continue;
      if (d == 0)
        shape[d] = 1;
      else if (shape.size() == 4 && d == (nhwc ? 1u : 2u))
        shape[d] = pre && pre->height > 0 ? pre->height : 640;
      else if (shape.size() == 4 && d == (nhwc ? 2u : 3u))
        shape[d] = pre && pre->width > 0 ? pre->width : 640;
      else
        shape[d] = shape.size() == 4 ? 3 : 1;
    }
    size_t n = 1;
    for (auto d : shape) n *= static_cast<size_t>(d);
    if (k == 0 && !options.image.empty() && pre && shape.size() == 4) {
      cv::Mat img = cv::imread(options.image.string(), cv::IMREAD_COLOR);
      if (img.empty()) return R::Error("cannot read " + options.image.string());
      make_input_tensor(img, *pre, static_cast<int>(nhwc ? shape[2] : shape[3]),
                        static_cast<int>(nhwc ? shape[1] : shape[2]), data[k]);
      if (data[k].size() != n)
        return R::Error("pre-processed image does not match the input shape");
    } else {
      // Deterministic noise in the range of pixel data; latency does not depend on the values
      // for these graphs, and the fixed seed keeps runs comparable.
      std::mt19937 rng(1234 + static_cast<unsigned>(k));
      std::uniform_real_distribution<float> dist(0.f, pre && pre->scale < 0.5f ? 1.f : 255.f);
      data[k].resize(n);
      for (auto& v : data[k]) v = dist(rng);
    }
    if (k == 0) r.input_shape = shape;
    views.push_back(TensorView{data[k].data(), shape});
  }
  std::vector<Tensor> outs;
  for (int i = 0; i < options.warmup; ++i)
    if (auto st = be.run(views, outs); !st) return st;
  ProgressBar bar("bench " + label, options.runs, "runs");
  if (!options.progress) bar.force_enabled(false);
  r.samples_ms.reserve(options.runs);
  const double cpu0 = process_cpu_seconds();
  const auto w0 = clock::now();
  for (int i = 0; i < options.runs; ++i) {
    const auto s = clock::now();
    if (auto st = be.run(views, outs); !st) return st;
    r.samples_ms.push_back(std::chrono::duration<double, std::milli>(clock::now() - s).count());
    bar.add();
  }
  const double wall = std::chrono::duration<double>(clock::now() - w0).count();
  const double cpu = process_cpu_seconds() - cpu0;
  bar.finish();
  r.cpu_percent = wall > 0 ? 100.0 * cpu / wall : 0;
  r.peak_rss_mb = peak_rss_mb();
  r.stats = compute_latency_stats(r.samples_ms);
  spdlog::info(
      "bench {}: median {:.2f} ms, p95 {:.2f} ms, {:.1f} FPS, load {:.0f} ms, peak RSS "
      "{:.0f} MB, CPU {:.0f}%",
      label, r.stats.median_ms, r.stats.p95_ms, r.stats.fps, r.load_ms, r.peak_rss_mb,
      r.cpu_percent);
  return r;
}

nlohmann::json to_json(const LatencyStats& s) {
  return {{"runs", s.runs},     {"mean_ms", s.mean_ms}, {"median_ms", s.median_ms},
          {"p90_ms", s.p90_ms}, {"p95_ms", s.p95_ms},   {"p99_ms", s.p99_ms},
          {"min_ms", s.min_ms}, {"max_ms", s.max_ms},   {"stddev_ms", s.stddev_ms},
          {"fps", s.fps}};
}

nlohmann::json to_json(const BenchResult& r) {
  nlohmann::json j = to_json(r.stats);
  j["model"] = r.label;
  j["path"] = r.path;
  j["backend"] = r.backend;
  j["device"] = r.device;
  j["threads"] = r.threads;
  j["warmup"] = r.warmup;
  j["input_shape"] = r.input_shape;
  j["load_ms"] = r.load_ms;
  j["peak_rss_mb"] = r.peak_rss_mb;
  j["cpu_percent"] = r.cpu_percent;
  return j;
}

nlohmann::json to_json(const PipelineBenchResult& r) {
  nlohmann::json j = to_json(r.total);
  j["source"] = r.source;
  j["face_detector"] = r.face_detector;
  j["detector"] = r.detector;
  j["frames"] = r.frames;
  j["frames_failed"] = r.frames_failed;
  j["faces"] = r.faces;
  j["detections"] = r.detections;
  j["load_ms"] = r.load_ms;
  j["bottleneck"] = r.bottleneck;
  j["bottleneck_ms"] = r.bottleneck_ms;
  j["pipelined_fps_max"] = r.bottleneck_ms > 0 ? 1000.0 / r.bottleneck_ms : 0.0;
  if (r.threaded.frames > 0) {
    j["threaded"] = {{"frames", r.threaded.frames},
                     {"fps", r.threaded.fps},
                     {"cpu_percent", r.threaded.cpu_percent},
                     {"latency_ms", r.threaded.latency_ms},
                     {"frames_dropped", r.threaded.frames_dropped}};
  }
  j["peak_rss_mb"] = r.peak_rss_mb;
  j["cpu_percent"] = r.cpu_percent;
  j["stages"] = nlohmann::json::array();
  for (const auto& s : r.stages) {
    auto sj = to_json(s.stats);
    sj["stage"] = s.name;
    sj["thread"] = s.thread;
    j["stages"].push_back(sj);
  }
  return j;
}

nlohmann::json to_json(const VariantRow& r) {
  nlohmann::json j{{"variant", r.variant}, {"device", r.device},   {"path", r.path},
                   {"ok", r.ok()},         {"size_mb", r.size_mb}, {"note", r.note}};
  if (!r.ok()) j["error"] = r.error;
  if (r.has_accuracy) {
    j["map50_95"] = r.map50_95;
    j["map50"] = r.map50;
    j["images"] = r.images;
  }
  if (r.ok()) {
    j["median_ms"] = r.bench.stats.median_ms;
    j["p95_ms"] = r.bench.stats.p95_ms;
    j["fps"] = r.bench.stats.fps;
    j["peak_rss_mb"] = r.bench.peak_rss_mb;
    j["threads"] = r.bench.threads;
    j["runs"] = r.bench.stats.runs;
    j["input_shape"] = r.bench.input_shape;
  }
  return j;
}

Status write_text_file(const std::filesystem::path& path, const std::string& text) {
  try {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::trunc);
    out << text;
    if (!out) return Status::Error("cannot write " + path.string());
  } catch (const std::exception& e) {
    return Status::Error("cannot write " + path.string() + ": " + e.what());
  }
  return Status::Ok();
}

}  // namespace ev
