// sc.tl.score_genes: exact agreement with scanpy where scanpy draws nothing
// (every expression bin has at most ctrl_size genes), the binning rule, and
// the seeded draw where bins are larger.
#include "analysis/score_genes.h"

#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "analysis/normalise.h"
#include "core/error.h"
#include "program_fixtures.h"

namespace {

using pg::analysis::Matrix;
using pg::analysis::ScoreGenesOptions;

std::vector<int64_t> set_genes(const nlohmann::json& s) {
  return s["genes"].get<std::vector<int64_t>>();
}

TEST(ScoreGenes, MatchesScanpyOnLogNormalisedCells) {
  const auto& f = pg::test::program_fixtures();
  const Matrix expr = pg::analysis::log_normalise(pg::test::matrix_of(f["counts"]));
  for (const auto& s : f["score_sets"]) {
    const auto scores = pg::analysis::score_genes(expr, set_genes(s));
    const auto expected = s["scores"].get<std::vector<double>>();
    ASSERT_EQ(scores.size(), static_cast<Eigen::Index>(expected.size()));
    double max_diff = 0;
    for (size_t i = 0; i < expected.size(); ++i)
      max_diff = std::max(max_diff, std::abs(scores(static_cast<Eigen::Index>(i)) - expected[i]));
    std::cout << s["genes"].size() << " genes: max |ours - scanpy| = " << max_diff << "\n";
    EXPECT_LE(max_diff, 1e-5);
  }
}

TEST(ScoreGenes, CountsVersionMatchesScanpy) {
  const auto& f = pg::test::program_fixtures();
  std::vector<std::vector<int64_t>> sets;
  for (const auto& s : f["score_sets"]) sets.push_back(set_genes(s));
  const Matrix scores =
      pg::analysis::score_gene_sets_on_counts(pg::test::fixture_counts_csr(), sets, "fixture");
  ASSERT_EQ(scores.cols(), static_cast<Eigen::Index>(sets.size()));
  double max_diff = 0;
  for (size_t k = 0; k < sets.size(); ++k) {
    const auto expected = f["score_sets"][k]["scores"].get<std::vector<double>>();
    for (size_t i = 0; i < expected.size(); ++i)
      max_diff = std::max(
          max_diff,
          std::abs(scores(static_cast<Eigen::Index>(i), static_cast<Eigen::Index>(k)) - expected[i]));
  }
  std::cout << "from counts (CSR): max |ours - scanpy| = " << max_diff << "\n";
  EXPECT_LE(max_diff, 1e-5);
}

TEST(ScoreGenes, BinsByRankOfTheMeans) {
  // 48 genes, mean = gene number (ties: 10 and 11 equal). n_bins 25 ->
  // n_items = round(48 / 24) = 2; bin = rank_min // 2.
  std::vector<double> means(48);
  for (size_t g = 0; g < means.size(); ++g) means[g] = static_cast<double>(g);
  means[11] = means[10];
  // Gene 5: rank 6 -> bin 3 = {genes 5, 6} (ranks 6, 7); itself removed.
  EXPECT_EQ(pg::analysis::control_genes(means, std::vector<int64_t>{5}), (std::vector<int64_t>{6}));
  // Genes 10 and 11 share rank 11 (bin 5) with gene 9 (rank 10); gene 12
  // has rank 13 and is alone in bin 6; gene 13 (rank 14) shares bin 7 with 14.
  EXPECT_EQ(pg::analysis::control_genes(means, std::vector<int64_t>{10}), (std::vector<int64_t>{9, 11}));
  EXPECT_TRUE(pg::analysis::control_genes(means, std::vector<int64_t>{12}).empty());
  // Two bins at once, duplicates in the set ignored.
  EXPECT_EQ(pg::analysis::control_genes(means, std::vector<int64_t>{5, 13, 13}),
            (std::vector<int64_t>{6, 14}));
  EXPECT_THROW(pg::analysis::control_genes(means, std::vector<int64_t>{48}), std::invalid_argument);
}

TEST(ScoreGenes, DrawsCtrlSizeGenesPerBinWithTheSeed) {
  // 2,400 genes: bins of 100; ctrl_size 10 draws 10 of each.
  std::vector<double> means(2400);
  for (size_t g = 0; g < means.size(); ++g) means[g] = static_cast<double>((g * 7919) % 2400);
  const std::vector<int64_t> set = {3, 4, 1000};
  ScoreGenesOptions o;
  o.ctrl_size = 10;
  const auto a = pg::analysis::control_genes(means, set, o);
  EXPECT_EQ(pg::analysis::control_genes(means, set, o), a);
  o.seed = 1;
  const auto b = pg::analysis::control_genes(means, set, o);
  EXPECT_NE(a, b);
  // The three genes are in three different bins: 30 drawn, minus any of the set.
  EXPECT_GE(a.size(), 27u);
  EXPECT_LE(a.size(), 30u);
  std::set<int64_t> bins;
  for (const int64_t g : set) bins.insert(static_cast<int64_t>(means[static_cast<size_t>(g)] + 1) / 100);
  for (const int64_t g : a)
    EXPECT_TRUE(bins.count(static_cast<int64_t>(means[static_cast<size_t>(g)] + 1) / 100));
}

TEST(ScoreGenes, ErrorsNameTheProblem) {
  const Matrix expr = Matrix::Ones(4, 3);
  EXPECT_THROW(pg::analysis::score_genes(expr, std::vector<int64_t>{}), pg::Error);
  // Every gene is in the set: no control genes, as scanpy's RuntimeError.
  EXPECT_THROW(pg::analysis::score_genes(expr, std::vector<int64_t>{0, 1, 2}), pg::Error);
  ScoreGenesOptions bad;
  bad.n_bins = 1;
  EXPECT_THROW(pg::analysis::score_genes(expr, std::vector<int64_t>{0}, bad), std::invalid_argument);
  auto counts = pg::test::csr_from_rows(2, {{{0, 1.0f}}, {{1, -2.0f}}});
  try {
    pg::analysis::score_gene_sets_on_counts(counts, {{0}}, "in.h5ad");
    FAIL() << "no error";
  } catch (const pg::Error& e) {
    EXPECT_EQ(e.file(), "in.h5ad");
    EXPECT_EQ(e.element(), "X");
  }
}

TEST(ScoreGenes, DuplicateCsrEntriesAreSummedFirst) {
  // Cell 0 stores gene 0 twice (1 + 1): the same as one entry of 2.
  const auto dup = pg::test::csr_from_rows(3, {{{0, 1.0f}, {0, 1.0f}, {1, 3.0f}}, {{2, 1.0f}, {1, 1.0f}}});
  const auto one = pg::test::csr_from_rows(3, {{{0, 2.0f}, {1, 3.0f}}, {{2, 1.0f}, {1, 1.0f}}});
  ScoreGenesOptions o;
  o.n_bins = 2;
  const Matrix a = pg::analysis::score_gene_sets_on_counts(dup, {{0}}, "", o);
  const Matrix b = pg::analysis::score_gene_sets_on_counts(one, {{0}}, "", o);
  EXPECT_LE((a - b).cwiseAbs().maxCoeff(), 1e-15);
}

}  // namespace
