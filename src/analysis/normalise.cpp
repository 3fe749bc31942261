#include "analysis/normalise.h"

#include <cmath>
#include <stdexcept>

#include "core/error.h"

namespace pg::analysis {

namespace {

void check_value(double v, const std::string& file, int64_t cell, int64_t gene) {
  if (std::isfinite(v) && v >= 0) return;
  throw Error(file, "X",
              std::string(std::isfinite(v) ? "negative" : "non-finite") + " value " + std::to_string(v) +
                  " at cell " + std::to_string(cell) + ", gene " + std::to_string(gene) +
                  " (evaluate expects counts)");
}

}  // namespace

Matrix log_normalise(const Matrix& counts, double target_sum) {
  Matrix out(counts.rows(), counts.cols());
  for (Eigen::Index r = 0; r < counts.rows(); ++r) {
    double total = 0;
    for (Eigen::Index c = 0; c < counts.cols(); ++c) {
      check_value(counts(r, c), "", r, c);
      total += counts(r, c);
    }
    const double scale = total > 0 ? target_sum / total : 0.0;
    for (Eigen::Index c = 0; c < counts.cols(); ++c) out(r, c) = std::log1p(counts(r, c) * scale);
  }
  return out;
}

Matrix normalised_counts(const Matrix& log_normalised) {
  return log_normalised.unaryExpr([](double v) { return std::expm1(v); });
}

Matrix log_normalised_rows(const io::CsrMatrix& x, std::span<const int64_t> rows, const GeneColumns& genes,
                           const std::string& file) {
  if (static_cast<int64_t>(genes.dense_of_file.size()) != x.n_cols)
    throw std::invalid_argument("pg::analysis::log_normalised_rows: gene map does not match the matrix");
  Matrix out = Matrix::Zero(static_cast<Eigen::Index>(rows.size()), genes.n_dense);
  for (size_t i = 0; i < rows.size(); ++i) {
    const int64_t r = rows[i];
    if (r < 0 || r >= x.n_rows)
      throw std::out_of_range("pg::analysis::log_normalised_rows: row out of range");
    double total = 0;
    for (int64_t k = x.indptr[static_cast<size_t>(r)]; k < x.indptr[static_cast<size_t>(r) + 1]; ++k) {
      const double v = x.data[static_cast<size_t>(k)];
      const int32_t col = x.indices[static_cast<size_t>(k)];
      check_value(v, file, r, col);
      const int32_t d = genes.dense_of_file[static_cast<size_t>(col)];
      if (d < 0) continue;
      out(static_cast<Eigen::Index>(i), d) += v;  // += : duplicate entries add, as scipy sums them
      total += v;
    }
    const double scale = total > 0 ? kTargetSum / total : 0.0;
    auto row = out.row(static_cast<Eigen::Index>(i));
    for (Eigen::Index c = 0; c < row.size(); ++c) row(c) = row(c) == 0 ? 0.0 : std::log1p(row(c) * scale);
  }
  return out;
}

}  // namespace pg::analysis
