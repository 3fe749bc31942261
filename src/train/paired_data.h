// Training examples read from a token store (memory-mapped; nothing is
// loaded up front but the small per-row tables).
//
// PairedData: one example per pairing row (source cell + one cell per target
// time), batched as the reference's data module does (spec §2.7): the source
// sentence keeps <cls>/<eos>; a target sentence is its cell's genes mapped to
// count-head row ids (gene k -> k + 4, <cls>/<eos> and genes outside the
// count head dropped), optionally capped at `max_length` top-ranked genes,
// preceded by one condition token per `cond_keys` column; targets carry the
// dense counts of the count-head genes and their sum, the library size.
// Unlike the reference, a batch is padded to its own longest sentence, not
// the dataset's.
//
// CellData: every cell on its own, for encoder pretraining.
#pragma once

#include <torch/torch.h>

#include <map>
#include <string>
#include <vector>

#include "model/perturbgen_model.h"
#include "store/token_store.h"

namespace pg::train {

struct PairedDataOptions {
  std::vector<int64_t> times;                // target times loaded (1..T); empty: all
  int64_t max_length = 0;                    // cap on target genes per sentence; 0: none
  int64_t max_source_length = 0;             // cap on source tokens (the encoder's table); 0: none
  std::vector<std::string> cond_keys;        // categorical obs columns -> prefix condition tokens
  std::vector<std::string> dispersion_keys;  // categorical obs columns -> count-head condition
  bool counts = false;                       // load dense counts (count stage)
  // Load only the source sentences (`times` must be empty): generation
  // without ground truth keeps every row that has a source cell.
  bool source_only = false;
};

struct TrainBatch {
  pg::model::ModelBatch model;
  std::map<int64_t, torch::Tensor> counts;  // t -> (B, G) float32 raw counts (when loaded)
  std::vector<int64_t> rows;                // the example indices (the masking keys)
};

class PairedData {
 public:
  // Rows whose source or a needed target cell is missing (-1) are skipped
  // (counted in skipped_rows()). Throws pg::Error when the store has no
  // pairing table or no usable row.
  PairedData(const pg::store::TokenStore& store, PairedDataOptions options);

  int64_t size() const { return static_cast<int64_t>(rows_.size()); }
  int64_t n_times() const { return n_times_; }
  int64_t n_genes() const { return n_genes_; }
  int64_t skipped_rows() const { return skipped_; }
  // Longest source or target sentence of example i (for length bucketing).
  int64_t length(int64_t i) const { return lengths_[static_cast<size_t>(i)]; }
  int64_t max_target_length() const { return max_target_length_; }
  int64_t max_source_length() const { return max_source_length_; }
  // First id after the genes and condition tokens; the decoder vocabulary is
  // this + 50 (the reference's margin).
  int64_t first_free_id() const { return first_free_id_; }
  // column -> value -> token id (for the model directory).
  const std::map<std::string, std::map<std::string, int64_t>>& condition_tokens() const {
    return cond_tokens_;
  }
  // Combined dispersion groups ("a|b") and the group of example i.
  const std::vector<std::string>& dispersion_groups() const { return groups_; }
  int64_t dispersion_group(int64_t i) const { return group_of_[static_cast<size_t>(i)]; }
  // The pairing row of example i (a stable key of the example).
  int64_t row(int64_t i) const { return rows_[static_cast<size_t>(i)]; }
  // The cell of example i at column c (0 = source, t = target time t).
  int64_t cell(int64_t i, int64_t c) const;
  const pg::store::TokenStore& store() const { return store_; }

  TrainBatch batch(const std::vector<int64_t>& examples) const;

 private:
  void target_ids(int64_t cell, std::vector<int64_t>& out) const;

  const pg::store::TokenStore& store_;
  PairedDataOptions options_;
  std::vector<int64_t> rows_;  // pairing rows used
  std::vector<int64_t> lengths_;
  std::vector<int32_t> token_to_row_;  // source token -> row id, -1 none
  std::vector<size_t> cond_columns_;
  std::vector<int64_t> cond_offsets_;
  std::map<std::string, std::map<std::string, int64_t>> cond_tokens_;
  std::vector<std::string> groups_;
  std::vector<int64_t> group_of_;
  int64_t n_times_ = 0, n_genes_ = 0, skipped_ = 0;
  int64_t max_target_length_ = 0, max_source_length_ = 0, first_free_id_ = 4;
};

// The condition columns of a model in the order their tokens were assigned
// (the order PairedData needs to give the same ids again).
std::vector<std::string> condition_keys_in_token_order(
    const std::map<std::string, std::map<std::string, int64_t>>& condition_tokens);

class CellData {
 public:
  // Every cell with at least one token after <cls>; `max_length` caps the
  // sentence (keeping <cls> and the top-ranked genes).
  CellData(const pg::store::TokenStore& store, int64_t max_length);
  int64_t size() const { return static_cast<int64_t>(cells_.size()); }
  int64_t length(int64_t i) const { return lengths_[static_cast<size_t>(i)]; }
  int64_t max_length() const { return max_length_; }
  // (B, L) source-vocabulary ids, right-padded with 0.
  torch::Tensor batch(const std::vector<int64_t>& examples) const;

 private:
  const pg::store::TokenStore& store_;
  std::vector<int64_t> cells_, lengths_;
  int64_t max_length_ = 0;
};

}  // namespace pg::train
