#include "analysis/pca.h"

#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <stdexcept>

#include "core/random.h"

namespace pg::analysis {

namespace {

// Standard normal draws (Box-Muller on the project RNG), for the random test matrix.
Matrix gaussian_matrix(Eigen::Index rows, Eigen::Index cols, uint64_t seed) {
  Rng rng(seed);
  Matrix m(rows, cols);
  double* p = m.data();
  const Eigen::Index n = m.size();
  for (Eigen::Index i = 0; i < n; i += 2) {
    const double u1 = 1.0 - rng.uniform();  // (0, 1]
    const double u2 = rng.uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    p[i] = r * std::cos(2 * std::numbers::pi * u2);
    if (i + 1 < n) p[i + 1] = r * std::sin(2 * std::numbers::pi * u2);
  }
  return m;
}

Matrix orthonormal_basis(const Matrix& y) {
  Eigen::HouseholderQR<Matrix> qr(y);
  return qr.householderQ() * Matrix::Identity(y.rows(), y.cols());
}

void fix_signs(Matrix& components) {
  for (Eigen::Index k = 0; k < components.cols(); ++k) {
    Eigen::Index best = 0;
    double best_abs = -1;
    for (Eigen::Index g = 0; g < components.rows(); ++g) {
      const double a = std::abs(components(g, k));
      if (a > best_abs) {
        best_abs = a;
        best = g;
      }
    }
    if (components(best, k) < 0) components.col(k) *= -1.0;
  }
}

// Top-k eigenpairs of a symmetric matrix, eigenvalues descending.
void top_eigen(const Matrix& s, Eigen::Index k, Matrix& vectors, Vector& values) {
  Eigen::SelfAdjointEigenSolver<Matrix> es(s);
  if (es.info() != Eigen::Success)
    throw std::runtime_error("pg::analysis::fit_pca: eigendecomposition failed");
  const Eigen::Index n = s.rows();
  vectors.resize(n, k);
  values.resize(k);
  for (Eigen::Index i = 0; i < k; ++i) {  // Eigen sorts ascending
    vectors.col(i) = es.eigenvectors().col(n - 1 - i);
    values(i) = std::max(0.0, es.eigenvalues()(n - 1 - i));
  }
}

}  // namespace

Pca fit_pca(const Matrix& x, int64_t n_components, uint64_t seed, int64_t exact_max_dim) {
  const Eigen::Index n = x.rows(), g = x.cols();
  const auto k = static_cast<Eigen::Index>(n_components);
  if (k < 1 || k > std::min(n, g))
    throw std::invalid_argument("pg::analysis::fit_pca: bad number of components");
  Pca pca;
  pca.mean = x.colwise().mean();
  const Matrix xc = x.rowwise() - pca.mean;
  Vector sq;  // squared singular values of xc
  if (std::min(n, g) <= exact_max_dim) {
    if (g <= n) {
      top_eigen(xc.transpose() * xc, k, pca.components, sq);
    } else {
      // Through the Gram matrix: v = Xc^T u / s for each left singular vector u.
      Matrix u;
      top_eigen(xc * xc.transpose(), k, u, sq);
      pca.components = xc.transpose() * u;
      for (Eigen::Index i = 0; i < k; ++i) {
        const double s = std::sqrt(sq(i));
        if (s > 0) pca.components.col(i) /= s;
      }
    }
  } else {
    pca.exact = false;
    const Eigen::Index l = std::min<Eigen::Index>(k + std::max<Eigen::Index>(10, k), std::min(n, g));
    Matrix q = orthonormal_basis(xc * gaussian_matrix(g, l, seed));
    for (int it = 0; it < 6; ++it) {
      const Matrix z = orthonormal_basis(xc.transpose() * q);
      q = orthonormal_basis(xc * z);
    }
    const Matrix b = q.transpose() * xc;  // l x g
    Eigen::BDCSVD<Matrix> svd(b, Eigen::ComputeThinV);
    pca.components = svd.matrixV().leftCols(k);
    sq = svd.singularValues().head(k).array().square();
  }
  fix_signs(pca.components);
  pca.variance = sq / static_cast<double>(n);
  return pca;
}

Matrix project(const Pca& pca, const Matrix& x) {
  return (x.rowwise() - pca.mean) * pca.components;
}

void column_mean_sd(const Matrix& x, RowVector& mean, RowVector& sd) {
  mean = x.colwise().mean();
  sd = ((x.rowwise() - mean).array().square().colwise().sum() /
        static_cast<double>(std::max<Eigen::Index>(1, x.rows())))
           .sqrt();
}

void standardise_columns(Matrix& x, const RowVector& mean, const RowVector& sd) {
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    x.col(c).array() -= mean(c);
    if (sd(c) > 0) x.col(c) /= sd(c);
  }
}

}  // namespace pg::analysis
