// Rank-value encoding of one cell (Geneformer / PerturbGen, spec §2.3-2.4):
// each expressed gene's value is normalised by the cell's library size and by
// the gene's corpus median, the genes are sorted by that value, highest first,
// truncated to the model input size and framed by <cls> ... <eos>.
//
// The arithmetic follows the reference's dtype chain so that sentences match
// it bit for bit where ranks are fragile (golden README §10):
//   q = x / n_counts        in the matrix's value type T (float32 or float64)
//   y = double(q) * 10000   (scipy hands back an np.matrix, so numpy promotes)
//   v = y / median_g        in float64
// Genes with v == 0 are dropped (zeros and values that underflow in T).
//
// Ties: the reference uses numpy's unstable argsort, so equal values come out
// in an unspecified order. Here equal values are ordered by token id,
// ascending — a deterministic rule that does not depend on the input's gene
// order. (Exact ties are rare with real-valued medians; integer counts of one
// gene family can tie.)
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace pg::tokenise {

struct RankOptions {
  int64_t model_input_size = 4096;  // including <cls> and <eos>
  bool special_tokens = true;       // frame with <cls> (2) ... <eos> (3)
};

// Reusable per-thread buffers, so encoding a cell allocates nothing.
struct RankScratch {
  std::vector<std::pair<double, int32_t>> keyed;
};

// Appends the sentence of one cell to `out` and returns its length.
// `tokens[i]` is the token of the i-th stored gene value `values[i]` (tokens
// distinct within the cell); `median_of_token[t]` > 0 for every gene token.
template <typename T>
int64_t rank_encode(std::span<const int32_t> tokens, std::span<const T> values, T n_counts,
                    std::span<const double> median_of_token, const RankOptions& opt, RankScratch& scratch,
                    std::vector<uint32_t>& out);

// The sum numpy computes for a float reduction over a contiguous segment
// (first element + pairwise sum of the rest, 8-way unrolled, blocks of 128):
// what scipy's CSR row sum returns, i.e. the reference's n_counts.
float numpy_sum(std::span<const float> values);
double numpy_sum(std::span<const double> values);

}  // namespace pg::tokenise
