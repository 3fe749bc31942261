// From two populations of log-normalised cells (predicted and true) to the
// principal-component coordinates the distribution metrics use.
//
// Default (joint): one PCA fitted on the union true ∪ predicted, both
// projected on it (centred, not whitened: each PC keeps its variance), so the
// two populations share one coordinate system and a shift between them stays
// visible. Reference (spec §8.1, `scale_pca`): 5 PCs fitted separately on each
// population, each standardised separately, as PerturbGen evaluates; the two
// coordinate systems are unrelated, so this only reproduces its numbers.
#pragma once

#include <cstdint>

#include "analysis/matrix.h"

namespace pg::analysis {

struct PreprocessOptions {
  bool reference_metrics = false;  // separate 5-PC PCAs, as the reference
  int64_t n_components = 0;        // 0: 50 (joint) or 5 (reference); capped by the data
  uint64_t seed = 0;               // randomized PCA of large inputs
};

struct PcaCoordinates {
  Matrix pred;
  Matrix truth;
  int64_t n_components = 0;  // 0 when a population is too small for any PC
};

// Number of PCs used: the requested (or default) number capped at
// min(cells - 1, genes) of every population a PCA is fitted on.
int64_t pca_components(const PreprocessOptions& opt, int64_t n_pred, int64_t n_true, int64_t n_genes);

PcaCoordinates pca_coordinates(const Matrix& pred_log, const Matrix& true_log, const PreprocessOptions& opt);

// The same from raw counts: log_normalise both, then pca_coordinates.
PcaCoordinates preprocess(const Matrix& pred_counts, const Matrix& true_counts, const PreprocessOptions& opt);

}  // namespace pg::analysis
