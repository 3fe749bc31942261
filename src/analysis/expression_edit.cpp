#include "analysis/expression_edit.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace pg::analysis {

void edit_expression(Matrix& norm, int64_t gene, ExpressionEdit edit, double shift, const Vector& medians) {
  for (Eigen::Index i = 0; i < norm.rows(); ++i) {
    if (!(norm(i, gene) > 0)) continue;
    if (edit == ExpressionEdit::remove) {
      norm(i, gene) = 0;
      continue;
    }
    const RowVector cell = norm.row(i);
    const std::vector<int64_t> ranked = rank_genes(cell, medians);
    const auto n = static_cast<int64_t>(ranked.size());
    const auto at = std::find(ranked.begin(), ranked.end(), gene);
    if (at == ranked.end()) continue;  // no median: in no sentence
    const int64_t pos = at - ranked.begin();
    const int64_t k = std::max<int64_t>(1, std::llround(shift * static_cast<double>(n)));
    const int64_t to =
        edit == ExpressionEdit::down ? std::min(n - 1, pos + k) : std::max<int64_t>(0, pos - k);
    const auto other = ranked[static_cast<size_t>(to)];
    norm(i, gene) = cell[other] / medians[other] * medians[gene];
  }
}

}  // namespace pg::analysis
