// Adam as the reference trains with it (torch.optim.Adam: coupled L2 weight
// decay g ← g + wd·p, bias-corrected moments, eps outside the square root),
// AdamW as an option (decoupled decay p ← p − lr·wd·p), an optional linear
// warm-up + cosine learning-rate schedule and gradient-norm clipping.
//
// Written here rather than taken from torch::optim so that its whole state
// is a few named tensors and a step count: checkpoints save and restore it
// exactly, and data-parallel ranks hold bit-identical copies.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

namespace pg::train {

struct OptimizerOptions {
  std::string kind = "adam";  // adam (coupled L2, the reference) | adamw (decoupled)
  double lr = 1e-4;
  double weight_decay = 0.0;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  // Learning-rate schedule: linear warm-up over `warmup_steps`, then constant,
  // or (cosine) a half-cosine from lr down to lr·min_lr_ratio at `total_steps`.
  int64_t warmup_steps = 0;
  bool cosine = false;
  int64_t total_steps = 0;
  double min_lr_ratio = 0.0;
  double clip_grad_norm = 0.0;  // 0: off
};

// The learning rate of step `step` (0-based) under `o`: a function of the
// step only, so resuming needs nothing else.
double learning_rate(const OptimizerOptions& o, int64_t step);

class Adam {
 public:
  // `params`: name -> parameter (requires_grad). Moments start at zero.
  Adam(std::map<std::string, torch::Tensor> params, OptimizerOptions options);

  // One update with the current gradients at learning rate `lr`. Parameters
  // without a gradient are skipped, as torch does. Returns the gradient norm
  // before clipping (0 when clipping is off and nothing asked for it).
  double step(double lr);
  void zero_grad();

  // Total L2 norm of all gradients.
  double grad_norm() const;

  const OptimizerOptions& options() const { return options_; }
  // exp_avg.<name>, exp_avg_sq.<name> (CPU copies) and the step count.
  std::map<std::string, torch::Tensor> state() const;
  // Restores state(); every moment must be present with its parameter's
  // shape, else a pg::Error naming `file` and the key.
  void load_state(const std::map<std::string, torch::Tensor>& state, int64_t steps, const std::string& file);

 private:
  std::map<std::string, torch::Tensor> params_, exp_avg_, exp_avg_sq_;
  OptimizerOptions options_;
  int64_t step_ = 0;
};

}  // namespace pg::train
