// Exact optimal transport (LEMON network simplex) and Sinkhorn against POT,
// hand-worked cases, plan marginals, and the size that must stay fast.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

#include "analysis/sinkhorn.h"
#include "analysis/transport.h"
#include "core/random.h"
#include "metric_fixtures.h"

namespace {

using pg::analysis::Matrix;
using pg::test::expect_rel;
using pg::test::matrix_of;
using pg::test::metric_fixtures;

void expect_marginals(const pg::analysis::Coupling& c, int64_t n, int64_t m) {
  std::vector<double> rows(static_cast<size_t>(n), 0.0), cols(static_cast<size_t>(m), 0.0);
  for (size_t k = 0; k < c.mass.size(); ++k) {
    EXPECT_GT(c.mass[k], 0.0);
    rows[static_cast<size_t>(c.source[k])] += c.mass[k];
    cols[static_cast<size_t>(c.target[k])] += c.mass[k];
  }
  for (const double r : rows) EXPECT_NEAR(r, 1.0 / n, 1e-15);
  for (const double v : cols) EXPECT_NEAR(v, 1.0 / m, 1e-15);
  EXPECT_LE(static_cast<int64_t>(c.mass.size()), n + m - 1);  // a basic (vertex) solution
}

class TransportFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(TransportFixture, ExactMatchesPotEmd2) {
  const auto& f = metric_fixtures()[GetParam()];
  const Matrix x = matrix_of(f["x"]), y = matrix_of(f["y"]);
  const auto w = pg::analysis::wasserstein(x, y);
  EXPECT_TRUE(w.exact);
  expect_rel(w.w1, f["w1"].get<double>(), 1e-9, "w1");
  expect_rel(w.w2, f["w2"].get<double>(), 1e-9, "w2");
  const auto plan = pg::analysis::exact_transport(pg::analysis::ground_cost(x, y, 2));
  expect_marginals(plan.coupling, x.rows(), y.rows());
}

TEST_P(TransportFixture, SinkhornMatchesPotSinkhornLog) {
  const auto& f = metric_fixtures()[GetParam()];
  const Matrix x = matrix_of(f["x"]), y = matrix_of(f["y"]);
  pg::analysis::SinkhornOptions opt;
  opt.epsilon = f["sinkhorn_epsilon"].get<double>();
  opt.tolerance = 1e-12;
  const auto r = pg::analysis::sinkhorn(pg::analysis::ground_cost(x, y, 2).cast<float>(), opt);
  EXPECT_TRUE(r.converged);
  // Costs stored in float (the points' squared distances rounded to 24 bits): ~1e-7 relative.
  expect_rel(r.cost, f["sinkhorn_sq_cost"].get<double>(), 1e-7, "sinkhorn");
}

INSTANTIATE_TEST_SUITE_P(Fixtures, TransportFixture, ::testing::Values("clouds_small", "clouds_medium"));

TEST(Transport, HandWorkedCases) {
  Matrix a(1, 2), b(1, 2);
  a << 0, 0;
  b << 3, 4;
  const auto w = pg::analysis::wasserstein(a, b);
  EXPECT_DOUBLE_EQ(w.w1, 5.0);  // one point each: the distance
  EXPECT_DOUBLE_EQ(w.w2, 5.0);
  // Two points to one: both move; W1 = mean distance.
  Matrix two(2, 1), one(1, 1);
  two << 0, 2;
  one << 1;
  EXPECT_DOUBLE_EQ(pg::analysis::wasserstein(two, one).w1, 1.0);
  // Three vs two points on a line (sizes without a common unit mass):
  // x = {0, 1, 2} (1/3 each), y = {0, 2} (1/2 each): 1 sends 1/6 each way, W1 = 1/3.
  Matrix x3(3, 1), y2(2, 1);
  x3 << 0, 1, 2;
  y2 << 0, 2;
  EXPECT_NEAR(pg::analysis::wasserstein(x3, y2).w1, 1.0 / 3.0, 1e-12);
  const auto plan = pg::analysis::exact_transport(pg::analysis::ground_cost(x3, y2, 1));
  expect_marginals(plan.coupling, 3, 2);
}

TEST(Transport, IdenticalPopulationsHaveZeroCostAndTheIdentityPlan) {
  pg::Rng rng(3);
  Matrix x(50, 4);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform();
  const auto plan = pg::analysis::exact_transport(pg::analysis::ground_cost(x, x, 2));
  EXPECT_DOUBLE_EQ(plan.cost, 0.0);
  ASSERT_EQ(plan.coupling.mass.size(), 50u);
  for (size_t k = 0; k < 50; ++k) {
    EXPECT_EQ(plan.coupling.source[k], static_cast<int64_t>(k));
    EXPECT_EQ(plan.coupling.target[k], static_cast<int64_t>(k));
  }
}

TEST(Transport, SinkhornAboveTheThresholdIsCloseToExact) {
  const auto& f = metric_fixtures()["clouds_medium"];
  const Matrix x = matrix_of(f["x"]), y = matrix_of(f["y"]);
  pg::analysis::WassersteinOptions opt;
  opt.exact_max_cells = 100;  // 200 x 180 cells: entropic
  const auto w = pg::analysis::wasserstein(x, y, opt);
  EXPECT_FALSE(w.exact);
  // The entropic plan costs at least the optimum, and at ε = 1% of the mean cost not much more.
  EXPECT_GE(w.w1, f["w1"].get<double>() * (1 - 1e-9));
  EXPECT_LE(w.w1, f["w1"].get<double>() * 1.05);
  EXPECT_GE(w.w2, f["w2"].get<double>() * (1 - 1e-9));
  EXPECT_LE(w.w2, f["w2"].get<double>() * 1.05);
}

TEST(Transport, LargePopulationsAreSubsampledDeterministically) {
  const auto& f = metric_fixtures()["clouds_medium"];
  const Matrix x = matrix_of(f["x"]), y = matrix_of(f["y"]);
  pg::analysis::WassersteinOptions opt;
  opt.max_cells = 60;  // 200 x 180 cells -> 60 x 60, exact
  const auto a = pg::analysis::wasserstein(x, y, opt);
  EXPECT_TRUE(a.exact);
  EXPECT_EQ(a.w1, pg::analysis::wasserstein(x, y, opt).w1);
  EXPECT_NE(a.w1, f["w1"].get<double>());
  opt.seed = 1;
  EXPECT_NE(a.w1, pg::analysis::wasserstein(x, y, opt).w1);
}

TEST(Transport, ThreeThousandCellsInSeconds) {
  pg::Rng rng(11);
  Matrix x(3000, 50), y(3000, 50);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform();
  for (Eigen::Index i = 0; i < y.size(); ++i) y.data()[i] = rng.uniform() + 0.1;
  const auto start = std::chrono::steady_clock::now();
  const auto plan = pg::analysis::exact_transport(pg::analysis::ground_cost(x, y, 2));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("exact OT 3000 x 3000 in 50-D: %.1f s\n", seconds);
  expect_marginals(plan.coupling, 3000, 3000);
  EXPECT_LT(seconds, 120.0);  // seconds on an idle core; generous for a loaded CI machine
}

}  // namespace
