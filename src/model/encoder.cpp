#include "model/encoder.h"

#include "core/error.h"

namespace pg::model {

EncoderBlockImpl::EncoderBlockImpl(const EncoderConfig& c) {
  norm1 = register_module("norm1", make_layer_norm(c.d_model, c.layernorm_eps));
  self_attn = register_module("self_attn", MultiHeadAttention(c.d_model, c.num_heads, c.head_dim));
  norm3 = register_module("norm3", make_layer_norm(c.d_model, c.layernorm_eps));
  feed_forward = register_module("feed_forward", FeedForward(c.d_model, c.ffn_hidden));
}

torch::Tensor EncoderBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& key_pad) const {
  auto x1 = norm1->forward(x + self_attn->forward(x, x, key_pad));
  return norm3->forward(x1 + feed_forward->forward(x1));
}

SourceEncoderImpl::SourceEncoderImpl(const EncoderConfig& c, torch::Device device, torch::Dtype dtype)
    : config_(c), device_(device), dtype_(dtype) {
  token_embedding = register_module(
      "token_embedding", torch::nn::Embedding(torch::nn::EmbeddingOptions(c.embedding_rows, c.d_model).padding_idx(0)));
  pos_embedding = register_module(
      "pos_embedding", PositionalEncoding(PositionalMode::TimePosSin, c.n_time_rows, c.max_seq_length, c.d_model));
  decoder_block = register_module("decoder_block", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) decoder_block->push_back(EncoderBlock(c));
  decoder_fc = register_module("decoder_fc", torch::nn::Linear(c.d_model, c.vocab_size));
  to(device, dtype);
  eval();  // frozen in PerturbGen; there is no dropout at inference anyway
}

torch::Tensor SourceEncoderImpl::embed(const torch::Tensor& src_ids_in) const {
  const auto src_ids = src_ids_in.to(device_);
  if (src_ids.dim() != 2) throw pg::Error("<input>", "src_input_ids", "must be 2-D (batch, length)");
  const int64_t max_id = src_ids.numel() ? src_ids.max().item<int64_t>() : 0;
  const int64_t min_id = src_ids.numel() ? src_ids.min().item<int64_t>() : 0;
  if (min_id < 0 || max_id >= config_.embedding_rows)
    throw pg::Error("<input>", "src_input_ids",
                    "token id " + std::to_string(min_id < 0 ? min_id : max_id) + " outside the encoder vocabulary 0.." +
                        std::to_string(config_.embedding_rows - 1));
  return pos_embedding->add(token_embedding->forward(src_ids), config_.time_row);
}

torch::Tensor SourceEncoderImpl::forward(const torch::Tensor& src_ids) const {
  auto x0 = embed(src_ids);
  auto pad = src_ids.to(device_).eq(0);
  if (config_.mode == EncoderMode::Reference)
    return decoder_block->ptr<EncoderBlockImpl>(decoder_block->size() - 1)->forward(x0, pad);
  auto x = x0;
  for (size_t i = 0; i < decoder_block->size(); ++i) x = decoder_block->ptr<EncoderBlockImpl>(i)->forward(x, pad);
  return x;
}

std::vector<torch::Tensor> SourceEncoderImpl::block_outputs_reference(const torch::Tensor& src_ids) const {
  auto x0 = embed(src_ids);
  auto pad = src_ids.to(device_).eq(0);
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < decoder_block->size(); ++i) out.push_back(decoder_block->ptr<EncoderBlockImpl>(i)->forward(x0, pad));
  return out;
}

}  // namespace pg::model
