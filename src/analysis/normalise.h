// scanpy's normalize_total(target_sum=1e4) followed by log1p: the space every
// gene-level metric and the PCA work in. Baselines build their populations
// directly in this space (a mean or an interpolation of log profiles), and
// expm1 maps them back to normalised "counts" for writing.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "analysis/matrix.h"
#include "io/cell_matrix.h"

namespace pg::analysis {

inline constexpr double kTargetSum = 1e4;

// Each row scaled to sum `target_sum`, then log1p. Rows summing to zero stay
// zero (scanpy leaves them untouched). Counts must be finite and >= 0.
Matrix log_normalise(const Matrix& counts, double target_sum = kTargetSum);

// expm1 of every entry: log-normalised values back to normalised counts.
Matrix normalised_counts(const Matrix& log_normalised);

// Which dense column each file column goes to (-1: gene not used) and how
// many dense columns there are: the genes shared by two files.
struct GeneColumns {
  std::vector<int32_t> dense_of_file;  // one entry per file column
  int64_t n_dense = 0;
};

// Rows `rows` of a counts CSR as a dense log-normalised matrix over the genes
// in `genes`; the library size of each cell is its total over those genes, so
// two files with different gene sets are normalised over the same genes.
// Non-finite or negative values are a pg::Error naming `file`, X and the cell.
Matrix log_normalised_rows(const io::CsrMatrix& x, std::span<const int64_t> rows, const GeneColumns& genes,
                           const std::string& file);

}  // namespace pg::analysis
