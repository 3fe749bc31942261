// The pathway reversal score of PerturbGen's IL1B validation (spec §6.6,
// repro quantitative_pathwaylevel_ORA.ipynb): does a predicted perturbation
// push genes the opposite way to a measured stimulation, pathway by pathway?
//
//   true DEGs   genes of the truth table with padj < 0.05 and |logFC| > 0.5
//   pathways    gene sets (GMT) with at most 500 distinct genes listed; an
//               over-representation analysis (ORA) of the true DEGs keeps the
//               significant ones: one-sided hypergeometric P(X >= k), universe
//               = the genes of the truth table, K = true DEGs, n = set genes in
//               the universe, k = true DEGs in the set; sets with k >= 1 are
//               tested (as Enrichr reports only overlapping sets), BH-adjusted
//               over those, kept when padj < 0.05
//   reversal    per pathway, over its scored genes (true DEGs with a non-zero
//               predicted logFC): sum of |logFC_true| where sign(pred) = -sign(true),
//               divided by sum of |logFC_true|
//   T           mean reversal over the used pathways: significant and >= 5 scored genes
//   null        B random +-1 predicted-sign vectors (pg::Rng, seeded: the sign of
//               gene i in draw b is the top bit of the next output; genes in truth
//               table order), each giving T_b the same way; p = (1 + #{T_b >= T}) / (B + 1)
//
// Without gene sets every gene of the truth table forms one set "all_genes":
// no size cap, no ORA (it is used when it has >= 5 scored genes).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace pg::analysis {

struct GeneSet {
  std::string name;
  std::string description;
  std::vector<std::string> genes;  // distinct, in file order
};

// A GMT file: one set per line, tab-separated name, description, genes...
// Empty lines are skipped; a line without a name or genes, or an unreadable
// file, is a pg::Error naming the file and line.
std::vector<GeneSet> read_gmt(const std::string& path);

struct TrueDe {
  std::string gene;
  double log_fold_change = 0;
  double pvalue_adj = 1;
};

// A ground-truth DE table: TSV with a header naming a gene column (gene,
// names, gene_id, gene_name, symbol), a logFC column (logFC, logfoldchange,
// logfoldchanges, log2FoldChange, avg_log2FC) and an adjusted-p column (padj,
// pvalue_adj, pvals_adj, p_val_adj, adj.P.Val, FDR, qvalue). `perturbgen de`
// output qualifies when it holds one comparison. A missing column, a
// non-numeric value or a repeated gene is a pg::Error naming the file and line.
std::vector<TrueDe> read_true_de(const std::string& path);

struct ReversalOptions {
  double truth_alpha = 0.05;       // true DEG: padj below this ...
  double truth_min_abs_lfc = 0.5;  // ... and |logFC| above this
  int64_t max_set_size = 500;      // sets listing more genes are dropped
  int64_t min_scored_genes = 5;    // pathways with fewer scored genes are not used
  double ora_alpha = 0.05;         // significant pathway: ORA padj below this
  int64_t permutations = 5000;     // B
  uint64_t seed = 0;
};

struct PathwayReversal {
  std::string name;
  int64_t set_size = 0;       // distinct genes listed
  int64_t n_in_universe = 0;  // of those, genes in the truth table
  int64_t n_true_degs = 0;    // of those, true DEGs (the ORA overlap k)
  double ora_pvalue = 0;      // NaN when not tested (k = 0, or no gene sets)
  double ora_padj = 0;        // NaN when not tested
  int64_t n_scored = 0;       // true DEGs with a predicted sign
  double reversal = 0;        // NaN when n_scored = 0
  bool used = false;          // in T: significant (or the single all-genes set) and enough scored genes
};

struct ReversalResult {
  std::vector<PathwayReversal> pathways;  // the sets within the size cap, in input order
  int64_t n_true_degs = 0;                // in the universe
  int64_t n_used = 0;
  double score = 0;   // T; NaN when no pathway is used
  double pvalue = 0;  // permutation p; NaN when no pathway is used
  int64_t permutations = 0;
};

// `genes` and `predicted_lfc` (same length): a predicted logFC per gene (only
// the sign matters; 0 or NaN = no prediction). Empty `sets`: all genes as one set.
ReversalResult reversal_score(std::span<const std::string> genes, std::span<const double> predicted_lfc,
                              const std::vector<TrueDe>& truth, const std::vector<GeneSet>& sets,
                              const ReversalOptions& opt = {});

// P(X >= k) for X hypergeometric: k successes in n draws without replacement
// from N items of which K are successes (scipy hypergeom.sf(k - 1, N, K, n)).
double hypergeometric_sf(int64_t k, int64_t N, int64_t K, int64_t n);

}  // namespace pg::analysis
