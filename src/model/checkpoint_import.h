// Converting the reference's PyTorch Lightning checkpoints (masking stage:
// `transformer.*`; count stage: `pretrained_model.*` twice plus the count
// head and `theta`, spec §3.9 / golden §6) into a model directory, without
// Python: the zip is read and unpickled with the allow-list unpickler, the
// duplicated count-stage tensors are checked equal and dropped, and the
// config is inferred from the tensor shapes and the checkpoint's
// hyper-parameters (cross-checked against each other).
#pragma once

#include <string>
#include <vector>

#include "model/model_dir.h"

namespace pg::model {

struct ImportOptions {
  // The encoder's head count is not in the checkpoint (the reference
  // hard-codes 8); the head width follows from the weights.
  int64_t encoder_heads = 8;
  // Genes of the count head in order (gene k = row id k + 4); empty = unnamed.
  std::vector<std::string> genes;
};

struct ImportReport {
  std::string stage;               // "masking" or "count"
  int64_t tensors_read = 0;        // state_dict entries in the checkpoint
  int64_t duplicates_dropped = 0;  // count stage: decoder.pretrained_model.* twins
  int64_t unused_dropped = 0;      // encoder blocks a reference-mode encoder never runs
  std::vector<std::string> notes;  // what was inferred and how
};

// Reads `ckpt_path` and returns the model directory contents (weights by
// reference key, as the model holds them). Errors name the file and the key.
ModelDirContents import_lightning_checkpoint(const std::string& ckpt_path, const ImportOptions& options = {},
                                             ImportReport* report = nullptr);

}  // namespace pg::model
