// The PCA behind the distribution metrics: joint and reference coordinates
// against numpy's SVD with the same sign convention, and the randomized solver
// against the exact one.
#include <gtest/gtest.h>

#include <cmath>

#include "analysis/normalise.h"
#include "analysis/pca.h"
#include "analysis/preprocess.h"
#include "core/random.h"
#include "metric_fixtures.h"

namespace {

using pg::analysis::Matrix;
using pg::test::matrix_of;
using pg::test::metric_fixtures;

void expect_matrix_near(const Matrix& a, const Matrix& b, double tol, const std::string& what) {
  ASSERT_EQ(a.rows(), b.rows()) << what;
  ASSERT_EQ(a.cols(), b.cols()) << what;
  EXPECT_LE((a - b).cwiseAbs().maxCoeff(), tol) << what;
}

TEST(Pca, JointCoordinatesMatchNumpy) {
  const auto& f = metric_fixtures()["counts"];
  pg::analysis::PreprocessOptions opt;
  opt.n_components = 5;
  const auto pc = pg::analysis::preprocess(matrix_of(f["pred"]), matrix_of(f["true"]), opt);
  ASSERT_EQ(pc.n_components, 5);
  expect_matrix_near(pc.pred, matrix_of(f["joint_pca5_pred"]), 1e-9, "pred");
  expect_matrix_near(pc.truth, matrix_of(f["joint_pca5_true"]), 1e-9, "true");
  // Centred on the union, not whitened: each PC keeps its variance, in
  // decreasing order.
  const Matrix both = pg::analysis::stack_rows(pc.pred, pc.truth);
  EXPECT_LE(both.colwise().mean().cwiseAbs().maxCoeff(), 1e-12);
  const auto var = (both.array().square().colwise().sum() / both.rows()).eval();
  for (int k = 1; k < var.cols(); ++k) EXPECT_GE(var(0, k - 1), var(0, k));
  EXPECT_GT(var(0, 0), 1.5);
}

TEST(Pca, ReferenceCoordinatesMatchNumpy) {
  const auto& f = metric_fixtures()["counts"];
  pg::analysis::PreprocessOptions opt;
  opt.reference_metrics = true;  // 5 PCs each, fitted and standardised separately
  const auto pc = pg::analysis::preprocess(matrix_of(f["pred"]), matrix_of(f["true"]), opt);
  ASSERT_EQ(pc.n_components, 5);
  expect_matrix_near(pc.pred, matrix_of(f["reference_pca5_pred"]), 1e-9, "pred");
  expect_matrix_near(pc.truth, matrix_of(f["reference_pca5_true"]), 1e-9, "true");
}

TEST(Pca, ComponentCountsAreCapped) {
  pg::analysis::PreprocessOptions joint, ref;
  ref.reference_metrics = true;
  EXPECT_EQ(pg::analysis::pca_components(joint, 1000, 1000, 2000), 50);
  EXPECT_EQ(pg::analysis::pca_components(joint, 10, 5, 2000), 14);
  EXPECT_EQ(pg::analysis::pca_components(joint, 1000, 1000, 12), 12);
  EXPECT_EQ(pg::analysis::pca_components(ref, 1000, 1000, 2000), 5);
  EXPECT_EQ(pg::analysis::pca_components(ref, 3, 1000, 2000), 2);
  EXPECT_EQ(pg::analysis::pca_components(ref, 1, 1000, 2000), 0);
}

// Low-rank signal plus small noise: the randomized solver recovers the exact
// components (up to the fixed signs) and variances.
TEST(Pca, RandomizedSolverAgreesWithExact) {
  pg::Rng rng(7);
  const Eigen::Index n = 400, g = 300, rank = 8;
  Matrix u(n, rank), v(rank, g), noise(n, g);
  for (Eigen::Index i = 0; i < u.size(); ++i) u.data()[i] = rng.uniform() - 0.5;
  for (Eigen::Index i = 0; i < v.size(); ++i) v.data()[i] = rng.uniform() - 0.5;
  for (Eigen::Index i = 0; i < noise.size(); ++i) noise.data()[i] = 1e-3 * (rng.uniform() - 0.5);
  for (Eigen::Index r = 0; r < rank; ++r) u.col(r) *= 20.0 / (r + 1);
  const Matrix x = u * v + noise;
  const auto exact = pg::analysis::fit_pca(x, 5, 1, 1000);
  const auto fast = pg::analysis::fit_pca(x, 5, 1, 100);
  ASSERT_TRUE(exact.exact);
  ASSERT_FALSE(fast.exact);
  EXPECT_LE((exact.variance - fast.variance).cwiseAbs().maxCoeff() / exact.variance(0), 1e-10);
  EXPECT_LE((exact.components - fast.components).cwiseAbs().maxCoeff(), 1e-6);
  // Same seed, same result; the Gram path (more genes than cells) agrees too.
  const auto again = pg::analysis::fit_pca(x, 5, 1, 100);
  EXPECT_EQ(fast.components, again.components);
  const auto gram = pg::analysis::fit_pca(x.topRows(100), 5, 1, 1000);
  const auto gram_ref = pg::analysis::fit_pca(x.topRows(100), 5, 1, 50);
  EXPECT_LE((gram.components - gram_ref.components).cwiseAbs().maxCoeff(), 1e-6);
}

}  // namespace
