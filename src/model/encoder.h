// The frozen source encoder (scmaskgit `scmoscf`, golden §3): token
// embedding + time row + sinusoid positions, post-LN self-attention blocks
// (norm1 after attention, norm3 after the MLP; no norm2), and an MLM head
// `decoder_fc` that PerturbGen never uses. Parameter names follow the
// reference keys under `transformer.encoder_layers.model.`.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/attention.h"
#include "model/config.h"
#include "model/positional.h"

namespace pg::model {

class EncoderBlockImpl : public torch::nn::Module {
 public:
  EncoderBlockImpl(const EncoderConfig& c);
  // key_pad: bool (B, L), true = padding key.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_pad);

  torch::nn::LayerNorm norm1{nullptr}, norm3{nullptr};
  MultiHeadAttention self_attn{nullptr};
  FeedForward feed_forward{nullptr};
};
TORCH_MODULE(EncoderBlock);

class SourceEncoderImpl : public torch::nn::Module {
 public:
  SourceEncoderImpl(const EncoderConfig& c, torch::Device device = torch::kCPU,
                    torch::Dtype dtype = torch::kFloat32);

  // x0 = E[src] + time_pe[time_row] + pos_pe[0:L].
  torch::Tensor embed(const torch::Tensor& src_ids);
  // H_src (B, L, d). Reference mode runs only the last block on x0 (the
  // reference runs every block on x0 and keeps the last, so the result is
  // identical); stacked mode chains the blocks. Padding mask = (src == 0).
  torch::Tensor forward(const torch::Tensor& src_ids);
  // Every block applied to x0 (what the reference computes; for parity
  // checks). Needs all blocks, i.e. a stacked-mode module.
  std::vector<torch::Tensor> block_outputs_reference(const torch::Tensor& src_ids);
  // Names of the stored blocks a reference-mode encoder does not hold
  // ("<prefix>decoder_block.0.", ...): loaders skip them.
  std::vector<std::string> unused_block_prefixes(const std::string& prefix) const;
  // The MLM head on encoder output (unused by PerturbGen, kept for parity
  // and pretraining); an error for an encoder without one.
  torch::Tensor mlm_logits(const torch::Tensor& hidden);

  const EncoderConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::Dtype dtype() const { return dtype_; }

  torch::nn::Embedding token_embedding{nullptr};
  PositionalEncoding pos_embedding{nullptr};
  // Blocks by index. Reference mode holds only the last one (the only block
  // whose output the reference keeps), so the unused 11 of the published
  // encoder cost neither memory nor time; stacked mode holds all.
  torch::nn::ModuleDict decoder_block{nullptr};
  torch::nn::Linear decoder_fc{nullptr};  // null without an MLM head

 private:
  EncoderBlockImpl& block(int64_t i);
  EncoderConfig config_;
  torch::Device device_;
  torch::Dtype dtype_;
};
TORCH_MODULE(SourceEncoder);

}  // namespace pg::model
