// The count head of PerturbGen (reference `CountHead` + the trainer's
// dispersion `theta`): from a cell's pooled decoder embedding (B, d) it
// predicts the gene expression distribution of that cell.
//
//   h  = fc2(Dropout(GELU(fc1(m)))) -> Dropout     (no LayerNorm: the reference never enables it)
//   hn = h / max(||h||_2, 1e-12)                   (unit-norm, as the reference)
//   ZINB: rho = softmax(W_mu hn + b), pi = W_pi hn + b (zero-inflation logits)
//   NB  : rho = softmax(W_mu hn + b)
//   MSE : yhat = ReLU(W hn + b)                    (log-normalised counts)
//   mu  = rho * l, where l depends on the size-factor mode:
//     observed  : l = observed library size of the paired target cell (the reference's
//                 default; it leaks the ground-truth library size into predictions)
//     predicted : log l = Linear_d->1(m), regressed from the pooled embedding, so
//                 predictions need no observed cell (our fix of the leak, spec §11.4)
//     none      : no l; mu = softplus(W_mu hn + b) (the reference's use_size_factor=False)
//   theta_cg = exp(Theta[g, condition_c]) (the dispersion, (G, n_conditions) as the reference)
//
// Parameter names (named_parameters()) are the reference's state-dict keys
// after the `decoder.count_decoder.` prefix, plus `theta` (a trainer key in
// the reference) and `library_output.*` (the predicted size factor, ours).
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>

#include "model/config.h"

namespace pg::model {

// What one forward pass gives. Tensors that a mode does not produce are
// undefined (check .defined()).
struct CountHeadOutput {
  torch::Tensor mlp_out;             // h (B, d)
  torch::Tensor mlp_out_normalized;  // hn (B, d)
  torch::Tensor rho;                 // (B, G) gene proportions; zinb/nb with a size factor
  torch::Tensor pi_logits;           // (B, G) zinb only
  torch::Tensor mu;                  // (B, G) mean counts; zinb/nb
  torch::Tensor dispersion;          // (B, G) theta per cell and gene; zinb/nb
  torch::Tensor log_library;         // (B,) predicted log library size; `predicted` only
  torch::Tensor count_lognorm;       // (B, G) mse only: predicted log-normalised counts
};

class CountHeadImpl : public torch::nn::Module {
 public:
  // Initialised with torch's defaults from the global generator (theta ~ N(0,1)
  // as the reference); then moved to `device` and `dtype`.
  CountHeadImpl(const CountHeadConfig& config, torch::Device device = torch::kCPU,
                torch::Dtype dtype = torch::kFloat32);

  // mean_embedding (B, d); condition (B,) int64 in [0, n_conditions), used by
  // zinb/nb; observed_library (B,) is required only in `observed` mode (an
  // undefined tensor is fine otherwise). Bad shapes or indices: pg::Error.
  CountHeadOutput forward(const torch::Tensor& mean_embedding, const torch::Tensor& condition,
                          const torch::Tensor& observed_library = {});

  // exp(Theta[:, condition])ᵀ, (B, G).
  torch::Tensor dispersion(const torch::Tensor& condition);

  // Element-wise log p(x) of observed counts x (B, G) under a zinb/nb output.
  torch::Tensor log_prob(const CountHeadOutput& out, const torch::Tensor& x) const;

  // The count loss of one time point, a scalar: zinb/nb -mean_cells(Σ_genes log p(x))
  // on raw counts; mse mean_cells(Σ_genes (ŷ − y)²) on log-normalised targets y.
  torch::Tensor loss(const CountHeadOutput& out, const torch::Tensor& target) const;

  // Copies weights by parameter name (see above). Every parameter must be
  // present with its exact shape; extra names are an error too, so a
  // mismatched checkpoint cannot load silently. `source` names the file.
  void load_weights(const std::map<std::string, torch::Tensor>& weights, const std::string& source);

  const CountHeadConfig& config() const { return config_; }

 private:
  void check_inputs(const torch::Tensor& m, const torch::Tensor& condition,
                    const torch::Tensor& library) const;

  CountHeadConfig config_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
  torch::nn::Dropout drop1_{nullptr}, drop2_{nullptr};
  torch::nn::Linear mean_out_{nullptr};     // softmax_output.0 / relu_output.0
  torch::nn::Linear pi_out_{nullptr};       // linear_output (zinb)
  torch::nn::Linear library_out_{nullptr};  // library_output (predicted size factor)
  torch::Tensor theta_;                     // (G, n_conditions), zinb/nb
};
TORCH_MODULE(CountHead);

}  // namespace pg::model
