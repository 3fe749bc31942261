// The perturbation benchmark's scoring (perturbation_scores.h,
// perturbation_benchmark.h), ridge regression and expression edits, on
// populations whose answers are known: a perfect prediction scores 1 / 0, no
// change scores 0 / 1, a reversed effect −1; AUROC, fate shifts and the
// linear baseline against values computed independently here.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <set>

#include "analysis/expression_edit.h"
#include "analysis/perturbation_benchmark.h"
#include "analysis/perturbation_scores.h"
#include "analysis/ridge.h"
#include "core/random.h"

namespace {

namespace an = pg::analysis;
using an::Matrix;

// n cells x G genes of Poisson-like counts with per-gene means `mu`, normalised to 1e4.
Matrix population(int64_t n, const std::vector<double>& mu, uint64_t seed) {
  pg::Rng rng(seed);
  Matrix m(n, static_cast<Eigen::Index>(mu.size()));
  for (Eigen::Index i = 0; i < m.rows(); ++i)
    for (Eigen::Index g = 0; g < m.cols(); ++g) {
      // Sum of uniforms: positive noise around the mean.
      double v = 0;
      for (int k = 0; k < 4; ++k) v += rng.uniform();
      m(i, g) = mu[static_cast<size_t>(g)] * v / 2;
    }
  for (Eigen::Index i = 0; i < m.rows(); ++i) m.row(i) *= 1e4 / m.row(i).sum();
  return m;
}

// A control time course (source + 2 later time points, two groups at the
// last) and three perturbations: a strong effect on genes 1-5, its reverse,
// and one that changes nothing but its own gene.
an::BenchmarkInput synthetic_input() {
  const int64_t G = 30, n = 80;
  std::vector<double> base(G);
  for (int64_t g = 0; g < G; ++g) base[static_cast<size_t>(g)] = 5.0 + static_cast<double>(g % 7) * 10;
  an::BenchmarkInput in;
  for (int64_t g = 0; g < G; ++g) in.genes.push_back("g" + std::to_string(g));
  in.time_points = {"d0", "d1", "d2"};
  in.group_names = {"A", "B"};
  for (size_t t = 0; t < 3; ++t) {
    in.control.push_back({population(n, base, 10 + t), std::vector<int32_t>(n, t == 2 ? 0 : -1), {}});
    if (t == 2) {  // group B: gene 20 high
      auto b = base;
      b[20] *= 8;
      const Matrix pb = population(n, b, 99);
      in.control[2].norm = an::stack_rows(in.control[2].norm, pb);
      in.control[2].group.resize(static_cast<size_t>(2 * n), 1);
    }
  }
  const auto perturbed = [&](double factor, int64_t gene, bool fate) {
    std::vector<an::StageCells> stages(3);
    for (size_t t = 1; t < 3; ++t) {
      auto mu = base;
      mu[static_cast<size_t>(gene)] = 0.01;
      for (int g = 1; g <= 5; ++g) mu[static_cast<size_t>(g)] *= factor;
      stages[t] = {population(n, mu, 50 + t + static_cast<uint64_t>(gene)),
                   std::vector<int32_t>(n, t == 2 ? 0 : -1),
                   {}};
      if (t == 2 && fate) {  // every cell becomes B
        auto b = mu;
        b[20] *= 8;
        stages[t].norm = population(n, b, 77);
        stages[t].group.assign(n, 1);
      } else if (t == 2) {
        auto b = mu;
        b[20] *= 8;
        stages[t].norm = an::stack_rows(stages[t].norm, population(n, b, 78));
        stages[t].group.resize(static_cast<size_t>(2 * n), 1);
      }
    }
    return stages;
  };
  in.perturbations = {
      {"", "ko_g0", "ko", "g0", 0}, {"", "oe_g6", "oe", "g6", 6}, {"", "ko_g29", "ko", "g29", 29}};
  in.perturbed = {perturbed(4.0, 0, true), perturbed(0.25, 6, false), perturbed(1.0, 29, false)};
  return in;
}

// Predictions equal to the truth (perturbed) and the control itself.
an::MethodPrediction oracle(const an::BenchmarkInput& in) {
  an::MethodPrediction p(in.perturbations.size());
  for (size_t k = 0; k < in.perturbations.size(); ++k)
    for (size_t t = 1; t < in.time_points.size(); ++t)
      p[k].push_back({in.control[t].norm, in.perturbed[k][t].norm});
  return p;
}

double value(const an::BenchmarkResult& r, const std::string& method, const std::string& pert,
             const std::string& tp, const std::string& metric) {
  for (const auto& row : r.rows)
    if (row.method == method && row.perturbation == pert && row.time_point == tp && row.metric == metric)
      return row.value;
  ADD_FAILURE() << "no row " << method << " " << pert << " " << tp << " " << metric;
  return NAN;
}

TEST(PerturbationScores, PearsonExcludesTheGeneAndConstantIsZero) {
  an::Vector a(4), b(4);
  a << 100, 1, 2, 3;
  b << -100, 2, 4, 6;
  EXPECT_NEAR(an::pearson_excluding(a, b, 0), 1.0, 1e-12);
  EXPECT_LT(an::pearson_excluding(a, b, -1), 0.0);
  EXPECT_EQ(an::pearson_excluding(an::Vector::Zero(4), b, 0), 0.0);
  an::Vector t(5), p(5);
  t << 5, -4, 3, -2, 0.1;
  p << 1, 1, 1, 1, 1;  // right on 5 and 3 of the top 4 (gene 4 excluded below)
  EXPECT_DOUBLE_EQ(an::direction_accuracy(p, t, -1, 4), 0.5);
  EXPECT_DOUBLE_EQ(an::direction_accuracy(p, t, 1, 2), 1.0);  // top 2 without gene 1: 5, 3
  EXPECT_DOUBLE_EQ(an::auroc({3, 4}, {1, 2}), 1.0);
  EXPECT_DOUBLE_EQ(an::auroc({1, 2}, {2, 3}), 0.125);  // one tie of four pairs
}

TEST(PerturbationBenchmark, PerfectPredictionScoresOneAndZero) {
  const auto in = synthetic_input();
  std::map<std::string, an::MethodPrediction> methods{{"perfect", oracle(in)}};
  an::MethodPrediction none(in.perturbations.size());
  for (size_t k = 0; k < in.perturbations.size(); ++k)
    for (size_t t = 1; t < 3; ++t) none[k].push_back({in.control[t].norm, in.control[t].norm});
  methods["no_change"] = none;
  const auto r = an::score_benchmark(in, methods, 1);
  for (const std::string p : {"ko_g0", "oe_g6"})
    for (const std::string tp : {"d1", "d2"}) {
      EXPECT_NEAR(value(r, "perfect", p, tp, "pearson_lfc"), 1.0, 1e-12);
      EXPECT_NEAR(value(r, "perfect", p, tp, "direction_acc_top20"), 1.0, 1e-12);
      EXPECT_NEAR(value(r, "perfect", p, tp, "e_distance_ratio"), 0.0, 1e-12);
      EXPECT_EQ(value(r, "no_change", p, tp, "pearson_lfc"), 0.0);
      EXPECT_EQ(value(r, "no_change", p, tp, "direction_acc_top20"), 0.0);
      EXPECT_NEAR(value(r, "no_change", p, tp, "e_distance_ratio"), 1.0, 1e-12);
    }
  EXPECT_NEAR(value(r, "perfect", "ko_g0", "d2", "fate_shift_error"), 0.0, 1e-12);
  // All cells of ko_g0 become B: the observed shift of group A is about -1/2.
  EXPECT_NEAR(value(r, "observed", "ko_g0", "d2", "fate_shift:A"), -0.5, 0.05);
  EXPECT_NEAR(value(r, "no_change", "ko_g0", "d2", "fate_shift_error"),
              std::abs(value(r, "observed", "ko_g0", "d2", "fate_shift:A")), 1e-12);
  // Which perturbations have a true effect is read from the data.
  EXPECT_TRUE(r.truth["ko_g0"]["has_true_effect"].get<bool>());
  EXPECT_TRUE(r.truth["oe_g6"]["has_true_effect"].get<bool>());
  EXPECT_FALSE(r.truth["ko_g29"]["has_true_effect"].get<bool>());
  EXPECT_NEAR(r.summary["perfect"]["mean_pearson_lfc"].get<double>(), 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(r.summary["perfect"]["negative_control_auroc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r.summary["no_change"]["mean_pearson_lfc"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(r.summary["no_change"]["negative_control_auroc"].get<double>(), 0.5);
}

TEST(PerturbationBenchmark, ReversedEffectScoresMinusOne) {
  const auto in = synthetic_input();
  auto reversed = oracle(in);
  for (auto& per : reversed)
    for (auto& e : per) std::swap(e.control, e.perturbed);
  const auto r = an::score_benchmark(in, {{"reversed", reversed}}, 1);
  EXPECT_NEAR(value(r, "reversed", "ko_g0", "d1", "pearson_lfc"), -1.0, 1e-12);
  EXPECT_EQ(value(r, "reversed", "ko_g0", "d1", "direction_acc_top20"), 0.0);
}

TEST(PerturbationBenchmark, BaselinesDoWhatTheyClaim) {
  const auto in = synthetic_input();
  an::StagePairs pairs(3);
  for (size_t t = 1; t < 3; ++t)
    for (int64_t i = 0; i < 80; ++i) pairs[t].emplace_back(i, i);
  nlohmann::json notes;
  const auto m = an::baseline_predictions(in, pairs, {}, notes);
  ASSERT_EQ(m.size(), 4u);
  // gene_only: only the knocked-out gene differs, and it is 0.
  const auto& g = m.at("gene_only")[0][0];
  EXPECT_TRUE(g.perturbed.col(0).isZero());
  EXPECT_EQ((g.perturbed.rightCols(29) - g.control.rightCols(29)).cwiseAbs().maxCoeff(), 0.0);
  // mean_other for ko_g29 at d1 = the mean observed lfc of the other two.
  const auto lfc = [](const Matrix& p, const Matrix& c) { return an::pseudobulk_lfc(p, c); };
  const an::Vector expected =
      (lfc(in.perturbed[0][1].norm, in.control[1].norm) + lfc(in.perturbed[1][1].norm, in.control[1].norm)) /
      2;
  const auto& mo = m.at("mean_other")[2][0];
  EXPECT_LT((lfc(mo.perturbed, mo.control) - expected).cwiseAbs().maxCoeff(), 1e-9);
  // linear: a knock-out's gene stays 0 at later time points.
  EXPECT_TRUE(m.at("linear")[0][1].perturbed.col(0).isZero());
  EXPECT_EQ(notes["linear"].size(), 2u);
}

TEST(Ridge, RecoversALinearMapAndMatchesTheNormalEquations) {
  pg::Rng rng(3);
  Matrix x(200, 5), b(5, 2);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = rng.uniform();
  b << 1, -2, 0.5, 0, 3, 1, 0, 0, -1, 2;
  const Matrix y = (x * b).array() + 7.0;
  const auto m = an::fit_ridge(x, y);
  EXPECT_EQ(m.relative, 1e-3);  // noise-free: the weakest penalty wins the CV
  EXPECT_LT((m.predict(x) - y).cwiseAbs().maxCoeff(), 0.05);
  // Independently: centred normal equations at the chosen penalty.
  const Matrix xc = x.rowwise() - x.colwise().mean();
  const Matrix yc = y.rowwise() - y.colwise().mean();
  const Matrix a = xc.transpose() * xc + m.penalty * Matrix::Identity(5, 5);
  const Matrix coef = a.ldlt().solve(xc.transpose() * yc);
  EXPECT_LT((coef - m.coef).cwiseAbs().maxCoeff(), 1e-9);
}

TEST(ExpressionEdit, MovesTheGeneInTheCellsRanking) {
  // One cell, medians 1: ranking by value g3 (8) > g0 (4) > g2 (2) > g1 (1).
  Matrix cell(1, 5);
  cell << 4, 1, 2, 8, 0;
  const an::Vector med = an::Vector::Ones(5);
  Matrix down = cell;
  an::edit_expression(down, 3, an::ExpressionEdit::down, 0.5, med);  // k = 2: to g2's rank
  EXPECT_DOUBLE_EQ(down(0, 3), 2.0);
  Matrix up = cell;
  an::edit_expression(up, 1, an::ExpressionEdit::up, 0.25, med);  // k = 1: to g2's value
  EXPECT_DOUBLE_EQ(up(0, 1), 2.0);
  Matrix absent = cell;
  an::edit_expression(absent, 4, an::ExpressionEdit::up, 0.5, med);  // unexpressed: unchanged
  EXPECT_EQ(absent, cell);
  Matrix ko = cell;
  an::edit_expression(ko, 0, an::ExpressionEdit::remove, 0, med);
  EXPECT_EQ(ko(0, 0), 0.0);
}

}  // namespace
