// Distances between two populations of points (rows), as the single-cell
// field codes them. Inputs are usually PC coordinates; the
// functions take any matrices with the same number of columns.
#pragma once

#include <array>
#include <span>

#include "analysis/matrix.h"

namespace pg::analysis {

// E-distance of Peidli et al. (scPerturb) as CellFlow's compute_e_distance
// (copied into PerturbGen's metric.py) codes it: 2·mean‖x−y‖² − mean‖x−x'‖² −
// mean‖y−y'‖², squared Euclidean, every mean over ALL pairs including the
// zero diagonal (numpy `.mean()` of the full pairwise matrices). With those
// full means the expression is exactly 2‖mean(x) − mean(y)‖², which is how it
// is computed here (O(n·d), no pairwise matrix); identical populations give 0.
double e_distance(const Matrix& x, const Matrix& y);

// The bandwidths of PerturbGen's evaluate_mmd and CellFlow's compute_scalar_mmd.
inline constexpr std::array<double, 6> kMmdGammas = {2.0, 1.0, 0.5, 0.1, 0.01, 0.005};

// RBF-kernel MMD² averaged over `gammas`, K = exp(−γ‖a−b‖²), as PerturbGen's
// mmd_loss_calc (spec §8.1 `mmd`): within-sample sums without the diagonal,
// divided by n(n−1) and m(m−1); cross term the full mean. NaN when a sample
// has fewer than 2 rows. Squared distances are computed once per block of
// 256 x 256 pairs and reused for every γ, so memory stays bounded.
double rbf_mmd(const Matrix& x, const Matrix& y, std::span<const double> gammas = kMmdGammas);

// Linear-time MMD estimates of torchcfm's mmd.py (PerturbGen Linear_MMD /
// Poly_MMD): over the first k = min(n, m) rows, with δ_i = x_i − y_i,
// linear = mean_{i<k-1} δ_i·δ_{i+1};
// poly   = mean k(x_i,x_{i+1}) + k(y_i,y_{i+1}) − k(x_i,y_{i+1}) − k(y_i,x_{i+1}),
// k(a,b) = (alpha·aᵀb + c)^degree. They depend on the row order. NaN when k < 2.
double linear_mmd(const Matrix& x, const Matrix& y);
double poly_mmd(const Matrix& x, const Matrix& y, double degree = 2.0, double alpha = 1.0, double c = 2.0);

}  // namespace pg::analysis
