#include "model/count_head.h"

#include <set>

#include "core/error.h"
#include "model/attention.h"
#include "model/losses.h"
#include "model/weights.h"

namespace pg::model {
namespace {

namespace F = torch::nn::functional;

std::string shape_of(const torch::Tensor& t) {
  std::string s = "(";
  for (int64_t i = 0; i < t.dim(); ++i) s += (i ? ", " : "") + std::to_string(t.size(i));
  return s + ")";
}

// A parameter-less holder so children get the reference's dotted names
// (`mlp.fc1`, `softmax_output.0`).
std::shared_ptr<torch::nn::Module> holder() {
  return std::make_shared<torch::nn::Module>();
}

}  // namespace

CountHeadImpl::CountHeadImpl(const CountHeadConfig& config, torch::Device device, torch::Dtype dtype)
    : config_(config) {
  if (config.d_model <= 0 || config.n_genes <= 0 || config.n_conditions <= 0)
    throw Error("", "count head",
                "d_model, n_genes and n_conditions must be positive (got " + std::to_string(config.d_model) +
                    ", " + std::to_string(config.n_genes) + ", " + std::to_string(config.n_conditions) + ")");
  if (config.dropout < 0.0 || config.dropout >= 1.0)
    throw Error("", "count head", "dropout must be in [0, 1), got " + std::to_string(config.dropout));
  const int64_t d = config.d_model, g = config.n_genes;
  // Construction order follows the reference (mlp, then the output layers),
  // so the same seed gives the same initial weights.
  auto mlp = register_module("mlp", holder());
  fc1_ = mlp->register_module("fc1", torch::nn::Linear(d, d));
  fc2_ = mlp->register_module("fc2", torch::nn::Linear(d, d));
  drop1_ = register_module("drop1", torch::nn::Dropout(config.dropout));
  drop2_ = register_module("drop2", torch::nn::Dropout(config.dropout));
  const char* mean_name = config.loss == CountLoss::mse ? "relu_output" : "softmax_output";
  mean_out_ = register_module(mean_name, holder())->register_module("0", torch::nn::Linear(d, g));
  if (config.loss == CountLoss::zinb) pi_out_ = register_module("linear_output", torch::nn::Linear(d, g));
  if (config.loss != CountLoss::mse) {
    if (config.size_factor == SizeFactorMode::predicted) {
      library_out_ = register_module("library_output", torch::nn::Linear(d, 1));
      torch::NoGradGuard no_grad;
      library_out_->bias.fill_(config.initial_log_library);
    }
    // The reference draws theta ~ N(0, 1) (and never trains it; spec §3.8).
    theta_ = register_parameter("theta", torch::randn({g, config.n_conditions}));
  }
  move_to(*this, device, dtype);
}

void CountHeadImpl::check_inputs(const torch::Tensor& m, const torch::Tensor& condition,
                                 const torch::Tensor& library) const {
  if (m.dim() != 2 || m.size(1) != config_.d_model)
    throw Error("", "count head input",
                "mean embedding must be (B, " + std::to_string(config_.d_model) + "), got " + shape_of(m));
  const int64_t b = m.size(0);
  if (config_.loss != CountLoss::mse) {
    if (!condition.defined() || condition.dim() != 1 || condition.size(0) != b)
      throw Error("", "count head input",
                  "condition index must be (" + std::to_string(b) + ",), got " +
                      (condition.defined() ? shape_of(condition) : std::string("none")));
    if (b > 0 &&
        (condition.min().item<int64_t>() < 0 || condition.max().item<int64_t>() >= config_.n_conditions))
      throw Error("", "count head input",
                  "condition index outside [0, " + std::to_string(config_.n_conditions) + ")");
    if (config_.size_factor == SizeFactorMode::observed) {
      if (!library.defined() || library.dim() != 1 || library.size(0) != b)
        throw Error("", "count head input",
                    "observed size factor mode needs the library sizes (" + std::to_string(b) + ",), got " +
                        (library.defined() ? shape_of(library) : std::string("none")));
    }
  }
}

torch::Tensor CountHeadImpl::dispersion(const torch::Tensor& condition) {
  if (!theta_.defined()) throw Error("", "count head", "the mse head has no dispersion");
  // exp(one_hot(c) · Θᵀ) of the reference is a column lookup, exactly.
  return torch::exp(theta_.index_select(1, condition.to(theta_.device(), torch::kLong)).t());
}

CountHeadOutput CountHeadImpl::forward(const torch::Tensor& mean_embedding, const torch::Tensor& condition,
                                       const torch::Tensor& observed_library) {
  check_inputs(mean_embedding, condition, observed_library);
  CountHeadOutput out;
  out.mlp_out = drop2_(linear(fc2_, drop1_(F::gelu(linear(fc1_, mean_embedding)))));
  out.mlp_out_normalized = F::normalize(out.mlp_out, F::NormalizeFuncOptions().p(2).dim(-1).eps(1e-12));
  const torch::Tensor logits = linear(mean_out_, out.mlp_out_normalized);
  if (config_.loss == CountLoss::mse) {
    out.count_lognorm = torch::relu(logits);
    return out;
  }
  if (config_.loss == CountLoss::zinb) out.pi_logits = linear(pi_out_, out.mlp_out_normalized);
  out.dispersion = dispersion(condition);
  switch (config_.size_factor) {
    case SizeFactorMode::observed:
      out.rho = torch::softmax(logits, -1);
      out.mu = out.rho * observed_library.to(out.rho.options()).unsqueeze(1);
      break;
    case SizeFactorMode::predicted:
      out.rho = torch::softmax(logits, -1);
      // From the raw pooled embedding: its norm, dropped by the unit-norm,
      // can carry the library size.
      out.log_library = linear(library_out_, mean_embedding).squeeze(-1);
      out.mu = out.rho * torch::exp(out.log_library).unsqueeze(1);
      break;
    case SizeFactorMode::none:
      out.mu = F::softplus(logits);
      break;
  }
  return out;
}

torch::Tensor CountHeadImpl::log_prob(const CountHeadOutput& out, const torch::Tensor& x) const {
  switch (config_.loss) {
    case CountLoss::zinb:
      return zinb_log_prob(x, out.mu, out.dispersion, out.pi_logits);
    case CountLoss::nb:
      return nb_log_prob(x, out.mu, out.dispersion);
    case CountLoss::mse:
      break;
  }
  throw Error("", "count head", "the mse head has no likelihood");
}

torch::Tensor CountHeadImpl::loss(const CountHeadOutput& out, const torch::Tensor& target) const {
  if (config_.loss == CountLoss::mse) return mse_count_loss(out.count_lognorm, target);
  return count_nll(log_prob(out, target));
}

void CountHeadImpl::load_weights(const std::map<std::string, torch::Tensor>& weights,
                                 const std::string& source) {
  // Keys are the module's own names here (no prefix).
  auto used = copy_parameters(
      *this, weights, [](const std::string& name) { return name; }, source);
  check_all_used(weights, used, "", source);
}

}  // namespace pg::model
