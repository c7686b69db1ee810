// CLEAR-MOT and identity metrics. Matching follows py-motmetrics (the reference the MOT
// benchmarks cross-check against): per frame, a gt object keeps the prediction it was
// matched to in the previous frame while their IoU stays >= threshold; the rest are matched
// by a minimum-cost (1 - IoU) assignment; a gt object matched to a different prediction
// than the last one it was ever matched to counts as an ID switch.
#include "edgevision/mot_metrics.hpp"

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>

#include <fmt/format.h>

namespace ev {

namespace {

struct Box {
  int64_t id;
  cv::Rect2f box;
};

using FrameMap = std::map<int, std::vector<Box>>;

double safe_div(double a, double b) {
  return b > 0 ? a / b : 0.0;
}

}  // namespace

Result<MotMetrics> evaluate_mot(const std::vector<MotRecord>& gt,
                                const std::vector<MotRecord>& predictions,
                                const MotEvalOptions& o) {
  if (!(o.iou_threshold > 0.0 && o.iou_threshold <= 1.0))
    return Result<MotMetrics>::Error("iou_threshold must be in (0,1]");
  auto in_range = [&](int f) {
    return (o.first_frame <= 0 || f >= o.first_frame) && (o.last_frame <= 0 || f <= o.last_frame);
  };
  FrameMap gframes, pframes;
  for (const auto& r : gt) {
    if (!in_range(r.frame) || (o.drop_zero_conf_gt && r.conf == 0.f)) continue;
    gframes[r.frame].push_back({r.id, r.box});
  }
  for (const auto& r : predictions) {
    if (in_range(r.frame)) pframes[r.frame].push_back({r.id, r.box});
  }
  for (const FrameMap* fm : {&gframes, &pframes}) {
    for (const auto& [f, boxes] : *fm) {
      for (size_t i = 0; i < boxes.size(); ++i) {
        for (size_t j = i + 1; j < boxes.size(); ++j) {
          if (boxes[i].id == boxes[j].id)
            return Result<MotMetrics>::Error(fmt::format("{}: id {} appears twice in frame {}",
                                                         fm == &gframes ? "gt" : "prediction",
                                                         boxes[i].id, f));
        }
      }
    }
  }

  MotMetrics m;
  std::vector<int> frames;
  for (const auto& kv : gframes) frames.push_back(kv.first);
  for (const auto& kv : pframes) frames.push_back(kv.first);
  std::sort(frames.begin(), frames.end());
  frames.erase(std::unique(frames.begin(), frames.end()), frames.end());
  m.frames = static_cast<int64_t>(frames.size());

  const std::vector<Box> none;
  std::unordered_map<int64_t, int64_t>
      prev_match;  // gt id -> pred id matched in the previous frame
  std::unordered_map<int64_t, int64_t> last_match;  // gt id -> pred id it was last matched to
  std::unordered_map<int64_t, int64_t> gt_len, gt_hit, pred_len;
  std::unordered_map<int64_t, bool>
      gt_was_tracked;  // for fragmentation: state in last frame present
  std::map<std::pair<int64_t, int64_t>, int64_t> pair_overlap;  // (gt, pred) -> frames IoU >= thr
  double iou_sum = 0.0;

  for (int f : frames) {
    auto git = gframes.find(f);
    auto pit = pframes.find(f);
    const auto& g = git != gframes.end() ? git->second : none;
    const auto& p = pit != pframes.end() ? pit->second : none;
    m.gt += static_cast<int64_t>(g.size());
    m.predictions += static_cast<int64_t>(p.size());
    std::vector<double> iou(g.size() * p.size());
    for (size_t i = 0; i < g.size(); ++i) {
      ++gt_len[g[i].id];
      for (size_t j = 0; j < p.size(); ++j) {
        iou[i * p.size() + j] = box_iou(g[i].box, p[j].box);
        if (iou[i * p.size() + j] >= o.iou_threshold) ++pair_overlap[{g[i].id, p[j].id}];
      }
    }
    for (const auto& b : p) ++pred_len[b.id];

    std::vector<int> g_match(g.size(), -1), p_used(p.size(), 0);
    // 1. Keep last frame's correspondences that are still valid.
    for (size_t i = 0; i < g.size(); ++i) {
      auto it = prev_match.find(g[i].id);
      if (it == prev_match.end()) continue;
      for (size_t j = 0; j < p.size(); ++j) {
        if (p[j].id == it->second && !p_used[j] && iou[i * p.size() + j] >= o.iou_threshold) {
          g_match[i] = static_cast<int>(j);
          p_used[j] = 1;
        }
      }
    }
    // 2. Minimum-cost assignment of the rest.
    std::vector<int> gi, pj;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g_match[i] < 0) gi.push_back(static_cast<int>(i));
    }
    for (size_t j = 0; j < p.size(); ++j) {
      if (!p_used[j]) pj.push_back(static_cast<int>(j));
    }
    if (!gi.empty() && !pj.empty()) {
      std::vector<double> cost(gi.size() * pj.size());
      for (size_t a = 0; a < gi.size(); ++a) {
        for (size_t b = 0; b < pj.size(); ++b) {
          const double v = iou[gi[a] * p.size() + pj[b]];
          // A limit of 2 makes every valid pair (cost <= 1 - threshold) far cheaper than
          // leaving both sides unmatched, so the number of matches is maximised first.
          cost[a * pj.size() + b] =
              v >= o.iou_threshold ? 1.0 - v : std::numeric_limits<double>::infinity();
        }
      }
      const auto asg =
          solve_assignment(cost, static_cast<int>(gi.size()), static_cast<int>(pj.size()), 2.0);
      for (const auto& [a, b] : asg.matches) {
        g_match[gi[a]] = pj[b];
        p_used[pj[b]] = 1;
        const int64_t gid = g[gi[a]].id, pid = p[pj[b]].id;
        auto lm = last_match.find(gid);
        if (lm != last_match.end() && lm->second != pid) ++m.id_switches;
      }
    }
    prev_match.clear();
    for (size_t i = 0; i < g.size(); ++i) {
      const int64_t gid = g[i].id;
      if (g_match[i] >= 0) {
        const int j = g_match[i];
        ++m.matches;
        ++gt_hit[gid];
        iou_sum += iou[i * p.size() + j];
        prev_match[gid] = p[j].id;
        last_match[gid] = p[j].id;
        auto wt = gt_was_tracked.find(gid);
        if (wt != gt_was_tracked.end() && !wt->second) ++m.fragmentations;
        gt_was_tracked[gid] = true;
      } else {
        ++m.fn;
        if (gt_was_tracked.count(gid)) gt_was_tracked[gid] = false;
      }
    }
    for (size_t j = 0; j < p.size(); ++j) {
      if (!p_used[j]) ++m.fp;
    }
  }

  m.mota = m.gt > 0 ? 1.0 - static_cast<double>(m.fn + m.fp + m.id_switches) / m.gt : 0.0;
  m.motp = safe_div(iou_sum, static_cast<double>(m.matches));
  m.recall = safe_div(m.matches, m.gt);
  m.precision = safe_div(m.matches, m.predictions);

  // Identity metrics: one global gt-id <-> pred-id bijection that maximises the number of
  // frames where the paired boxes match (IDTP); everything else is IDFN / IDFP.
  std::vector<int64_t> gids, pids;
  for (const auto& kv : gt_len) gids.push_back(kv.first);
  for (const auto& kv : pred_len) pids.push_back(kv.first);
  std::sort(gids.begin(), gids.end());
  std::sort(pids.begin(), pids.end());
  m.gt_ids = static_cast<int>(gids.size());
  m.pred_ids = static_cast<int>(pids.size());
  std::unordered_map<int64_t, int> pidx;
  for (size_t j = 0; j < pids.size(); ++j) pidx[pids[j]] = static_cast<int>(j);
  std::unordered_map<int64_t, int> gidx;
  for (size_t i = 0; i < gids.size(); ++i) gidx[gids[i]] = static_cast<int>(i);
  if (!gids.empty() && !pids.empty()) {
    std::vector<double> cost(gids.size() * pids.size(), 0.0);
    for (const auto& [key, n] : pair_overlap)
      cost[gidx[key.first] * pids.size() + pidx[key.second]] = -static_cast<double>(n);
    const auto asg =
        solve_assignment(cost, static_cast<int>(gids.size()), static_cast<int>(pids.size()), 0.0);
    for (const auto& [a, b] : asg.matches)
      m.idtp += static_cast<int64_t>(-cost[a * pids.size() + b]);
  }
  m.idfn = m.gt - m.idtp;
  m.idfp = m.predictions - m.idtp;
  m.idf1 = safe_div(2.0 * m.idtp, 2.0 * m.idtp + m.idfp + m.idfn);
  m.idp = safe_div(m.idtp, m.predictions);
  m.idr = safe_div(m.idtp, m.gt);

  for (const auto& [gid, len] : gt_len) {
    const double ratio = safe_div(gt_hit.count(gid) ? gt_hit[gid] : 0, len);
    if (ratio >= 0.8) ++m.mostly_tracked;
    if (ratio < 0.2) ++m.mostly_lost;
  }
  return m;
}

std::string mot_metrics_json(const MotMetrics& m) {
  return fmt::format(
      "{{\"mota\":{:.4f},\"motp\":{:.4f},\"idf1\":{:.4f},\"idp\":{:.4f},\"idr\":{:.4f},"
      "\"recall\":{:.4f},\"precision\":{:.4f},\"id_switches\":{},\"fragmentations\":{},"
      "\"fp\":{},\"fn\":{},\"matches\":{},\"gt\":{},\"predictions\":{},\"idtp\":{},\"idfp\":{},"
      "\"idfn\":{},\"gt_ids\":{},\"pred_ids\":{},\"mostly_tracked\":{},\"mostly_lost\":{},"
      "\"frames\":{}}}",
      m.mota, m.motp, m.idf1, m.idp, m.idr, m.recall, m.precision, m.id_switches, m.fragmentations,
      m.fp, m.fn, m.matches, m.gt, m.predictions, m.idtp, m.idfp, m.idfn, m.gt_ids, m.pred_ids,
      m.mostly_tracked, m.mostly_lost, m.frames);
}

}  // namespace ev
