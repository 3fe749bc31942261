#include "analysis/perturbation_scores.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

#include "analysis/distribution_metrics.h"
#include "analysis/pca.h"
#include "core/random.h"

namespace pg::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

Matrix log1p_of(const Matrix& m) {
  return m.array().max(0.0).log1p().matrix();
}

// A PCA of log1p(fit_norm), capped by the data's size.
Pca fit_log_pca(const Matrix& fit_norm, int64_t n_components, uint64_t seed) {
  const int64_t k = std::min<int64_t>(n_components, std::min<int64_t>(fit_norm.rows() - 1, fit_norm.cols()));
  if (k < 1) throw std::invalid_argument("fit_log_pca: too few cells");
  return fit_pca(log1p_of(fit_norm), k, seed);
}

}  // namespace

Vector pseudobulk_lfc(const Matrix& pert_norm, const Matrix& ctrl_norm) {
  if (pert_norm.cols() != ctrl_norm.cols()) throw std::invalid_argument("pseudobulk_lfc: gene counts differ");
  const Vector p = column_means(pert_norm), c = column_means(ctrl_norm);
  return ((p.array() + 1.0) / (c.array() + 1.0)).log().matrix() / std::log(2.0);
}

double pearson_excluding(const Vector& a, const Vector& b, int64_t excluded) {
  double n = 0, sa = 0, sb = 0;
  for (Eigen::Index i = 0; i < a.size(); ++i)
    if (i != excluded) n += 1, sa += a[i], sb += b[i];
  if (n < 2) return kNaN;
  const double ma = sa / n, mb = sb / n;
  double saa = 0, sbb = 0, sab = 0;
  for (Eigen::Index i = 0; i < a.size(); ++i) {
    if (i == excluded) continue;
    const double da = a[i] - ma, db = b[i] - mb;
    saa += da * da, sbb += db * db, sab += da * db;
  }
  // Relative tolerance: a vector of rounding noise around a constant is constant.
  if (saa <= 1e-24 * n || sbb <= 1e-24 * n) return 0.0;
  return sab / std::sqrt(saa * sbb);
}

double direction_accuracy(const Vector& pred, const Vector& truth, int64_t excluded, int64_t top) {
  std::vector<Eigen::Index> order;
  for (Eigen::Index i = 0; i < truth.size(); ++i)
    if (i != excluded) order.push_back(i);
  const auto k = std::min<size_t>(static_cast<size_t>(top), order.size());
  if (k == 0) return kNaN;
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](Eigen::Index x, Eigen::Index y) {
                      const double ax = std::abs(truth[x]), ay = std::abs(truth[y]);
                      return ax != ay ? ax > ay : x < y;
                    });
  double right = 0;
  for (size_t i = 0; i < k; ++i) {
    const double p = pred[order[i]], t = truth[order[i]];
    right += (p > 0 && t > 0) || (p < 0 && t < 0);
  }
  return right / static_cast<double>(k);
}

double norm_excluding(const Vector& v, int64_t excluded) {
  double s = 0;
  for (Eigen::Index i = 0; i < v.size(); ++i)
    if (i != excluded) s += v[i] * v[i];
  return std::sqrt(s);
}

double auroc(const std::vector<double>& pos, const std::vector<double>& neg) {
  if (pos.empty() || neg.empty()) return kNaN;
  double wins = 0;
  for (double p : pos)
    for (double q : neg) wins += p > q ? 1.0 : (p == q ? 0.5 : 0.0);
  return wins / (static_cast<double>(pos.size()) * static_cast<double>(neg.size()));
}

double e_distance_ratio(const Matrix& pred_pert, const Matrix& true_pert, const Matrix& true_ctrl,
                        int64_t n_components, uint64_t seed) {
  if (pred_pert.rows() == 0 || true_pert.rows() < 2 || true_ctrl.rows() < 2) return kNaN;
  const Pca pca = fit_log_pca(stack_rows(true_ctrl, true_pert), n_components, seed);
  const Matrix t = project(pca, log1p_of(true_pert));
  const double base = e_distance(project(pca, log1p_of(true_ctrl)), t);
  if (!(base > 0)) return kNaN;
  return e_distance(project(pca, log1p_of(pred_pert)), t) / base;
}

struct GroupClassifier::Impl {
  Pca pca;
  Matrix coords;
  std::vector<int32_t> labels;
  int64_t k = 15;
};

GroupClassifier::GroupClassifier(const Matrix& cells_norm, const std::vector<int32_t>& labels,
                                 int32_t n_groups, int64_t k, int64_t n_components, uint64_t seed)
    : n_groups_(n_groups) {
  if (static_cast<size_t>(cells_norm.rows()) != labels.size() || labels.empty())
    throw std::invalid_argument("GroupClassifier: one label per cell needed");
  auto impl = std::make_shared<Impl>();
  impl->pca = fit_log_pca(cells_norm, n_components, seed);
  impl->coords = project(impl->pca, log1p_of(cells_norm));
  impl->labels = labels;
  impl->k = std::max<int64_t>(1, std::min<int64_t>(k, cells_norm.rows()));
  impl_ = std::move(impl);
}

std::vector<int32_t> GroupClassifier::classify(const Matrix& cells_norm) const {
  const Impl& m = *impl_;
  const Matrix q = project(m.pca, log1p_of(cells_norm));
  const auto n = m.coords.rows();
  std::vector<int32_t> out(static_cast<size_t>(q.rows()));
  std::vector<std::pair<double, int64_t>> d(static_cast<size_t>(n));
  std::vector<int64_t> votes(static_cast<size_t>(n_groups_));
  for (Eigen::Index i = 0; i < q.rows(); ++i) {
    for (Eigen::Index j = 0; j < n; ++j)
      d[static_cast<size_t>(j)] = {(m.coords.row(j) - q.row(i)).squaredNorm(), j};
    std::partial_sort(d.begin(), d.begin() + m.k, d.end());
    std::fill(votes.begin(), votes.end(), 0);
    for (int64_t j = 0; j < m.k; ++j)
      ++votes[static_cast<size_t>(m.labels[static_cast<size_t>(d[j].second)])];
    // Ties go to the lower group code (deterministic).
    out[static_cast<size_t>(i)] =
        static_cast<int32_t>(std::max_element(votes.begin(), votes.end()) - votes.begin());
  }
  return out;
}

std::vector<double> GroupClassifier::fractions(const Matrix& cells_norm) const {
  std::vector<double> f(static_cast<size_t>(n_groups_), 0.0);
  if (cells_norm.rows() == 0) return f;
  for (int32_t g : classify(cells_norm)) f[static_cast<size_t>(g)] += 1.0;
  for (double& x : f) x /= static_cast<double>(cells_norm.rows());
  return f;
}

double total_variation(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += std::abs(a[i] - b[i]);
  return s / 2;
}

double lfc_null_norm(const Matrix& ctrl_norm, double quantile, int draws, uint64_t seed) {
  const auto n = ctrl_norm.rows();
  if (n < 4) return kNaN;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  std::vector<double> norms;
  for (int d = 0; d < draws; ++d) {
    rng.shuffle(std::span<int64_t>(order));
    const auto half = static_cast<size_t>(n / 2);
    const Indices a(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(half));
    const Indices b(order.begin() + static_cast<std::ptrdiff_t>(half), order.end());
    norms.push_back(pseudobulk_lfc(select_rows(ctrl_norm, a), select_rows(ctrl_norm, b)).norm() /
                    std::sqrt(2.0));
  }
  std::sort(norms.begin(), norms.end());
  const auto at = static_cast<size_t>(std::ceil(quantile * static_cast<double>(norms.size()))) - 1;
  return norms[std::min(at, norms.size() - 1)];
}

}  // namespace pg::analysis
