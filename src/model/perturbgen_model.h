// The whole PerturbGen model in one place: the frozen source encoder, the
// decoder with context conditioning, and (for a count-stage model) the count
// head. `forward` is the reference's teacher-forced pass (golden §3-4): the
// one the count stage, embedding extraction and perturbation inference run.
//
// Weights are named by the reference's state-dict keys, so a golden
// `tiny_model.safetensors`, an imported Lightning checkpoint and our own
// model directories all load the same way:
//   transformer.encoder_layers.model.*   source encoder
//   transformer.*                        decoder
//   decoder.count_decoder.*, theta       count head and its dispersion
#pragma once

#include <torch/torch.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/count_head.h"
#include "model/decoder.h"
#include "model/encoder.h"
#include "model/weights.h"

namespace pg::model {

inline constexpr const char* kEncoderPrefix = "transformer.encoder_layers.model.";
inline constexpr const char* kDecoderPrefix = "transformer.";
inline constexpr const char* kCountHeadPrefix = "decoder.count_decoder.";
inline constexpr const char* kThetaKey = "theta";

// One paired example batch, as the reference's data module gives it.
struct ModelBatch {
  torch::Tensor src_ids;                     // (B, Ls) source vocabulary, <cls> ... <eos>, 0-padded
  std::map<int64_t, torch::Tensor> tgt_ids;  // t -> (B, L_t) row ids (condition tokens first), 0-padded
  std::map<int64_t, torch::Tensor> library;  // t -> (B,) observed library sizes (observed size factor)
  torch::Tensor condition;                   // (B,) combined condition index (dispersion column)
};

// What the teacher-forced pass gives for one target time.
struct TimeOutput {
  BuiltContext context;  // the context (source + other times) and its passes
  DecoderPassResult pass;
  torch::Tensor logits;          // (B, L, V)
  torch::Tensor mean_embedding;  // (B, d) the cell embedding
  std::optional<CountHeadOutput> counts;
};

class PerturbGenModelImpl : public torch::nn::Module {
 public:
  PerturbGenModelImpl(const ModelConfig& config, torch::Device device = torch::kCPU,
                      torch::Dtype dtype = torch::kFloat32);

  // H_src (B, Ls, d) of the frozen encoder.
  torch::Tensor encode(const torch::Tensor& src_ids);
  // The teacher-forced pass for each time in `times` (default: pred_tps).
  // `excluded_ids` leave the mean embedding besides the specials (condition
  // tokens). The count head runs when the model has one.
  std::map<int64_t, TimeOutput> forward(const ModelBatch& batch, std::vector<int64_t> times = {},
                                        const std::set<int64_t>& excluded_ids = {});
  // The same, given an already computed source encoding.
  std::map<int64_t, TimeOutput> forward_encoded(const ModelBatch& batch, const torch::Tensor& h_src,
                                                std::vector<int64_t> times = {},
                                                const std::set<int64_t>& excluded_ids = {});

  // Loads every weight by its reference key (see above). Missing, mis-shaped
  // or unknown tensors are a pg::Error naming `file` and the key; the encoder
  // blocks a reference-mode encoder does not run are skipped.
  void load_reference_weights(const NamedTensors& tensors, const std::string& file);
  // The weights by reference key (CPU copies), the inverse of the above.
  NamedTensors reference_weights() const;

  const ModelConfig& config() const { return config_; }
  torch::Device device() const { return device_; }
  torch::Dtype dtype() const { return dtype_; }

  SourceEncoder encoder{nullptr};
  PerturbGenDecoder decoder{nullptr};
  CountHead count_head{nullptr};  // null for a masking-stage model

 private:
  ModelConfig config_;
  torch::Device device_;
  torch::Dtype dtype_;
};
TORCH_MODULE(PerturbGenModel);

// Parameter counts of a model (what `model-info` prints).
struct ParameterCounts {
  int64_t encoder = 0, decoder = 0, count_head = 0;
  int64_t buffers = 0;  // positional tables and other non-trainable tensors
  int64_t total() const { return encoder + decoder + count_head; }
};
ParameterCounts count_parameters(const PerturbGenModelImpl& model);

}  // namespace pg::model
