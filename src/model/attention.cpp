#include "model/attention.h"

#include <cmath>

namespace pg::model {

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int64_t d_model, int64_t num_heads, int64_t head_dim)
    : heads_(num_heads), head_dim_(head_dim) {
  const int64_t inner = num_heads * head_dim;
  to_q = register_module("to_q", torch::nn::Linear(torch::nn::LinearOptions(d_model, inner).bias(false)));
  to_k = register_module("to_k", torch::nn::Linear(torch::nn::LinearOptions(d_model, inner).bias(false)));
  to_v = register_module("to_v", torch::nn::Linear(torch::nn::LinearOptions(d_model, inner).bias(false)));
  out_ = torch::nn::Linear(inner, d_model);
  to_out = register_module("to_out", torch::nn::Sequential(out_));
}

torch::Tensor MultiHeadAttentionImpl::split_heads(const torch::Tensor& x) {
  // Channel c -> head c / dh, lane c % dh.
  return x.view({x.size(0), x.size(1), heads_, head_dim_}).transpose(1, 2);
}

AttentionKV MultiHeadAttentionImpl::project_kv(const torch::Tensor& xkv) {
  return {split_heads(linear(to_k, xkv)), split_heads(linear(to_v, xkv))};
}

torch::Tensor MultiHeadAttentionImpl::attend(const torch::Tensor& xq, const AttentionKV& kv,
                                             const torch::Tensor& key_pad) {
  auto q = split_heads(linear(to_q, xq));
  const auto pad = key_pad.to(q.device(), torch::kBool);
  // SDPA (fused flash kernel on CPU and CUDA) with a boolean "may attend"
  // mask, scale 1/sqrt(head_dim), exactly the reference's attention.
  const auto may_attend = pad.logical_not().view({pad.size(0), 1, 1, pad.size(1)});
  auto out = at::scaled_dot_product_attention(q, kv.k, kv.v, may_attend);
  // A query whose keys are all padding gets a zero output (torch >= 2.5's
  // _safe_softmax; kernels differ in what they return there, NaN included).
  const auto all_pad = pad.all(-1).view({pad.size(0), 1, 1, 1});
  out = out.masked_fill(all_pad, 0.0);
  out = out.transpose(1, 2).reshape({xq.size(0), xq.size(1), heads_ * head_dim_});
  return linear(out_, out);
}

FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(d_model, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, d_model));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) {
  return linear(fc2, torch::gelu(linear(fc1, x)));  // exact erf GELU
}

torch::nn::LayerNorm make_layer_norm(int64_t d_model, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model}).eps(eps));
}

}  // namespace pg::model
