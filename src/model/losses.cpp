#include "model/losses.h"

#include <torch/torch.h>

#include <string>

#include "core/error.h"

namespace pg::model {
namespace {

namespace F = torch::nn::functional;

std::string shape_of(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

void check_same_shape(const char* what, const torch::Tensor& a, const torch::Tensor& b) {
  if (a.sizes() != b.sizes()) throw Error("", what, "shapes differ: " + shape_of(a) + " vs " + shape_of(b));
}

void check_cells_by_genes(const char* what, const torch::Tensor& t) {
  if (t.dim() != 2) throw Error("", what, "expected (cells, genes), got " + shape_of(t));
}

}  // namespace

torch::Tensor mask_input_ids(const torch::Tensor& ids, const torch::Tensor& mask_pattern) {
  check_same_shape("mask pattern", ids, mask_pattern);
  return ids.masked_fill(mask_pattern.to(torch::kBool), 1);  // <mask> = 1
}

torch::Tensor masked_labels(const torch::Tensor& ids, const torch::Tensor& mask_pattern) {
  check_same_shape("mask pattern", ids, mask_pattern);
  return ids.masked_fill(mask_pattern.to(torch::kBool).logical_not(), kIgnoreLabel);
}

torch::Tensor masked_token_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels) {
  if (logits.dim() != 3 || labels.dim() != 2 || logits.size(0) != labels.size(0) ||
      logits.size(1) != labels.size(1))
    throw Error(
        "", "masked-token cross-entropy",
        "logits " + shape_of(logits) + " do not match labels " + shape_of(labels) + " as (B, L, V) / (B, L)");
  if (labels.ne(kIgnoreLabel).sum().item<int64_t>() == 0)
    throw Error("", "masked-token cross-entropy", "no labelled (masked) position in the batch");
  const int64_t v = logits.size(2);
  // Flattened exactly as the reference does, so the mean runs over all labelled
  // positions of the batch together rather than per cell.
  return F::cross_entropy(logits.reshape({-1, v}), labels.reshape({-1}),
                          F::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel));
}

torch::Tensor zinb_log_prob(const torch::Tensor& x, const torch::Tensor& mu, const torch::Tensor& theta,
                            const torch::Tensor& pi_logits, double eps) {
  check_same_shape("zinb mu", x, mu);
  check_same_shape("zinb pi", x, pi_logits);
  const torch::Tensor softplus_pi = F::softplus(-pi_logits);
  const torch::Tensor log_theta_eps = torch::log(theta + eps);
  const torch::Tensor log_theta_mu_eps = torch::log(theta + mu + eps);
  const torch::Tensor pi_theta_log = -pi_logits + theta * (log_theta_eps - log_theta_mu_eps);
  const torch::Tensor case_zero = F::softplus(pi_theta_log) - softplus_pi;
  const torch::Tensor case_non_zero = -softplus_pi + pi_theta_log +
                                      x * (torch::log(mu + eps) - log_theta_mu_eps) +
                                      torch::lgamma(x + theta) - torch::lgamma(theta) - torch::lgamma(x + 1);
  // scvi: x < eps -> zero branch, x > eps -> count branch, x == eps -> 0.
  const torch::Tensor zeros = torch::zeros_like(case_zero);
  return torch::where(x < eps, case_zero, zeros) + torch::where(x > eps, case_non_zero, zeros);
}

torch::Tensor nb_log_prob(const torch::Tensor& x, const torch::Tensor& mu, const torch::Tensor& theta,
                          double eps) {
  check_same_shape("nb mu", x, mu);
  const torch::Tensor log_theta_mu_eps = torch::log(theta + mu + eps);
  return theta * (torch::log(theta + eps) - log_theta_mu_eps) +
         x * (torch::log(mu + eps) - log_theta_mu_eps) + torch::lgamma(x + theta) - torch::lgamma(theta) -
         torch::lgamma(x + 1);
}

torch::Tensor count_nll(const torch::Tensor& log_prob) {
  check_cells_by_genes("count log-likelihood", log_prob);
  return -log_prob.sum(-1).mean();
}

torch::Tensor log_normalise(const torch::Tensor& counts, double target_sum) {
  check_cells_by_genes("counts", counts);
  torch::Tensor per_cell = counts.sum(1, /*keepdim=*/true) / target_sum;
  // scanpy skips empty cells; dividing by 1 leaves their zeros unchanged.
  per_cell = torch::where(per_cell > 0, per_cell, torch::ones_like(per_cell));
  return torch::log1p(counts / per_cell);
}

torch::Tensor mse_count_loss(const torch::Tensor& prediction, const torch::Tensor& target) {
  check_same_shape("mse target", prediction, target);
  check_cells_by_genes("mse prediction", prediction);
  return (prediction - target).square().sum(-1).mean();
}

torch::Tensor library_size_loss(const torch::Tensor& log_library, const torch::Tensor& observed_library) {
  check_same_shape("library size", log_library, observed_library);
  if (observed_library.le(0).any().item<bool>())
    throw Error("", "library size", "observed library size must be positive to regress its log");
  return (log_library - torch::log(observed_library)).square().mean();
}

}  // namespace pg::model
