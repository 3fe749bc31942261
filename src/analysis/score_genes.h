// scanpy's sc.tl.score_genes (Satija et al. 2015, as scanpy 1.11 defines it):
// the score of a cell for a gene set is its mean expression over the set
// minus its mean over a control set of genes with matching average
// expression. The control set: every gene of the pool (here all genes) is
// binned by the rank (method 'min') of its mean over cells, bin = rank //
// round(n_genes / (n_bins - 1)); for each bin that holds a gene of the set,
// ctrl_size genes of the bin are drawn without replacement (all of them when
// the bin has at most ctrl_size), the set's own genes are removed
// (ctrl_as_ref=True), and the union over bins is the control set.
//
// The draw uses pg::Rng seeded with `seed` afresh for each gene set, not
// numpy's, so where scanpy samples the control genes differ from scanpy's
// (same distribution); where every bin has at most ctrl_size genes nothing is
// drawn and the scores equal scanpy's.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "analysis/matrix.h"
#include "io/cell_matrix.h"

namespace pg::analysis {

struct ScoreGenesOptions {
  int64_t ctrl_size = 50;  // genes drawn per expression bin
  int64_t n_bins = 25;     // >= 2
  uint64_t seed = 0;
};

// The control genes (sorted column numbers) of `gene_set` given each gene's
// mean expression over the cells. Empty when no gene qualifies (scanpy then
// raises). Out-of-range genes are std::invalid_argument; duplicates are ignored.
std::vector<int64_t> control_genes(std::span<const double> gene_means, std::span<const int64_t> gene_set,
                                   const ScoreGenesOptions& options = {});

// Scores of the rows (cells) of a dense expression matrix (cells x genes,
// e.g. log-normalised) for one gene set. An empty set or control set is a
// pg::Error; non-finite expression values are a pg::Error.
Vector score_genes(const Matrix& expression, std::span<const int64_t> gene_set,
                   const ScoreGenesOptions& options = {});

// Scores (cells x sets) of many gene sets on counts, in the space scanpy is
// usually given: normalize_total(target_sum 1e4) + log1p, computed row by row
// from the CSR without densifying. Negative counts, an empty gene set or an
// empty control set are a pg::Error naming `file` and X or the set's number.
Matrix score_gene_sets_on_counts(const io::CsrMatrix& counts,
                                 const std::vector<std::vector<int64_t>>& gene_sets, const std::string& file,
                                 const ScoreGenesOptions& options = {});

}  // namespace pg::analysis
