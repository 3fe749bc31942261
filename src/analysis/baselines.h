// Baselines a generative model of later cell states must beat
// (formats_metrics_users.md B.2): each builds a predicted POPULATION of
// `n` cells from observed cells only, so the same metric code scores it.
//
// Populations are log-normalised (normalize_total 1e4 + log1p), the space the
// metrics work in: a mean profile or an interpolation is formed there, and
// normalised_counts() (expm1) maps it back to counts for writing. They are
// not renormalised on the way back, which would shift a mean profile.
// Every draw is deterministic given the seed.
#pragma once

#include <cstdint>
#include <span>

#include "analysis/matrix.h"
#include "analysis/transport.h"

namespace pg::analysis {

// Copy-source: the given source cells unchanged (the prediction "nothing changes").
Matrix copy_source(const Matrix& source_log, std::span<const int64_t> rows);

// Target-time mean: n copies of the mean log profile of `pool_log` (the
// training cells of the target time point, or of one group there).
Matrix mean_profile(const Matrix& pool_log, int64_t n);

// Nearest observed time point: n cells of `pool_log` (that time point's
// cells), every cell used as evenly as possible (balanced_draws).
Matrix resample(const Matrix& pool_log, int64_t n, uint64_t seed);

// Linear interpolation between the observed time points A < T < B at
// fraction lambda: x = (1−λ)a + λb, a and b paired by an independent random
// coupling; both sides are balanced draws, so with n a multiple of |A| and |B|
// the population mean is exactly (1−λ)·mean(A) + λ·mean(B).
Matrix linear_interpolation(const Matrix& a_log, const Matrix& b_log, double lambda, int64_t n,
                            uint64_t seed);

struct OtInterpolationOptions {
  int64_t max_cells = 3000;   // A and B are subsampled to this for the exact plan
  int64_t n_components = 50;  // joint PCA of A ∪ B the plan is computed on
};

// Displacement interpolation (WOT / moscot style): the same, with (a, b)
// drawn from the exact OT plan between A and B (squared Euclidean cost on
// joint PCA coordinates of A ∪ B). Each a is a balanced draw and
// its partner b is drawn from a's row of the plan, so λ = 0 reproduces A's
// population and λ = 1 a plan-weighted resampling of B.
Matrix ot_interpolation(const Matrix& a_log, const Matrix& b_log, double lambda, int64_t n, uint64_t seed,
                        const OtInterpolationOptions& opt = {});

// The plan itself (rows of a_log x rows of b_log), for inspection and tests.
Coupling interpolation_plan(const Matrix& a_log, const Matrix& b_log, uint64_t seed,
                            const OtInterpolationOptions& opt = {});

}  // namespace pg::analysis
