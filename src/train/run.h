// The state of one training run, shared by its set-up (run_setup.cpp) and
// its loop (trainer.cpp). Internal to src/train.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/token_store.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/embedding_cache.h"
#include "train/evaluation.h"
#include "train/optimizer.h"
#include "train/paired_data.h"
#include "train/progress.h"
#include "train/sampling.h"
#include "train/stage_model.h"
#include "train/train_config.h"

namespace pg::train::detail {

struct LocalBatch {
  TrainBatch paired;    // mask, count
  torch::Tensor cells;  // pretrain: (B, L) ids
  std::vector<int64_t> rows;
};

struct Run {
  TrainConfig c;
  std::shared_ptr<Distributed> dist;
  torch::Device device{torch::kCPU};
  std::filesystem::path run_dir;
  std::optional<pg::store::TokenStore> store;
  std::unique_ptr<PairedData> paired;
  std::unique_ptr<CellData> cells;
  StageModel sm;
  std::unique_ptr<Adam> opt;
  Split split;
  std::vector<double> weights;
  std::vector<int64_t> train_times, eval_times;
  MaskSchedule schedule = MaskSchedule::pow;
  torch::Tensor unigram;
  GeneMeanBaseline baseline;
  EmbeddingCache embeddings;  // count stage: the frozen decoder's, computed once
  TrainState state;
  std::unique_ptr<Progress> progress;
  int64_t steps_per_epoch = 0, total_steps = 0;
  nlohmann::json summary = nlohmann::json::object();

  bool main() const { return dist->is_main(); }
  int64_t length(int64_t i) const { return paired ? paired->length(i) : cells->length(i); }
  int64_t n_examples() const { return paired ? paired->size() : cells->size(); }
};

// Output checks before any training: where the model and the run go.
void prepare_outputs(Run& r);
// Creates (or, with --overwrite, clears) the run directory once set-up has
// succeeded, so a refused command leaves nothing behind.
void open_run_dir(const Run& r);
// Refuses to start when the run directory's file system cannot hold two
// checkpoints (weights + two Adam moments) and the output model.
void check_free_space(const Run& r);
// Opens the store, builds the examples, the split and the sampler weights.
void setup_data(Run& r);

}  // namespace pg::train::detail
