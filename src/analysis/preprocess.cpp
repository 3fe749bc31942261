#include "analysis/preprocess.h"

#include <algorithm>
#include <stdexcept>

#include "analysis/normalise.h"
#include "analysis/pca.h"

namespace pg::analysis {

namespace {

// Centred principal-component scores; `standardise` scales each component to
// unit sd (the reference's scale_pca).
Matrix pc_scores(const Matrix& x, int64_t k, uint64_t seed, bool standardise) {
  const Pca pca = fit_pca(x, k, seed);
  Matrix scores = project(pca, x);
  if (!standardise) return scores;
  RowVector mean, sd;
  column_mean_sd(scores, mean, sd);
  standardise_columns(scores, mean, sd);
  return scores;
}

}  // namespace

int64_t pca_components(const PreprocessOptions& opt, int64_t n_pred, int64_t n_true, int64_t n_genes) {
  int64_t k = opt.n_components > 0 ? opt.n_components : (opt.reference_metrics ? 5 : 50);
  if (opt.reference_metrics) {
    k = std::min({k, n_pred - 1, n_true - 1, n_genes});
  } else {
    k = std::min({k, n_pred + n_true - 1, n_genes});
  }
  return std::max<int64_t>(k, 0);
}

PcaCoordinates pca_coordinates(const Matrix& pred_log, const Matrix& true_log, const PreprocessOptions& opt) {
  if (pred_log.cols() != true_log.cols())
    throw std::invalid_argument("pg::analysis::pca_coordinates: gene counts differ");
  PcaCoordinates out;
  out.n_components = pca_components(opt, pred_log.rows(), true_log.rows(), pred_log.cols());
  if (out.n_components == 0) return out;
  if (opt.reference_metrics) {
    out.pred = pc_scores(pred_log, out.n_components, opt.seed, true);
    out.truth = pc_scores(true_log, out.n_components, opt.seed, true);
    return out;
  }
  const Matrix both = stack_rows(pred_log, true_log);
  // Not whitened: each component keeps its variance, so distances are those
  // of the cells in the top principal subspace. Scaling every component to
  // unit sd would give the noise components as much weight as the signal
  // ones; with nearly as many components as cells, all pairwise distances
  // then become alike and the metrics stop telling predictions apart.
  const Matrix scores = pc_scores(both, out.n_components, opt.seed, false);
  out.pred = scores.topRows(pred_log.rows());
  out.truth = scores.bottomRows(true_log.rows());
  return out;
}

PcaCoordinates preprocess(const Matrix& pred_counts, const Matrix& true_counts,
                          const PreprocessOptions& opt) {
  return pca_coordinates(log_normalise(pred_counts), log_normalise(true_counts), opt);
}

}  // namespace pg::analysis
