// Cross-entropy of a linear output layer, summed over rows, computed in
// chunks of rows: sum_i [logsumexp(h_i W^T + b) - (h_i . w_{y_i} + b_{y_i})].
//
// The logits of a 19,000-gene vocabulary (the published encoder's MLM head)
// or an 18,500-gene decoder at every masked position of 4,096-token
// sentences are gigabytes: logits, their softmax and its gradient held at
// once were most of a training step's memory. Here they never exist beyond
// one chunk: the forward keeps only the loss, the backward recomputes each
// chunk's logits and forms its gradients (softmax - onehot) there. The value
// and the gradients are those of cross_entropy(linear(h), y, reduction=sum),
// up to float rounding.
#pragma once

#include <torch/torch.h>

namespace pg::train {

// hidden (N, d), weight (V, d), bias (V), labels (N) int64 in [0, V).
// Differentiable with respect to hidden, weight and bias. Logits are formed
// in float32 whatever the inputs' dtype (as the loss always was).
torch::Tensor linear_cross_entropy_sum(const torch::Tensor& hidden, const torch::Tensor& weight,
                                       const torch::Tensor& bias, const torch::Tensor& labels,
                                       int64_t chunk_rows = 1024);

}  // namespace pg::train
