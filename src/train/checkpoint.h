// Training checkpoints: RUN_DIR/checkpoints/step-<NNNNNNNNNN>/ holding
//   model.safetensors      the trainable weights by reference key
//   optimizer.safetensors  Adam's moments (exp_avg.<key>, exp_avg_sq.<key>)
//   state.json             step, epoch, batch position, early-stopping state
// Each is written in a hidden temporary directory, fsync'd, renamed into
// place and the parent directory fsync'd, so a crash (even kill -9 in the
// middle of a write) leaves the previous checkpoints intact and at most a
// hidden temporary that the next run removes. The RNG needs no saving:
// every draw is a function of (seed, step) or (seed, epoch).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "model/weights.h"

namespace pg::train {

struct TrainState {
  int64_t step = 0;            // optimiser steps done
  int64_t epoch = 0;           // the epoch in progress
  int64_t batch_in_epoch = 0;  // its batches already done
  double best_metric = std::numeric_limits<double>::infinity();
  int64_t evals_since_best = 0;
  bool finished = false;  // the run ended (epochs done or early stop)
};

nlohmann::json to_json(const TrainState& s);
TrainState train_state_from_json(const nlohmann::json& j, const std::string& file);

struct Checkpoint {
  std::filesystem::path path;
  TrainState state;
  pg::model::NamedTensors model, optimizer;
};

// Writes a checkpoint for state.step and then keeps only the newest `keep`
// (0: all). Returns its path.
std::filesystem::path write_checkpoint(const std::filesystem::path& run_dir, const TrainState& state,
                                       const pg::model::NamedTensors& model,
                                       const pg::model::NamedTensors& optimizer, int64_t keep);

// The newest complete checkpoint of a run, if any. Leftover temporaries of an
// interrupted write are removed.
std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& run_dir);

Checkpoint read_checkpoint(const std::filesystem::path& path);

}  // namespace pg::train
