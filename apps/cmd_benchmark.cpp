// `edgevision benchmark --model M --data data.yaml [--calib DIR] [--device D ...]`: one row per
// model variant (FP32, FP16, INT8 from the calibration folder, --add'ed files) and execution
// provider, Ultralytics-style: size, mAP50-95, mAP50, median/p95 latency, FPS, peak RSS. A
// variant that fails gets a row saying why; the table is always complete.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/benchmark.hpp"
#include "edgevision/quantize.hpp"
#include "edgevision/validate.hpp"

namespace ev::cli {
namespace {

namespace fs = std::filesystem;

struct BenchmarkArgs {
  std::string model;
  std::string data;
  std::string calib;
  int calib_images = 0;  // 0: all images in --calib
  std::vector<std::string> devices;
  std::vector<std::string> add;  // NAME=FILE
  int imgsz = 0;
  int runs = 50;
  int warmup = 5;
  int threads = 0;
  int max_images = 0;  // val images for mAP (0: all)
  bool no_fp16 = false;
  std::string work_dir;
  std::string report;
  bool json = false;
};

struct Variant {
  std::string name;
  fs::path path;
  std::string error;  // making it failed
  std::string note;
};

double file_mb(const fs::path& p) {
  std::error_code ec;
  const auto n = fs::file_size(p, ec);
  return ec ? 0.0 : static_cast<double>(n) / 1e6;
}

// Variants keep the FP32 file's name (in a folder of their own) so the model manager finds the
// manifest entry, and with it the same pre-processing and decoder, for every variant.
Variant make_fp16(const fs::path& fp32, const fs::path& work) {
  Variant v{"FP16", work / "fp16" / fp32.filename(), "", ""};
  std::error_code ec;
  fs::create_directories(v.path.parent_path(), ec);
  auto r = convert_fp16(fp32, v.path);
  if (!r)
    v.error = "FP16 conversion failed: " + r.error();
  else
    v.note = fmt::format("{} of {} nodes in float16", r->nodes_fp16, r->nodes_total);
  return v;
}

Variant make_int8(const BenchmarkArgs& args, const ResolvedModel& resolved, const fs::path& work,
                  ModelManager& models) {
  const fs::path fp32 = resolved.primary();
  Variant v{"INT8", work / "int8" / fp32.filename(), "", ""};
  std::error_code ec;
  fs::create_directories(v.path.parent_path(), ec);
  // The options `quantize` uses without flags: accurate by default, refused below target.
  QuantizeOptions o;
  o.model = fp32;
  o.output = v.path;
  o.calib_dir = args.calib;
  o.max_images = args.calib_images;
  o.threads = args.threads;
  o.progress = true;
  if (resolved.spec) {
    o.preprocess = resolved.spec->preprocess;
    if (resolved.spec->task == "detect")
      use_detector_agreement(o, models, args.threads, kDefaultMaxDropVsFp32);
  }
  auto r = quantize_model(o);
  if (!r) {
    v.error = "quantize failed: " + r.error();
  } else if (!r->written) {
    v.error = fmt::format("quantize refused the model: {} {:.2f} < target {:.2f}",
                          r->quality_metric, r->quality, r->quality_target);
  } else {
    v.note = fmt::format("{} of {} nodes kept in float ({} {:.2f})", r->kept_float.size(),
                         r->nodes_total, r->quality_metric, r->quality);
  }
  return v;
}

// Rows are complete even when a variant fails: each failure is recorded, not thrown.
std::vector<VariantRow> run_variants(const std::vector<Variant>& variants,
                                     const std::vector<std::string>& devices,
                                     const BenchmarkArgs& args, const Preprocess* pre,
                                     ModelManager& models) {
  std::vector<VariantRow> rows;
  for (const auto& v : variants) {
    VariantRow base;
    base.variant = v.name;
    base.path = v.path.string();
    base.note = v.note;
    base.size_mb = file_mb(v.path);
    if (v.error.empty()) {
      ValidateOptions vo;
      vo.model = v.path.string();
      vo.data = args.data;
      vo.threads = args.threads;
      vo.max_images = args.max_images;
      vo.progress = false;
      auto acc = validate_detector(vo, models);
      if (acc) {
        base.has_accuracy = true;
        base.map50_95 = acc->metrics.map50_95;
        base.map50 = acc->metrics.map50;
        base.images = acc->metrics.images;
      } else {
        base.error = "validation failed: " + acc.error();
      }
    } else {
      base.error = v.error;
    }
    for (const auto& d : devices) {
      VariantRow row = base;
      row.device = d;
      if (row.ok()) {
        BenchOptions bo;
        bo.runs = args.runs;
        bo.warmup = args.warmup;
        bo.threads = args.threads;
        bo.backend = "onnxruntime";
        bo.device = d;
        bo.progress = false;
        auto b = benchmark_model(v.name + "/" + d, v.path, pre, bo);
        if (b)
          row.bench = std::move(b.value());
        else
          row.error = b.error();
      }
      if (!row.ok()) spdlog::warn("benchmark: {} on {}: {}", row.variant, d, row.error);
      rows.push_back(std::move(row));
    }
  }
  return rows;
}

void print_table(const std::vector<VariantRow>& rows) {
  std::printf("%-10s %-9s %8s %9s %7s %10s %8s %7s %8s  %s\n", "variant", "device", "size MB",
              "mAP50-95", "mAP50", "median ms", "p95 ms", "FPS", "RSS MB", "notes");
  for (const auto& r : rows) {
    const std::string a = r.has_accuracy ? fmt::format("{:.4f}", r.map50_95) : "-";
    const std::string b = r.has_accuracy ? fmt::format("{:.4f}", r.map50) : "-";
    if (r.ok())
      std::printf("%-10s %-9s %8.2f %9s %7s %10.2f %8.2f %7.1f %8.0f  %s\n", r.variant.c_str(),
                  r.device.c_str(), r.size_mb, a.c_str(), b.c_str(), r.bench.stats.median_ms,
                  r.bench.stats.p95_ms, r.bench.stats.fps, r.bench.peak_rss_mb, r.note.c_str());
    else
      std::printf("%-10s %-9s %8.2f %9s %7s %10s %8s %7s %8s  FAILED: %s\n", r.variant.c_str(),
                  r.device.c_str(), r.size_mb, a.c_str(), b.c_str(), "-", "-", "-", "-",
                  r.error.c_str());
  }
}

int run_benchmark(const BenchmarkArgs& args, const GlobalOptions& global) {
  ModelManager models(global.model_manager_options());
  auto resolved = models.resolve(args.model);
  if (!resolved) {
    spdlog::error("benchmark: {}", resolved.error());
    return 1;
  }
  const fs::path fp32 = resolved->primary();
  if (fp32.extension() != ".onnx") {
    spdlog::error("benchmark: {} is not an ONNX model", fp32.string());
    return 2;
  }
  if (auto d = parse_data_yaml(args.data); !d) {
    spdlog::error("benchmark: {}", d.error());
    return 2;
  }
  // Devices: the ones asked for (an unavailable one gets a failed row), else every available
  // execution provider edgevision can drive.
  std::vector<std::string> devices = args.devices;
  if (devices.empty()) {
    const auto have = available_execution_providers();
    for (const char* d : {"cpu", "cuda", "tensorrt", "openvino"}) {
      auto p = execution_provider_for(d);
      if (p && std::find(have.begin(), have.end(), *p) != have.end()) devices.push_back(d);
    }
    if (devices.empty()) devices.push_back("cpu");
  }
  for (const auto& d : devices)
    if (auto p = execution_provider_for(d); !p) {
      spdlog::error("benchmark: {}", p.error());
      return 2;
    }

  Preprocess pre = resolved->spec ? resolved->spec->preprocess : Preprocess{};
  if (args.imgsz > 0) {
    auto probe = create_backend("onnxruntime", fp32);
    if (!probe) {
      spdlog::error("benchmark: {}", probe.error());
      return 1;
    }
    const auto& shape = (*probe)->inputs().front().shape;
    if (shape.size() == 4) {
      const bool nhwc = pre.layout == "nhwc";
      const int64_t h = shape[nhwc ? 1 : 2], w = shape[nhwc ? 2 : 3];
      if ((h > 0 && h != args.imgsz) || (w > 0 && w != args.imgsz)) {
        spdlog::error(
            "benchmark: {} has a fixed {}x{} input; --imgsz {} needs a model exported with "
            "dynamic height/width",
            fp32.filename().string(), w, h, args.imgsz);
        return 2;
      }
    }
    pre.width = pre.height = args.imgsz;
    spdlog::info("benchmark: latency at {}x{} (mAP at the model's own input size)", args.imgsz,
                 args.imgsz);
  }

  fs::path work = args.work_dir;
  const bool temp_work = work.empty();
  if (temp_work)
    work = fs::temp_directory_path() / fmt::format("edgevision-benchmark-{}", ::getpid());
  std::error_code ec;
  fs::create_directories(work, ec);

  std::vector<Variant> variants{{"FP32", fp32, "", ""}};
  if (!args.no_fp16) variants.push_back(make_fp16(fp32, work));
  if (!args.calib.empty()) variants.push_back(make_int8(args, *resolved, work, models));
  for (const auto& a : args.add) {
    const auto eq = a.find('=');
    if (eq == std::string::npos || eq == 0) {
      spdlog::error("benchmark: --add wants NAME=FILE, got '{}'", a);
      return 2;
    }
    Variant v{a.substr(0, eq), a.substr(eq + 1), "", ""};
    if (!fs::is_regular_file(v.path, ec)) v.error = "no such file " + v.path.string();
    variants.push_back(std::move(v));
  }

  const auto rows = run_variants(variants, devices, args, &pre, models);
  if (temp_work) fs::remove_all(work, ec);

  int failed = 0;
  for (const auto& r : rows) failed += r.ok() ? 0 : 1;
  if (args.json) {
    nlohmann::json j{{"model", args.model}, {"path", fp32.string()},
                     {"data", args.data},   {"devices", devices},
                     {"failed", failed},    {"rows", nlohmann::json::array()}};
    for (const auto& r : rows) j["rows"].push_back(to_json(r));
    std::cout << j.dump(2) << std::endl;
  } else {
    print_table(rows);
  }
  if (!args.report.empty()) {
    if (Status st = write_text_file(args.report, render_variant_report(args.model, rows)); !st) {
      spdlog::error("benchmark: {}", st.message());
      return 1;
    }
    spdlog::info("benchmark: report written to {}", args.report);
  }
  if (failed > 0) {
    spdlog::error("benchmark: {} of {} rows failed (see the table)", failed, rows.size());
    return 1;
  }
  return 0;
}

}  // namespace

void add_benchmark_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<BenchmarkArgs>();
  CLI::App* cmd = app.add_subcommand(
      "benchmark", "one table of model variants x devices: size, mAP, latency, FPS, RSS");
  cmd->add_option("--model,-m", args->model, "manifest name or .onnx file")->required();
  cmd->add_option("--data", args->data, "Ultralytics data.yaml for mAP (val split)")->required();
  cmd->add_option("--calib", args->calib, "calibration images: adds the INT8 variant");
  cmd->add_option("--calib-images", args->calib_images, "use at most N calibration images");
  cmd->add_option("--device", args->devices,
                  "cpu | cuda | tensorrt | openvino (repeatable; default: every available one)");
  cmd->add_option("--add", args->add, "extra variant NAME=FILE (repeatable)");
  cmd->add_option("--imgsz", args->imgsz, "latency input size (models with dynamic H/W)");
  cmd->add_option("--runs", args->runs, "timed runs per row")->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", args->warmup, "untimed runs first")->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", args->threads, "inference threads (0: runtime default)");
  cmd->add_option("--max-images", args->max_images, "val images for mAP (0: all)");
  cmd->add_flag("--no-fp16", args->no_fp16, "leave out the FP16 variant");
  cmd->add_option("--work-dir", args->work_dir, "keep the variant files here (default: temp)");
  cmd->add_option("--report", args->report, "self-contained HTML report");
  cmd->add_flag("--json", args->json, "one JSON object on stdout");
  cmd->callback([args, &global] { global.exit_code = run_benchmark(*args, global); });
}

}  // namespace ev::cli
