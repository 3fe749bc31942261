// Principal component analysis of log-normalised cells, deterministic: the
// same input gives the same components on every run and platform (no
// arbitrary eigenvector signs, seeded random projections).
#pragma once

#include <cstdint>

#include "analysis/matrix.h"

namespace pg::analysis {

struct Pca {
  RowVector mean;     // per input column, subtracted before projecting
  Matrix components;  // input columns x k, orthonormal columns, by decreasing variance
  Vector variance;    // variance (ddof 0) of the fitted cells along each component
  bool exact = true;  // false: randomized subspace iteration (large inputs)
};

// Fits k = n_components components (callers cap k at min(rows - 1, cols)).
// Sign convention: each component's entry of largest magnitude (the first
// such entry on ties) is positive, as numpy/sklearn do not guarantee.
//
// Exact (eigendecomposition of the smaller of X^T X and X X^T of the centred
// data) when the smaller dimension is at most `exact_max_dim`; beyond, the
// randomized range finder of Halko, Martinsson & Tropp (2011, Alg. 4.4) with
// k + max(10, k) columns and 6 re-orthonormalised power iterations, as
// sklearn's randomized solver, seeded by `seed`.
Pca fit_pca(const Matrix& x, int64_t n_components, uint64_t seed = 0, int64_t exact_max_dim = 1500);

// Coordinates of the rows of `x` on the components: (x - mean) * components.
Matrix project(const Pca& pca, const Matrix& x);

// Divides each column by `sd` after subtracting `mean` (both per column);
// columns with zero sd are only centred.
void standardise_columns(Matrix& x, const RowVector& mean, const RowVector& sd);

// Per-column mean and standard deviation (ddof 0, as sklearn's StandardScaler).
void column_mean_sd(const Matrix& x, RowVector& mean, RowVector& sd);

}  // namespace pg::analysis
