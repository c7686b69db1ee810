// `edgevision mot-eval --gt GT.txt --pred PRED.txt`: CLEAR-MOT and identity metrics of a
// tracker output against MOTChallenge ground truth.
#include <cstdio>

#include <spdlog/spdlog.h>

#include "commands.hpp"
#include "edgevision/mot_metrics.hpp"

namespace ev::cli {
namespace {

struct MotEvalArgs {
  std::string gt;
  std::string pred;
  std::string frames;
  double iou = 0.5;
  bool json = false;
};

int run_mot_eval(const MotEvalArgs& args) {
  MotEvalOptions o;
  o.iou_threshold = args.iou;
  if (!args.frames.empty()) {
    int a = 0, b = 0;
    char dash = 0, extra = 0;
    if (std::sscanf(args.frames.c_str(), "%d%c%d%c", &a, &dash, &b, &extra) != 3 || dash != '-' ||
        a < 1 || b < a) {
      spdlog::error("--frames takes A-B with 1 <= A <= B, got '{}'", args.frames);
      return 2;
    }
    o.first_frame = a;
    o.last_frame = b;
  }
  auto gt = read_mot_file(args.gt);
  if (!gt) {
    spdlog::error("{}", gt.error());
    return 1;
  }
  auto pred = read_mot_file(args.pred);
  if (!pred) {
    spdlog::error("{}", pred.error());
    return 1;
  }
  if (o.last_frame == 0 && !gt->empty() && !pred->empty()) {
    int gt_last = 0, pred_last = 0;
    for (const auto& r : *gt) gt_last = std::max(gt_last, r.frame);
    for (const auto& r : *pred) pred_last = std::max(pred_last, r.frame);
    if (pred_last > gt_last)
      spdlog::warn("predictions go to frame {} but gt ends at {}: those count as FP; use --frames",
                   pred_last, gt_last);
  }
  auto m = evaluate_mot(*gt, *pred, o);
  if (!m) {
    spdlog::error("{}", m.error());
    return 1;
  }
  if (args.json) {
    std::printf("%s\n", mot_metrics_json(*m).c_str());
    return 0;
  }
  std::printf("frames %lld  gt boxes %lld (%d ids)  predictions %lld (%d ids)  IoU >= %.2f\n",
              static_cast<long long>(m->frames), static_cast<long long>(m->gt), m->gt_ids,
              static_cast<long long>(m->predictions), m->pred_ids, o.iou_threshold);
  std::printf("MOTA %6.2f%%  MOTP %.3f  IDF1 %6.2f%%  IDP %6.2f%%  IDR %6.2f%%\n", 100 * m->mota,
              m->motp, 100 * m->idf1, 100 * m->idp, 100 * m->idr);
  std::printf(
      "IDs %lld  FP %lld  FN %lld  Frag %lld  Recall %6.2f%%  Precision %6.2f%%  MT %d  ML %d\n",
      static_cast<long long>(m->id_switches), static_cast<long long>(m->fp),
      static_cast<long long>(m->fn), static_cast<long long>(m->fragmentations), 100 * m->recall,
      100 * m->precision, m->mostly_tracked, m->mostly_lost);
  return 0;
}

}  // namespace

void add_mot_eval_command(CLI::App& app, GlobalOptions& global) {
  auto args = std::make_shared<MotEvalArgs>();
  CLI::App* cmd = app.add_subcommand("mot-eval", "score MOTChallenge tracks against ground truth");
  cmd->add_option("--gt", args->gt, "ground truth, MOTChallenge text")->required();
  cmd->add_option("--pred", args->pred, "tracker output, MOTChallenge text")->required();
  cmd->add_option("--frames", args->frames, "only frames A-B (1-based, inclusive)");
  cmd->add_option("--iou", args->iou, "IoU needed for a match")->capture_default_str();
  cmd->add_flag("--json", args->json, "one JSON object on stdout");
  cmd->callback([args, &global] { global.exit_code = run_mot_eval(*args); });
}

}  // namespace ev::cli
