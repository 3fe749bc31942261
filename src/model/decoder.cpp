#include "model/decoder.h"

#include <algorithm>

#include "core/error.h"
#include "model/weights.h"

namespace pg::model {

DecoderBlockImpl::DecoderBlockImpl(const DecoderConfig& c) {
  norm1 = register_module("norm1", make_layer_norm(c.d_model, c.layernorm_eps));
  self_attn = register_module("self_attn", MultiHeadAttention(c.d_model, c.num_heads, c.head_dim));
  norm2 = register_module("norm2", make_layer_norm(c.d_model, c.layernorm_eps));
  cross_attn = register_module("cross_attn", MultiHeadAttention(c.d_model, c.num_heads, c.head_dim));
  norm3 = register_module("norm3", make_layer_norm(c.d_model, c.layernorm_eps));
  feed_forward = register_module("feed_forward", FeedForward(c.d_model, c.ffn_hidden));
}

torch::Tensor DecoderBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& self_pad,
                                        const AttentionKV& cross_kv, const torch::Tensor& cross_pad) {
  auto x1 = norm1->forward(x + self_attn->forward(x, x, self_pad));
  auto x2 = norm2->forward(x1 + cross_attn->attend(x1, cross_kv, cross_pad));
  return norm3->forward(x2 + feed_forward->forward(x2));
}

PerturbGenDecoderImpl::PerturbGenDecoderImpl(const DecoderConfig& c, torch::Device device, torch::Dtype dtype)
    : config_(c), device_(device), dtype_(dtype) {
  token_embedding = register_module("token_embedding", torch::nn::Embedding(c.vocab_size, c.d_model));
  pos_embedding = register_module(
      "pos_embedding", PositionalEncoding(c.positional, c.time_table_rows(), c.max_seq_length, c.d_model));
  decoder_block = register_module("decoder_block", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) decoder_block->push_back(DecoderBlock(c));
  decoder_fc = register_module("decoder_fc", torch::nn::Linear(c.d_model, c.vocab_size));
  if (c.source_summary) {
    source_summary = register_module("source_summary", torch::nn::Linear(c.d_model, c.d_model));
    // Starts as the reference decoder (no summary term); training opens the path.
    torch::NoGradGuard no_grad;
    source_summary->weight.zero_();
    source_summary->bias.zero_();
  }
  move_to(*this, device, dtype);
  eval();
}

torch::Tensor PerturbGenDecoderImpl::embed(const torch::Tensor& ids_in, int64_t t) {
  const auto ids = ids_in.to(device_);
  if (ids.dim() != 2) throw pg::Error("<input>", "target ids", "must be 2-D (batch, length)");
  if (t < 1 || t > config_.n_total_tps)
    throw pg::Error("<input>", "time",
                    std::to_string(t) + " outside 1.." + std::to_string(config_.n_total_tps));
  if (ids.numel()) {
    const int64_t lo = ids.min().item<int64_t>(), hi = ids.max().item<int64_t>();
    if (lo < 0 || hi >= config_.vocab_size)
      throw pg::Error("<input>", "target ids",
                      "token id " + std::to_string(lo < 0 ? lo : hi) + " outside the decoder vocabulary 0.." +
                          std::to_string(config_.vocab_size - 1));
  }
  return pos_embedding->add(token_embedding->forward(ids), config_.time_row(t));
}

void PerturbGenDecoderImpl::prepare(DecoderContext& ctx) {
  ctx.kv.clear();
  for (size_t i = 0; i < decoder_block->size(); ++i)
    ctx.kv.push_back(decoder_block->ptr<DecoderBlockImpl>(i)->cross_attn->project_kv(ctx.tensor));
}

DecoderPassResult PerturbGenDecoderImpl::pass(const torch::Tensor& ids_in, int64_t t, DecoderContext& ctx,
                                              const std::optional<torch::Tensor>& self_pad) {
  const auto ids = ids_in.to(device_);
  if (ctx.tensor.size(0) != ids.size(0))
    throw pg::Error(
        "<input>", "context",
        "batch " + std::to_string(ctx.tensor.size(0)) + " != target batch " + std::to_string(ids.size(0)));
  if (ctx.kv.size() != decoder_block->size()) prepare(ctx);
  DecoderPassResult r;
  r.x0 = embed(ids, t);
  // Projected here, not in build_context, so the projection trains even when
  // the context is built without gradients.
  if (source_summary && ctx.source_mean.defined())
    r.x0 = r.x0 + source_summary->forward(ctx.source_mean).unsqueeze(1);
  const auto pad = self_pad ? self_pad->to(device_) : ids.eq(0);
  auto x = r.x0;
  for (size_t i = 0; i < decoder_block->size(); ++i) {
    x = decoder_block->ptr<DecoderBlockImpl>(i)->forward(x, pad, ctx.kv[i], ctx.pad);
    r.block_outs.push_back(x);
  }
  r.hidden = x;
  return r;
}

void PerturbGenDecoderImpl::extend(DecoderContext& ctx, const torch::Tensor& part,
                                   const torch::Tensor& part_pad) {
  if (ctx.kv.size() != decoder_block->size()) prepare(ctx);
  for (size_t i = 0; i < decoder_block->size(); ++i) {
    auto kv = decoder_block->ptr<DecoderBlockImpl>(i)->cross_attn->project_kv(part);
    ctx.kv[i] = {torch::cat({ctx.kv[i].k, kv.k}, 2), torch::cat({ctx.kv[i].v, kv.v}, 2)};
  }
  ctx.tensor = torch::cat({ctx.tensor, part}, 1);
  ctx.pad = torch::cat({ctx.pad, part_pad}, 1);
}

BuiltContext PerturbGenDecoderImpl::build_context(const torch::Tensor& h_src, const torch::Tensor& src_pad,
                                                  const std::map<int64_t, torch::Tensor>& true_ids, int64_t t,
                                                  ContextCache* cache, bool skip_missing) {
  BuiltContext out;
  if (cache && cache->source) {
    out.context = *cache->source;
  } else {
    out.context = {h_src.to(device_, dtype_), src_pad.to(device_).to(torch::kBool), {}, {}};
    if (source_summary) {
      // Mean over the source's genes (padding out).
      const auto keep = out.context.pad.logical_not().unsqueeze(-1).to(out.context.tensor.scalar_type());
      out.context.source_mean = (out.context.tensor * keep).sum(1) / keep.sum(1).clamp_min(1.0);
    }
    prepare(out.context);
    if (cache) cache->source = out.context;
  }
  if (!config_.context_mode) return out;
  std::vector<int64_t> times = config_.context_tps.value_or(config_.pred_tps);
  std::sort(times.begin(), times.end());
  std::vector<int64_t> key;  // [c, times already in the context]
  for (int64_t c : times) {
    if (c == t) continue;
    auto it = true_ids.find(c);
    if (it == true_ids.end() && skip_missing) continue;
    if (it == true_ids.end())
      throw pg::Error("<input>", "context",
                      "the true ids of context time " + std::to_string(c) + " are missing");
    key.insert(key.begin(), c);
    // Each context pass sees the context built so far (source + earlier times).
    DecoderPassResult res;
    auto hit = cache ? cache->passes.find(key) : decltype(cache->passes)::iterator{};
    if (cache && hit != cache->passes.end()) {
      res = hit->second;
    } else {
      res = pass(it->second, c, out.context);
      if (cache) cache->passes.emplace(key, res);
    }
    std::rotate(key.begin(), key.begin() + 1, key.end());  // c joins the times already in the context
    extend(out.context, res.hidden, it->second.to(device_).eq(0));
    out.passes.emplace(c, std::move(res));
  }
  return out;
}

torch::Tensor PerturbGenDecoderImpl::mean_embedding(const torch::Tensor& hidden, const torch::Tensor& ids_in,
                                                    const std::set<int64_t>& excluded) {
  const auto ids = ids_in.to(hidden.device());
  auto keep = ids.gt(3);
  for (int64_t e : excluded) keep = keep & ids.ne(e);
  auto w = keep.to(hidden.scalar_type()).unsqueeze(-1);
  return (hidden * w).sum(1) / w.sum(1);
}

}  // namespace pg::model
