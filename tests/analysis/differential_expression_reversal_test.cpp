// The pathway reversal score (src/analysis/differential_expression_reversal.h)
// on hand-computed cases, the hypergeometric tail against scipy
// (tests/data/de/de_expected.json), and the GMT / truth-table readers.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "analysis/differential_expression_reversal.h"
#include "de_fixtures.h"

namespace {

using pg::analysis::GeneSet;
using pg::analysis::TrueDe;

// A..H with logFC/padj chosen by hand; true DEGs (padj < 0.05, |logFC| > 0.5): A B C D G H.
std::vector<TrueDe> hand_truth(int fillers = 0) {
  std::vector<TrueDe> t = {{"A", 2, 0.01},   {"B", -1, 0.01},   {"C", 0.6, 0.001}, {"D", -3, 0.04},
                           {"E", 1, 0.2},    {"F", 0.3, 0.001}, {"G", -0.8, 0.01}, {"H", 1.5, 0.01},
                           {"I", 0.5, 0.01}, {"J", -2, 0.05}};
  for (int i = 0; i < fillers; ++i) t.push_back({"filler" + std::to_string(i), 0.1, 0.9});
  return t;
}

// Predictions: A, C, D reversed, B same direction; H predicted 0 (no sign), G none.
const std::vector<std::string> kGenes = {"A", "B", "C", "D", "E", "F", "H", "I", "J"};
const std::vector<double> kPred = {-1, -2, -0.1, 4, -1, -1, 0, -3, 5};

TEST(ReversalScore, AllGenesAsOneSet) {
  pg::analysis::ReversalOptions opt;
  opt.min_scored_genes = 4;
  opt.permutations = 20000;
  const auto r = pg::analysis::reversal_score(kGenes, kPred, hand_truth(), {}, opt);
  ASSERT_EQ(r.pathways.size(), 1u);
  const auto& p = r.pathways[0];
  EXPECT_EQ(p.name, "all_genes");
  EXPECT_EQ(r.n_true_degs, 6);  // I: |logFC| not > 0.5; J: padj not < 0.05
  EXPECT_EQ(p.n_scored, 4);     // A B C D
  EXPECT_TRUE(std::isnan(p.ora_pvalue));
  // reversed weight (A 2 + C 0.6 + D 3) over all (2 + 1 + 0.6 + 3)
  EXPECT_DOUBLE_EQ(p.reversal, 5.6 / 6.6);
  EXPECT_TRUE(p.used);
  EXPECT_EQ(r.n_used, 1);
  EXPECT_DOUBLE_EQ(r.score, 5.6 / 6.6);
  // Null: of the 16 sign patterns, T_b >= 5.6/6.6 when the non-reversed genes weigh <= 1: {}, {B}, {C}.
  EXPECT_NEAR(r.pvalue, 3.0 / 16, 0.012);
  EXPECT_EQ(r.permutations, 20000);
  // Deterministic for a seed.
  const auto again = pg::analysis::reversal_score(kGenes, kPred, hand_truth(), {}, opt);
  EXPECT_EQ(again.pvalue, r.pvalue);
  opt.min_scored_genes = 5;  // the default: too few scored genes, nothing used
  const auto none = pg::analysis::reversal_score(kGenes, kPred, hand_truth(), {}, opt);
  EXPECT_EQ(none.n_used, 0);
  EXPECT_TRUE(std::isnan(none.score));
  EXPECT_TRUE(std::isnan(none.pvalue));
}

TEST(ReversalScore, PerfectReversalHasTheSmallestPValue) {
  // Every scored gene reversed: T = 1, and a null draw reaches 1 only with all 4 signs right (1/16).
  const std::vector<double> reversed = {-1, 1, -1, 1};
  const std::vector<std::string> genes = {"A", "B", "C", "D"};
  pg::analysis::ReversalOptions opt;
  opt.min_scored_genes = 4;
  opt.permutations = 0;
  auto r = pg::analysis::reversal_score(genes, reversed, hand_truth(), {}, opt);
  EXPECT_EQ(r.score, 1.0);
  EXPECT_EQ(r.pvalue, 1.0);  // (1 + 0) / (0 + 1)
  opt.permutations = 4000;
  r = pg::analysis::reversal_score(genes, reversed, hand_truth(), {}, opt);
  EXPECT_NEAR(r.pvalue, 1.0 / 16, 0.01);
  // Same direction everywhere: T = 0, every draw is >= 0.
  const std::vector<double> same = {1, -1, 1, -1};
  r = pg::analysis::reversal_score(genes, same, hand_truth(), {}, opt);
  EXPECT_EQ(r.score, 0.0);
  EXPECT_EQ(r.pvalue, 1.0);
}

TEST(ReversalScore, OverRepresentationPicksThePathways) {
  const auto truth = hand_truth(200);  // N = 210 genes, K = 6 true DEGs
  std::vector<GeneSet> sets;
  sets.push_back({"P1", "all DEGs but H", {"A", "B", "C", "D", "G", "A"}});  // duplicate listed once
  GeneSet p2{"P2", "one DEG in fillers", {"A"}};
  for (int i = 0; i < 10; ++i) p2.genes.push_back("filler" + std::to_string(i));
  sets.push_back(p2);
  GeneSet big{"BIG", "over the size cap", {}};
  for (int i = 0; i < 501; ++i) big.genes.push_back("x" + std::to_string(i));
  sets.push_back(big);
  sets.push_back({"P4", "no gene in the universe", {"X1", "X2"}});
  pg::analysis::ReversalOptions opt;
  opt.min_scored_genes = 4;
  opt.permutations = 1000;
  const auto r = pg::analysis::reversal_score(kGenes, kPred, truth, sets, opt);
  ASSERT_EQ(r.pathways.size(), 3u);  // BIG dropped
  const auto &p1 = r.pathways[0], &p2r = r.pathways[1], &p4 = r.pathways[2];
  EXPECT_EQ(p1.set_size, 5);
  EXPECT_EQ(p1.n_in_universe, 5);
  EXPECT_EQ(p1.n_true_degs, 5);
  // P(X >= 5) with n = 5 draws, K = 6, N = 210: C(6,5) / C(210,5).
  const double c210_5 = 210.0 * 209 * 208 * 207 * 206 / 120;
  EXPECT_NEAR(p1.ora_pvalue, 6 / c210_5, 1e-12 * 6 / c210_5);
  // P2: n = 11, k = 1: 1 - C(204,11)/C(210,11).
  double none = 1;
  for (int i = 0; i < 11; ++i) none *= (204.0 - i) / (210.0 - i);
  EXPECT_NEAR(p2r.ora_pvalue, 1 - none, 1e-12);
  EXPECT_EQ(p2r.n_true_degs, 1);
  // BH over the two tested sets.
  EXPECT_NEAR(p1.ora_padj, 2 * p1.ora_pvalue, 1e-12 * p1.ora_padj);
  EXPECT_NEAR(p2r.ora_padj, std::min(1.0, std::max(p2r.ora_pvalue, 2 * p1.ora_pvalue)), 1e-12);
  EXPECT_TRUE(std::isnan(p4.ora_pvalue));
  EXPECT_EQ(p4.n_in_universe, 0);
  EXPECT_TRUE(p1.used);
  EXPECT_FALSE(p2r.used);
  EXPECT_FALSE(p4.used);
  EXPECT_EQ(p1.n_scored, 4);
  EXPECT_DOUBLE_EQ(p1.reversal, 5.6 / 6.6);
  EXPECT_EQ(p2r.n_scored, 1);
  EXPECT_EQ(p2r.reversal, 1.0);
  EXPECT_EQ(r.n_used, 1);
  EXPECT_DOUBLE_EQ(r.score, 5.6 / 6.6);
}

TEST(ReversalScore, HypergeometricMatchesScipy) {
  for (const auto& c : pg::test::de_expected()["hypergeometric"]) {
    const double want = c["sf"].get<double>();
    EXPECT_NEAR(pg::analysis::hypergeometric_sf(c["k"], c["N"], c["K"], c["n"]), want, 1e-10 * want + 1e-300)
        << c.dump();
  }
  EXPECT_EQ(pg::analysis::hypergeometric_sf(0, 10, 3, 4), 1.0);
  EXPECT_EQ(pg::analysis::hypergeometric_sf(4, 10, 3, 4), 0.0);
}

std::filesystem::path write(const std::string& name, const std::string& text) {
  const auto p = pg::test::temp_dir() / name;
  std::ofstream(p) << text;
  return p;
}

TEST(ReversalScore, ReadsGmt) {
  const auto p = write("sets.gmt", "S1\thttp://x\tA\tB\tA\n\nS2\t\tC\n");
  const auto sets = pg::analysis::read_gmt(p.string());
  ASSERT_EQ(sets.size(), 2u);
  EXPECT_EQ(sets[0].genes, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(sets[1].name, "S2");
  const auto bad = write("bad.gmt", "S1\tdesc\tA\nS2\tdesc\n");
  EXPECT_EQ(pg::test::error_of([&] { pg::analysis::read_gmt(bad.string()); }),
            bad.string() + ": line 2: a gene set needs a name, a description and genes");
  EXPECT_NE(pg::test::error_of([] { pg::analysis::read_gmt("/nonexistent.gmt"); }).find("cannot open"),
            std::string::npos);
}

TEST(ReversalScore, ReadsTruthTables) {
  // scanpy's rank_genes_groups_df column names.
  auto p = write(
      "t.tsv",
      "names\tscores\tlogfoldchanges\tpvals\tpvals_adj\nA\t3\t1.5\t0.001\t0.01\nB\t-2\t-0.7\t0.01\tNA\n");
  auto t = pg::analysis::read_true_de(p.string());
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].gene, "A");
  EXPECT_EQ(t[0].log_fold_change, 1.5);
  EXPECT_EQ(t[0].pvalue_adj, 0.01);
  EXPECT_TRUE(std::isnan(t[1].pvalue_adj));
  p = write("dup.tsv", "gene\tlogFC\tpadj\nA\t1\t0.1\nA\t2\t0.2\n");
  EXPECT_EQ(pg::test::error_of([&] { pg::analysis::read_true_de(p.string()); }),
            p.string() + ": line 3: gene 'A' appears twice (one comparison per table)");
  p = write("nolfc.tsv", "gene\tpadj\nA\t0.1\n");
  EXPECT_EQ(pg::test::error_of([&] { pg::analysis::read_true_de(p.string()); }),
            p.string() + ": header: needs a logFC column (see perturbgen de --help)");
  p = write("text.tsv", "gene\tlogFC\tpadj\nA\tup\t0.1\n");
  EXPECT_EQ(pg::test::error_of([&] { pg::analysis::read_true_de(p.string()); }),
            p.string() + ": line 2: logFC 'up' is not a number");
}

}  // namespace
