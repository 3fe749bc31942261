// Inputs both model benchmarks (bench_model, bench_train) and their Python
// peers build the same way: the reference's real dimensions and cells of
// full or evenly spread lengths.
#pragma once

#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

#include "model/config.h"

namespace pg::bench {

// Variable lengths, identical in both tools: cell i of N has a sequence of
// L/4 + (i * 7919 + 104729 * s) mod (3L/4 + 1) tokens for sequence s (the
// source is s = 0, target t is s = t), i.e. spread evenly over [L/4, L].
inline int64_t cell_length(int64_t i, int64_t s, int64_t L) {
  return L / 4 + (i * 7919 + 104729 * s) % (3 * L / 4 + 1);
}

// Right-padded ids (N, L) with random tokens in [lo, hi) and the lengths above
// (all L unless `variable`), <cls> first and <eos> last when `framed`.
inline torch::Tensor make_ids(int64_t n, int64_t L, int64_t s, int64_t lo, int64_t hi, bool variable,
                              bool framed) {
  auto ids = torch::randint(lo, hi, {n, L}, torch::kLong);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t len = variable ? cell_length(i, s, L) : L;
    ids[i].slice(0, len).fill_(0);
    if (framed) {
      ids[i][0] = 2;
      ids[i][len - 1] = 3;
    }
  }
  return ids;
}

inline std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string x; std::getline(in, x, ',');)
    if (!x.empty()) out.push_back(x);
  return out;
}

// The reference's real dimensions (spec §3.10): encoder d 768, 8 x 96 heads,
// 12 blocks, 19,000 genes; decoder d 768, 6 blocks, 8 heads of `d_ff`, 2,054 ids.
inline pg::model::ModelConfig real_config(int64_t tokens, int64_t d_ff) {
  using namespace pg::model;
  ModelConfig c;
  auto& e = c.encoder;
  e.vocab_size = 19000;
  e.embedding_rows = 19003;
  e.d_model = 768;
  e.num_heads = 8;
  e.head_dim = 96;
  e.num_layers = 12;
  e.ffn_hidden = 768;
  e.max_seq_length = 4096;
  e.n_time_rows = 3;
  e.mode = EncoderMode::Reference;
  auto& d = c.decoder;
  d.vocab_size = 2054;
  d.d_model = 768;
  d.num_heads = 8;
  d.head_dim = d_ff;
  d.num_layers = 6;
  d.ffn_hidden = 768;
  d.max_seq_length = tokens + 100;
  d.n_total_tps = 3;
  d.pred_tps = {1, 2, 3};
  return c;
}

}  // namespace pg::bench
