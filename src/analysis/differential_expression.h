// Differential expression between two groups of cells, as scanpy 1.11
// computes it with
//   sc.tl.rank_genes_groups(adata, groupby, groups=[g], reference=ref | "rest",
//                           method="wilcoxon", corr_method="benjamini-hochberg",
//                           tie_correct=...)
// on log-normalised values (normalize_total + log1p: analysis/normalise.h).
//
// Per gene, with n1 cells in the group, n2 in the reference, N = n1 + n2:
//   R      = sum of the group's ranks among all N values (ties get the mean rank)
//   score  = (R - n1 (N + 1) / 2) / sqrt(tc * n1 n2 (N + 1) / 12)
//            tc = 1 - sum_ties (t^3 - t) / (N^3 - N) with tie correction, else 1;
//            a 0/0 (a constant gene with tie correction) is score 0, as scanpy sets NaN to 0
//   pvalue = 2 * normal survival(|score|)  (two-sided, no continuity correction)
//   pvalue_adj: Benjamini-Hochberg over all genes of the test (statsmodels fdr_bh)
//   log_fold_change = log2((expm1(mean_group) + 1e-9) / (expm1(mean_reference) + 1e-9)),
//            from the means of the log values (scanpy's approximation).
// "rest" in scanpy is the caller's choice of reference cells: every cell not in the group.
// tie_correct defaults to true here (scanpy's own default is false).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analysis/matrix.h"
#include "analysis/normalise.h"
#include "io/cell_matrix.h"

namespace pg::analysis {

struct DeOptions {
  bool tie_correct = true;
};

struct GeneTest {
  double score = 0;            // z-score of the rank sum (positive: higher in the group)
  double pvalue = 1;           // two-sided normal p-value
  double pvalue_adj = 1;       // Benjamini-Hochberg over the genes of this test
  double log_fold_change = 0;  // log2, scanpy's formula on the means of the log values
  double mean_group = 0;       // mean log value in the group
  double mean_reference = 0;   // mean log value in the reference
  double frac_group = 0;       // fraction of group cells with a non-zero value
  double frac_reference = 0;   // fraction of reference cells with a non-zero value
};

// Row-major cells x genes values of the two groups (n_group, n_reference >= 2
// each, as scanpy requires; std::invalid_argument otherwise). Values must not
// be NaN (std::invalid_argument); callers reading files check first and throw
// pg::Error. One GeneTest per gene, in gene order. O(nnz log nnz) per gene
// column; float inputs are ranked as floats (ties as scanpy sees them).
std::vector<GeneTest> wilcoxon(const float* group, int64_t n_group, const float* reference,
                               int64_t n_reference, int64_t n_genes, const DeOptions& opt = {});
std::vector<GeneTest> wilcoxon(const double* group, int64_t n_group, const double* reference,
                               int64_t n_reference, int64_t n_genes, const DeOptions& opt = {});

// Eigen matrices (one cell per row, same number of columns).
std::vector<GeneTest> wilcoxon(const Matrix& group, const Matrix& reference, const DeOptions& opt = {});

// Rows `group_rows` vs rows `reference_rows` of a CSR of log values (the two
// lists must not share a row; unstored entries are 0; entries repeating a
// gene within a row add up, as scipy sums duplicates).
std::vector<GeneTest> wilcoxon(const io::CsrMatrix& values, std::span<const int64_t> group_rows,
                               std::span<const int64_t> reference_rows, const DeOptions& opt = {});

// Counts in, as the perturbation analysis does it: rows `group_rows` of
// `group_counts` vs rows `reference_rows` of `reference_counts` (the same or
// different matrices, same genes), each cell normalised to `target_sum` and
// log1p-transformed (normalize_total + log1p, the transform of
// analysis::log_normalise), then tested (the row lists may overlap when the matrices differ). The arithmetic
// is scanpy's on float64 data to the bit, log1p(x / (total / target_sum)), not log_normalise's log1p(x *
// (target_sum / total)): the last bit decides which values tie, and ties move ranks (with the other form 5-16
// of the 200 genes of each pbmc fixture comparison scored up to 4 % off). Totals are over all genes of the
// matrix; duplicate entries of a row add up. Counts must be finite and >= 0 (the NaN of a count below -1 is
// std::invalid_argument). Scores and p-values do not depend on target_sum (but for such last-bit ties); means
// and log fold changes do.
std::vector<GeneTest> wilcoxon_counts(const io::CsrMatrix& group_counts, std::span<const int64_t> group_rows,
                                      const io::CsrMatrix& reference_counts,
                                      std::span<const int64_t> reference_rows, double target_sum = kTargetSum,
                                      const DeOptions& opt = {});

// scanpy's default target_sum (normalize_total(target_sum=None) on a CSR):
// the median of the cells' totals over all rows of all `matrices`.
double median_total(const std::vector<const io::CsrMatrix*>& matrices);

// Benjamini-Hochberg adjusted p-values (statsmodels multipletests fdr_bh:
// p_(i) / (i / n), running minimum from the largest, capped at 1), in input
// order. NaN p-values count as 1, as scanpy sets them before adjusting.
std::vector<double> benjamini_hochberg(std::span<const double> pvalues);

// Genes with pvalue_adj < alpha and |log_fold_change| >= min_abs_lfc.
int64_t count_significant(const std::vector<GeneTest>& tests, double alpha = 0.05, double min_abs_lfc = 0);

// Gene indices ordered by score, highest first (scanpy's order of `names`);
// equal scores keep gene order. n < 0: all genes.
std::vector<int64_t> rank_by_score(const std::vector<GeneTest>& tests, int64_t n = -1);

// The n genes most up (score > 0, highest first) or down (score < 0, lowest
// first) in the group among those with pvalue_adj < alpha.
std::vector<int64_t> top_up(const std::vector<GeneTest>& tests, int64_t n, double alpha = 0.05);
std::vector<int64_t> top_down(const std::vector<GeneTest>& tests, int64_t n, double alpha = 0.05);

// Two-sided p-value of a z-score: 2 * P(Z > |z|) = erfc(|z| / sqrt 2).
double two_sided_normal_p(double z);

}  // namespace pg::analysis
