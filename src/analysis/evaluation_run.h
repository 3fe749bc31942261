// `perturbgen evaluate`'s logic, file-free: a prediction (prediction_contract.h)
// and the true data it was made from, in; tidy metric rows for the model and
// every applicable baseline, out.
//
// Per predicted time point T:
//   true(T)   trained T with named targets (a cell split): the distinct target
//             cells; otherwise (held out, or no targets) all cells at T
//   control   the true cells of the source state time_order[0]
//   training cells of a time point: its cells minus the named targets there
//   (the source state: all its cells); baselines see only those
//   baselines copy_source      the predicted cells' source cells (duplicates
//                              kept), or the source state's cells without names
//             target_mean      T trained with training cells: their mean profile
//             nearest_time     the nearest observed time point other than T
//                              (observed = source ∪ trained; ties to the earlier)
//             linear_interp,   T strictly between observed A < T < B: λ from
//             ot_interp        positions in the time order, or --time-values
//   groups    with a group key, baselines are built per group (the pred
//             cells' groups; a group without pool cells uses the whole pool),
//             and every population is also scored per group
// Every population is subsampled to max_cells, deterministically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/evaluate.h"
#include "io/cell_matrix.h"

namespace pg::analysis {

inline const std::vector<std::string>& all_baselines() {
  static const std::vector<std::string> names = {"copy_source", "target_mean", "nearest_time",
                                                 "linear_interp", "ot_interp"};
  return names;
}

struct EvaluationOptions {
  std::string group_key;                // obs column in both files; empty: no groups
  std::string time_key;                 // overrides uns perturbgen/time_key
  std::vector<std::string> time_order;  // overrides uns perturbgen/time_order
  std::vector<double> time_values;      // numeric time of each time_order entry; empty: positions
  std::vector<std::string> baselines = all_baselines();
  uint64_t seed = 0;
  int64_t max_cells = 10000;
  MetricOptions metrics;
};

struct EvaluationReport {
  std::vector<MetricRow> rows;
  std::vector<std::string> notes;  // what was matched, dropped, chosen (one line each)
  int64_t n_genes = 0;             // genes shared by both files
};

EvaluationReport evaluate_prediction(const io::CellMatrix& pred, const std::string& pred_file,
                                     const io::CellMatrix& truth, const std::string& true_file,
                                     const EvaluationOptions& opt);

}  // namespace pg::analysis
