// The distribution and gene-level metrics against POT / scipy / numpy values
// (metric_fixtures.json) and against small cases worked out by hand.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "analysis/distribution_metrics.h"
#include "analysis/evaluate.h"
#include "analysis/gene_metrics.h"
#include "analysis/normalise.h"
#include "analysis/rouge.h"
#include "metric_fixtures.h"

namespace {

using pg::analysis::Matrix;
using pg::analysis::Vector;
using pg::test::expect_rel;
using pg::test::matrix_of;
using pg::test::metric_fixtures;

class CloudMetrics : public ::testing::TestWithParam<std::string> {};

TEST_P(CloudMetrics, MatchNumpy) {
  const auto& f = metric_fixtures()[GetParam()];
  const Matrix x = matrix_of(f["x"]), y = matrix_of(f["y"]);
  expect_rel(pg::analysis::e_distance(x, y), f["e_distance"].get<double>(), 1e-10, "e_distance");
  expect_rel(pg::analysis::rbf_mmd(x, y), f["mmd_rbf"].get<double>(), 1e-9, "mmd_rbf");
  expect_rel(pg::analysis::linear_mmd(x, y), f["linear_mmd"].get<double>(), 1e-10, "linear_mmd");
  expect_rel(pg::analysis::poly_mmd(x, y), f["poly_mmd"].get<double>(), 1e-10, "poly_mmd");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, CloudMetrics, ::testing::Values("clouds_small", "clouds_medium"));

TEST(DistributionMetrics, HandWorkedCases) {
  Matrix x(2, 1), y(2, 1);
  x << 0, 2;
  y << 1, 3;
  // E-distance with full means: 2*mean|x-y|^2 - mean|x-x'|^2 - mean|y-y'|^2
  // = 2*(1+9+1+1)/4 - (0+4+4+0)/4 - (0+4+4+0)/4 = 6 - 2 - 2 = 2 = 2*(1-2)^2.
  EXPECT_DOUBLE_EQ(pg::analysis::e_distance(x, y), 2.0);
  EXPECT_DOUBLE_EQ(pg::analysis::e_distance(x, x), 0.0);
  // Linear MMD: delta = (-1, -1); mean over the one pair = 1.
  EXPECT_DOUBLE_EQ(pg::analysis::linear_mmd(x, y), 1.0);
  // Poly MMD with k(a,b) = (ab+2)^2: (0*2+2)^2 + (1*3+2)^2 - (0*3+2)^2 - (1*2+2)^2 = 4+25-4-16 = 9.
  EXPECT_DOUBLE_EQ(pg::analysis::poly_mmd(x, y), 9.0);
  // RBF MMD with one gamma = 1: Kxx off-diagonal exp(-4), Kyy exp(-4), Kxy {e^-1, e^-9, e^-1, e^-1}.
  const double g[] = {1.0};
  const double expected = std::exp(-4.0) + std::exp(-4.0) - 2 * (3 * std::exp(-1.0) + std::exp(-9.0)) / 4;
  EXPECT_NEAR(pg::analysis::rbf_mmd(x, y, g), expected, 1e-15);
  // Fewer than two cells: undefined, NaN as the reference's 0/0.
  EXPECT_TRUE(std::isnan(pg::analysis::rbf_mmd(x.topRows(1), y)));
  EXPECT_TRUE(std::isnan(pg::analysis::linear_mmd(x.topRows(1), y)));
}

TEST(DistributionMetrics, RbfMmdBlocksAgreeWithDirectSum) {
  // 600 x 300 points cross the 256-row blocks (diagonal and mirrored blocks).
  Matrix x = Matrix::Zero(600, 3), y = Matrix::Zero(300, 3);
  for (Eigen::Index i = 0; i < x.rows(); ++i) x.row(i) << std::sin(i * 0.7), std::cos(i * 1.3), 0.01 * i;
  for (Eigen::Index i = 0; i < y.rows(); ++i)
    y.row(i) << std::sin(i * 0.9) + 0.2, std::cos(i * 0.4), 0.02 * i;
  const double gamma[] = {0.5};
  double kxx = 0, kyy = 0, kxy = 0;
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < x.rows(); ++j)
      if (i != j) kxx += std::exp(-0.5 * (x.row(i) - x.row(j)).squaredNorm());
  for (Eigen::Index i = 0; i < y.rows(); ++i)
    for (Eigen::Index j = 0; j < y.rows(); ++j)
      if (i != j) kyy += std::exp(-0.5 * (y.row(i) - y.row(j)).squaredNorm());
  for (Eigen::Index i = 0; i < x.rows(); ++i)
    for (Eigen::Index j = 0; j < y.rows(); ++j) kxy += std::exp(-0.5 * (x.row(i) - y.row(j)).squaredNorm());
  const double expected = kxx / (600.0 * 599) + kyy / (300.0 * 299) - 2 * kxy / (600.0 * 300);
  EXPECT_NEAR(pg::analysis::rbf_mmd(x, y, gamma), expected, 1e-12);
}

TEST(Normalise, MatchesScanpyAndKeepsEmptyCellsZero) {
  const auto& f = metric_fixtures()["counts"];
  const Matrix lp = pg::analysis::log_normalise(matrix_of(f["pred"]));
  const auto& row0 = f["lognorm_pred_row0"];
  for (Eigen::Index g = 0; g < lp.cols(); ++g)
    expect_rel(lp(0, g), row0[static_cast<size_t>(g)].get<double>(), 1e-14, "row0");
  EXPECT_TRUE(lp.row(3).isZero());
  EXPECT_NEAR(pg::analysis::normalised_counts(lp).row(0).sum(), 1e4, 1e-8);
}

TEST(GeneMetrics, MatchScipy) {
  const auto& f = metric_fixtures()["counts"];
  const Matrix lp = pg::analysis::log_normalise(matrix_of(f["pred"]));
  const Matrix lt = pg::analysis::log_normalise(matrix_of(f["true"]));
  const Matrix lc = pg::analysis::log_normalise(matrix_of(f["ctrl"]));
  const auto m = pg::analysis::gene_metrics(lp, lt, lc, 20);
  EXPECT_EQ(m.de_genes, f["de_genes"].get<std::vector<int64_t>>());
  expect_rel(m.emd, f["emd_genes"].get<double>(), 1e-12, "emd");
  expect_rel(m.pearson_delta, f["pearson_delta"].get<double>(), 1e-12, "pearson_delta");
  expect_rel(m.mse_top_de, f["mse_top20_de"].get<double>(), 1e-12, "mse");
  expect_rel(m.pearson_top_de, f["pearson_top20_de"].get<double>(), 1e-12, "pearson_top20");
  EXPECT_DOUBLE_EQ(m.direction_top_de, f["direction_acc_top20_de"].get<double>());
  expect_rel(m.means.slope, f["means_slope"].get<double>(), 1e-12, "slope");
  expect_rel(m.means.intercept, f["means_intercept"].get<double>(), 1e-12, "intercept");
  expect_rel(m.means.r2, f["means_r2"].get<double>(), 1e-12, "r2");
  expect_rel(m.rmse, f["means_rmse"].get<double>(), 1e-12, "rmse");
}

TEST(GeneMetrics, Wasserstein1dByHand) {
  const std::vector<double> u = {0, 1, 3}, v = {5, 6, 8};
  EXPECT_DOUBLE_EQ(pg::analysis::wasserstein_1d(u, v), 5.0);  // a shift by 5
  const std::vector<double> a = {0}, b = {0, 1};
  EXPECT_DOUBLE_EQ(pg::analysis::wasserstein_1d(a, b), 0.5);  // half the mass moves by 1
  const std::vector<double> c = {1, 1, 2}, d = {2, 1, 1};
  EXPECT_DOUBLE_EQ(pg::analysis::wasserstein_1d(c, d), 0.0);
}

TEST(GeneMetrics, PerfectPredictionAndUndefinedCases) {
  Matrix t(3, 4), c(2, 4);
  t << 1, 2, 0, 5, 2, 2, 1, 4, 0, 3, 1, 6;
  c << 0, 1, 1, 1, 1, 1, 1, 2;
  const auto m = pg::analysis::gene_metrics(t, t, c, 20);
  EXPECT_DOUBLE_EQ(m.emd, 0.0);
  EXPECT_NEAR(m.pearson_delta, 1.0, 1e-15);
  EXPECT_DOUBLE_EQ(m.mse_top_de, 0.0);
  EXPECT_DOUBLE_EQ(m.direction_top_de, 1.0);
  EXPECT_NEAR(m.means.slope, 1.0, 1e-15);
  EXPECT_NEAR(m.means.r2, 1.0, 1e-15);
  EXPECT_EQ(m.de_genes.size(), 4u);  // fewer genes than 20: all of them
  // Prediction = control: no change predicted, Pearson-delta undefined.
  const auto z = pg::analysis::gene_metrics(c, t, c, 2);
  EXPECT_TRUE(std::isnan(z.pearson_delta));
  EXPECT_DOUBLE_EQ(z.direction_top_de, 0.0);
}

TEST(Rouge, ByHand) {
  using V = std::vector<int64_t>;
  const V pred = {1, 2, 3, 4}, ref = {3, 1, 9};
  // overlap {1, 3} = 2: P = 2/4, R = 2/3, F = 2*(1/2)(2/3)/(1/2+2/3) = 4/7.
  EXPECT_NEAR(pg::analysis::rouge1_f(pred, ref), 4.0 / 7.0, 1e-15);
  // Repeated tokens count at most as often as in the other sequence.
  EXPECT_NEAR(pg::analysis::rouge1_f(V{5, 5, 5}, V{5, 6}), 2 * (1.0 / 3) * 0.5 / (1.0 / 3 + 0.5), 1e-15);
  EXPECT_DOUBLE_EQ(pg::analysis::rouge1_f(V{}, ref), 0.0);
  EXPECT_DOUBLE_EQ(pg::analysis::rouge1_f(V{7}, ref), 0.0);
  EXPECT_DOUBLE_EQ(pg::analysis::rouge1_f(ref, ref), 1.0);
  // Top-k truncation of both sides: first 2 tokens {1,2} vs {3,1}: F = 1/2.
  EXPECT_DOUBLE_EQ(pg::analysis::mean_rouge1({pred, ref}, {ref, ref}, 2), (0.5 + 1.0) / 2);
  EXPECT_EQ(pg::analysis::top_k(pred, 0).size(), 4u);
  EXPECT_EQ(pg::analysis::top_k(pred, 100).size(), 4u);
}

TEST(Rouge, RankGenesGeneformerStyle) {
  pg::analysis::RowVector expr(5);
  expr << 2.0, 0.0, 6.0, 3.0, 1.0;
  Vector med(5);
  med << 1.0, 1.0, 2.0, 1.0, 0.5;
  // scores 2, -, 3, 3, 2 -> (2, 3 tie -> lower index first), then (0, 4 tie).
  EXPECT_EQ(pg::analysis::rank_genes(expr, med), (std::vector<int64_t>{2, 3, 0, 4}));
}

TEST(Evaluate, RowsPerGroupAndDeterministic) {
  const auto& f = metric_fixtures()["counts"];
  pg::analysis::Population pred{pg::analysis::log_normalise(matrix_of(f["pred"])), {}};
  pg::analysis::Population truth{pg::analysis::log_normalise(matrix_of(f["true"])), {}};
  pg::analysis::Population ctrl{pg::analysis::log_normalise(matrix_of(f["ctrl"])), {}};
  for (Eigen::Index i = 0; i < pred.log.rows(); ++i) pred.groups.push_back(i % 2 ? "b" : "a");
  for (Eigen::Index i = 0; i < truth.log.rows(); ++i) truth.groups.push_back(i % 3 ? "a" : "c");
  pg::analysis::MetricOptions opt;
  const auto rows = pg::analysis::evaluate("m", "t1", pred, truth, ctrl, opt);
  const auto again = pg::analysis::evaluate("m", "t1", pred, truth, ctrl, opt);
  ASSERT_EQ(rows.size(), again.size());
  std::set<std::string> groups;
  for (size_t i = 0; i < rows.size(); ++i) {
    groups.insert(rows[i].group);
    EXPECT_EQ(rows[i].metric, again[i].metric);
    if (!std::isnan(rows[i].value)) {
      EXPECT_EQ(rows[i].value, again[i].value) << rows[i].metric;
    }
  }
  EXPECT_EQ(groups, (std::set<std::string>{"all", "a"}));  // b has no true cells, c no predicted
  // "all" rows: n_pred / n_true of the whole populations; the e-distance in
  // joint PCA space is 2|mean difference|^2 of the standardised scores.
  EXPECT_EQ(rows.front().n_pred, 30);
  EXPECT_EQ(rows.front().n_true, 25);
  const auto it = std::find_if(rows.begin(), rows.end(), [](const auto& r) { return r.metric == "n_pcs"; });
  ASSERT_NE(it, rows.end());
  EXPECT_EQ(it->value, 30.0);  // min(50, 55 - 1, 30 genes)
}

}  // namespace
