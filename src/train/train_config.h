// Everything a training run is configured by, torch-free. The CLI fills it
// from flags and the --config file; the run writes it back, resolved, as
// run.json next to its checkpoints, and a resumed run must agree with it.
#pragma once

#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "train/optimizer.h"
#include "train/sampling.h"

namespace pg::train {

enum class Stage { pretrain, mask, count };
Stage parse_stage(const std::string& name);
std::string to_string(Stage s);

struct TrainConfig {
  Stage stage = Stage::mask;
  std::string store, output, run_dir, encoder, from;  // from: the mask-stage model (count stage)
  std::string device = "cpu";
  int64_t epochs = 5;
  int64_t max_steps = 0;  // 0: epochs decide
  uint64_t seed = 42;
  bool bf16 = false;
  bool overwrite = false;
  bool resume = false;
  // Cap on padded tokens (rows x longest sentence) run through the model at
  // once; a larger batch is split and its gradients summed (same step).
  // 0: the whole local batch at once.
  int64_t max_tokens = 8192;

  OptimizerOptions optimizer;
  SamplerOptions sampler;
  SplitOptions split;
  std::vector<std::string> split_obs;      // stratification / condition columns
  std::vector<std::string> sampling_keys;  // weighted sampler labels (empty: off)

  // Model shape (mask stage: the decoder; pretrain: the encoder).
  int64_t d_model = 128, num_layers = 2, num_heads = 4, head_dim = 32, ffn_hidden = 0;  // 0: d_model
  std::string positional = "time_pos_sin";
  std::string mask_schedule = "pow";
  std::vector<int64_t> pred_tps;                    // empty: every target time
  std::optional<std::vector<int64_t>> context_tps;  // null: pred_tps
  std::vector<int64_t> held_out_tps;                // removed from pred_tps; validated on
  bool context_mode = true;
  bool source_summary = false;  // DecoderConfig::source_summary of a new decoder
  std::vector<std::string> cond_keys;
  int64_t max_length = 0;  // target genes per sentence (pretrain: tokens per cell); 0: all

  // Count stage.
  std::string count_loss = "zinb";
  std::string size_factor = "observed";
  double count_dropout = 0.0;
  std::vector<std::string> dispersion_keys;
  bool train_dispersion = true;  // false: the reference's bug (theta never trained)

  // Checkpoints, evaluation, logging.
  int64_t checkpoint_every = 0;  // steps; 0: at each epoch end only
  int64_t keep_checkpoints = 3;
  int64_t eval_every = 0;  // steps; 0: at each epoch end
  int64_t patience = 10;   // evaluations without improvement; 0: no early stopping
  int64_t prefetch = 2;
  int64_t log_every = 10;
  std::string progress = "auto";  // auto | bar | lines | none
};

// The stage's reference defaults for lr and weight decay (spec §4.1-4.4),
// applied where the user gave none.
void apply_stage_defaults(TrainConfig& c, bool lr_given, bool wd_given);

// The resolved configuration as written to run.json (a resumed run compares
// its own with the stored one).
nlohmann::json to_json(const TrainConfig& c);

}  // namespace pg::train
