// MOTChallenge-style tracking metrics: CLEAR-MOT (MOTA, MOTP, ID switches) and the
// identity metrics (IDF1, IDP, IDR) of Ristani et al. 2016, computed the way
// py-motmetrics does (IoU >= threshold to match; see docs/tracking.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "edgevision/status.hpp"
#include "edgevision/track.hpp"

namespace ev {

struct MotEvalOptions {
  double iou_threshold = 0.5;  // a (gt, prediction) pair can match only if IoU >= this
  int first_frame = 0;         // only frames in [first_frame, last_frame] count;
  int last_frame = 0;          // 0 = no bound on that side
  // MOT16+ ground truth marks "don't care" rows with conf 0; they are dropped. MOT15 has
  // conf 1 everywhere, so this is a no-op there.
  bool drop_zero_conf_gt = true;
};

struct MotMetrics {
  int64_t frames = 0;       // frames with at least one gt or prediction in range
  int64_t gt = 0;           // gt boxes
  int64_t predictions = 0;  // predicted boxes
  int64_t matches = 0;      // TP
  int64_t fp = 0;
  int64_t fn = 0;
  int64_t id_switches = 0;
  int64_t fragmentations = 0;  // a gt track's coverage interrupted and resumed
  double mota = 0.0;           // 1 - (FN + FP + IDSW) / GT
  double motp = 0.0;  // mean IoU of the matches (MOTChallenge convention; higher is better)
  double recall = 0.0;
  double precision = 0.0;
  int64_t idtp = 0;
  int64_t idfp = 0;
  int64_t idfn = 0;
  double idf1 = 0.0;  // 2 IDTP / (2 IDTP + IDFP + IDFN)
  double idp = 0.0;
  double idr = 0.0;
  int gt_ids = 0;
  int pred_ids = 0;
  int mostly_tracked = 0;  // gt ids matched in >= 80% of their frames
  int mostly_lost = 0;     // gt ids matched in < 20% of their frames
};

Result<MotMetrics> evaluate_mot(const std::vector<MotRecord>& gt,
                                const std::vector<MotRecord>& predictions,
                                const MotEvalOptions& options = {});

// {"mota":..., "idf1":..., ...} on one line.
std::string mot_metrics_json(const MotMetrics& m);

}  // namespace ev
