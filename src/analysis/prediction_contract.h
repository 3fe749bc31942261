// What `perturbgen generate` writes into a prediction .h5ad and `perturbgen
// evaluate` relies on (the contract between the two commands):
//   X                  predicted counts, cells x genes; var index = gene ids
//                      of the true data (matched by name)
//   obs time_point     time label of each predicted cell (required)
//   obs source_cell    obs name, in the true data, of the source cell (optional)
//   obs target_cell    obs name of the paired true target cell (optional;
//                      empty/missing in forecast mode)
//   obsm gene_ranking  per cell, column indices into var in rank order,
//                      -1 padded (optional; for ROUGE)
//   uns perturbgen     time_key, time_order (source first), train_time_points,
//                      method
#pragma once

#include <string>
#include <vector>

#include "io/cell_matrix.h"

namespace pg::analysis {

struct PredictionContract {
  std::string method = "model";
  std::string time_key;                        // empty when uns does not say
  std::vector<std::string> time_order;         // source state first
  std::vector<std::string> train_time_points;  // all of time_order[1..] when uns does not say
  std::vector<std::string> time_point;         // per predicted cell
  std::vector<std::string> source_cell;        // per predicted cell ("" = none); empty when no column
  std::vector<std::string> target_cell;        // per predicted cell ("" = none); empty when no column
  bool has_targets() const;                    // some cell names a target
};

// Reads the contract from a prediction; `file` names it in errors.
// `time_order` overrides uns (required when uns has none).
PredictionContract read_contract(const io::CellMatrix& pred, const std::string& file,
                                 const std::vector<std::string>& time_order = {});

// Per-row text of an obs column, "" for missing values.
std::vector<std::string> column_texts(const io::Column& column);

}  // namespace pg::analysis
