#include "train/linear_cross_entropy.h"

#include "core/error.h"

namespace pg::train {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

// The logits of rows [begin, end) in float32.
torch::Tensor chunk_logits(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& b,
                           int64_t begin, int64_t end) {
  return torch::addmm(b, h.slice(0, begin, end), w.t());
}

struct LinearCrossEntropy : torch::autograd::Function<LinearCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& bias, const torch::Tensor& labels, int64_t chunk) {
    torch::NoGradGuard no_grad;
    const auto h = hidden.to(torch::kFloat32), w = weight.to(torch::kFloat32), b = bias.to(torch::kFloat32);
    auto total = torch::zeros({}, h.options().dtype(torch::kFloat64));
    for (int64_t begin = 0; begin < h.size(0); begin += chunk) {
      const int64_t end = std::min(h.size(0), begin + chunk);
      const auto logits = chunk_logits(h, w, b, begin, end);
      const auto picked = logits.gather(1, labels.slice(0, begin, end).unsqueeze(1)).squeeze(1);
      total += (torch::logsumexp(logits, 1) - picked).sum().to(torch::kFloat64);
    }
    ctx->save_for_backward({hidden, weight, bias, labels});
    ctx->saved_data["chunk"] = chunk;
    return total.to(torch::kFloat32);
  }

  static tensor_list backward(AutogradContext* ctx, tensor_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    const auto &hidden = saved[0], &weight = saved[1], &bias = saved[2], &labels = saved[3];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto h = hidden.to(torch::kFloat32), w = weight.to(torch::kFloat32), b = bias.to(torch::kFloat32);
    const auto g = grad_out[0].to(torch::kFloat32);
    auto grad_h = torch::empty_like(h);
    auto grad_w = torch::zeros_like(w);
    auto grad_b = torch::zeros_like(b);
    for (int64_t begin = 0; begin < h.size(0); begin += chunk) {
      const int64_t end = std::min(h.size(0), begin + chunk);
      // d loss / d logits = softmax - onehot(label), times the upstream gradient.
      auto d = torch::softmax(chunk_logits(h, w, b, begin, end), 1);
      const auto rows = torch::arange(end - begin, labels.options());
      d.index_put_({rows, labels.slice(0, begin, end)}, d.index({rows, labels.slice(0, begin, end)}) - 1.0);
      d.mul_(g);
      grad_h.slice(0, begin, end).copy_(d.mm(w));
      grad_w.addmm_(d.t(), h.slice(0, begin, end));
      grad_b.add_(d.sum(0));
    }
    return {grad_h.to(hidden.scalar_type()), grad_w.to(weight.scalar_type()), grad_b.to(bias.scalar_type()),
            torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor linear_cross_entropy_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                       const torch::Tensor& bias, const torch::Tensor& labels,
                                       int64_t chunk_rows) {
  if (hidden.dim() != 2 || weight.dim() != 2 || hidden.size(1) != weight.size(1) || labels.dim() != 1 ||
      labels.size(0) != hidden.size(0))
    throw pg::Error("<loss>", "linear_cross_entropy_sum",
                    "shapes do not match (hidden N x d, weight V x d, labels N)");
  return LinearCrossEntropy::apply(hidden, weight, bias, labels.to(torch::kInt64),
                                   std::max<int64_t>(1, chunk_rows));
}

}  // namespace pg::train
