// The model a training stage starts from and what it trains:
//   pretrain  a fresh stacked encoder sized to the store's vocabulary
//   mask      the (pretrained or imported) encoder from --encoder, frozen,
//             plus a fresh decoder (spec §4.2)
//   count     the mask-stage model from --from, frozen, plus a fresh count
//             head (spec §4.3)
// Parameters are initialised from torch's generator seeded with the run's
// seed, so the same seed gives the same initial weights on every rank.
#pragma once

#include <torch/torch.h>

#include <map>
#include <set>
#include <string>

#include "model/model_dir.h"
#include "model/perturbgen_model.h"
#include "store/token_store.h"
#include "train/paired_data.h"
#include "train/train_config.h"

namespace pg::train {

struct StageModel {
  pg::model::PerturbGenModel model{nullptr};       // mask, count
  pg::model::SourceEncoder encoder{nullptr};       // pretrain (stacked, with its MLM head)
  std::map<std::string, torch::Tensor> trainable;  // reference key -> parameter
  pg::model::ModelMeta meta;
  std::set<int64_t> excluded_ids;  // condition tokens: outside the mean embedding
};

// The data options a stage needs (times, caps, condition columns).
PairedDataOptions paired_data_options(const TrainConfig& c, int64_t n_times);

// The training times of a run: pred_tps (default all) minus held_out_tps.
std::vector<int64_t> training_times(const TrainConfig& c, int64_t n_times);

// Builds the stage's model on `device`. Vocabulary and gene-list mismatches
// between the store and the input model are pg::Errors quoting both sides.
// `data` is null for pretrain; `cell_max_length` sizes the pretrain encoder.
StageModel build_stage_model(const TrainConfig& c, const pg::store::TokenStore& store, const PairedData* data,
                             int64_t cell_max_length, torch::Device device, double mean_log_library);

// All weights of the stage's result by reference key (CPU).
pg::model::NamedTensors result_weights(const StageModel& m);

// Writes the stage's output directory (encoder directory for pretrain,
// model directory otherwise), atomically.
void write_stage_output(const TrainConfig& c, const StageModel& m, const nlohmann::json& provenance);

}  // namespace pg::train
