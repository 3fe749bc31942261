#include "analysis/ridge.h"

#include <Eigen/Eigenvalues>
#include <limits>
#include <stdexcept>

#include "core/random.h"

namespace pg::analysis {

namespace {

struct Solver {  // XᵀX = V diag(e) Vᵀ of centred x; solves (XᵀX + λI) B = XᵀY for any λ
  RowVector x_mean, y_mean;
  Matrix v, vt_xty;
  Vector e;
  Solver(const Matrix& x, const Matrix& y) {
    x_mean = x.colwise().mean();
    y_mean = y.colwise().mean();
    const Matrix xc = x.rowwise() - x_mean;
    const Matrix yc = y.rowwise() - y_mean;
    Eigen::SelfAdjointEigenSolver<Matrix> eig(xc.transpose() * xc);
    v = eig.eigenvectors();
    e = eig.eigenvalues().cwiseMax(0.0);
    vt_xty = v.transpose() * (xc.transpose() * yc);
  }
  Matrix coef(double lambda) const {
    return v * ((e.array() + lambda).inverse().matrix().asDiagonal() * vt_xty);
  }
};

}  // namespace

Matrix RidgeModel::predict(const Matrix& x) const {
  return ((x.rowwise() - x_mean) * coef).rowwise() + y_mean;
}

RidgeModel fit_ridge(const Matrix& x, const Matrix& y, const RidgeOptions& opt) {
  if (x.rows() != y.rows() || x.rows() < 2) throw std::invalid_argument("fit_ridge: need >= 2 paired rows");
  if (opt.relative_penalties.empty()) throw std::invalid_argument("fit_ridge: no penalties");
  const auto n = x.rows();
  const Solver all(x, y);
  // Scale of the penalty: the mean eigenvalue of XᵀX (= its trace / p).
  const double scale = std::max(all.e.mean(), std::numeric_limits<double>::min());
  const auto& grid = opt.relative_penalties;
  std::vector<double> err(grid.size(), 0.0);
  if (n >= opt.folds && opt.folds >= 2) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
    Rng rng(opt.seed);
    rng.shuffle(std::span<int64_t>(order));
    for (int f = 0; f < opt.folds; ++f) {
      Indices train, test;
      for (int64_t i = 0; i < n; ++i)
        (i % opt.folds == f ? test : train).push_back(order[static_cast<size_t>(i)]);
      const Solver s(select_rows(x, train), select_rows(y, train));
      const Matrix xt = select_rows(x, test).rowwise() - s.x_mean;
      const Matrix yt = select_rows(y, test).rowwise() - s.y_mean;
      for (size_t k = 0; k < grid.size(); ++k) err[k] += (xt * s.coef(grid[k] * scale) - yt).squaredNorm();
    }
  } else {
    err.assign(grid.size(), 1.0);
    err[grid.size() / 2] = 0.0;
  }
  size_t best = 0;
  for (size_t k = 1; k < grid.size(); ++k)
    if (err[k] < err[best]) best = k;
  RidgeModel m;
  m.x_mean = all.x_mean;
  m.y_mean = all.y_mean;
  m.relative = grid[best];
  m.penalty = grid[best] * scale;
  m.coef = all.coef(m.penalty);
  m.cv_error = err[best] / static_cast<double>(y.size());
  return m;
}

}  // namespace pg::analysis
