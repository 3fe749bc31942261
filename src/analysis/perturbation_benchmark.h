// `perturbgen benchmark-perturbation`'s data and scoring, file-free apart
// from reading the h5ad inputs: the control time course and one file per
// perturbation (pert_<kind>_<GENE>.h5ad, kind ko | kd | oe), the baselines,
// and the table every method is scored in (perturbation_scores.h).
//
// Truth. For perturbation P and later time point T the observed effect is
// lfc(P's cells at T, control cells at T). P's cells at the source time point
// are never used: the model and the baselines must edit the control's source
// cells themselves. P "has a true effect" when, at some later T, ‖lfc‖ over
// the genes other than P's own exceeds the control's resampling spread there
// (lfc_null_norm: the 99th percentile over random half splits of the control
// cells at T) — read from the data, never from a list of genes.
//
// Methods (each gives, per perturbation and later time point, a predicted
// control population and a predicted perturbed one; the predicted effect is
// the lfc between the two, so a model's bias common to both cancels):
//   no_change   both = the control cells at T
//   gene_only   the control cells at T with P's gene edited as the source is
//               (expression_edit.h; ko removes it): only the gene changes
//   linear      ridge regression (ridge.h) from log1p source profiles to log1p
//               profiles at T, fitted on the pairing's (source, T) pairs of
//               the control, applied to the edited and unedited source cells
//               (ko: the gene also stays 0 at T, as the model is told)
//   mean_other  the control cells at T shifted (x+1)·2^l − 1 per gene by the
//               mean observed lfc of the other perturbations at T (leave one out)
//   perturbgen  supplied by the caller (generated from the trained model)
// Summary per method: mean pearson_lfc over the later time points (group
// "all") of perturbations with a true effect, and negative_control_auroc: the
// AUROC of the predicted effect size (mean over later T of ‖predicted lfc‖
// without P's gene) separating true-effect from no-effect perturbations.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/expression_edit.h"
#include "analysis/matrix.h"

namespace pg::analysis {

struct PerturbationSpec {
  std::string file;  // path
  std::string name;  // "<kind>_<GENE>"
  std::string kind;  // ko | kd | oe
  std::string gene;
  int64_t gene_index = -1;  // column in BenchmarkInput::genes
};

// The pert_<kind>_<GENE>.h5ad files of `dir`, sorted by name; pg::Error when
// the folder is missing or holds none, or a file's kind is not ko/kd/oe.
std::vector<PerturbationSpec> find_perturbation_files(const std::string& dir);

// The edit each kind applies to a source cell: ko removes the gene
// (permanent: also absent at later time points), kd moves it down, oe up.
ExpressionEdit edit_of_kind(const std::string& kind);

struct StageCells {
  Matrix norm;                     // cells x genes, normalised to 1e4 over the scoring genes
  std::vector<int32_t> group;      // per cell, code into BenchmarkInput::group_names; -1 missing
  std::vector<std::string> names;  // obs names
};

struct BenchmarkInput {
  std::vector<std::string> genes;        // scoring genes, control var order
  std::vector<std::string> time_points;  // [0] = source
  std::vector<std::string> group_names;  // empty without a group key
  std::vector<StageCells> control;       // per time point
  std::vector<PerturbationSpec> perturbations;
  std::vector<std::vector<StageCells>> perturbed;  // [perturbation][time point]; [p][0] left empty
};

struct BenchmarkLoadOptions {
  std::string time_key;
  std::vector<std::string> time_order;
  std::string group_key;           // optional
  std::vector<std::string> genes;  // restrict to these var names (empty: all of the control's)
};

// Reads the control and every perturbation file. Each must have the control's
// genes (same names; order may differ), the time column, and the group column
// if one is given; every time point needs cells in the control and every later
// one in each perturbation file. Violations: pg::Error naming file and element.
BenchmarkInput load_benchmark_input(const std::string& control_file, const std::string& perturbed_dir,
                                    const BenchmarkLoadOptions& opt);

// One method's prediction for one perturbation at one later time point.
struct PredictedEffect {
  Matrix control, perturbed;  // normalised counts over BenchmarkInput::genes
};
// [perturbation][later time point - 1]
using MethodPrediction = std::vector<std::vector<PredictedEffect>>;

struct BaselineOptions {
  double shift = 0.25;  // kd / oe rank shift (perturb --shift)
  uint64_t seed = 0;
};

// (source cell, target cell) index pairs per later time point, indices into
// BenchmarkInput::control[0] and control[t]: the pairing the linear model learns.
using StagePairs = std::vector<std::vector<std::pair<int64_t, int64_t>>>;

std::map<std::string, MethodPrediction> baseline_predictions(const BenchmarkInput& in,
                                                             const StagePairs& pairs,
                                                             const BaselineOptions& opt,
                                                             nlohmann::json& notes);

struct BenchmarkRow {
  std::string method, perturbation, time_point, metric;
  double value = 0;
};

struct BenchmarkResult {
  std::vector<BenchmarkRow> rows;
  nlohmann::json summary;  // {method: {mean_pearson_lfc, negative_control_auroc}}
  nlohmann::json truth;    // per perturbation: effect ratios per time point, has_true_effect
};

BenchmarkResult score_benchmark(const BenchmarkInput& in,
                                const std::map<std::string, MethodPrediction>& methods, uint64_t seed = 0);

// The table as TSV (method, perturbation, time_point, metric, value).
std::string benchmark_tsv(const std::vector<BenchmarkRow>& rows);

}  // namespace pg::analysis
