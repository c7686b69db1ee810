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

std::string histogram_svg(const BenchResult& r, const char* color) {
  const int W = 560, H = 220, L = 50, B = 30, bins = 30;
  if (r.samples_ms.empty()) return "";
  const double lo = r.stats.min_ms, hi = std::max(r.stats.max_ms, lo + 1e-6);
  std::vector<int> h(bins, 0);
  for (double x : r.samples_ms)
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
  for (auto [v, name] : {std::pair{r.stats.median_ms, "median"}, std::pair{r.stats.p95_ms, "p95"},
                         std::pair{r.stats.p99_ms, "p99"}}) {
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
      h += "<h3>" + esc(models[i].label) + "</h3>" + histogram_svg(models[i], kColors[i % 6]);
  }
  if (pipeline) {
    h += fmt::format("<h2>Pipeline: {} ({} frames)</h2>", esc(pipeline->source), pipeline->frames);
    std::vector<std::string> labels;
    std::vector<double> med, p95;
    for (const auto& s : pipeline->stages) {
      labels.push_back(s.name);
      med.push_back(s.stats.median_ms);
      p95.push_back(s.stats.p95_ms);
    }
    h += bars_svg(labels, {{"median", med}, {"p95", p95}}, "ms");
    h += fmt::format(
        "<p>total per frame: median {:.2f} ms, p95 {:.2f} ms, {:.1f} FPS; peak RSS "
        "{:.0f} MB; CPU {:.0f}%</p>",
        pipeline->total.median_ms, pipeline->total.p95_ms, pipeline->total.fps,
        pipeline->peak_rss_mb, pipeline->cpu_percent);
  }
  return h + "</body></html>\n";
}

}  // namespace ev
