// The masking rules of training: the decoder's MaskGIT masking of a target
// sentence (spec §4.2, golden §5) and the encoder's masked-token pretraining
// (spec §4.1), plus the per-cell random draws both use.
//
// Draws are made per cell from a counter-based key (seed, step, cell), not
// from one generator walked through the batch, so a cell's mask does not
// depend on which batch position, rank or process it landed in: one process
// and N data-parallel processes mask the same cells identically, and a resumed
// run masks exactly as an uninterrupted one.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

namespace pg::train {

// γ of spec §5.2, clamped to [1e-6, 1]: the fraction of tokens masked.
enum class MaskSchedule { pow, cosine, exp, log, uniform };
MaskSchedule parse_mask_schedule(const std::string& name, const std::string& file = "<config>");
std::string to_string(MaskSchedule s);

// γ(r) element-wise (float32); `n_tokens` (per row, same shape as r) is the
// sequence length the log and exp schedules scale by.
torch::Tensor mask_ratio(MaskSchedule s, const torch::Tensor& r, const torch::Tensor& n_tokens);

// The per-cell uniform draws of one step: u (B,) and r (B, L), float32 in
// [0, 1) with 24 random bits (as torch.rand). Cell b's values depend only on
// (seed, step, keys[b]) and its first L entries of r do not depend on L.
struct MaskDraws {
  torch::Tensor u, r;
};
MaskDraws draw_mask_randomness(uint64_t seed, int64_t step, const std::vector<int64_t>& keys, int64_t length);

// The reference's MaskGIT mask (golden §5) for right-padded ids (B, L):
//   n = non-pad tokens, k = max(1, round(n · γ(u))), r[pad] = 1,
//   mask[j] = argsort(r)[j] < k      (a uniform k-subset of the non-pad positions)
// Rows with n = 0 get no mask. argsort is stable (ties resolve by position).
torch::Tensor maskgit_mask(const torch::Tensor& ids, const torch::Tensor& u, const torch::Tensor& r,
                           MaskSchedule schedule);

// The encoder pretraining mask (spec §4.1) for <cls>-first ids (B, L): ratio
// γ(u) (pow: 1 − u²), k = max(1, round(ratio · (n − 1))) positions chosen
// uniformly among the non-pad positions after <cls> (<eos> is maskable).
torch::Tensor pretrain_mask(const torch::Tensor& ids, const torch::Tensor& u, const torch::Tensor& r,
                            MaskSchedule schedule);

}  // namespace pg::train
