// The Wilcoxon rank-sum test of src/analysis/differential_expression.h
// against scanpy 1.11 rank_genes_groups on real data (tests/data/de, see
// de_fixtures.h), against a brute-force rank sum, and on hand-computed cases.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include "analysis/differential_expression.h"
#include "de_fixtures.h"

namespace {

using pg::analysis::GeneTest;

struct Kang {
  std::vector<float> x = pg::test::de_inputs().values<float>("kang_x");
  int64_t n_genes = static_cast<int64_t>(pg::test::de_expected()["kang"]["genes"].size());
  int64_t n_cells = static_cast<int64_t>(pg::test::de_expected()["kang"]["groups"].size());
};

std::pair<std::vector<int64_t>, std::vector<int64_t>> sides(const nlohmann::json& labels,
                                                            const nlohmann::json& cmp) {
  const std::string g = cmp["group"], r = cmp["reference"];
  return {pg::test::rows_labelled(labels, g),
          r == "rest" ? pg::test::rows_labelled(labels, g, false) : pg::test::rows_labelled(labels, r)};
}

TEST(DifferentialExpression, MatchesScanpyOnLogNormalisedKang) {
  const Kang k;
  const auto& labels = pg::test::de_expected()["kang"]["groups"];
  for (const auto& cmp : pg::test::de_expected()["kang"]["comparisons"]) {
    const auto [g, r] = sides(labels, cmp);
    const auto a = pg::test::rows_of(k.x, k.n_genes, g), b = pg::test::rows_of(k.x, k.n_genes, r);
    pg::analysis::DeOptions opt;
    opt.tie_correct = cmp["tie_correct"].get<bool>();
    const auto tests = pg::analysis::wilcoxon(a.data(), static_cast<int64_t>(g.size()), b.data(),
                                              static_cast<int64_t>(r.size()), k.n_genes, opt);
    const std::string what = "kang " + cmp["group"].get<std::string>() + " vs " +
                             cmp["reference"].get<std::string>() + (opt.tie_correct ? " tc" : " no-tc");
    pg::test::report(pg::test::expect_matches_scanpy(tests, cmp, what), what);
    // scanpy's pts: fraction of non-zero cells.
    for (int64_t j = 0; j < k.n_genes; ++j) {
      int64_t nz = 0;
      for (int64_t row : g) nz += k.x[static_cast<size_t>(row * k.n_genes + j)] != 0;
      EXPECT_DOUBLE_EQ(tests[static_cast<size_t>(j)].frac_group,
                       static_cast<double>(nz) / static_cast<double>(g.size()));
    }
    EXPECT_EQ(pg::analysis::count_significant(tests),
              std::count_if(cmp["pvals_adj"].begin(), cmp["pvals_adj"].end(),
                            [](const nlohmann::json& p) { return p.get<double>() < 0.05; }))
        << what;
  }
}

TEST(DifferentialExpression, AllInputFormsGiveTheSameResult) {
  const Kang k;
  const auto& labels = pg::test::de_expected()["kang"]["groups"];
  const auto [g, r] = sides(labels, pg::test::de_expected()["kang"]["comparisons"][0]);
  const auto a = pg::test::rows_of(k.x, k.n_genes, g), b = pg::test::rows_of(k.x, k.n_genes, r);
  const auto n1 = static_cast<int64_t>(g.size()), n2 = static_cast<int64_t>(r.size());
  const auto base = pg::analysis::wilcoxon(a.data(), n1, b.data(), n2, k.n_genes);

  const std::vector<double> ad(a.begin(), a.end()), bd(b.begin(), b.end());
  pg::analysis::Matrix ma(n1, k.n_genes), mb(n2, k.n_genes);
  for (int64_t i = 0; i < n1; ++i)
    for (int64_t j = 0; j < k.n_genes; ++j) ma(i, j) = ad[static_cast<size_t>(i * k.n_genes + j)];
  for (int64_t i = 0; i < n2; ++i)
    for (int64_t j = 0; j < k.n_genes; ++j) mb(i, j) = bd[static_cast<size_t>(i * k.n_genes + j)];
  const auto csr = pg::test::csr_from_dense(k.x, k.n_genes, 0, k.n_cells);
  const std::vector<std::vector<GeneTest>> others = {
      pg::analysis::wilcoxon(ad.data(), n1, bd.data(), n2, k.n_genes), pg::analysis::wilcoxon(ma, mb),
      pg::analysis::wilcoxon(csr, g, r)};
  for (const auto& o : others) {
    ASSERT_EQ(o.size(), base.size());
    for (size_t j = 0; j < base.size(); ++j) {
      EXPECT_EQ(o[j].score, base[j].score) << j;
      EXPECT_EQ(o[j].pvalue_adj, base[j].pvalue_adj) << j;
      EXPECT_DOUBLE_EQ(o[j].mean_group, base[j].mean_group) << j;
      EXPECT_DOUBLE_EQ(o[j].log_fold_change, base[j].log_fold_change) << j;
      EXPECT_EQ(o[j].frac_reference, base[j].frac_reference) << j;
    }
  }
}

TEST(DifferentialExpression, MatchesScanpyFromCountsOnPbmc) {
  const auto& pj = pg::test::de_expected()["pbmc"];
  const auto counts = pg::test::de_inputs().values<float>("pbmc_counts");
  const auto n_genes = static_cast<int64_t>(pj["genes"].size());
  const auto csr = pg::test::csr_from_dense(counts, n_genes, 0, static_cast<int64_t>(pj["groups"].size()));
  for (const auto& cmp : pj["comparisons"]) {
    const auto [g, r] = sides(pj["groups"], cmp);
    pg::analysis::DeOptions opt;
    opt.tie_correct = cmp["tie_correct"].get<bool>();
    const auto tests = pg::analysis::wilcoxon_counts(csr, g, csr, r, 1e4, opt);
    const std::string what =
        "pbmc counts " + cmp["group"].get<std::string>() + " vs " + cmp["reference"].get<std::string>();
    pg::test::report(pg::test::expect_matches_scanpy(tests, cmp, what), what);
  }
  // The perturbation layout: X = cells 0-149, control = cells 150-299, per time point (and group).
  pg::io::CsrMatrix x = pg::io::slice_rows(csr, 0, 150), control = pg::io::slice_rows(csr, 150, 300);
  for (const auto& cmp : pj["perturbation"]["comparisons"]) {
    const std::string t = cmp["time_point"], grp = cmp["cell_group"];
    std::vector<int64_t> rows;
    for (int64_t i = 0; i < 150; ++i)
      if (pj["perturbation"]["time_point"][static_cast<size_t>(i)] == t &&
          (grp == "all" || pj["perturbation"]["cell_group"][static_cast<size_t>(i)] == grp))
        rows.push_back(i);
    ASSERT_EQ(static_cast<int64_t>(rows.size()), cmp["n"].get<int64_t>());
    const auto tests = pg::analysis::wilcoxon_counts(x, rows, control, rows);
    const std::string what = "perturbation " + t + " " + grp;
    pg::test::report(pg::test::expect_matches_scanpy(tests, cmp, what), what);
  }
}

// Brute force: rank = #smaller + (#equal + 1) / 2, tie term over distinct values.
GeneTest naive(const std::vector<double>& a, const std::vector<double>& b, bool tie_correct) {
  std::vector<double> all(a);
  all.insert(all.end(), b.begin(), b.end());
  const double n = static_cast<double>(all.size()), n1 = static_cast<double>(a.size());
  double r = 0, ties = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    double less = 0, equal = 0;
    for (double v : all) {
      less += v < all[i];
      equal += v == all[i];
    }
    if (i < a.size()) r += less + (equal + 1) / 2;
    ties += (equal * equal - 1) / 1;  // each member of a block of t adds t^2 - 1: block total t^3 - t
  }
  GeneTest t;
  const double tc = tie_correct ? 1 - ties / (n * n * n - n) : 1;
  t.score = (r - n1 * (n + 1) / 2) / std::sqrt(tc * n1 * (n - n1) * (n + 1) / 12);
  if (std::isnan(t.score)) t.score = 0;
  return t;
}

TEST(DifferentialExpression, AgreesWithBruteForceRanksWithTiesNegativesAndZeros) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> level(-3, 3), size(2, 30);
  for (int rep = 0; rep < 40; ++rep) {
    const int n1 = size(rng), n2 = size(rng), n_genes = 7;
    std::vector<float> a(static_cast<size_t>(n1 * n_genes)), b(static_cast<size_t>(n2 * n_genes));
    for (auto& v : a) v = static_cast<float>(level(rng)) * 0.5f;
    for (auto& v : b) v = static_cast<float>(level(rng) + (rep % 3)) * 0.5f;
    for (bool tc : {true, false}) {
      pg::analysis::DeOptions opt;
      opt.tie_correct = tc;
      const auto tests = pg::analysis::wilcoxon(a.data(), n1, b.data(), n2, n_genes, opt);
      for (int j = 0; j < n_genes; ++j) {
        std::vector<double> ca, cb;
        for (int i = 0; i < n1; ++i) ca.push_back(a[static_cast<size_t>(i * n_genes + j)]);
        for (int i = 0; i < n2; ++i) cb.push_back(b[static_cast<size_t>(i * n_genes + j)]);
        const auto want = naive(ca, cb, tc);
        EXPECT_NEAR(tests[static_cast<size_t>(j)].score, want.score, 1e-12) << rep << " " << j;
      }
    }
  }
}

TEST(DifferentialExpression, HandComputedTies) {
  // group {1, 1, 2}, reference {1, 3, 3}: ranks 2, 2, 4 | 2, 5.5, 5.5; R = 8, E[R] = 10.5;
  // ties (3^3 - 3) + (2^3 - 2) = 30 of 6^3 - 6 = 210, so tc = 6/7 and var = tc * 3 * 3 * 7 / 12 = 4.5.
  const float a[] = {1, 1, 2}, b[] = {1, 3, 3};
  const auto tc = pg::analysis::wilcoxon(a, 3, b, 3, 1);
  EXPECT_NEAR(tc[0].score, -2.5 / std::sqrt(4.5), 1e-15);
  EXPECT_NEAR(tc[0].pvalue, std::erfc(2.5 / std::sqrt(4.5) / std::sqrt(2.0)), 1e-15);
  pg::analysis::DeOptions no;
  no.tie_correct = false;
  const auto plain = pg::analysis::wilcoxon(a, 3, b, 3, 1, no);
  EXPECT_NEAR(plain[0].score, -2.5 / std::sqrt(5.25), 1e-15);
  EXPECT_DOUBLE_EQ(tc[0].mean_group, 4.0 / 3);
  EXPECT_DOUBLE_EQ(tc[0].log_fold_change,
                   std::log2((std::expm1(4.0 / 3) + 1e-9) / (std::expm1(7.0 / 3) + 1e-9)));
  EXPECT_EQ(tc[0].pvalue_adj, tc[0].pvalue);  // one gene: BH leaves it alone
}

TEST(DifferentialExpression, ConstantGeneHasScoreZeroAndPOne) {
  // As scanpy: with tie correction 0/0 -> NaN -> 0; without, R equals its expectation exactly.
  for (float level : {0.0f, 2.5f})
    for (bool tc : {true, false}) {
      const std::vector<float> a(4, level), b(5, level);
      pg::analysis::DeOptions opt;
      opt.tie_correct = tc;
      const auto t = pg::analysis::wilcoxon(a.data(), 4, b.data(), 5, 1, opt);
      EXPECT_EQ(t[0].score, 0.0);
      EXPECT_EQ(t[0].pvalue, 1.0);
      EXPECT_EQ(t[0].pvalue_adj, 1.0);
      EXPECT_EQ(t[0].log_fold_change, 0.0);
    }
}

TEST(DifferentialExpression, BenjaminiHochbergAsStatsmodels) {
  const std::vector<double> p = {0.01, 0.04, 0.03, 0.2, std::numeric_limits<double>::quiet_NaN(), 0.03};
  // n = 6, sorted 0.01 0.03 0.03 0.04 0.2 1(NaN): p * 6 / rank = 0.06 0.09 0.06 0.06 0.24 1.2,
  // running minimum from the end, capped at 1.
  const auto adj = pg::analysis::benjamini_hochberg(p);
  const std::vector<double> want = {0.06, 0.06, 0.06, 0.24, 1.0, 0.06};
  for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(adj[i], want[i], 1e-15) << i;
  EXPECT_TRUE(pg::analysis::benjamini_hochberg({}).empty());
}

TEST(DifferentialExpression, NormalTail) {
  EXPECT_EQ(pg::analysis::two_sided_normal_p(0), 1.0);
  EXPECT_NEAR(pg::analysis::two_sided_normal_p(1.959963984540054), 0.05, 1e-15);
  EXPECT_NEAR(pg::analysis::two_sided_normal_p(-10), 1.523970604832105e-23, 1e-36);  // scipy 2 * norm.sf(10)
  EXPECT_EQ(pg::analysis::two_sided_normal_p(40), 0.0);
}

TEST(DifferentialExpression, RankingAndCounting) {
  std::vector<GeneTest> t(5);
  const double scores[] = {1.5, -4, 3, -2, 3}, padj[] = {0.01, 0.001, 0.2, 0.04, 0.03},
               lfc[] = {0.4, -2, 1, -0.6, 0.9};
  for (size_t i = 0; i < 5; ++i) {
    t[i].score = scores[i];
    t[i].pvalue_adj = padj[i];
    t[i].log_fold_change = lfc[i];
  }
  EXPECT_EQ(pg::analysis::rank_by_score(t), (std::vector<int64_t>{2, 4, 0, 3, 1}));
  EXPECT_EQ(pg::analysis::rank_by_score(t, 2), (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(pg::analysis::count_significant(t), 4);
  EXPECT_EQ(pg::analysis::count_significant(t, 0.05, 0.5), 3);
  EXPECT_EQ(pg::analysis::count_significant(t, 0.01), 1);
  EXPECT_EQ(pg::analysis::top_up(t, 10), (std::vector<int64_t>{4, 0}));
  EXPECT_EQ(pg::analysis::top_down(t, 1), (std::vector<int64_t>{1}));
  EXPECT_EQ(pg::analysis::top_down(t, -1), (std::vector<int64_t>{1, 3}));
}

TEST(DifferentialExpression, MedianTotal) {
  const auto a = pg::test::csr_from_rows(3, {{{0, 1.0f}, {2, 2.0f}}, {}, {{1, 10.0f}}});
  const auto b = pg::test::csr_from_rows(3, {{{0, 4.0f}}});
  EXPECT_EQ(pg::analysis::median_total({&a}), 3.0);      // totals 3, 0, 10
  EXPECT_EQ(pg::analysis::median_total({&a, &b}), 3.5);  // 0, 3, 4, 10
}

TEST(DifferentialExpression, DuplicateCsrEntriesAddUp) {
  // Cell 0 stores gene 1 twice (2 + 3) and out of order; as scipy, it is a 5.
  const auto dup = pg::test::csr_from_rows(
      3, {{{1, 2.0f}, {0, 1.0f}, {1, 3.0f}}, {{2, 4.0f}}, {{0, 1.0f}}, {{1, 1.0f}, {2, 2.0f}}});
  const auto sum =
      pg::test::csr_from_rows(3, {{{0, 1.0f}, {1, 5.0f}}, {{2, 4.0f}}, {{0, 1.0f}}, {{1, 1.0f}, {2, 2.0f}}});
  const std::vector<int64_t> g = {0, 1}, r = {2, 3};
  for (const auto& [a, b] : {std::pair{pg::analysis::wilcoxon_counts(dup, g, dup, r),
                                       pg::analysis::wilcoxon_counts(sum, g, sum, r)},
                             std::pair{pg::analysis::wilcoxon(dup, g, r), pg::analysis::wilcoxon(sum, g, r)}})
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_EQ(a[j].score, b[j].score) << j;
      EXPECT_EQ(a[j].mean_group, b[j].mean_group) << j;
      EXPECT_EQ(a[j].frac_group, b[j].frac_group) << j;
    }
  // A cell with no counts stays all zero.
  const auto empty = pg::test::csr_from_rows(2, {{}, {{0, 1.0f}}, {{1, 3.0f}}, {{0, 2.0f}}});
  const auto t =
      pg::analysis::wilcoxon_counts(empty, std::vector<int64_t>{0, 1}, empty, std::vector<int64_t>{2, 3});
  EXPECT_EQ(t[0].mean_group, std::log1p(1e4) / 2);
}

TEST(DifferentialExpression, RejectsTooFewCellsNaNAndBadRows) {
  const float one[] = {1, 2}, two[] = {1, 2, 3, 4};
  EXPECT_THROW(pg::analysis::wilcoxon(one, 1, two, 2, 2), std::invalid_argument);
  EXPECT_THROW(pg::analysis::wilcoxon(two, 2, one, 1, 2), std::invalid_argument);
  const float nan[] = {1, std::numeric_limits<float>::quiet_NaN(), 3, 4};
  EXPECT_THROW(pg::analysis::wilcoxon(two, 2, nan, 2, 2), std::invalid_argument);
  const auto m = pg::test::csr_from_rows(2, {{{0, 1.0f}}, {{1, 2.0f}}, {}, {{0, 3.0f}}});
  const std::vector<int64_t> g = {0, 1}, overlap = {1, 2}, out = {2, 9};
  EXPECT_THROW(pg::analysis::wilcoxon(m, g, overlap), std::invalid_argument);
  EXPECT_THROW(pg::analysis::wilcoxon(m, g, out), std::out_of_range);
  EXPECT_THROW(pg::analysis::wilcoxon_counts(m, g, m, out), std::out_of_range);
}

}  // namespace
