// Dimensions and modes of the PerturbGen model (source encoder + decoder).
// Torch-free on purpose: the CLI, stores and checkpoint metadata read and
// write this without pulling in libtorch headers.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pg::model {

// How position/time information is added to the token embedding (spec §3.3,
// golden §14). time_pos_learnt exists in the reference but has no fixture.
enum class PositionalMode { TimePosSin, CombSin, SinLearnt };

// `Reference` runs only the last encoder block on the embedding, which is
// exactly what the reference computes (every block gets x0, only the last is
// kept, golden §3); `Stacked` feeds each block the previous block's output.
enum class EncoderMode { Reference, Stacked };

struct EncoderConfig {
  int64_t vocab_size = 40;      // tgt_vocab_size; embedding has vocab_size + 3 rows
  int64_t embedding_rows = 43;  // rows of token_embedding
  int64_t d_model = 64;
  int64_t num_heads = 8;
  int64_t head_dim = 8;  // the reference's `d_ff`
  int64_t num_layers = 3;
  int64_t ffn_hidden = 64;      // fc1 width (= d_model in the reference)
  int64_t max_seq_length = 64;  // rows of the position table
  int64_t n_time_rows = 3;      // rows of the time table (n_total_tps)
  int64_t time_row = 1;         // the time row the encoder adds
  double layernorm_eps = 1e-5;
  EncoderMode mode = EncoderMode::Reference;
  // Whether the MLM head `decoder_fc` is held. PerturbGen never reads it;
  // only pretraining needs it (an imported encoder drops it by default).
  bool mlm_head = true;

  int64_t inner_dim() const { return num_heads * head_dim; }
};

struct DecoderConfig {
  int64_t vocab_size = 50;
  int64_t d_model = 64;
  int64_t num_heads = 8;
  int64_t head_dim = 4;  // the reference's `d_ff`; attention inner width = heads * head_dim
  int64_t num_layers = 2;
  int64_t ffn_hidden = 64;
  int64_t max_seq_length = 116;  // Lmax: rows of the position table
  int64_t n_total_tps = 3;       // T; the time table has T + 2 rows
  std::vector<int64_t> pred_tps{1, 2, 3};
  std::optional<std::vector<int64_t>> context_tps;  // null -> pred_tps
  bool context_mode = true;
  // Adds a learned projection of the source cell's mean encoding to every
  // input embedding (not in the reference, whose decoder sees the source only
  // through cross-attention, which small models learn to ignore: a direct
  // path for what the source cell says about its descendants). Off for
  // imported reference checkpoints.
  bool source_summary = false;
  PositionalMode positional = PositionalMode::TimePosSin;
  double layernorm_eps = 1e-5;

  int64_t inner_dim() const { return num_heads * head_dim; }
  int64_t time_table_rows() const { return n_total_tps + 2; }
  // Target time t uses time-table row t + 1 (golden §3).
  int64_t time_row(int64_t t) const { return t + 1; }
};

enum class CountLoss { zinb, nb, mse };
// Where the count head's library size l (mu = rho * l) comes from:
//   observed  : the paired target cell's observed library (the reference; it
//               leaks the ground-truth library size into predictions)
//   predicted : log l regressed from the pooled embedding (our fix, spec §11)
//   none      : no l; mu = softplus(...) (the reference's use_size_factor=False)
enum class SizeFactorMode { observed, predicted, none };

struct CountHeadConfig {
  int64_t d_model = 768;
  int64_t n_genes = 2000;
  int64_t n_conditions = 1;  // columns of theta; 1 when there are no condition keys
  CountLoss loss = CountLoss::zinb;
  SizeFactorMode size_factor = SizeFactorMode::observed;
  double dropout = 0.0;
  // `predicted` only: the initial bias of the log-library regression. Set it
  // to the mean log library size of the training cells so training starts
  // from the right scale instead of l = 1 (torch's default init gives ~0).
  double initial_log_library = 0.0;
};

struct ModelConfig {
  EncoderConfig encoder;
  DecoderConfig decoder;
  std::optional<CountHeadConfig> count_head;  // absent for a masking-stage model
};

// Reads the layout of golden tiny_config.json ("encoder_scmoscf",
// "decoder_perturbgen", "count_head"); throws pg::Error naming `file` and
// the missing or invalid key.
ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& file = "<config>");
nlohmann::json model_config_to_json(const ModelConfig& c);
// The "encoder_scmoscf" section alone (encoder directories of `perturbgen pretrain`):
// reads j["encoder_scmoscf"]; writes the section's content.
EncoderConfig encoder_config_from_json(const nlohmann::json& j, const std::string& file = "<config>");
nlohmann::json encoder_config_to_json(const EncoderConfig& e);

std::string to_string(PositionalMode m);
PositionalMode positional_mode_from_string(const std::string& s, const std::string& file = "<config>");
std::string to_string(EncoderMode m);
// "zinb" / "nb" / "mse" and "observed" / "predicted" / "none"; anything else is
// a pg::Error naming the accepted values.
CountLoss parse_count_loss(const std::string& name, const std::string& file = "<config>");
SizeFactorMode parse_size_factor_mode(const std::string& name, const std::string& file = "<config>");
std::string to_string(CountLoss loss);
std::string to_string(SizeFactorMode mode);
EncoderMode encoder_mode_from_string(const std::string& s, const std::string& file = "<config>");

}  // namespace pg::model
