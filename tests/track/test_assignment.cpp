#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include <gtest/gtest.h>

#include "edgevision/track.hpp"
#include "track/gt_noise.hpp"

namespace ev {
namespace {

const double kInf = std::numeric_limits<double>::infinity();

TEST(Assignment, SquareClassic) {
  // Optimum is (0,1),(1,0),(2,2) with cost 1 + 2 + 2 = 5 (the greedy row-wise pick gives 8).
  const std::vector<double> c = {4, 1, 3,  //
                                 2, 0, 5,  //
                                 3, 2, 2};
  const auto a = solve_assignment(c, 3, 3, kInf);
  ASSERT_EQ(a.matches.size(), 3u);
  EXPECT_EQ(a.matches[0], std::make_pair(0, 1));
  EXPECT_EQ(a.matches[1], std::make_pair(1, 0));
  EXPECT_EQ(a.matches[2], std::make_pair(2, 2));
  EXPECT_DOUBLE_EQ(a.total_cost, 5.0);
}

TEST(Assignment, RectangularBothWays) {
  const std::vector<double> wide = {0.9, 0.1, 0.5,  //
                                    0.2, 0.3, 0.8};
  auto a = solve_assignment(wide, 2, 3, kInf);
  ASSERT_EQ(a.matches.size(), 2u);
  EXPECT_EQ(a.matches[0], std::make_pair(0, 1));
  EXPECT_EQ(a.matches[1], std::make_pair(1, 0));
  EXPECT_EQ(a.unmatched_cols, std::vector<int>{2});
  // The transpose must give the transposed answer.
  const std::vector<double> tall = {0.9, 0.2, 0.1, 0.3, 0.5, 0.8};
  a = solve_assignment(tall, 3, 2, kInf);
  ASSERT_EQ(a.matches.size(), 2u);
  EXPECT_EQ(a.matches[0], std::make_pair(0, 1));
  EXPECT_EQ(a.matches[1], std::make_pair(1, 0));
  EXPECT_EQ(a.unmatched_rows, std::vector<int>{2});
}

TEST(Assignment, CostLimitAndForbiddenPairs) {
  // Row 1 would love column 0 but that pair is over the limit; row 0 takes it.
  const std::vector<double> c = {0.3, kInf,  //
                                 0.9, 0.95};
  const auto a = solve_assignment(c, 2, 2, 0.8);
  ASSERT_EQ(a.matches.size(), 1u);
  EXPECT_EQ(a.matches[0], std::make_pair(0, 0));
  EXPECT_EQ(a.unmatched_rows, std::vector<int>{1});
  EXPECT_EQ(a.unmatched_cols, std::vector<int>{1});
  // A cost equal to the limit is not a match.
  EXPECT_TRUE(solve_assignment({0.8}, 1, 1, 0.8).matches.empty());
  // lap semantics, each leftover costs limit / 2 = 0.4. Two pairs at 0.7 (1.4) lose to one
  // pair at 0.1 plus two leftovers (0.1 + 0.8 = 0.9) ...
  const std::vector<double> d = {0.1, 0.7,  //
                                 0.7, kInf};
  auto b = solve_assignment(d, 2, 2, 0.8);
  ASSERT_EQ(b.matches.size(), 1u);
  EXPECT_EQ(b.matches[0], std::make_pair(0, 0));
  // ... but two pairs at 0.3 (0.6) beat it.
  const std::vector<double> e = {0.1, 0.3,  //
                                 0.3, kInf};
  b = solve_assignment(e, 2, 2, 0.8);
  EXPECT_EQ(b.matches.size(), 2u);
  EXPECT_NEAR(b.total_cost, 0.6, 1e-12);
}

TEST(Assignment, EmptyAndNan) {
  EXPECT_TRUE(solve_assignment({}, 0, 3, 1.0).matches.empty());
  EXPECT_EQ(solve_assignment({}, 0, 3, 1.0).unmatched_cols.size(), 3u);
  const auto a = solve_assignment({std::nan(""), 0.5}, 1, 2, kInf);
  ASSERT_EQ(a.matches.size(), 1u);
  EXPECT_EQ(a.matches[0], std::make_pair(0, 1));
}

// Brute force over all partial matchings, with lap's objective:
// sum(matched) + limit/2 * (unmatched rows + unmatched cols).
double brute_force(const std::vector<double>& c, int rows, int cols, double limit) {
  double best = kInf;
  std::vector<int> perm(std::max(rows, cols));
  // Assign row r to perm[r] if perm[r] < cols and the pair is allowed, else leave it.
  std::vector<int> cols_ext(cols + rows);
  std::iota(cols_ext.begin(), cols_ext.end(), 0);  // cols..cols+rows-1 mean "unmatched"
  std::sort(cols_ext.begin(), cols_ext.end());
  do {
    double total = 0;
    int matched = 0;
    for (int r = 0; r < rows; ++r) {
      const int j = cols_ext[r];
      if (j < cols && c[r * cols + j] < limit) {
        total += c[r * cols + j];
        ++matched;
      }
    }
    total += limit / 2 * (rows + cols - 2 * matched);
    best = std::min(best, total);
  } while (std::next_permutation(cols_ext.begin(), cols_ext.end()));
  return best;
}

TEST(Assignment, MatchesBruteForceOnRandomMatrices) {
  test::Rng rng(12345);
  for (int trial = 0; trial < 300; ++trial) {
    const int rows = 1 + static_cast<int>(rng.uniform() * 4);
    const int cols = 1 + static_cast<int>(rng.uniform() * 4);
    const double limit = rng.uniform(0.3, 1.2);
    std::vector<double> c(rows * cols);
    for (auto& v : c) v = rng.uniform() < 0.1 ? kInf : std::round(rng.uniform() * 20) / 20;
    const auto a = solve_assignment(c, rows, cols, limit);
    const double got =
        a.total_cost + limit / 2 * (rows + cols - 2 * static_cast<int>(a.matches.size()));
    ASSERT_NEAR(got, brute_force(c, rows, cols, limit), 1e-9) << "trial " << trial;
    EXPECT_EQ(a.matches.size() + a.unmatched_rows.size(), static_cast<size_t>(rows));
    EXPECT_EQ(a.matches.size() + a.unmatched_cols.size(), static_cast<size_t>(cols));
  }
}

TEST(Assignment, LargeIsFast) {
  // 300 x 300: well beyond a busy scene, must stay far below a frame time.
  test::Rng rng(7);
  const int n = 300;
  std::vector<double> c(n * n);
  for (auto& v : c) v = rng.uniform();
  const auto a = solve_assignment(c, n, n, kInf);
  EXPECT_EQ(a.matches.size(), static_cast<size_t>(n));
}

TEST(BoxIou, Basics) {
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {10, 0, 10, 10}), 0.f);
  EXPECT_NEAR(box_iou({0, 0, 10, 10}, {5, 0, 10, 10}), 50.0 / 150.0, 1e-6);
  EXPECT_FLOAT_EQ(box_iou({0, 0, 0, 10}, {0, 0, 10, 10}), 0.f);
}

}  // namespace
}  // namespace ev
