// Position and time encodings added to token embeddings (spec §3.3, golden
// §2.1 and §14). Buffer and parameter names follow the reference's
// `pos_embedding.*` state-dict keys so weights load by name.
#pragma once

#include <torch/torch.h>

#include "model/config.h"

namespace pg::model {

// The reference's float32 sinusoid table (rows, d): P[p, 2i] = sin(p * div_i),
// P[p, 2i+1] = cos(p * div_i), div = exp(arange(0, d, 2) * (-ln(10000) / d)).
torch::Tensor sinusoid_table(int64_t rows, int64_t d);

class PositionalEncodingImpl : public torch::nn::Module {
 public:
  // time_rows: rows of the time table; max_len: Lmax (position rows).
  PositionalEncodingImpl(PositionalMode mode, int64_t time_rows, int64_t max_len, int64_t d_model);

  // x = embedding + encoding for time-table row `time_row` and positions
  // 0..L-1 (emb is (B, L, d)). comb_sin uses pe[time_row * Lmax + p].
  torch::Tensor add(const torch::Tensor& emb, int64_t time_row);

  PositionalMode mode() const { return mode_; }
  int64_t max_len() const { return max_len_; }

  // Registered tensors, depending on the mode (names as in the reference):
  //   time_pos_sin: time_pe (1,T,d), pos_pe (1,Lmax,d), pe (= pos_pe)
  //   comb_sin:     pe (1, T*Lmax, d)
  //   sin_learnt:   time_pe, pe (= time_pe), pos_encoding (Embedding Lmax x d), pos_ids (1,Lmax)
  torch::Tensor time_pe, pos_pe, pe, pos_ids;
  torch::nn::Embedding pos_encoding{nullptr};

 private:
  PositionalMode mode_;
  int64_t time_rows_;
  int64_t max_len_;
};
TORCH_MODULE(PositionalEncoding);

}  // namespace pg::model
