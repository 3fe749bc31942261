#include "analysis/distribution_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace pg::analysis {

namespace {

constexpr Eigen::Index kBlock = 256;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void check_dims(const Matrix& x, const Matrix& y, const char* what) {
  if (x.cols() != y.cols())
    throw std::invalid_argument(std::string("pg::analysis::") + what + ": dimensions differ");
}

// Adds Σ exp(−γ·d) over the block for every γ. `d` holds squared distances.
void add_kernel_sums(const Matrix& d, std::span<const double> gammas, double weight,
                     std::vector<double>& sums) {
  for (size_t g = 0; g < gammas.size(); ++g) sums[g] += weight * (-gammas[g] * d.array()).exp().sum();
}

// Σ_{i,j} exp(−γ‖a_i − b_j‖²) for every γ; with `same` (a is b) the diagonal is
// left out and only blocks on or above the diagonal are computed.
std::vector<double> kernel_sums(const Matrix& a, const Matrix& b, std::span<const double> gammas, bool same) {
  std::vector<double> sums(gammas.size(), 0.0);
  const Vector na = a.rowwise().squaredNorm(), nb = b.rowwise().squaredNorm();
  Matrix d;
  for (Eigen::Index i0 = 0; i0 < a.rows(); i0 += kBlock) {
    const Eigen::Index bi = std::min(kBlock, a.rows() - i0);
    for (Eigen::Index j0 = same ? i0 : 0; j0 < b.rows(); j0 += kBlock) {
      const Eigen::Index bj = std::min(kBlock, b.rows() - j0);
      d.noalias() = -2.0 * a.middleRows(i0, bi) * b.middleRows(j0, bj).transpose();
      d.colwise() += na.segment(i0, bi);
      d.rowwise() += nb.segment(j0, bj).transpose();
      d = d.cwiseMax(0.0);  // the expansion can go slightly negative
      double weight = 1.0;
      if (same && i0 == j0) {
        // Diagonal block: K(a_i, a_i) = 1 exactly; drop it below.
        for (Eigen::Index t = 0; t < bi; ++t) d(t, t) = 0.0;
      } else if (same) {
        weight = 2.0;  // the mirrored block below the diagonal
      }
      add_kernel_sums(d, gammas, weight, sums);
      if (same && i0 == j0)
        for (double& s : sums) s -= static_cast<double>(bi);
    }
  }
  return sums;
}

}  // namespace

double e_distance(const Matrix& x, const Matrix& y) {
  check_dims(x, y, "e_distance");
  if (x.rows() == 0 || y.rows() == 0) return kNaN;
  return 2.0 * (column_means(x) - column_means(y)).squaredNorm();
}

double rbf_mmd(const Matrix& x, const Matrix& y, std::span<const double> gammas) {
  check_dims(x, y, "rbf_mmd");
  const auto n = static_cast<double>(x.rows()), m = static_cast<double>(y.rows());
  if (x.rows() < 2 || y.rows() < 2 || gammas.empty()) return kNaN;
  const auto kxx = kernel_sums(x, x, gammas, true);
  const auto kyy = kernel_sums(y, y, gammas, true);
  const auto kxy = kernel_sums(x, y, gammas, false);
  double total = 0;
  for (size_t g = 0; g < gammas.size(); ++g)
    total += kxx[g] / (n * (n - 1)) + kyy[g] / (m * (m - 1)) - 2.0 * kxy[g] / (n * m);
  return total / static_cast<double>(gammas.size());
}

double linear_mmd(const Matrix& x, const Matrix& y) {
  check_dims(x, y, "linear_mmd");
  const Eigen::Index k = std::min(x.rows(), y.rows());
  if (k < 2) return kNaN;
  const Matrix delta = x.topRows(k) - y.topRows(k);
  return (delta.topRows(k - 1).array() * delta.bottomRows(k - 1).array()).rowwise().sum().mean();
}

double poly_mmd(const Matrix& x, const Matrix& y, double degree, double alpha, double c) {
  check_dims(x, y, "poly_mmd");
  const Eigen::Index k = std::min(x.rows(), y.rows());
  if (k < 2) return kNaN;
  // mean over i < k-1 of (alpha·a_i·b_{i+1} + c)^degree
  auto term = [&](const Matrix& a, const Matrix& b) {
    const Vector dots = (a.topRows(k - 1).array() * b.middleRows(1, k - 1).array()).rowwise().sum();
    return (alpha * dots.array() + c).pow(degree).mean();
  };
  return term(x, x) + term(y, y) - term(x, y) - term(y, x);
}

}  // namespace pg::analysis
