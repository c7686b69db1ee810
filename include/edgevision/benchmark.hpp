// Latency benchmark of one model (or of pipeline stages): warm-up, timed runs, percentile
// statistics, peak RSS and CPU use from /proc, JSON and a self-contained HTML report.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgevision/models.hpp"
#include "edgevision/status.hpp"

namespace ev {

struct LatencyStats {
  int runs = 0;
  double mean_ms = 0, median_ms = 0, p90_ms = 0, p95_ms = 0, p99_ms = 0, min_ms = 0, max_ms = 0;
  double stddev_ms = 0;
  double fps = 0;  // 1000 / mean
};
// Percentiles by linear interpolation between order statistics (numpy's default).
LatencyStats compute_latency_stats(std::vector<double> samples_ms);
double percentile_of_sorted(const std::vector<double>& sorted, double p);

struct BenchOptions {
  int runs = 100;
  int warmup = 10;
  int threads = 0;  // 0: backend default
  std::string backend = "auto";
  std::string device = "cpu";  // execution provider (BackendOptions::device)
  bool progress = true;
  std::filesystem::path image;  // optional real input image (pre-processed like the model's)
};

struct BenchResult {
  std::string label;  // model name or file
  std::string path;
  std::string backend;
  std::string device;
  int threads = 0;
  int warmup = 0;
  std::vector<int64_t> input_shape;
  double load_ms = 0;
  LatencyStats stats;
  std::vector<double> samples_ms;
  double peak_rss_mb = 0;
  double cpu_percent = 0;  // (user+system CPU time) / wall time over the timed runs
};

// `pre` (may be null) sizes dynamic inputs and pre-processes `options.image`.
Result<BenchResult> benchmark_model(const std::string& label, const std::filesystem::path& model,
                                    const Preprocess* pre, const BenchOptions& options);

// One pipeline stage timed per frame (decode, face_detect, anonymize, detect_*, track).
struct StageResult {
  std::string name;
  std::string thread;  // the service thread that runs it: source, anonymize, detect, track
  LatencyStats stats;  // over the frames it ran on (stats.runs)
  std::vector<double> samples_ms;
};
struct PipelineBenchResult {
  std::string source;
  std::string face_detector;  // the one actually used (after fallbacks)
  std::string detector;       // object detection model; empty when detection is off
  int frames = 0;             // timed frames
  int frames_failed = 0;      // withheld by the fail-closed privacy path
  int64_t faces = 0;          // face masks applied over the timed frames
  int64_t detections = 0;
  double load_ms = 0;  // creating the stages (model loading)
  std::vector<StageResult> stages;
  LatencyStats total;  // per frame, all stages one after the other
  std::vector<double> total_samples_ms;
  // Service thread with the highest mean time per frame: with a core per thread, the
  // pipelined frame rate is at most 1000 / bottleneck_ms.
  std::string bottleneck;
  double bottleneck_ms = 0;
  // The real CameraPipeline (a thread per stage) on the same source, when asked for: the
  // throughput the service sustains on this machine, all stages competing for its cores.
  struct Threaded {
    int frames = 0;  // 0: not run
    double fps = 0;
    double cpu_percent = 0;
    double latency_ms = 0;       // end-to-end latency of the last frame (read -> tracked)
    int64_t frames_dropped = 0;  // live sources: frames the stages could not take (back-pressure)
  } threaded;
  double peak_rss_mb = 0;
  double cpu_percent = 0;
};

// The graph ONNX Runtime actually executes: `model` loaded on the CPU EP with all graph
// optimizations (QDQ fusion, layout transforms), saved to `save_as` through
// SessionOptions::SetOptimizedModelFilePath, with its nodes counted by "domain:op_type"
// ("QLinearConv", "com.microsoft:QLinearConv", ...). Shows whether a QDQ model became integer
// kernels or still runs DequantizeLinear -> float op -> QuantizeLinear.
struct OrtGraphSummary {
  std::filesystem::path saved;
  std::map<std::string, int> op_counts;  // "op" for the default domain, else "domain:op"
  int integer_ops = 0;                   // QLinear*, ConvInteger, MatMulInteger
  int quantize_linear = 0;
  int dequantize_linear = 0;
  int float_convs = 0;  // Conv / FusedConv / NCHWc Conv left in float
};
Result<OrtGraphSummary> ort_optimized_graph(const std::filesystem::path& model,
                                            const std::filesystem::path& save_as, int threads);
std::string format_op_counts(const OrtGraphSummary& s);  // "104 QLinearConv, 98 QLinearMul, ..."

// Per-op-type kernel time of one model in ONNX Runtime (SessionOptions::EnableProfiling): the
// model runs `warmup` + `runs` times on random input (the input's dynamic dims as 1), and the
// kernel events of the timed runs are summed by the op type ORT executed (QLinearConv,
// QuickGelu, ...). Explains an INT8 vs FP32 latency ratio op by op.
struct OpTypeTime {
  std::string op;  // as executed, e.g. "QLinearConv", "Conv", "QuickGelu"
  int nodes = 0;   // nodes of that type in the executed graph
  double ms = 0;   // kernel time per inference
};
struct OpProfile {
  std::vector<OpTypeTime> ops;  // slowest first
  double kernel_ms = 0;         // sum of all kernel time per inference
  int runs = 0;
  std::filesystem::path trace;  // ORT's JSON trace (Chrome tracing format)
};
Result<OpProfile> ort_op_profile(const std::filesystem::path& model,
                                 const std::filesystem::path& trace_dir, int threads, int runs,
                                 int warmup);
nlohmann::json to_json(const OpProfile& p);

nlohmann::json to_json(const LatencyStats& s);
nlohmann::json to_json(const BenchResult& r);
nlohmann::json to_json(const PipelineBenchResult& r);

// One row of `edgevision benchmark` (Ultralytics-style): a model variant on one device.
struct VariantRow {
  std::string variant;  // FP32, FP16, INT8 or a --add name
  std::string device;   // cpu, cuda, tensorrt, openvino
  std::string path;
  std::string error;  // non-empty: the variant failed here, and why
  std::string note;   // how it was made (e.g. "12 nodes kept in float")
  double size_mb = 0;
  bool has_accuracy = false;  // mAP measured (on the CPU execution provider)
  double map50_95 = 0, map50 = 0;
  int images = 0;
  BenchResult bench;  // when error is empty
  bool ok() const { return error.empty(); }
};
nlohmann::json to_json(const VariantRow& r);
// The table, the latency bars and histograms of the rows that ran, as one HTML file.
std::string render_variant_report(const std::string& title, const std::vector<VariantRow>& rows);

// Self-contained HTML (inline SVG, no scripts or external files).
std::string render_bench_report(const std::vector<BenchResult>& models,
                                const PipelineBenchResult* pipeline);
Status write_text_file(const std::filesystem::path& path, const std::string& text);

// /proc readers (Linux); 0 when unavailable.
double peak_rss_mb();          // VmHWM
void reset_peak_rss();         // writes 5 to /proc/self/clear_refs
double process_cpu_seconds();  // utime + stime

}  // namespace ev
