// MaskGIT iterative decoding of one target time point (spec §5.1, golden §7):
// start from a sentence of <mask> ids, and at each iteration let the decoder
// propose every masked position, keep the confident proposals and re-mask the
// least confident ones, fewer each iteration, until nothing is masked.
//
// Two de-masking rules:
//   reference : the reference's loop as it executes (golden §7), including its
//               multiplicative count k_i = ⌊k_{i−1}·γ(r_i)⌋, its pad-mask
//               quirks and no suppression of special tokens; fed the golden
//               noise it reproduces every generated id of the golden traces.
//   maskgit   : k_i = ⌊L·γ(r_i)⌋ masked positions at iteration i (MaskGIT), L
//               the cell's generated length; special tokens, condition tokens
//               and genes already placed are never proposed, and two positions
//               proposing the same gene in one iteration are resolved (the more
//               confident keeps it, the other takes its next-best candidate),
//               so a generated cell never holds a gene twice.
// Both stop as soon as nothing is left to re-mask (the reference keeps calling
// the decoder on the finished sentence; the result is the same).
//
// The context's cross-attention keys/values are projected once per time point
// (DecoderContext::kv) and reused by every iteration.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "model/decoder.h"
#include "train/masking.h"

namespace pg::generate {

enum class Demasking { reference, maskgit };
enum class Scoring { topk_margin, topk };  // 1 − (p₁ − p₂), or 1 − p(proposed)

struct MaskGitOptions {
  int64_t iterations = 20;         // N
  double temperature = 1.0;        // T0; iteration i samples at T0·(N−1−i)/N (the last is greedy)
  double topk_filter_thres = 0.9;  // keep the ceil((1 − thres)·V) largest logits per position
  Scoring scoring = Scoring::topk_margin;
  train::MaskSchedule schedule = train::MaskSchedule::pow;
  Demasking demasking = Demasking::maskgit;
  // maskgit: ids >= this are never proposed (condition tokens and the
  // vocabulary's spare margin follow the genes); 0: the decoder's vocabulary.
  int64_t gene_id_end = 0;
  // maskgit: ids never proposed, e.g. a permanently knocked-out gene, which
  // must stay absent from every generated later state.
  std::vector<int64_t> banned_ids;
};

// Uniform noise of the Gumbel trick for iteration i: (B, L, W) float32 in
// (0, 1). W is V (reference: noise for every vocabulary entry, as the
// reference draws it) or K (maskgit: noise for the K candidates of each
// position, in descending-logit order).
using UniformNoise = std::function<torch::Tensor(int64_t iteration, int64_t length, int64_t width)>;

// Noise drawn per cell from a counter-based key (seed, time, cell key,
// iteration), so a cell's generation does not depend on its batch, its batch
// position or the thread count; position j's values do not depend on L.
UniformNoise keyed_noise(uint64_t seed, int64_t t, std::vector<int64_t> cell_keys);

// The starting point of one time point's generation.
struct GenerationStart {
  torch::Tensor ids;      // (B, L) int64: <mask> where generated, 0 elsewhere, condition ids in [0, C)
  torch::Tensor gen_pad;  // (B, L) bool: positions never scheduled (and self-attention key padding)
  int64_t cond_length = 0;
};

// The reference's start (golden §7): ids = <mask> at the true target's gene
// positions; gen_pad = (col ≥ ℓ) when ℓ > 0, else the quirk NOT(true padding).
GenerationStart reference_start(const torch::Tensor& true_ids, int64_t sequence_length, int64_t cond_length);
// A start for cells of given generated lengths (B,) (maskgit; no ground truth
// needed): C condition ids (B, C) then lengths[b] masks, 0-padded to the longest.
GenerationStart length_start(const torch::Tensor& lengths, const torch::Tensor& cond_ids);

struct GenerationResult {
  torch::Tensor ids;         // (B, L) generated ids
  torch::Tensor hidden;      // (B, L, d) of the last decoder call
  torch::Tensor last_input;  // (B, L) that call's input ids (for the mean embedding)
  int64_t decoder_calls = 0;
  std::vector<int64_t> masked;              // masked positions fed to the decoder per call (all rows)
  std::vector<torch::Tensor> trace_inputs;  // with `trace`: each call's input ids
  std::vector<torch::Tensor> trace_logits;  // with `trace`: each call's raw logits
};

GenerationResult generate_time_point(pg::model::PerturbGenDecoderImpl& decoder,
                                     pg::model::DecoderContext& context, int64_t t,
                                     const GenerationStart& start, const MaskGitOptions& options,
                                     const UniformNoise& noise, bool trace = false);

// The masked-position counts the reference's loop chooses per iteration for
// one row of L generated positions and `total_tokens` initial masks
// (golden schedules.json, closed form of golden §8), and MaskGIT's ⌊L·γ(r_i)⌋.
std::vector<int64_t> reference_mask_counts(train::MaskSchedule s, int64_t length, int64_t iterations,
                                           int64_t total_tokens);
std::vector<int64_t> maskgit_mask_counts(train::MaskSchedule s, int64_t length, int64_t iterations);
// γ(r_i) in float32 at r = linspace(0, 1, N), clamped to [1e-6, 1].
torch::Tensor schedule_ratios(train::MaskSchedule s, int64_t iterations, const torch::Tensor& total_tokens);

}  // namespace pg::generate
