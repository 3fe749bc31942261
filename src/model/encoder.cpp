#include "model/encoder.h"

#include "core/error.h"
#include "model/weights.h"

namespace pg::model {

EncoderBlockImpl::EncoderBlockImpl(const EncoderConfig& c) {
  norm1 = register_module("norm1", make_layer_norm(c.d_model, c.layernorm_eps));
  self_attn = register_module("self_attn", MultiHeadAttention(c.d_model, c.num_heads, c.head_dim));
  norm3 = register_module("norm3", make_layer_norm(c.d_model, c.layernorm_eps));
  feed_forward = register_module("feed_forward", FeedForward(c.d_model, c.ffn_hidden));
}

torch::Tensor EncoderBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& key_pad) {
  auto x1 = norm1->forward(x + self_attn->forward(x, x, key_pad));
  return norm3->forward(x1 + feed_forward->forward(x1));
}

SourceEncoderImpl::SourceEncoderImpl(const EncoderConfig& c, torch::Device device, torch::Dtype dtype)
    : config_(c), device_(device), dtype_(dtype) {
  token_embedding = register_module(
      "token_embedding",
      torch::nn::Embedding(torch::nn::EmbeddingOptions(c.embedding_rows, c.d_model).padding_idx(0)));
  pos_embedding = register_module(
      "pos_embedding",
      PositionalEncoding(PositionalMode::TimePosSin, c.n_time_rows, c.max_seq_length, c.d_model));
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> blocks;
  for (int64_t i = c.mode == EncoderMode::Reference ? c.num_layers - 1 : 0; i < c.num_layers; ++i)
    blocks.emplace_back(std::to_string(i), EncoderBlock(c).ptr());
  decoder_block = register_module("decoder_block", torch::nn::ModuleDict(blocks));
  if (c.mlm_head) decoder_fc = register_module("decoder_fc", torch::nn::Linear(c.d_model, c.vocab_size));
  move_to(*this, device, dtype);
  eval();  // frozen in PerturbGen; there is no dropout at inference anyway
}

torch::Tensor SourceEncoderImpl::embed(const torch::Tensor& src_ids_in) {
  const auto src_ids = src_ids_in.to(device_);
  if (src_ids.dim() != 2) throw pg::Error("<input>", "src_input_ids", "must be 2-D (batch, length)");
  const int64_t max_id = src_ids.numel() ? src_ids.max().item<int64_t>() : 0;
  const int64_t min_id = src_ids.numel() ? src_ids.min().item<int64_t>() : 0;
  if (min_id < 0 || max_id >= config_.embedding_rows)
    throw pg::Error("<input>", "src_input_ids",
                    "token id " + std::to_string(min_id < 0 ? min_id : max_id) +
                        " outside the encoder vocabulary 0.." + std::to_string(config_.embedding_rows - 1));
  return pos_embedding->add(token_embedding->forward(src_ids), config_.time_row);
}

torch::Tensor SourceEncoderImpl::forward(const torch::Tensor& src_ids) {
  auto x0 = embed(src_ids);
  auto pad = src_ids.to(device_).eq(0);
  if (config_.mode == EncoderMode::Reference) return block(config_.num_layers - 1).forward(x0, pad);
  auto x = x0;
  for (int64_t i = 0; i < config_.num_layers; ++i) x = block(i).forward(x, pad);
  return x;
}

torch::Tensor SourceEncoderImpl::mlm_logits(const torch::Tensor& hidden) {
  if (!decoder_fc)
    throw pg::Error("<model>", "encoder.decoder_fc", "this encoder was stored without its MLM head");
  return linear(decoder_fc, hidden);
}

EncoderBlockImpl& SourceEncoderImpl::block(int64_t i) {
  return *decoder_block[std::to_string(i)]->as<EncoderBlockImpl>();
}

std::vector<std::string> SourceEncoderImpl::unused_block_prefixes(const std::string& prefix) const {
  std::vector<std::string> out;
  for (int64_t i = 0; i < config_.num_layers; ++i)
    if (!decoder_block->contains(std::to_string(i)))
      out.push_back(prefix + "decoder_block." + std::to_string(i) + ".");
  return out;
}

std::vector<torch::Tensor> SourceEncoderImpl::block_outputs_reference(const torch::Tensor& src_ids) {
  if (config_.mode == EncoderMode::Reference)
    throw pg::Error("<model>", "encoder",
                    "a reference-mode encoder holds only its last block; use a stacked one for every block");
  auto x0 = embed(src_ids);
  auto pad = src_ids.to(device_).eq(0);
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < config_.num_layers; ++i) out.push_back(block(i).forward(x0, pad));
  return out;
}

}  // namespace pg::model
