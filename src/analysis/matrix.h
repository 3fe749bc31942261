// The value types of the analysis layer: dense double matrices with one cell
// per row (Eigen, column-major, so a gene's values across cells are
// contiguous for the per-gene metrics), and index lists selecting cells.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <span>
#include <vector>

namespace pg::analysis {

using Matrix = Eigen::MatrixXd;        // rows = cells, columns = genes or coordinates
using Vector = Eigen::VectorXd;        // one value per gene / coordinate
using RowVector = Eigen::RowVectorXd;  // one cell's profile
using Indices = std::vector<int64_t>;  // row numbers

// The rows `rows` of `m`, in that order (repeats allowed).
Matrix select_rows(const Matrix& m, std::span<const int64_t> rows);
// `a` on top of `b` (same number of columns).
Matrix stack_rows(const Matrix& a, const Matrix& b);
// Per-column means (the mean profile of a population); empty input gives zeros.
Vector column_means(const Matrix& m);

}  // namespace pg::analysis
