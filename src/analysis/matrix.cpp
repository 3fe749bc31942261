#include "analysis/matrix.h"

#include <stdexcept>

namespace pg::analysis {

Matrix select_rows(const Matrix& m, std::span<const int64_t> rows) {
  Matrix out(static_cast<Eigen::Index>(rows.size()), m.cols());
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i] < 0 || rows[i] >= m.rows())
      throw std::out_of_range("pg::analysis::select_rows: row out of range");
    out.row(static_cast<Eigen::Index>(i)) = m.row(rows[i]);
  }
  return out;
}

Matrix stack_rows(const Matrix& a, const Matrix& b) {
  if (a.cols() != b.cols()) throw std::invalid_argument("pg::analysis::stack_rows: column counts differ");
  Matrix out(a.rows() + b.rows(), a.cols());
  out.topRows(a.rows()) = a;
  out.bottomRows(b.rows()) = b;
  return out;
}

Vector column_means(const Matrix& m) {
  if (m.rows() == 0) return Vector::Zero(m.cols());
  return m.colwise().mean().transpose();
}

}  // namespace pg::analysis
