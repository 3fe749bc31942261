#include "train/optimizer.h"

#include <cmath>

#include "core/error.h"

namespace pg::train {

double learning_rate(const OptimizerOptions& o, int64_t step) {
  if (o.warmup_steps > 0 && step < o.warmup_steps)
    return o.lr * static_cast<double>(step + 1) / static_cast<double>(o.warmup_steps);
  if (!o.cosine || o.total_steps <= o.warmup_steps) return o.lr;
  const double progress = std::min(
      1.0, static_cast<double>(step - o.warmup_steps) / static_cast<double>(o.total_steps - o.warmup_steps));
  const double floor = o.lr * o.min_lr_ratio;
  return floor + (o.lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

Adam::Adam(std::map<std::string, torch::Tensor> params, OptimizerOptions options)
    : params_(std::move(params)), options_(std::move(options)) {
  if (options_.kind != "adam" && options_.kind != "adamw")
    throw pg::Error("<config>", "optimizer", "'" + options_.kind + "' is not adam or adamw");
  for (const auto& [name, p] : params_) {
    exp_avg_.emplace(name, torch::zeros_like(p));
    exp_avg_sq_.emplace(name, torch::zeros_like(p));
  }
}

void Adam::zero_grad() {
  for (auto& [name, p] : params_)
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
}

double Adam::grad_norm() const {
  double sq = 0.0;
  for (const auto& [name, p] : params_)
    if (p.grad().defined()) sq += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
  return std::sqrt(sq);
}

double Adam::step(double lr) {
  torch::NoGradGuard no_grad;
  double norm = 0.0;
  if (options_.clip_grad_norm > 0) {
    norm = grad_norm();
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when below 1.
    const double scale = options_.clip_grad_norm / (norm + 1e-6);
    if (scale < 1.0)
      for (auto& [name, p] : params_)
        if (p.grad().defined()) p.mutable_grad().mul_(scale);
  }
  ++step_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias1 = 1.0 - std::pow(b1, static_cast<double>(step_));
  const double bias2_sqrt = std::sqrt(1.0 - std::pow(b2, static_cast<double>(step_)));
  const double step_size = lr / bias1;
  const bool decoupled = options_.kind == "adamw";
  for (auto& [name, p] : params_) {
    if (!p.grad().defined()) continue;
    auto g = p.grad();
    if (options_.weight_decay != 0) {
      if (decoupled)
        p.mul_(1.0 - lr * options_.weight_decay);
      else
        g = g.add(p, options_.weight_decay);
    }
    auto& m = exp_avg_.at(name);
    auto& v = exp_avg_sq_.at(name);
    m.lerp_(g, 1.0 - b1);
    v.mul_(b2).addcmul_(g, g, 1.0 - b2);
    auto denom = (v.sqrt() / bias2_sqrt).add_(options_.eps);
    p.addcdiv_(m, denom, -step_size);
  }
  return norm;
}

std::map<std::string, torch::Tensor> Adam::state() const {
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, m] : exp_avg_) out.emplace("exp_avg." + name, m.detach().cpu().clone());
  for (const auto& [name, v] : exp_avg_sq_) out.emplace("exp_avg_sq." + name, v.detach().cpu().clone());
  return out;
}

void Adam::load_state(const std::map<std::string, torch::Tensor>& state, int64_t steps,
                      const std::string& file) {
  torch::NoGradGuard no_grad;
  for (auto* moments : {&exp_avg_, &exp_avg_sq_}) {
    const std::string prefix = moments == &exp_avg_ ? "exp_avg." : "exp_avg_sq.";
    for (auto& [name, dst] : *moments) {
      auto it = state.find(prefix + name);
      if (it == state.end()) throw pg::Error(file, prefix + name, "missing from the optimizer state");
      if (it->second.sizes() != dst.sizes())
        throw pg::Error(file, prefix + name, "has the wrong shape for its parameter");
      dst.copy_(it->second);
    }
  }
  if (state.size() != exp_avg_.size() * 2)
    throw pg::Error(file, "optimizer state",
                    "holds " + std::to_string(state.size()) + " moments for " +
                        std::to_string(exp_avg_.size()) + " parameters (a checkpoint of another model?)");
  step_ = steps;
}

}  // namespace pg::train
