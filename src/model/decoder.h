// The PerturbGen decoder (golden §3, spec §3.4-3.5): token embedding +
// time/position encoding, post-LN blocks (self-attention -> norm1,
// cross-attention over [source encoding, context passes] -> norm2, MLP ->
// norm3), the output projection `decoder_fc`, mean pooling, and context
// conditioning over the other time points. Parameter names follow the
// reference keys under `transformer.`.
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/positional.h"

namespace pg::model {

class DecoderBlockImpl : public torch::nn::Module {
 public:
  explicit DecoderBlockImpl(const DecoderConfig& c);
  // self_pad: (B, L) padding of the decoder's own keys; cross_kv: this
  // block's projected context keys/values; cross_pad: (B, Lc).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& self_pad, const AttentionKV& cross_kv,
                        const torch::Tensor& cross_pad);

  torch::nn::LayerNorm norm1{nullptr}, norm2{nullptr}, norm3{nullptr};
  MultiHeadAttention self_attn{nullptr}, cross_attn{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(DecoderBlock);

// The conditioning sequence of one decoder pass with its key padding mask.
// `kv` caches each block's cross-attention keys/values of `tensor`, so
// repeated passes over the same context (iterative generation) project it once.
struct DecoderContext {
  torch::Tensor tensor;  // (B, Lc, d)
  torch::Tensor pad;     // bool (B, Lc), true = padding
  std::vector<AttentionKV> kv;
  torch::Tensor source_mean;  // (B, d) mean source encoding (source_summary; projected in each pass)
};

// One decoder pass and its intermediates.
struct DecoderPassResult {
  torch::Tensor x0;                       // input embedding
  std::vector<torch::Tensor> block_outs;  // one per block; the last is `hidden`
  torch::Tensor hidden;
};

// Context passes that depend only on the source and the true ids, shared by
// the target times of one batch: for target 2 and target 3 the first
// context pass is the same E_1(source), and the source's projected
// keys/values serve every pass. Keyed by [c, times already in the context].
struct ContextCache {
  std::map<std::vector<int64_t>, DecoderPassResult> passes;
  std::optional<DecoderContext> source;
};

// The context for a target time plus the context passes that built it.
struct BuiltContext {
  DecoderContext context;
  std::map<int64_t, DecoderPassResult> passes;  // by context time
};

class PerturbGenDecoderImpl : public torch::nn::Module {
 public:
  PerturbGenDecoderImpl(const DecoderConfig& c, torch::Device device = torch::kCPU,
                        torch::Dtype dtype = torch::kFloat32);

  // x0 = E[ids] + encoding for target time t (1..T; time row t + 1).
  torch::Tensor embed(const torch::Tensor& ids, int64_t t);
  // Projects each block's cross-attention keys/values once (fills ctx.kv).
  void prepare(DecoderContext& ctx);
  // Appends `part` (B, Lp, d) with its padding to a prepared context,
  // projecting only the new part's keys/values.
  void extend(DecoderContext& ctx, const torch::Tensor& part, const torch::Tensor& part_pad);
  // One pass of the blocks. self_pad defaults to (ids == 0); generation
  // passes its own pad (golden §15.4). ctx.kv is computed if empty.
  DecoderPassResult pass(const torch::Tensor& ids, int64_t t, DecoderContext& ctx,
                         const std::optional<torch::Tensor>& self_pad = std::nullopt);
  torch::Tensor logits(const torch::Tensor& hidden) { return linear(decoder_fc, hidden); }

  // Context for target time t (context mode): starts with [H_src, src==0] and
  // appends, for each c in sorted(context_tps or pred_tps) with c != t and an
  // entry in true_ids, a pass of the TRUE ids of time c over the context so
  // far, in ascending c. Without context mode only the source is used.
  // `cache` (optional) shares passes between the target times of a batch.
  // A context time without ids is an error, or, with `skip_missing`, left
  // out (generation in time order: only the times generated so far exist).
  BuiltContext build_context(const torch::Tensor& h_src, const torch::Tensor& src_pad,
                             const std::map<int64_t, torch::Tensor>& true_ids, int64_t t,
                             ContextCache* cache = nullptr, bool skip_missing = false);

  // Mean of hidden over positions whose decoder-input id is not special
  // (0..3) and not in `excluded` (condition tokens, perturbed ids). A row
  // with no such position gives NaN, as the reference's 0/0 does.
  static torch::Tensor mean_embedding(const torch::Tensor& hidden, const torch::Tensor& ids,
                                      const std::set<int64_t>& excluded = {});

  const DecoderConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::Dtype dtype() const { return dtype_; }

  torch::nn::Embedding token_embedding{nullptr};
  PositionalEncoding pos_embedding{nullptr};
  torch::nn::ModuleList decoder_block{nullptr};
  torch::nn::Linear decoder_fc{nullptr};
  torch::nn::Linear source_summary{nullptr};  // config().source_summary only

 private:
  DecoderConfig config_;
  torch::Device device_;
  torch::Dtype dtype_;
};
TORCH_MODULE(PerturbGenDecoder);

}  // namespace pg::model
