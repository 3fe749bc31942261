#include "analysis/baselines.h"

#include <algorithm>
#include <stdexcept>

#include "analysis/preprocess.h"
#include "analysis/sampling.h"
#include "core/random.h"

namespace pg::analysis {

namespace {

void check_pool(const Matrix& pool, const char* what) {
  if (pool.rows() == 0) throw std::invalid_argument(std::string("pg::analysis::") + what + ": empty pool");
}

}  // namespace

Matrix copy_source(const Matrix& source_log, std::span<const int64_t> rows) {
  return select_rows(source_log, rows);
}

Matrix mean_profile(const Matrix& pool_log, int64_t n) {
  check_pool(pool_log, "mean_profile");
  const RowVector mean = column_means(pool_log).transpose();
  return mean.replicate(std::max<int64_t>(n, 0), 1);
}

Matrix resample(const Matrix& pool_log, int64_t n, uint64_t seed) {
  check_pool(pool_log, "resample");
  return select_rows(pool_log, balanced_draws(pool_log.rows(), n, seed));
}

Matrix linear_interpolation(const Matrix& a_log, const Matrix& b_log, double lambda, int64_t n,
                            uint64_t seed) {
  check_pool(a_log, "linear_interpolation");
  check_pool(b_log, "linear_interpolation");
  const Indices a = balanced_draws(a_log.rows(), n, derive_seed(seed, "A"));
  const Indices b = balanced_draws(b_log.rows(), n, derive_seed(seed, "B"));
  return (1 - lambda) * select_rows(a_log, a) + lambda * select_rows(b_log, b);
}

Coupling interpolation_plan(const Matrix& a_log, const Matrix& b_log, uint64_t seed,
                            const OtInterpolationOptions& opt) {
  check_pool(a_log, "interpolation_plan");
  check_pool(b_log, "interpolation_plan");
  PreprocessOptions po;
  po.n_components = opt.n_components;
  po.seed = seed;
  const PcaCoordinates pc = pca_coordinates(a_log, b_log, po);
  if (pc.n_components == 0) {  // one cell each: the only plan
    return Coupling{{0}, {0}, {1.0}};
  }
  return exact_transport(ground_cost(pc.pred, pc.truth, 2)).coupling;
}

Matrix ot_interpolation(const Matrix& a_full, const Matrix& b_full, double lambda, int64_t n, uint64_t seed,
                        const OtInterpolationOptions& opt) {
  check_pool(a_full, "ot_interpolation");
  check_pool(b_full, "ot_interpolation");
  const Matrix a_log =
      select_rows(a_full, subsample(a_full.rows(), opt.max_cells, derive_seed(seed, "subsample A")));
  const Matrix b_log =
      select_rows(b_full, subsample(b_full.rows(), opt.max_cells, derive_seed(seed, "subsample B")));
  const Coupling plan = interpolation_plan(a_log, b_log, seed, opt);
  // Each source row's entries, for drawing a partner proportionally to mass.
  std::vector<std::vector<size_t>> by_source(static_cast<size_t>(a_log.rows()));
  for (size_t k = 0; k < plan.mass.size(); ++k) by_source[static_cast<size_t>(plan.source[k])].push_back(k);
  const Indices a = balanced_draws(a_log.rows(), n, derive_seed(seed, "A"));
  Rng rng(derive_seed(seed, "partners"));
  Matrix out(static_cast<Eigen::Index>(a.size()), a_log.cols());
  for (size_t i = 0; i < a.size(); ++i) {
    const auto& entries = by_source[static_cast<size_t>(a[i])];
    double row_mass = 0;
    for (const size_t k : entries) row_mass += plan.mass[k];
    double u = rng.uniform() * row_mass;
    size_t pick = entries.back();
    for (const size_t k : entries) {
      if (u < plan.mass[k]) {
        pick = k;
        break;
      }
      u -= plan.mass[k];
    }
    out.row(static_cast<Eigen::Index>(i)) =
        (1 - lambda) * a_log.row(a[i]) + lambda * b_log.row(plan.target[pick]);
  }
  return out;
}

}  // namespace pg::analysis
