// A sentence edit (perturb/edits.h) expressed on normalised expression, so
// the baselines of `benchmark-perturbation` see the same perturbation as the
// model. A cell's sentence ranks its expressed genes by value / gene median
// (rank-value encoding); the edits act on that ranking:
//   remove  the gene's value -> 0 (delete: the gene leaves the sentence)
//   down    the gene moves k = max(1, round(shift·n)) ranks down (n expressed
//           genes, clamped at the last); it takes the median-normalised value
//           of the gene now at that rank (times its own median)
//   up      the same, k ranks up (clamped at the first, where it takes the top
//           gene's value)
// A cell that does not express the gene is unchanged, as a sentence without
// the gene is (perturb/edits.h). Ties are ordered by gene index.
#pragma once

#include <cstdint>

#include "analysis/matrix.h"
#include "analysis/rouge.h"  // nonzero_medians, rank_genes: the sentence order

namespace pg::analysis {

enum class ExpressionEdit { remove, down, up };

// Edits column `gene` of every row of `norm` in place; `medians` as
// nonzero_medians() gives them.
void edit_expression(Matrix& norm, int64_t gene, ExpressionEdit edit, double shift, const Vector& medians);

}  // namespace pg::analysis
