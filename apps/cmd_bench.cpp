// `edgevision bench --model M [--compare M2 ...]`: latency percentiles, FPS, peak RSS, CPU%,
// load time; --json for machines, --report for people.
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/benchmark.hpp"

namespace ev::cli {
namespace {

struct BenchArgs {
  std::string model;
  std::vector<std::string> compare;
  BenchOptions options;
  std::string image;
  std::string report;
  std::string ort_graph;  // folder for ORT's optimized graphs (debug)
  bool json = false;
};

int run_bench(const BenchArgs& args, const GlobalOptions& global) {
  ModelManager models(global.model_manager_options());
  std::vector<std::string> names{args.model};
  names.insert(names.end(), args.compare.begin(), args.compare.end());
  BenchOptions opts = args.options;
  opts.image = args.image;
  std::vector<BenchResult> results;
  for (const auto& name : names) {
    auto resolved = models.resolve(name);
    if (!resolved) {
      spdlog::error("{}", resolved.error());
      return 1;
    }
    const Preprocess* pre = resolved->spec ? &resolved->spec->preprocess : nullptr;
    BenchOptions o = opts;
    if (o.backend == "auto" && resolved->spec && !resolved->spec->backend.empty())
      o.backend = resolved->spec->backend;
    auto r = benchmark_model(name, resolved->primary(), pre, o);
    if (!r) {
      spdlog::error("bench {}: {}", name, r.error());
      return 1;
    }
    if (!args.ort_graph.empty()) {
      const auto save_as = std::filesystem::path(args.ort_graph) /
                           (resolved->primary().stem().string() + ".ort_optimized.onnx");
      auto g = ort_optimized_graph(resolved->primary(), save_as, o.threads);
      if (!g) {
        spdlog::error("bench {}: {}", name, g.error());
        return 1;
      }
      spdlog::info(
          "ORT graph of {}: {} integer ops, {} QuantizeLinear, {} DequantizeLinear, {} float "
          "Conv left; saved to {}",
          name, g->integer_ops, g->quantize_linear, g->dequantize_linear, g->float_convs,
          g->saved.string());
      spdlog::info("ORT graph of {}: {}", name, format_op_counts(*g));
    }
    results.push_back(std::move(*r));
  }
  if (!args.report.empty()) {
    if (auto st = write_text_file(args.report, render_bench_report(results, nullptr)); !st) {
      spdlog::error("{}", st.message());
      return 1;
    }
    spdlog::info("report written to {}", args.report);
  }
  if (args.json) {
    auto j = to_json(results.front());
    for (size_t i = 1; i < results.size(); ++i) {
      auto c = to_json(results[i]);
      c["median_ratio"] = results[i].stats.median_ms / results.front().stats.median_ms;
      j["compare"].push_back(c);
    }
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%-28s %8s %8s %8s %8s %8s %8s %7s %8s %7s %6s %7s\n", "model", "mean", "median",
              "p95", "p99", "min", "max", "FPS", "load ms", "RSS MB", "CPU%", "ratio");
  for (const auto& r : results) {
    const auto& s = r.stats;
    std::printf("%-28s %8.2f %8.2f %8.2f %8.2f %8.2f %8.2f %7.1f %8.0f %7.0f %6.0f %6.2fx\n",
                r.label.substr(0, 28).c_str(), s.mean_ms, s.median_ms, s.p95_ms, s.p99_ms, s.min_ms,
                s.max_ms, s.fps, r.load_ms, r.peak_rss_mb, r.cpu_percent,
                s.median_ms / results.front().stats.median_ms);
  }
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand("bench", "latency, FPS, memory and CPU of models");
  cmd->add_option("--model,-m", args->model, "manifest name or model file")->required();
  cmd->add_option("--compare", args->compare, "more models benchmarked in the same run");
  cmd->add_option("--runs", args->options.runs, "timed runs (default 100)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->options.warmup, "untimed runs first (default 10)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", args->options.threads, "inference threads (0: backend default)");
  cmd->add_option("--backend", args->options.backend, "auto | onnxruntime | opencv");
  cmd->add_option("--image", args->image, "real input image instead of synthetic noise");
  cmd->add_option("--report", args->report, "write a self-contained HTML report with plots");
  cmd->add_option("--ort-graph", args->ort_graph,
                  "save ONNX Runtime's optimized graph of each model in DIR and log its op counts "
                  "(shows whether QDQ became QLinearConv & co.)");
  cmd->add_flag("--json", args->json, "one JSON object on stdout (others under \"compare\")");
  cmd->callback([args, &global] { global.exit_code = run_bench(*args, global); });
}

}  // namespace ev::cli
