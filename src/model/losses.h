// Training losses of PerturbGen: the masked-token cross-entropy of the
// masking stage and the count likelihoods of the count stage (ZINB and NB in
// the scvi-tools parameterisation, MSE on log-normalised counts). Every
// formula matches the reference's arithmetic (golden README §3, §4, §13).
//
// The header only forward-declares at::Tensor so callers that merely pass
// tensors along do not compile <torch/torch.h>; calling these functions needs
// the full type (torch::Tensor is at::Tensor).
#pragma once

#include <cstdint>

namespace at {
class Tensor;
}

namespace pg::model {

// The eps of the reference (scvi-tools, perturbgen/src/losses.py) inside
// every log of the count likelihoods.
inline constexpr double kCountEps = 1e-8;

// The label value ignored by the cross-entropy (torch's ignore_index default).
inline constexpr int64_t kIgnoreLabel = -100;

// The masking stage's decoder input and labels for a boolean mask pattern
// (B, L): masked positions become <mask> = 1 in the input; labels hold the
// original id there and kIgnoreLabel elsewhere. `ids` is int64.
at::Tensor mask_input_ids(const at::Tensor& ids, const at::Tensor& mask_pattern);
at::Tensor masked_labels(const at::Tensor& ids, const at::Tensor& mask_pattern);

// nn.CrossEntropyLoss() of the reference: logits (B, L, V) flattened to
// (B·L, V) against labels (B, L); the mean over the positions whose label is
// not kIgnoreLabel (each labelled position weighs the same, whatever its row).
// A batch without a labelled position is a pg::Error (torch would give NaN).
at::Tensor masked_token_cross_entropy(const at::Tensor& logits, const at::Tensor& labels);

// Element-wise log p(x) of a zero-inflated negative binomial with mean `mu`,
// inverse dispersion `theta` and zero-inflation logits `pi_logits`, all (B, G)
// (theta may broadcast). scvi-tools log_zinb_positive: x < eps uses the
// zero branch, x > eps the count branch. The reference multiplies each branch
// by its indicator; here the branches are selected, which gives the same
// values wherever both are finite and avoids 0·inf = NaN otherwise.
at::Tensor zinb_log_prob(const at::Tensor& x, const at::Tensor& mu, const at::Tensor& theta,
                         const at::Tensor& pi_logits, double eps = kCountEps);

// Element-wise log p(x) of a negative binomial (scvi-tools log_nb_positive).
at::Tensor nb_log_prob(const at::Tensor& x, const at::Tensor& mu, const at::Tensor& theta,
                       double eps = kCountEps);

// −mean over cells of Σ_genes log p: the per-time count loss of the reference
// (the count stage sums it over the predicted times). log_prob is (B, G).
at::Tensor count_nll(const at::Tensor& log_prob);

// scanpy normalize_total(target_sum) then log1p, as the reference prepares the
// MSE target: y = log1p(x / (ℓ / target_sum)), ℓ the row sum of x. A cell with
// ℓ = 0 stays all zero (scanpy leaves such rows untouched).
at::Tensor log_normalise(const at::Tensor& counts, double target_sum = 1e4);

// The MSE head's loss: mean over cells of Σ_genes (ŷ − y)², both (B, G).
at::Tensor mse_count_loss(const at::Tensor& prediction, const at::Tensor& target);

// Auxiliary loss of the predicted size factor (not in the reference): mean
// over cells of (log ℓ̂ − log ℓ)², with ℓ the observed library size (B,) used
// only as a training target. ℓ ≤ 0 is a pg::Error (no library to regress).
at::Tensor library_size_loss(const at::Tensor& log_library, const at::Tensor& observed_library);

}  // namespace pg::model
