// `edgevision quantize MODEL -o OUT.onnx --calib DIR`: static INT8 QDQ model, or --fp16 /
// --fp16-weights-only.

#include <cmath>
#include <cstdio>
#include <iostream>
#include <optional>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "commands.hpp"
#include "edgevision/anonymize.hpp"
#include "edgevision/backend.hpp"
#include "edgevision/detect.hpp"
#include "edgevision/face_agreement.hpp"
#include "edgevision/preprocess.hpp"
#include "edgevision/quantize.hpp"
#include "edgevision/validate.hpp"

namespace ev::cli {
namespace {

struct QuantizeArgs {
  std::string model;
  std::string output;
  std::string calib;
  std::string method = "minmax";
  std::string precision = "all";
  double percentile = 99.99;
  std::vector<std::string> exclude;
  std::string calib_cache;
  int max_images = 0;
  bool per_channel = false;
  bool per_tensor = false;
  bool fp16 = false;
  bool fp16_weights_only = false;
  bool fp16_io = false;
  std::string preprocess;
  int threads = 0;
  bool json = false;
  // Accuracy guard.
  bool no_auto = false;
  bool no_int8_silu = false;
  double min_sqnr = 0;  // 0: library default
  int holdout = 0;
  std::string val;
  double max_drop = 1.0;
  double max_drop_fp32 = kDefaultMaxDropVsFp32;
  double max_face_drop = 2.0;
  int val_images = 0;
  bool force = false;
};

nlohmann::json guard_json(const QuantizeReport& r) {
  nlohmann::json kept = nlohmann::json::array();
  for (const auto& f : r.kept_float)
    kept.push_back(
        {{"node", f.node}, {"op", f.op}, {"sqnr_db_alone", f.sqnr_db_alone}, {"reason", f.reason}});
  nlohmann::json steps = nlohmann::json::array();
  for (const auto& [k, q] : r.search_steps) steps.push_back({{"float_nodes", k}, {"quality", q}});
  return {{"checked", r.quality_checked},
          {"metric", r.quality_metric},
          {"value", r.quality},
          {"target", r.quality_target},
          {"reference", r.reference_score},
          {"full_int8", r.full_int8_quality},
          {"target_met", r.target_met},
          {"written", r.written},
          {"holdout_images", r.holdout_images},
          {"nodes_probed", r.nodes_probed},
          {"candidates_evaluated", r.candidates_evaluated},
          {"search_s", r.search_s},
          {"steps", steps},
          {"kept_float", kept}};
}

std::string metric_label(const QuantizeReport& r) {
  if (r.quality_metric == "map50_95_val") return "mAP50-95 on --val (points)";
  if (r.quality_metric == "face_coverage_vs_fp32")
    return "face coverage of the FP32 model's faces on held-back images (%)";
  if (r.quality_metric == "map50_95_vs_fp32")
    return "mAP50-95 vs FP32 detections on held-back images (points)";
  return "output SQNR (dB)";
}

// The default quality measure for detectors: the candidate's mAP50-95 on the held-back
// calibration images with the FP32 model's detections (at the manifest's confidence) as the
// ground truth. It asks what the user cares about (same objects, same boxes) without labels;
// a raw-output SQNR weighs every near-zero class score like a detection and said "broken"
// about INT8 models that lose 0.5 real mAP points.
class AgreementMap {
 public:
  AgreementMap(ModelManager& models, int threads) : models_(models), threads_(threads) {}
  Result<double> operator()(const std::filesystem::path& model,
                            const std::vector<std::filesystem::path>& holdout) {
    if (images_.empty()) {
      for (const auto& p : holdout) {
        cv::Mat img = cv::imread(p.string(), cv::IMREAD_COLOR);
        if (!img.empty()) images_.push_back(std::move(img));
      }
      if (images_.empty()) return Status::Error("no readable held-back image");
      DetectorParams dp;
      dp.model = model.string();  // the FP32 model is scored first: its detections are the truth
      dp.threads = threads_;
      dp.rect = false;  // both at the square: the quantized file has no manifest size for rect
      auto det = ObjectDetector::create(dp, models_);
      if (!det) return det.status();
      classes_ = static_cast<int>((*det)->labels().size());
      for (const auto& img : images_) {
        auto d = (*det)->detect(img);
        if (!d) return d.status();
        std::vector<GroundTruth> gt;
        for (const auto& x : *d) gt.push_back({x.box, x.class_id});
        truth_.push_back(std::move(gt));
      }
    }
    DetectorParams dp;
    dp.model = model.string();
    dp.threads = threads_;
    dp.rect = false;
    dp.conf = 0.001f;  // scored like validate: the whole precision-recall curve
    dp.max_detections = 100;
    auto det = ObjectDetector::create(dp, models_);
    if (!det) return det.status();
    MapEvaluator eval(std::max(1, classes_));
    for (size_t i = 0; i < images_.size(); ++i) {
      auto d = (*det)->detect(images_[i]);
      if (!d) return d.status();
      eval.add_image(truth_[i], *d);
    }
    return eval.compute().map50_95 * 100.0;
  }

 private:
  ModelManager& models_;
  int threads_;
  int classes_ = 0;
  std::vector<cv::Mat> images_;
  std::vector<std::vector<GroundTruth>> truth_;
};

// The people's view on stdout: the guard's verdict and the nodes kept in float.
void print_guard_table(const QuantizeReport& r, const std::string& output) {
  if (!r.quality_checked) return;
  std::printf("%-28s %s\n", "quality measure", metric_label(r).c_str());
  if (r.quality_metric != "sqnr_db") std::printf("%-28s %.2f\n", "FP32", r.reference_score);
  std::printf("%-28s %.2f\n", "all nodes INT8", r.full_int8_quality);
  std::printf("%-28s %.2f (target >= %.2f) %s\n", "written model", r.quality, r.quality_target,
              r.target_met ? "OK" : "BELOW TARGET");
  std::printf("%-28s %d held-back calibration images%s\n", "judged on", r.holdout_images,
              r.quality_metric == "map50_95_val" ? " (search) and the --val set (target)" : "");
  if (!r.kept_float.empty()) {
    std::printf("\nkept in float (%zu of %d probed nodes, most fragile first):\n",
                r.kept_float.size(), r.nodes_probed);
    std::printf("  %-4s %-28s %-12s %s\n", "rank", "node", "op", "SQNR alone (dB)");
    int rank = 0;
    for (const auto& f : r.kept_float) {
      // Nodes kept float only because they come before a fragile one (--precision all) say so.
      if (f.reason.rfind("rank", 0) == 0)
        std::printf("  %-4d %-28s %-12s %.1f\n", ++rank, f.node.c_str(), f.op.c_str(),
                    f.sqnr_db_alone);
      else
        std::printf("  %-4s %-28s %-12s %.1f  %s\n", "-", f.node.c_str(), f.op.c_str(),
                    f.sqnr_db_alone, f.reason.c_str());
    }
  } else if (r.target_met) {
    std::printf("\nno node needed to stay in float\n");
  }
  std::printf("\n%s\n", r.written ? ("written: " + output).c_str() : "nothing written");
}

// Cosine similarity and max |diff| of the first output of both models on one image: a quick
// sign that the quantized graph still computes the same thing (validate gives the real answer).
void compare_on_image(const std::filesystem::path& fp32, const std::filesystem::path& int8,
                      const std::filesystem::path& image, const Preprocess& pre,
                      nlohmann::json& out) {
  const auto skip = [&](const std::string& why) {
    spdlog::warn("quantize: no FP32 comparison on {}: {}", image.filename().string(), why);
  };
  auto a = create_backend("onnxruntime", fp32);
  auto b = create_backend("onnxruntime", int8);
  if (!a || !b) return skip(!a ? a.error() : b.error());
  const std::vector<int64_t> shape = image_input_shape((*a)->inputs().front().shape, pre);
  if (shape.empty()) return skip("the input is not a 4-D image");
  cv::Mat img = cv::imread(image.string());
  if (img.empty()) return skip("unreadable image");
  std::vector<float> input;
  const cv::Size size = image_input_size(shape, pre);
  make_input_tensor(img, pre, size.width, size.height, input);
  std::vector<Tensor> oa, ob;
  if (Status st = (*a)->run({{input.data(), shape}}, oa); !st) return skip(st.message());
  if (Status st = (*b)->run({{input.data(), shape}}, ob); !st) return skip(st.message());
  if (oa.empty() || ob.empty() || oa[0].data.size() != ob[0].data.size())
    return skip("the outputs differ in size");
  double dot = 0, na = 0, nb = 0, maxd = 0;
  for (size_t i = 0; i < oa[0].data.size(); ++i) {
    const double x = oa[0].data[i], y = ob[0].data[i];
    dot += x * y;
    na += x * x;
    nb += y * y;
    maxd = std::max(maxd, std::fabs(x - y));
  }
  const double cos = na > 0 && nb > 0 ? dot / std::sqrt(na * nb) : 0;
  out["check_image"] = image.string();
  out["output_cosine"] = cos;
  out["output_max_abs_diff"] = maxd;
  spdlog::info("quantize: first output vs FP32 on {}: cosine {:.5f}, max |diff| {:.4f}",
               image.filename().string(), cos, maxd);
}

}  // namespace

void use_detector_agreement(QuantizeOptions& o, ModelManager& models, int threads,
                            double max_drop_points) {
  auto agreement = std::make_shared<AgreementMap>(models, threads);
  o.metric_name = "map50_95_vs_fp32";
  o.max_drop = max_drop_points;
  o.metric = [agreement](const std::filesystem::path& m,
                         const std::vector<std::filesystem::path>& holdout) {
    return (*agreement)(m, holdout);
  };
}

// Face models are judged by face coverage when the held-back calibration images show enough
// faces; otherwise by output SQNR, said in one warning line. False: the FP32 model failed.
bool use_face_coverage(QuantizeOptions& o, ModelManager& models, int threads,
                       double max_drop_points) {
  auto coverage = std::make_shared<FaceCoverageJudge>(models, threads);
  auto held = holdout_images(o);
  if (!held) {
    spdlog::error("{}", held.error());
    return false;
  }
  auto faces = coverage->label(o.model, *held);
  if (!faces) {
    spdlog::error("quantize: FP32 face model: {}", faces.error());
    return false;
  }
  if (*faces < kMinFacesForCoverage) {
    spdlog::warn(
        "quantize: the FP32 model finds only {} faces on the {} held-back calibration images (< "
        "{}): judging by output SQNR instead of face coverage; calibrate with images that show "
        "faces",
        *faces, held->size(), kMinFacesForCoverage);
    return true;
  }
  o.metric_name = "face_coverage_vs_fp32";
  o.max_drop = max_drop_points;
  o.metric = [coverage](const std::filesystem::path& m, const std::vector<std::filesystem::path>&) {
    return coverage->coverage(m);
  };
  return true;
}

namespace {

// How calibration images become input tensors: --preprocess, else the manifest entry's; none
// for a bare file without --preprocess.
Result<std::optional<Preprocess>> model_preprocess(const QuantizeArgs& args,
                                                   const ResolvedModel& resolved) {
  if (!args.preprocess.empty()) {
    auto p = preprocess_preset(args.preprocess);
    if (!p) return p.status();
    return std::optional<Preprocess>(*p);
  }
  if (resolved.spec) return std::optional<Preprocess>(resolved.spec->preprocess);
  return std::optional<Preprocess>();
}

int run_quantize(const QuantizeArgs& args, const GlobalOptions& global) {
  ModelManager models(global.model_manager_options());
  auto resolved = models.resolve(args.model);
  if (!resolved) {
    spdlog::error("{}", resolved.error());
    return 1;
  }
  const auto path = resolved->primary();
  if (path.extension() != ".onnx") {
    spdlog::error("quantize works on ONNX models; {} is not an .onnx file", path.string());
    return 2;
  }
  if (args.fp16 || args.fp16_weights_only || args.fp16_io) {
    Fp16Options fo;
    fo.mode = args.fp16_weights_only ? Fp16Mode::kWeightsOnly : Fp16Mode::kFull;
    fo.fp16_io = args.fp16_io;
    fo.exclude = args.exclude;
    if (args.fp16_weights_only && args.fp16_io) {
      spdlog::error("--fp16-io needs the full FP16 graph (--fp16), not --fp16-weights-only");
      return 2;
    }
    auto r = convert_fp16(path, args.output, fo);
    if (!r) {
      spdlog::error("{}", r.error());
      return 1;
    }
    nlohmann::json j{{"model", path.string()},
                     {"output", args.output},
                     {"precision", r->mode},
                     {"fp16_io", r->fp16_io},
                     {"opset", r->opset},
                     {"nodes", r->nodes_total},
                     {"nodes_fp16", r->nodes_fp16},
                     {"kept_fp32", r->kept_fp32},
                     {"excluded_nodes", r->excluded_nodes},
                     {"initializers_converted", r->initializers_converted},
                     {"initializers_kept_fp32", r->initializers_kept_fp32},
                     {"casts_inserted", r->casts_inserted},
                     {"values_clamped", r->values_clamped},
                     {"values_flushed", r->values_flushed},
                     {"integer_casts_to_fp16", r->integer_casts_to_fp16},
                     {"input_bytes", r->input_bytes},
                     {"output_bytes", r->output_bytes}};
    if (fo.mode == Fp16Mode::kFull)
      spdlog::info(
          "fp16: {} of {} nodes compute in float16 ({} kept float32), {} initializers converted, "
          "{} Casts, {} values clamped; {:.2f} MB -> {:.2f} MB, written to {}",
          r->nodes_fp16, r->nodes_total, r->kept_fp32.size(), r->initializers_converted,
          r->casts_inserted, r->values_clamped, r->input_bytes / 1e6, r->output_bytes / 1e6,
          args.output);
    else
      spdlog::info("fp16 weights: {} initializers, {:.2f} MB -> {:.2f} MB, written to {}",
                   r->initializers_converted, r->input_bytes / 1e6, r->output_bytes / 1e6,
                   args.output);
    for (const auto& k : r->kept_fp32) spdlog::debug("fp16: kept float32: {}", k);
    if (!args.calib.empty() && !args.fp16_io) {
      auto pre = model_preprocess(args, *resolved);
      auto images = list_calibration_images(args.calib, 1);
      if (pre && *pre && images) compare_on_image(path, args.output, images->front(), **pre, j);
    }
    if (args.json) std::cout << j.dump(2) << std::endl;
    return 0;
  }
  auto method = parse_calibration_method(args.method);
  if (!method) {
    spdlog::error("{}", method.error());
    return 2;
  }
  QuantizeOptions o;
  o.model = path;
  o.output = args.output;
  o.calib_dir = args.calib;
  o.method = *method;
  auto precision = parse_quant_precision(args.precision);
  if (!precision) {
    spdlog::error("{}", precision.error());
    return 2;
  }
  o.precision = *precision;
  o.int8_silu = !args.no_int8_silu;
  o.percentile = args.percentile;
  o.exclude = args.exclude;
  o.calib_cache = args.calib_cache;
  o.max_images = args.max_images;
  o.per_channel = !args.per_tensor;
  o.threads = args.threads;
  o.progress = true;
  auto pre = model_preprocess(args, *resolved);
  if (!pre) {
    spdlog::error("{}", pre.error());
    return 2;
  }
  if (*pre) {
    o.preprocess = **pre;
  } else if (args.calib_cache.empty() || !std::filesystem::exists(args.calib_cache)) {
    spdlog::error(
        "{} has no manifest entry, so its pre-processing is unknown: pass --preprocess "
        "yolo|raw|imagenet",
        path.string());
    return 2;
  }
  o.auto_float = !args.no_auto;
  if (args.min_sqnr > 0) o.min_sqnr_db = args.min_sqnr;
  o.holdout_images = args.holdout;
  o.force = args.force;
  o.max_drop = args.max_drop;
  if (!args.val.empty()) {
    // NNCF-style accuracy control: the real metric (mAP50-95 in points) on the --val set.
    o.metric_name = "map50_95_val";
    o.metric = [&args, &models](const std::filesystem::path& m,
                                const std::vector<std::filesystem::path>&) -> Result<double> {
      ValidateOptions vo;
      vo.model = m.string();
      vo.data = args.val;
      vo.threads = args.threads;
      vo.max_images = args.val_images;
      vo.progress = false;
      auto v = validate_detector(vo, models);
      if (!v) return v.status();
      return v->metrics.map50_95 * 100.0;
    };
  } else if (resolved->spec && resolved->spec->task == "detect" && args.min_sqnr <= 0) {
    use_detector_agreement(o, models, args.threads, args.max_drop_fp32);
  } else if (resolved->spec && resolved->spec->task == "face" && args.min_sqnr <= 0) {
    if (!o.calib_dir.empty() && !use_face_coverage(o, models, args.threads, args.max_face_drop))
      return 1;
  }
  auto r = quantize_model(o);
  if (!r) {
    spdlog::error("{}", r.error());
    return 1;
  }
  if (r->quality_checked && !r->target_met) {
    const std::string numbers =
        fmt::format("{} {:.2f} < target {:.2f} (all nodes INT8: {:.2f}; {} nodes kept in float)",
                    metric_label(*r), r->quality, r->quality_target, r->full_int8_quality,
                    r->kept_float.size());
    if (!r->written) {
      spdlog::error(
          "quantize: the INT8 model misses the quality target: {}; nothing written (--force "
          "writes it anyway)",
          numbers);
      if (args.json)
        std::cout << nlohmann::json{{"model", path.string()}, {"quality", guard_json(*r)}}.dump(2)
                  << std::endl;
      else
        print_guard_table(*r, args.output);
      return 1;
    }
    spdlog::warn(
        "quantize: WARNING: {} written although it misses the quality target: {} (--force)",
        args.output, numbers);
  }
  for (const auto& f : r->kept_float)
    spdlog::info("quantize: kept in float: {} ({}): {}", f.node, f.op, f.reason);
  if (!r->float_for_speed.empty()) {
    std::string kept;
    for (const auto& [why, n] : r->float_for_speed)
      kept += fmt::format("{}{} {}", kept.empty() ? "" : ", ", n, why);
    spdlog::info("quantize: --precision speed kept in float (int8 slower on CPU): {}", kept);
  }
  nlohmann::json j{
      {"model", path.string()},
      {"output", args.output},
      {"method", args.method},
      {"precision", to_string(o.precision)},
      {"float_for_speed", r->float_for_speed},
      {"percentile", o.method == CalibrationMethod::kPercentile ? args.percentile : 0.0},
      {"per_channel", o.per_channel},
      {"images", r->images},
      {"cache_used", r->cache_used},
      {"calibration_s", r->calibration_s},
      {"nodes", r->nodes_total},
      {"nodes_quantized", r->nodes_quantized},
      {"excluded_nodes", r->excluded_nodes},
      {"activations_quantized", r->activations_quantized},
      {"fused_activations", r->fused_activations.size()},
      {"silu_inputs_floored", r->silu_inputs_floored},
      {"silu_tables", r->silu_tables},
      {"weights_quantized", r->weights_quantized},
      {"opset", r->opset},
      {"input_bytes", r->input_bytes},
      {"output_bytes", r->output_bytes},
      {"quality", guard_json(*r)}};
  spdlog::info(
      "quantize: {} of {} nodes quantized ({} excluded), {} activations ({} Relu/Clip fused "
      "with the op before them, {} SiLU inputs floored at -8, {} SiLUs as one int8 table), {} "
      "weights; {:.2f} MB -> {:.2f} MB; "
      "written to {}",
      r->nodes_quantized, r->nodes_total, r->excluded_nodes.size(), r->activations_quantized,
      r->fused_activations.size(), r->silu_inputs_floored, r->silu_tables, r->weights_quantized,
      r->input_bytes / 1e6, r->output_bytes / 1e6, args.output);
  if (!args.calib.empty()) {
    auto images = list_calibration_images(args.calib, 1);
    if (images) compare_on_image(path, args.output, images->front(), o.preprocess, j);
  }
  if (args.json)
    std::cout << j.dump(2) << std::endl;
  else
    print_guard_table(*r, args.output);
  return 0;
}

// The options by concern: INT8 calibration, the accuracy guard, FP16.
void add_int8_options(CLI::App* cmd, QuantizeArgs& a) {
  cmd->add_option("--calib", a.calib, "folder of calibration images");
  cmd->add_option("--precision", a.precision,
                  "which ops may become INT8: all = every op with an int8 form, SiLU as one int8 "
                  "table (default) | speed = only dense Conv/Gemm/MatMul, SiLU and depthwise "
                  "Conv float (the earlier default)")
      ->check(CLI::IsMember({"speed", "all"}));
  cmd->add_flag(
      "--no-int8-silu", a.no_int8_silu,
      "quantized SiLUs as ONNX Runtime's QLinearSigmoid + QLinearMul instead of one "
      "ai.edgevision:QLinearSiLU table lookup (a file for runtimes other than edgevision)");
  cmd->add_option("--method", a.method, "minmax | percentile | entropy (KL)")
      ->check(CLI::IsMember({"minmax", "percentile", "entropy", "kl"}));
  cmd->add_option("--percentile", a.percentile, "for --method percentile (default 99.99)")
      ->check(CLI::Range(50.0, 100.0));
  cmd->add_option("--calib-cache", a.calib_cache,
                  "JSON of tensor ranges: reused when it matches, written after calibrating");
  cmd->add_option("--max-images", a.max_images, "use at most N calibration images");
  auto* pc =
      cmd->add_flag("--per-channel", a.per_channel, "per-output-channel weight scales (default)");
  cmd->add_flag("--per-tensor", a.per_tensor, "one weight scale per tensor")->excludes(pc);
  cmd->add_option("--threads", a.threads, "inference threads during calibration");
}

void add_guard_options(CLI::App* cmd, QuantizeArgs& a) {
  cmd->add_flag("--no-auto", a.no_auto,
                "no sensitivity search: quantize everything outside --exclude (the quality target "
                "is still checked)");
  cmd->add_option("--min-sqnr", a.min_sqnr,
                  "quality target: output SQNR vs FP32 on held-back images, dB (default 26)");
  cmd->add_option("--holdout", a.holdout,
                  "calibration images held back for the quality check (default n/3, 4..48)");
  cmd->add_option("--val", a.val,
                  "data.yaml: judge candidates by the real mAP50-95 on its val split (accuracy "
                  "control) instead of the output SQNR");
  cmd->add_option("--max-drop", a.max_drop,
                  "with --val: largest mAP50-95 drop allowed, points (default 1.0)");
  cmd->add_option("--val-images", a.val_images, "with --val: use at most N val images");
  cmd->add_option("--max-drop-vs-fp32", a.max_drop_fp32,
                  "detectors without --val: largest drop of mAP50-95 against the FP32 model's own "
                  "detections on the held-back images, points (default 12)");
  cmd->add_option("--max-face-drop", a.max_face_drop,
                  "face models without --min-sqnr: largest drop of face coverage (faces the FP32 "
                  "model finds on the held-back images that stay masked), points (default 2)");
  cmd->add_flag("--force", a.force,
                "write the model even when it misses the quality target (loudly)");
}

void add_fp16_options(CLI::App* cmd, QuantizeArgs& a) {
  cmd->add_flag("--fp16", a.fp16,
                "weights and compute in float16, inputs/outputs float32 behind Casts; for GPU EPs "
                "and FP16-capable CPUs");
  cmd->add_flag("--fp16-weights-only", a.fp16_weights_only,
                "FP16 storage only: weights float16 + Cast, compute stays float32 (CPU EPs)");
  cmd->add_flag("--fp16-io", a.fp16_io, "with --fp16: graph inputs and outputs become float16 too");
}

}  // namespace

void add_quantize_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<QuantizeArgs>();
  auto* cmd = app.add_subcommand("quantize", "INT8 static quantization (QDQ ONNX) or FP16");
  cmd->add_option("model", args->model, "manifest name or .onnx file")->required();
  cmd->add_option("-o,--output", args->output, "output .onnx")->required();
  cmd->add_option("--exclude", args->exclude,
                  "node names, output tensor names or op types kept in float (wildcards allowed); "
                  "FIRST..LAST: every node from FIRST to LAST in graph order");
  cmd->add_option("--preprocess", args->preprocess,
                  "yolo | raw | imagenet, for models without a manifest entry");
  cmd->add_flag("--json", args->json, "one JSON summary on stdout");
  add_int8_options(cmd, *args);
  add_guard_options(cmd, *args);
  add_fp16_options(cmd, *args);
  cmd->callback([args, &global] { global.exit_code = run_quantize(*args, global); });
}

}  // namespace ev::cli
