// Self-contained HTML bench report: inline SVG charts, no scripts, no external files, so it
// can be mailed or archived as one file.
#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "edgevision/benchmark.hpp"

namespace ev {
namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      case '"':
        o += "&quot;";
        break;
      default:
        o += c;
    }
  }
  return o;
}

const char* kColors[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};

std::string histogram_svg(const std::vector<double>& samples_ms, const LatencyStats& stats,
                          const char* color) {
  const int W = 560, H = 220, L = 50, B = 30, bins = 30;
  if (samples_ms.empty()) return "";
  const double lo = stats.min_ms, hi = std::max(stats.max_ms, lo + 1e-6);
  std::vector<int> h(bins, 0);
  for (double x : samples_ms)
    h[std::min(bins - 1, static_cast<int>((x - lo) / (hi - lo) * bins))]++;
  const int hmax = *std::max_element(h.begin(), h.end());
  std::string s = fmt::format(
      "<svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg' font-size='11'>", W, H);
  const double bw = static_cast<double>(W - L - 10) / bins;
  for (int i = 0; i < bins; ++i) {
    const double bh = hmax ? (H - B - 10) * static_cast<double>(h[i]) / hmax : 0;
    s += fmt::format("<rect x='{:.1f}' y='{:.1f}' width='{:.1f}' height='{:.1f}' fill='{}'/>",
                     L + i * bw, H - B - bh, bw - 1, bh, color);
  }
  auto xpos = [&](double v) { return L + (v - lo) / (hi - lo) * (W - L - 10); };
  for (auto [v, name] : {std::pair{stats.median_ms, "median"}, std::pair{stats.p95_ms, "p95"},
                         std::pair{stats.p99_ms, "p99"}}) {
    s += fmt::format(
        "<line x1='{0:.1f}' x2='{0:.1f}' y1='10' y2='{1}' stroke='#333' "
        "stroke-dasharray='3,3'/><text x='{0:.1f}' y='9' text-anchor='middle'>{2}</text>",
        xpos(v), H - B, name);
  }
  s +=
      fmt::format("<line x1='{}' x2='{}' y1='{}' y2='{}' stroke='#333'/>", L, W - 10, H - B, H - B);
  for (int t = 0; t <= 4; ++t) {
    const double v = lo + (hi - lo) * t / 4;
    s += fmt::format("<text x='{:.1f}' y='{}' text-anchor='middle'>{:.2f}</text>", xpos(v),
                     H - B + 14, v);
  }
  s += fmt::format("<text x='{}' y='{}' text-anchor='middle'>latency (ms)</text>", (W + L) / 2,
                   H - 2);
  s += fmt::format(
      "<text x='12' y='{}' transform='rotate(-90 12 {})' text-anchor='middle'>runs "
      "(max {})</text>",
      H / 2, H / 2, hmax);
  return s + "</svg>";
}

// Latency of every frame in order: shows warm-up effects, periodic stalls and drift.
std::string timeline_svg(const std::vector<double>& samples_ms, const char* color) {
  const int W = 560, H = 200, L = 50, B = 30;
  if (samples_ms.size() < 2) return "";
  const double hi = std::max(1e-6, *std::max_element(samples_ms.begin(), samples_ms.end()));
  const double n = static_cast<double>(samples_ms.size() - 1);
  auto x = [&](size_t i) { return L + static_cast<double>(i) / n * (W - L - 10); };
  auto y = [&](double v) { return H - B - v / hi * (H - B - 10); };
  std::string points;
  for (size_t i = 0; i < samples_ms.size(); ++i)
    points += fmt::format("{:.1f},{:.1f} ", x(i), y(samples_ms[i]));
  std::string s = fmt::format(
      "<svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg' font-size='11'>"
      "<polyline fill='none' stroke='{}' stroke-width='1' points='{}'/>"
      "<line x1='{}' x2='{}' y1='{}' y2='{}' stroke='#333'/>"
      "<line x1='{}' x2='{}' y1='10' y2='{}' stroke='#333'/>",
      W, H, color, points, L, W - 10, H - B, H - B, L, L, H - B);
  for (int t = 0; t <= 4; ++t) {
    s += fmt::format("<text x='{}' y='{:.1f}' text-anchor='end'>{:.1f}</text>", L - 4,
                     y(hi * t / 4) + 4, hi * t / 4);
  }
  s += fmt::format(
      "<text x='{}' y='{}' text-anchor='middle'>frame (1 .. {})</text>"
      "<text x='12' y='{}' transform='rotate(-90 12 {})' text-anchor='middle'>ms</text></svg>",
      (W + L) / 2, H - 4, samples_ms.size(), H / 2, H / 2);
  return s;
}

// Horizontal bars: one group per label, one bar per series.
std::string bars_svg(const std::vector<std::string>& labels,
                     const std::vector<std::pair<std::string, std::vector<double>>>& series,
                     const std::string& unit) {
  const int W = 640, L = 180, row = 18;
  const int groups = static_cast<int>(labels.size());
  const int per = static_cast<int>(series.size());
  const int H = groups * (per * row + 10) + 40;
  double vmax = 0;
  for (const auto& [name, v] : series)
    for (double x : v) vmax = std::max(vmax, x);
  if (vmax <= 0) vmax = 1;
  std::string s = fmt::format(
      "<svg width='{}' height='{}' xmlns='http://www.w3.org/2000/svg' font-size='11'>", W, H);
  int y = 10;
  for (int gi = 0; gi < groups; ++gi) {
    s += fmt::format("<text x='{}' y='{}' text-anchor='end'>{}</text>", L - 6,
                     y + per * row / 2 + 4, esc(labels[gi]));
    for (int si = 0; si < per; ++si) {
      const double v = series[si].second[gi];
      const double w = (W - L - 90) * v / vmax;
      s += fmt::format(
          "<rect x='{}' y='{}' width='{:.1f}' height='{}' fill='{}'/>"
          "<text x='{:.1f}' y='{}'>{} {:.2f} {}</text>",
          L, y, w, row - 3, kColors[si % 6], L + w + 4, y + row - 6, esc(series[si].first), v,
          unit);
      y += row;
    }
    y += 10;
  }
  return s + "</svg>";
}

}  // namespace

std::string render_bench_report(const std::vector<BenchResult>& models,
                                const PipelineBenchResult* pipeline) {
  std::string h =
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>edgevision bench</title><style>"
      "body{font-family:sans-serif;margin:24px;color:#222}table{border-collapse:collapse}"
      "td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}"
      "td:first-child{text-align:left}</style></head><body><h1>edgevision bench</h1>";
  if (!models.empty()) {
    h += "<h2>Models</h2><table><tr><th>model</th><th>backend</th><th>threads</th><th>runs</th>"
         "<th>mean ms</th><th>median ms</th><th>p95 ms</th><th>p99 ms</th><th>min ms</th>"
         "<th>max ms</th><th>FPS</th><th>load ms</th><th>peak RSS MB</th><th>CPU %</th>"
         "<th>vs first</th></tr>";
    for (const auto& r : models) {
      const double rel = models.front().stats.median_ms > 0
                             ? r.stats.median_ms / models.front().stats.median_ms
                             : 0;
      h += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td>"
          "<td>{:.2f}</td><td>{:.2f}</td><td>{:.2f}</td><td>{:.2f}</td><td>{:.1f}</td>"
          "<td>{:.0f}</td><td>{:.0f}</td><td>{:.0f}</td><td>{:.2f}x</td></tr>",
          esc(r.label), esc(r.backend), r.threads, r.stats.runs, r.stats.mean_ms, r.stats.median_ms,
          r.stats.p95_ms, r.stats.p99_ms, r.stats.min_ms, r.stats.max_ms, r.stats.fps, r.load_ms,
          r.peak_rss_mb, r.cpu_percent, rel);
    }
    h += "</table>";
    std::vector<std::string> labels;
    std::vector<double> med, p95, p99;
    for (const auto& r : models) {
      labels.push_back(r.label);
      med.push_back(r.stats.median_ms);
      p95.push_back(r.stats.p95_ms);
      p99.push_back(r.stats.p99_ms);
    }
    h += "<h2>Latency comparison</h2>" +
         bars_svg(labels, {{"median", med}, {"p95", p95}, {"p99", p99}}, "ms");
    h += "<h2>Latency histograms</h2>";
    for (size_t i = 0; i < models.size(); ++i)
      h += "<h3>" + esc(models[i].label) + "</h3>" +
           histogram_svg(models[i].samples_ms, models[i].stats, kColors[i % 6]);
  }
  if (pipeline) {
    const PipelineBenchResult& p = *pipeline;
    h += fmt::format(
        "<h2>Pipeline: {} ({} frames)</h2><p>face detector {}, object detector {}; models "
        "loaded in {:.0f} ms. Stages run one after the other on one thread; in the service each "
        "thread runs on its own.</p>",
        esc(p.source), p.frames, esc(p.face_detector), p.detector.empty() ? "off" : esc(p.detector),
        p.load_ms);
    h += "<table><tr><th>stage</th><th>thread</th><th>runs</th><th>mean ms</th>"
         "<th>median ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>share</th></tr>";
    const double sum_total = p.total.mean_ms * p.frames;
    std::vector<std::string> labels;
    std::vector<double> mean, med, p95;
    for (const auto& s : p.stages) {
      const auto& t = s.stats;
      h += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.2f}</td><td>{:.2f}</td>"
          "<td>{:.2f}</td><td>{:.2f}</td><td>{:.1f}%</td></tr>",
          esc(s.name), esc(s.thread), t.runs, t.mean_ms, t.median_ms, t.p95_ms, t.p99_ms, t.max_ms,
          sum_total > 0 ? t.mean_ms * t.runs / sum_total * 100.0 : 0.0);
      labels.push_back(s.name);
      mean.push_back(t.mean_ms);
      med.push_back(t.median_ms);
      p95.push_back(t.p95_ms);
    }
    h += fmt::format(
        "<tr><th>total per frame</th><th></th><th>{}</th><th>{:.2f}</th><th>{:.2f}</th>"
        "<th>{:.2f}</th><th>{:.2f}</th><th>{:.2f}</th><th></th></tr></table>",
        p.total.runs, p.total.mean_ms, p.total.median_ms, p.total.p95_ms, p.total.p99_ms,
        p.total.max_ms);
    h += fmt::format(
        "<p>{:.1f} FPS one stage after another; bottleneck: the <b>{}</b> thread, {:.2f} ms per "
        "frame (at most {:.1f} FPS with a core per stage thread). Peak RSS {:.0f} MB; CPU "
        "{:.0f}%; {} faces masked; {} detections; {} frames withheld.</p>",
        p.total.fps, esc(p.bottleneck), p.bottleneck_ms,
        p.bottleneck_ms > 0 ? 1000.0 / p.bottleneck_ms : 0.0, p.peak_rss_mb, p.cpu_percent, p.faces,
        p.detections, p.frames_failed);
    if (p.threaded.frames > 0) {
      h += fmt::format(
          "<p>Threaded service pipeline (a thread per stage, all competing for this machine's "
          "cores): <b>{:.1f} FPS</b> over {} frames, CPU {:.0f}%, last frame {:.1f} ms from "
          "read to tracked.</p>",
          p.threaded.fps, p.threaded.frames, p.threaded.cpu_percent, p.threaded.latency_ms);
    }
    h += "<h3>Per stage</h3>" +
         bars_svg(labels, {{"mean", mean}, {"median", med}, {"p95", p95}}, "ms");
    h += "<h3>Per-frame latency histogram</h3>" +
         histogram_svg(p.total_samples_ms, p.total, kColors[0]);
    h += "<h3>Per-frame latency over the run</h3>" + timeline_svg(p.total_samples_ms, kColors[1]);
  }
  return h + "</body></html>\n";
}

std::string render_variant_report(const std::string& title, const std::vector<VariantRow>& rows) {
  std::string h = fmt::format(
      "<!DOCTYPE html><html><head><meta charset='utf-8'><title>edgevision benchmark</title>"
      "<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:"
      "collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}th{{background:"
      "#f3f3f3}}td:first-child,td.l{{text-align:left}}tr.fail td{{color:#b00}}</style></head>"
      "<body><h1>edgevision benchmark: {}</h1>",
      esc(title));
  h += "<table><tr><th>variant</th><th>device</th><th>size MB</th><th>mAP50-95</th>"
       "<th>mAP50</th><th>median ms</th><th>p95 ms</th><th>FPS</th><th>peak RSS MB</th>"
       "<th>notes</th></tr>";
  std::vector<BenchResult> ran;
  for (const auto& r : rows) {
    const std::string acc50_95 = r.has_accuracy ? fmt::format("{:.4f}", r.map50_95) : "-";
    const std::string acc50 = r.has_accuracy ? fmt::format("{:.4f}", r.map50) : "-";
    if (r.ok()) {
      h += fmt::format(
          "<tr><td>{}</td><td>{}</td><td>{:.2f}</td><td>{}</td><td>{}</td><td>{:.2f}</td>"
          "<td>{:.2f}</td><td>{:.1f}</td><td>{:.0f}</td><td class='l'>{}</td></tr>",
          esc(r.variant), esc(r.device), r.size_mb, acc50_95, acc50, r.bench.stats.median_ms,
          r.bench.stats.p95_ms, r.bench.stats.fps, r.bench.peak_rss_mb, esc(r.note));
      BenchResult b = r.bench;
      b.label = r.variant + " / " + r.device;
      ran.push_back(std::move(b));
    } else {
      h += fmt::format(
          "<tr class='fail'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
          "<td colspan='4'>failed</td><td class='l'>{}</td></tr>",
          esc(r.variant), esc(r.device), r.size_mb > 0 ? fmt::format("{:.2f}", r.size_mb) : "-",
          acc50_95, acc50, esc(r.error));
    }
  }
  h += "</table><p>mAP is measured on the CPU execution provider; latency on the row's "
       "device.</p>";
  if (!ran.empty()) {
    std::vector<std::string> labels;
    std::vector<double> med, p95;
    for (const auto& b : ran) {
      labels.push_back(b.label);
      med.push_back(b.stats.median_ms);
      p95.push_back(b.stats.p95_ms);
    }
    h += "<h2>Latency</h2>" + bars_svg(labels, {{"median", med}, {"p95", p95}}, "ms");
    h += "<h2>Latency histograms</h2>";
    for (size_t i = 0; i < ran.size(); ++i)
      h += "<h3>" + esc(ran[i].label) + "</h3>" +
           histogram_svg(ran[i].samples_ms, ran[i].stats, kColors[i % 6]);
  }
  return h + "</body></html>\n";
}

}  // namespace ev
