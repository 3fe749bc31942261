// Ridge regression from one population's profiles to another's, the linear
// baseline of perturbation benchmarks (Ahlmann-Eltze et al. 2024: a linear
// model of the source state beats most deep models at predicting perturbed
// states). Multi-output: one coefficient matrix for every target column,
// centred (an unpenalised intercept per target column).
//
// The penalty is chosen by k-fold cross-validation over a fixed grid of
// multiples of the mean eigenvalue of XᵀX/n, so the choice depends on the
// data's scale and never on a caller's tuning. One eigendecomposition of
// each fold's XᵀX serves every penalty of the grid.
#pragma once

#include <cstdint>
#include <vector>

#include "analysis/matrix.h"

namespace pg::analysis {

struct RidgeOptions {
  // Penalties λ·n·mean_eig(XᵀX/n) tried; the best mean held-out squared error wins.
  std::vector<double> relative_penalties = {1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0};
  int folds = 5;
  uint64_t seed = 0;  // fold assignment
};

struct RidgeModel {
  RowVector x_mean, y_mean;
  Matrix coef;          // x columns x y columns
  double penalty = 0;   // the λ·n·mean_eig chosen
  double relative = 0;  // its relative_penalties entry
  double cv_error = 0;  // mean held-out squared error per entry at that penalty
  Matrix predict(const Matrix& x) const;
};

// x: n x p inputs, y: n x q targets (n >= 2 rows, n >= folds for the CV;
// fewer rows skip the CV and use the middle of the grid).
RidgeModel fit_ridge(const Matrix& x, const Matrix& y, const RidgeOptions& opt = {});

}  // namespace pg::analysis
