// The chunked cross-entropy of a linear layer against torch's own
// cross_entropy(linear(h)) with autograd: value and all three gradients,
// with chunks that do not divide the rows.
#include "train/linear_cross_entropy.h"

#include <gtest/gtest.h>

namespace {

TEST(LinearCrossEntropy, ValueAndGradientsEqualTorchCrossEntropyOfTheLogits) {
  torch::manual_seed(11);
  const int64_t N = 37, d = 16, V = 50;
  auto h = torch::randn({N, d}, torch::requires_grad());
  auto w = (0.3 * torch::randn({V, d})).requires_grad_();
  auto b = (0.1 * torch::randn({V})).requires_grad_();
  const auto y = torch::randint(V, {N}, torch::kInt64);

  const auto want = torch::nn::functional::cross_entropy(
      torch::linear(h, w, b), y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
  auto want_grads = torch::autograd::grad({want * 0.7}, {h, w, b});

  for (int64_t chunk : {1, 8, 37, 1000}) {
    const auto got = pg::train::linear_cross_entropy_sum(h, w, b, y, chunk);
    EXPECT_NEAR(got.item<double>(), want.item<double>(), 1e-4) << chunk;
    const auto grads = torch::autograd::grad({got * 0.7}, {h, w, b});
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(torch::allclose(grads[i], want_grads[i], 1e-5, 1e-5))
          << "chunk " << chunk << " gradient " << i << " max diff "
          << (grads[i] - want_grads[i]).abs().max().item<double>();
  }
  // No gradient mode: only the value, still exact.
  torch::NoGradGuard no_grad;
  EXPECT_NEAR(pg::train::linear_cross_entropy_sum(h, w, b, y, 5).item<double>(), want.item<double>(), 1e-4);
}

}  // namespace
