// `edgevision validate --model M --data data.yaml [--compare OTHER]`: COCO mAP on a YOLO data set.
#include <cstdio>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/validate.hpp"

namespace ev::cli {
namespace {

struct ValidateArgs {
  ValidateOptions options;
  std::string compare;
  bool json = false;
};

int run_validate(ValidateArgs args, const GlobalOptions& global) {
  ModelManager models(global.model_manager_options());
  ValidateOptions options = args.options;
  if (!args.compare.empty() && options.rect) {
    // Rect inference needs a manifest size, which a quantized file next to its source lacks:
    // both models at their square, so the comparison is like with like.
    spdlog::info("validate: --compare scores both models at their square input");
    options.rect = false;
  }
  auto base = validate_detector(options, models);
  if (!base) {
    spdlog::error("{}", base.error());
    return 1;
  }
  std::optional<ValidationReport> other;
  if (!args.compare.empty()) {
    ValidateOptions o = options;
    o.model = args.compare;
    auto r = validate_detector(o, models);
    if (!r) {
      spdlog::error("{}", r.error());
      return 1;
    }
    other = std::move(r.value());
  }
  const ValidationReport* cmp = other ? &*other : nullptr;
  if (args.json) {
    std::printf("%s\n", validation_json(*base, cmp).c_str());
  } else {
    std::printf("%s", validation_text(*base, cmp).c_str());
  }
  return 0;
}

}  // namespace

void add_validate_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<ValidateArgs>();
  CLI::App* cmd =
      app.add_subcommand("validate", "COCO mAP@0.5 and mAP@0.5:0.95 on a YOLO data set");
  cmd->add_option("--model,-m", args->options.model, "manifest name or model file")->required();
  cmd->add_option("--data", args->options.data, "Ultralytics data.yaml (val split is used)")
      ->required();
  cmd->add_option("--conf", args->options.conf, "confidence threshold (COCO practice: 0.001)");
  cmd->add_option("--nms", args->options.nms, "NMS IoU threshold (default: the model's)");
  cmd->add_option("--backend", args->options.backend, "onnxruntime | opencv | auto");
  cmd->add_option("--threads", args->options.threads, "inference threads (0: backend default)");
  cmd->add_flag("!--square", args->options.rect,
                "letterbox to the model's full square input (default: rect inference)");
  cmd->add_option("--max-images", args->options.max_images, "use only the first N images");
  cmd->add_option("--compare", args->compare, "second model scored side by side");
  cmd->add_flag("--json", args->json, "one JSON object on stdout");
  cmd->callback([args, &global] { global.exit_code = run_validate(*args, global); });
}

}  // namespace ev::cli
