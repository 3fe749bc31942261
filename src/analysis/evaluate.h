// One comparison of a predicted population with the true one at a time
// point: every metric as a tidy row (method, time_point, group, metric,
// value, n_pred, n_true), for all cells and, when groups are given, for each
// group present on both sides.
//
// Metric names (the TSV's `metric` column):
//   PCA space (preprocess.h: joint PCA by default)
//     e_distance_pca, mmd_rbf_pca, w1_pca, w2_pca, linear_mmd_pca, poly_mmd_pca,
//     ot_exact (1: w1/w2 exact; 0: Sinkhorn, populations above the threshold),
//     n_pcs (number of components used)
//   gene space (log-normalised)
//     emd_genes (spec `emd`), pearson_delta, mse_top20_de, pearson_top20_de,
//     direction_acc_top20_de, means_slope, means_intercept, means_r2 (the
//     reference's misnamed `pearson_r`), means_rmse,
//     mmd_rbf_genes (only with reference_metrics: the reference's `mmd`)
//   gene rankings (model rows with paired targets; rouge_rows)
//     rouge1_25, rouge1_100, rouge1_all
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/matrix.h"
#include "analysis/preprocess.h"
#include "analysis/transport.h"

namespace pg::analysis {

struct MetricRow {
  std::string method;
  std::string time_point;
  std::string group;  // "all" or a group value
  std::string metric;
  double value = 0;
  int64_t n_pred = 0;
  int64_t n_true = 0;
};

struct MetricOptions {
  PreprocessOptions preprocess;  // reference_metrics also adds mmd_rbf_genes
  WassersteinOptions transport;
  int64_t n_de_genes = 20;
};

// Log-normalised cells and, optionally, one group label per cell.
struct Population {
  Matrix log;
  std::vector<std::string> groups;  // empty, or one per row
};

struct MetricValue {
  std::string metric;
  double value = 0;
};

// Every metric of one (pred, true, control) triple, in the order listed above.
// Each population needs at least one cell.
std::vector<MetricValue> population_metrics(const Matrix& pred_log, const Matrix& true_log,
                                            const Matrix& ctrl_log, const MetricOptions& opt);

// Rows for group "all" and, when both pred and truth carry groups, for every
// group with cells on both sides (in sorted order). The control of a group
// is the control cells of that group, or all control cells when it has none.
std::vector<MetricRow> evaluate(const std::string& method, const std::string& time_point,
                                const Population& pred, const Population& truth, const Population& control,
                                const MetricOptions& opt);

// The group labels' distinct values, sorted.
std::vector<std::string> distinct_groups(const std::vector<std::string>& groups);

// Rows of `groups` equal to `group`.
Indices rows_of_group(const std::vector<std::string>& groups, const std::string& group);

}  // namespace pg::analysis
