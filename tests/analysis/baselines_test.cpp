// Baseline populations: the properties that make them the baselines they
// claim to be (copy, mean, balanced resampling, interpolation endpoints and
// means, the OT plan of a translation), and determinism given the seed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "analysis/baselines.h"
#include "analysis/sampling.h"
#include "core/random.h"

namespace {

using pg::analysis::Matrix;

Matrix random_matrix(Eigen::Index rows, Eigen::Index cols, uint64_t seed, double shift = 0) {
  pg::Rng rng(seed);
  Matrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = 3 * rng.uniform() + shift;
  return m;
}

// The rows of m as sorted vectors, to compare populations as multisets.
std::vector<std::vector<double>> row_multiset(const Matrix& m) {
  std::vector<std::vector<double>> rows(static_cast<size_t>(m.rows()));
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c) rows[static_cast<size_t>(r)].push_back(m(r, c));
  std::sort(rows.begin(), rows.end());
  return rows;
}

TEST(Baselines, CopySourceAndMeanProfile) {
  const Matrix src = random_matrix(5, 4, 1);
  const std::vector<int64_t> rows = {4, 0, 0};
  const Matrix copy = pg::analysis::copy_source(src, rows);
  EXPECT_EQ(copy.row(0), src.row(4));
  EXPECT_EQ(copy.row(2), src.row(0));
  const Matrix mean = pg::analysis::mean_profile(src, 7);
  ASSERT_EQ(mean.rows(), 7);
  for (Eigen::Index r = 0; r < 7; ++r)
    EXPECT_LE((mean.row(r) - src.colwise().mean()).cwiseAbs().maxCoeff(), 1e-15);
}

TEST(Baselines, ResampleUsesEveryCellEvenly) {
  const auto draws = pg::analysis::balanced_draws(5, 12, 9);
  std::vector<int> counts(5, 0);
  for (const int64_t d : draws) ++counts[static_cast<size_t>(d)];
  for (const int c : counts) EXPECT_TRUE(c == 2 || c == 3);
  const Matrix pool = random_matrix(6, 3, 2);
  const Matrix r = pg::analysis::resample(pool, 12, 4);  // every cell exactly twice
  EXPECT_LE((r.colwise().mean() - pool.colwise().mean()).cwiseAbs().maxCoeff(), 1e-14);
}

TEST(Baselines, LinearInterpolationEndpointsAndMean) {
  const Matrix a = random_matrix(6, 4, 3), b = random_matrix(4, 4, 5, 2.0);
  const Matrix at0 = pg::analysis::linear_interpolation(a, b, 0.0, 6, 1);
  EXPECT_EQ(row_multiset(at0), row_multiset(a));
  const Matrix at1 = pg::analysis::linear_interpolation(a, b, 1.0, 8, 1);
  EXPECT_EQ(row_multiset(at1), row_multiset(pg::analysis::resample(b, 8, 0)));
  // n = 24, a multiple of |A| = 6 and |B| = 4: the mean is exact.
  const double lambda = 0.3;
  const Matrix mid = pg::analysis::linear_interpolation(a, b, lambda, 24, 7);
  const Eigen::RowVectorXd expected = (1 - lambda) * a.colwise().mean() + lambda * b.colwise().mean();
  EXPECT_LE((mid.colwise().mean() - expected).cwiseAbs().maxCoeff(), 1e-14);
}

TEST(Baselines, OtInterpolationEndpoints) {
  const Matrix a = random_matrix(30, 5, 6), b = random_matrix(30, 5, 8, 1.0);
  // λ = 0 reproduces A's population.
  EXPECT_EQ(row_multiset(pg::analysis::ot_interpolation(a, b, 0.0, 30, 3)), row_multiset(a));
  // |A| = |B|: the plan is a permutation, so λ = 1 gives B's population.
  EXPECT_EQ(row_multiset(pg::analysis::ot_interpolation(a, b, 1.0, 30, 3)), row_multiset(b));
  // Mean of the displacement interpolation is the interpolated mean (the plan's marginals are uniform).
  const Matrix mid = pg::analysis::ot_interpolation(a, b, 0.25, 30, 3);
  const Eigen::RowVectorXd expected = 0.75 * a.colwise().mean() + 0.25 * b.colwise().mean();
  EXPECT_LE((mid.colwise().mean() - expected).cwiseAbs().maxCoeff(), 1e-12);
}

TEST(Baselines, OtPlanOfATranslationPairsEachCellWithItsImage) {
  const Matrix a = random_matrix(25, 6, 12);
  Matrix b = a;
  b.rowwise() += Eigen::RowVectorXd::Constant(6, 0.7);
  const auto plan = pg::analysis::interpolation_plan(a, b, 1);
  ASSERT_EQ(plan.mass.size(), 25u);
  for (size_t k = 0; k < plan.mass.size(); ++k) EXPECT_EQ(plan.source[k], plan.target[k]);
}

TEST(Baselines, DeterministicGivenTheSeed) {
  const Matrix a = random_matrix(20, 4, 1), b = random_matrix(15, 4, 2, 1.0);
  EXPECT_EQ(pg::analysis::ot_interpolation(a, b, 0.5, 40, 11),
            pg::analysis::ot_interpolation(a, b, 0.5, 40, 11));
  EXPECT_EQ(pg::analysis::linear_interpolation(a, b, 0.5, 40, 11),
            pg::analysis::linear_interpolation(a, b, 0.5, 40, 11));
  EXPECT_NE(pg::analysis::linear_interpolation(a, b, 0.5, 40, 11),
            pg::analysis::linear_interpolation(a, b, 0.5, 40, 12));
  EXPECT_EQ(pg::analysis::subsample(100, 10, 5), pg::analysis::subsample(100, 10, 5));
  EXPECT_NE(pg::analysis::subsample(100, 10, 5), pg::analysis::subsample(100, 10, 6));
  const auto s = pg::analysis::subsample(100, 10, 5);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
}

}  // namespace
