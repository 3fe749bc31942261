// Gene-level metrics on log-normalised expression (gene space): how well the
// predicted population reproduces each gene's distribution and the mean
// response to the perturbation/time step relative to the control (source)
// population (formats_metrics_users.md B.1, spec §8.1).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "analysis/matrix.h"

namespace pg::analysis {

// scipy.stats.wasserstein_distance(u, v): ∫|F_u − F_v| between the empirical
// distributions of two samples of any sizes (each non-empty).
double wasserstein_1d(std::span<const double> u, std::span<const double> v);

// Pearson correlation; NaN when either side is constant (scipy warns and
// returns NaN there too) or shorter than 2.
double pearson(const Vector& a, const Vector& b);

// scipy.stats.linregress(x, y): y ≈ slope·x + intercept; r2 = r_value².
struct LinearFit {
  double slope = 0;
  double intercept = 0;
  double r2 = 0;
};
LinearFit linear_regression(const Vector& x, const Vector& y);

// The `k` genes with the largest |mean_true − mean_ctrl|, ties to the lower
// gene index. A deliberately simple DE ranking (absolute log-fold change of
// the means), not scanpy's rank_genes_groups t-test: it needs no variance
// model, is deterministic, and with thousands of cells per population the
// top of both rankings is dominated by the same large mean shifts.
std::vector<int64_t> top_changed_genes(const Vector& mean_true, const Vector& mean_ctrl, int64_t k);

struct GeneMetrics {
  double emd = 0;               // mean over genes of wasserstein_1d(true, pred) (spec `emd`)
  double pearson_delta = 0;     // pearson(mean_pred − mean_ctrl, mean_true − mean_ctrl), all genes
  double mse_top_de = 0;        // mean (mean_pred − mean_true)² over the top DE genes
  double pearson_top_de = 0;    // pearson(mean_pred, mean_true) over the top DE genes
  double direction_top_de = 0;  // fraction with sign(pred − ctrl) == sign(true − ctrl)
  LinearFit means;              // linregress(x = mean_true, y = mean_pred), all genes
  double rmse = 0;              // sqrt(mean (mean_true − mean_pred)²), all genes
  std::vector<int64_t> de_genes;
};

// Populations as log-normalised cells x genes (same genes); `n_de` top genes.
GeneMetrics gene_metrics(const Matrix& pred_log, const Matrix& true_log, const Matrix& ctrl_log,
                         int64_t n_de = 20);

}  // namespace pg::analysis
