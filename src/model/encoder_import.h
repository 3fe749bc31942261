// Importing a standalone source-encoder checkpoint: the scmaskgit
// `CellGenTrainer` Lightning file that PerturbGen publishes (golden §19:
// `transformer.*` keys, 12 blocks, an MLM head, Adam state) into an encoder
// directory, the kind `perturbgen pretrain` writes.
//
// The reference encoder feeds the embedding to every block and keeps only the
// last block's output (spec §3.2), so a reference-mode encoder needs just the
// embedding, the position/time tables and that block. Only those tensors are
// read, one at a time, straight from the zip into their final buffers; the
// other blocks, the MLM head (unless asked for), the duplicate `pe` table and
// the optimizer state are never read. The import of the published 574 MB
// file thus reads and holds about 85 MB.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "model/config.h"

namespace pg::model {

// True when the stored state_dict keys are those of a standalone encoder:
// `transformer.token_embedding.weight` and encoder blocks (no norm2, no
// cross-attention), not a PerturbGen model's `transformer.encoder_layers.*`.
bool is_standalone_encoder(const std::vector<std::string>& state_dict_keys);

struct EncoderImportOptions {
  // Head count when hyper_parameters lack num_heads (the shapes cannot tell it).
  int64_t fallback_heads = 8;
  // Keep the MLM head decoder_fc (needed only to continue pretraining; a
  // fresh one is made there otherwise).
  bool keep_mlm_head = false;
  // Recorded in the encoder directory so later stages refuse a store
  // tokenised with another vocabulary; empty: none recorded.
  std::string vocab_name, vocab_sha256;
  bool overwrite = false;
};

struct EncoderImportReport {
  struct Part {
    std::string what;  // e.g. "blocks 0-10"
    int64_t tensors = 0;
    int64_t bytes = 0;  // as stored
    std::string why;
  };
  EncoderConfig config;
  int64_t tensors_in_file = 0;
  std::vector<Part> kept, dropped;
  std::vector<std::string> notes;  // what was inferred and how
  int64_t kept_bytes() const;
};

// Reads `ckpt_path` and writes the encoder directory `out_dir` atomically.
// Errors (not a standalone encoder, shapes that disagree with each other or
// with hyper_parameters, missing tensors, non-finite values, a corrupt or
// truncated archive) are pg::Errors naming the file and the key; nothing is
// written then.
EncoderImportReport import_encoder_checkpoint(const std::string& ckpt_path,
                                              const std::filesystem::path& out_dir,
                                              const EncoderImportOptions& options);

}  // namespace pg::model
