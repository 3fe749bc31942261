#include "model/attention.h"

#include <cmath>

namespace pg::model {

MultiHeadAttentionImpl::MultiHeadAttentionImpl(int64_t d_model, int64_t num_heads, int64_t head_dim)
    : heads_(num_heads), head_dim_(head_dim) {
  const int64_t inner = num_heads * head_dim;
  to_q = register_module("to_q", torch::nn::Linear(torch::nn::LinearOptions(d_model, inner).bias(false)));
  to_k = register_module("to_k", torch::nn::Linear(torch::nn::LinearOptions(d_model, inner).bias(false)));
  to_v = register_module("to_v", torch::nn::Linear(torch::nn::LinearOptions(d_model, inner).bias(false)));
  to_out = register_module("to_out", torch::nn::Sequential(torch::nn::Linear(inner, d_model)));
}

torch::Tensor MultiHeadAttentionImpl::split_heads(const torch::Tensor& x) const {
  // Channel c -> head c / dh, lane c % dh.
  return x.view({x.size(0), x.size(1), heads_, head_dim_}).transpose(1, 2);
}

AttentionKV MultiHeadAttentionImpl::project_kv(const torch::Tensor& xkv) const {
  return {split_heads(to_k->forward(xkv)), split_heads(to_v->forward(xkv))};
}

torch::Tensor MultiHeadAttentionImpl::attend(const torch::Tensor& xq, const AttentionKV& kv,
                                             const torch::Tensor& key_pad) const {
  auto q = split_heads(to_q->forward(xq));
  auto scores = torch::matmul(q, kv.k.transpose(-2, -1)) / std::sqrt(static_cast<double>(head_dim_));
  auto pad = key_pad.to(torch::kBool).view({key_pad.size(0), 1, 1, key_pad.size(1)});
  scores = scores.masked_fill(pad, -std::numeric_limits<float>::infinity());
  auto probs = torch::softmax(scores, -1);
  // softmax of an all -inf row is NaN; the reference (SDPA's _safe_softmax) gives 0.
  auto all_pad = key_pad.to(torch::kBool).all(-1).view({key_pad.size(0), 1, 1, 1});
  probs = probs.masked_fill(all_pad, 0.0);
  auto out = torch::matmul(probs, kv.v).transpose(1, 2).reshape({xq.size(0), xq.size(1), heads_ * head_dim_});
  return to_out->forward(out);
}

FeedForwardImpl::FeedForwardImpl(int64_t d_model, int64_t hidden) {
  fc1 = register_module("fc1", torch::nn::Linear(d_model, hidden));
  fc2 = register_module("fc2", torch::nn::Linear(hidden, d_model));
}

torch::Tensor FeedForwardImpl::forward(const torch::Tensor& x) const {
  return fc2->forward(torch::gelu(fc1->forward(x)));  // exact erf GELU
}

torch::nn::LayerNorm make_layer_norm(int64_t d_model, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({d_model}).eps(eps));
}

}  // namespace pg::model
