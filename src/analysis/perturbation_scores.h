// The scores of a predicted perturbation effect against the observed one
// (`perturbgen benchmark-perturbation`). Populations are normalised counts
// (each cell scaled to 1e4, not logged), rows = cells, columns = genes.
//
//   lfc                 per gene log2((mean_pert + 1) / (mean_ctrl + 1)), the
//                       pseudo-bulk fold change (pseudocount 1 on the 1e4 scale)
//   pearson_lfc         Pearson of predicted vs observed lfc over every gene
//                       but the perturbed one: the effect beyond the gene
//                       itself (a knock-out's own fold change would otherwise
//                       dominate and reward "only the gene changes");
//                       pearson_lfc_all_genes keeps it. A constant prediction
//                       (no change) scores 0, not NaN: it explains nothing.
//   direction_acc_top20 among the 20 genes (perturbed gene excluded) with the
//                       largest observed |lfc|, the fraction whose predicted
//                       lfc has the same sign (0 counts as wrong)
//   e_distance_ratio    E(pred pert, true pert) / E(true ctrl, true pert) in a
//                       PCA of log1p(control ∪ true perturbed): 0 = the true
//                       population, 1 = no better than predicting no change
//   fate shift          a k-nearest-neighbour classifier fitted on the control
//                       cells' groups (e.g. branch) labels predicted and true
//                       cells; shift = group fractions of the perturbed
//                       population minus those of its control; the error is
//                       the total variation ½Σ|pred shift − true shift|
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analysis/matrix.h"

namespace pg::analysis {

Vector pseudobulk_lfc(const Matrix& pert_norm, const Matrix& ctrl_norm);

// Pearson over the entries other than `excluded` (-1: none); 0 when either
// side is constant there.
double pearson_excluding(const Vector& a, const Vector& b, int64_t excluded);

// Sign agreement on the `top` entries (other than `excluded`) of largest |truth|.
double direction_accuracy(const Vector& pred, const Vector& truth, int64_t excluded, int64_t top = 20);

// ‖v‖₂ over the entries other than `excluded`.
double norm_excluding(const Vector& v, int64_t excluded);

// P(score of a positive > score of a negative), ties ½ (Mann-Whitney); NaN
// when either side is empty.
double auroc(const std::vector<double>& positives, const std::vector<double>& negatives);

// E-distance ratio as above (populations normalised, same genes).
double e_distance_ratio(const Matrix& pred_pert, const Matrix& true_pert, const Matrix& true_ctrl,
                        int64_t n_components = 20, uint64_t seed = 0);

// k-NN classifier of cell groups fitted on labelled normalised cells (PCA of
// their log1p values, `n_components` PCs, Euclidean distance).
class GroupClassifier {
 public:
  GroupClassifier(const Matrix& cells_norm, const std::vector<int32_t>& labels, int32_t n_groups,
                  int64_t k = 15, int64_t n_components = 20, uint64_t seed = 0);
  std::vector<int32_t> classify(const Matrix& cells_norm) const;
  // Fraction of `cells_norm` per group.
  std::vector<double> fractions(const Matrix& cells_norm) const;
  int32_t n_groups() const { return n_groups_; }

 private:
  struct Impl;
  std::shared_ptr<const Impl> impl_;
  int32_t n_groups_ = 0;
};

// ½ Σ_g |a_g − b_g|.
double total_variation(const std::vector<double>& a, const std::vector<double>& b);

// Null spread of ‖lfc‖ between two populations of n cells drawn like
// `ctrl_norm`: the `quantile` of ‖lfc(half A, half B)‖ / √2 over `draws`
// random half splits (halves have twice the variance of a full-size mean).
double lfc_null_norm(const Matrix& ctrl_norm, double quantile = 0.99, int draws = 50, uint64_t seed = 0);

}  // namespace pg::analysis
