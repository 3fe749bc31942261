// Multi-head attention and the MLP of the reference's transformer blocks
// (golden §3). Q/K/V have no bias and work in an inner width heads * head_dim
// that may differ from d_model (decoder: 8 x 4 = 32 vs 64); to_out.0 maps it
// back. Scores are scaled by 1/sqrt(head_dim). Masks name KEYS only.
#pragma once

#include <torch/torch.h>

namespace pg::model {

// x W^T + b through at::linear, which fuses the bias into one addmm for any
// contiguous input; the C++ frontend's Linear::forward runs matmul and then
// adds the bias (a second pass over the output).
inline torch::Tensor linear(const torch::nn::Linear& layer, const torch::Tensor& x) {
  return at::linear(x, layer->weight, layer->bias);
}

// Keys and values already projected and split into heads: (B, h, Lk, dh).
// Cross-attention over a fixed context can compute these once and reuse them.
struct AttentionKV {
  torch::Tensor k, v;
};

class MultiHeadAttentionImpl : public torch::nn::Module {
 public:
  MultiHeadAttentionImpl(int64_t d_model, int64_t num_heads, int64_t head_dim);

  AttentionKV project_kv(const torch::Tensor& xkv);
  // key_pad: bool (B, Lk), true = padding (that key is ignored). A query whose
  // keys are all padding gets a zero attention output (torch >= 2.5 SDPA).
  torch::Tensor attend(const torch::Tensor& xq, const AttentionKV& kv, const torch::Tensor& key_pad);
  torch::Tensor forward(const torch::Tensor& xq, const torch::Tensor& xkv, const torch::Tensor& key_pad) {
    return attend(xq, project_kv(xkv), key_pad);
  }

  torch::nn::Linear to_q{nullptr}, to_k{nullptr}, to_v{nullptr};
  torch::nn::Sequential to_out{nullptr};  // "to_out.0" as in the reference

 private:
  torch::nn::Linear out_{nullptr};  // to_out[0]

  torch::Tensor split_heads(const torch::Tensor& x);
  int64_t heads_, head_dim_;
};
TORCH_MODULE(MultiHeadAttention);

// fc2(GELU_erf(fc1(x))).
class FeedForwardImpl : public torch::nn::Module {
 public:
  FeedForwardImpl(int64_t d_model, int64_t hidden);
  torch::Tensor forward(const torch::Tensor& x);
  torch::nn::Linear fc1{nullptr}, fc2{nullptr};
};
TORCH_MODULE(FeedForward);

torch::nn::LayerNorm make_layer_norm(int64_t d_model, double eps);

}  // namespace pg::model
