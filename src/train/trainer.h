// One training run of any stage, start to finish: model and data set-up,
// the optimisation loop (data-parallel when launched with WORLD_SIZE > 1),
// evaluation and early stopping, checkpoints and resumption, and the output
// model directory.
//
// RUN_DIR (default: MODEL_DIR + ".run") holds
//   run.json          the resolved configuration (a resume must match it)
//   metrics.jsonl     train / validation records
//   checkpoints/      step-NNNNNNNNNN/ (see checkpoint.h), the newest K kept
//   best.safetensors  the trainable weights at the best validation score
//   summary.json      final numbers: validation metric before training,
//                     best, baselines, throughput, padding
#pragma once

#include <nlohmann/json.hpp>

#include "train/train_config.h"

namespace pg::train {

// Runs the configured stage. Returns the summary (also in summary.json).
// Bad inputs and faults are pg::Errors; a NaN/Inf loss stops the run before
// the step is applied, naming the step and the last good checkpoint.
nlohmann::json run_training(TrainConfig config);

}  // namespace pg::train
