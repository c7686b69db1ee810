// Linear assignment for the tracker and the MOT metrics.
//
// Written here rather than taken from a library: OpenCV has no public linear assignment
// solver (only cv::EMD, which solves a transport problem and is far slower), and the
// reference ByteTrack depends on the Python `lap` package. This is the O(n^2 m)
// shortest-augmenting-path Hungarian method with row/column potentials -- the same
// augmentation step Jonker-Volgenant uses, without its column-reduction warm start, which
// only pays off for matrices much larger than the tens of tracks we see per frame.
#include <algorithm>
#include <cmath>
#include <limits>

#include "edgevision/track.hpp"

namespace ev {

namespace {

// Minimum-cost assignment of every row of an n x m matrix (n <= m) to a distinct column.
// Returns col_of_row (size n).
std::vector<int> hungarian(const std::vector<double>& a, int n, int m) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0.0), v(m + 1, 0.0), minv(m + 1);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  std::vector<char> used(m + 1);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::fill(minv.begin(), minv.end(), inf);
    std::fill(used.begin(), used.end(), 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = a[static_cast<size_t>(i0 - 1) * m + (j - 1)] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> col_of_row(n, -1);
  for (int j = 1; j <= m; ++j) {
    if (p[j] != 0) col_of_row[p[j] - 1] = j - 1;
  }
  return col_of_row;
}

}  // namespace

Assignment solve_assignment(const std::vector<double>& cost, int rows, int cols,
                            double cost_limit) {
  Assignment out;
  if (rows <= 0 || cols <= 0 || cost.size() != static_cast<size_t>(rows) * cols) {
    for (int r = 0; r < std::max(rows, 0); ++r) out.unmatched_rows.push_back(r);
    for (int c = 0; c < std::max(cols, 0); ++c) out.unmatched_cols.push_back(c);
    return out;
  }
  // Clamping every cost to the limit makes "unmatched" an ordinary assignment: with n <= m
  // every row gets a column, and a row that lands on a clamped entry pays exactly what being
  // unmatched costs (limit), so the optimum of the clamped full assignment equals the
  // optimum of the partial matching with per-item cost limit/2. Clamped pairs are then
  // dropped. This avoids padding the matrix to (n+m) x (n+m).
  double cap = cost_limit;
  if (!std::isfinite(cap)) {
    cap = 1.0;
    for (double c : cost) {
      if (std::isfinite(c)) cap = std::max(cap, std::abs(c) * 2.0 + 1.0);
    }
  }
  const bool transpose = rows > cols;
  const int n = transpose ? cols : rows;
  const int m = transpose ? rows : cols;
  std::vector<double> a(static_cast<size_t>(n) * m);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) {
      double v = cost[static_cast<size_t>(r) * cols + c];
      if (!std::isfinite(v) || v > cap) v = cap;
      const size_t k = transpose ? static_cast<size_t>(c) * m + r : static_cast<size_t>(r) * m + c;
      a[k] = v;
    }
  }
  const std::vector<int> col_of_row = hungarian(a, n, m);

  std::vector<char> row_used(rows, 0), col_used(cols, 0);
  for (int i = 0; i < n; ++i) {
    const int j = col_of_row[i];
    if (j < 0) continue;
    const int r = transpose ? j : i;
    const int c = transpose ? i : j;
    const double v = cost[static_cast<size_t>(r) * cols + c];
    if (!std::isfinite(v) || !(v < cost_limit)) continue;
    out.matches.emplace_back(r, c);
    out.total_cost += v;
    row_used[r] = 1;
    col_used[c] = 1;
  }
  std::sort(out.matches.begin(), out.matches.end());
  for (int r = 0; r < rows; ++r) {
    if (!row_used[r]) out.unmatched_rows.push_back(r);
  }
  for (int c = 0; c < cols; ++c) {
    if (!col_used[c]) out.unmatched_cols.push_back(c);
  }
  return out;
}

float box_iou(const cv::Rect2f& a, const cv::Rect2f& b) {
  if (a.width <= 0.f || a.height <= 0.f || b.width <= 0.f || b.height <= 0.f) return 0.f;
  const float ix = std::min(a.x + a.width, b.x + b.width) - std::max(a.x, b.x);
  const float iy = std::min(a.y + a.height, b.y + b.height) - std::max(a.y, b.y);
  if (ix <= 0.f || iy <= 0.f) return 0.f;
  const float inter = ix * iy;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

}  // namespace ev
