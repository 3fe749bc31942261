// The tokeniser's first pass over the input, one chunk at a time: which cells
// are used (state in --time-order, enough genes), their state and group, the
// labels of carried obs columns, per-gene cell counts, value checks, and the
// streaming accumulators for HVG selection and dataset medians. Memory is the
// accumulators (genes x states) plus a few bytes per cell for the pairing.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tokenise/chunked_input.h"
#include "tokenise/hvg.h"
#include "tokenise/medians.h"
#include "tokenise/obs_labels.h"
#include "tokenise/options.h"

namespace pg::tokenise {

struct ScanRequest {
  bool hvg = false;
  std::vector<uint8_t> hvg_columns;  // empty = all genes; else the genes HVG selection sees
  bool medians = false;
  MedianOptions median_options;
};

struct ScanResult {
  int64_t n_input_cells = 0;
  std::vector<bool> used;      // per input cell (one bit): in the store; store order = input order
  std::vector<int32_t> state;  // per used cell: index into time_order
  std::vector<int32_t> group;  // per used cell: group code (sorted labels), -1 missing; empty without groups
  LabelCodes groups;
  // Mapping pairing: the group is the first group key alone, the other keys
  // form the subgroup (the reference's opt_pairing_obs).
  std::vector<int32_t> subgroup;
  LabelCodes subgroups;
  // --lineage-key: per used cell the lineage (clone) code, sorted labels, -1
  // missing; empty without the key. Never a stratification group.
  std::vector<int32_t> lineage;
  LabelCodes lineages;
  std::vector<CarriedColumn> carried;
  std::vector<int64_t> cells_per_state;        // used cells per state
  std::map<std::string, int64_t> time_labels;  // every label of the time column, with its cell count
  int64_t not_in_time_order = 0;
  int64_t too_few_genes = 0;
  std::vector<int64_t> gene_cells;  // per input gene: used cells where it is non-zero
  int64_t non_integer_values = 0;
  std::string first_non_integer;  // "value 21.98 at cell <id>, gene <name>"
  double max_value = 0;
  std::unique_ptr<HvgAccumulator> hvg;
  std::unique_ptr<MedianAccumulator> medians;
};

ScanResult scan_cells(const ChunkedInput& input, const TokeniseOptions& opt, const ScanRequest& req);

// The obs columns the tokeniser reads: time, groups, lineage, carried (each once).
std::vector<std::string> obs_columns_needed(const TokeniseOptions& opt);

// Label of a group: the group columns' values joined by " / ".
std::vector<std::string> group_labels(const io::CellMatrix& chunk,
                                      const std::vector<std::string>& group_keys);

}  // namespace pg::tokenise
