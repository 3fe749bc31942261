#include "analysis/gene_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace pg::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

int sign(double v) {
  return (v > 0) - (v < 0);
}

}  // namespace

double wasserstein_1d(std::span<const double> u_in, std::span<const double> v_in) {
  if (u_in.empty() || v_in.empty()) throw std::invalid_argument("pg::analysis::wasserstein_1d: empty sample");
  std::vector<double> u(u_in.begin(), u_in.end()), v(v_in.begin(), v_in.end());
  std::sort(u.begin(), u.end());
  std::sort(v.begin(), v.end());
  const auto nu = static_cast<double>(u.size()), nv = static_cast<double>(v.size());
  // Walk the merged sorted values; between consecutive values x_k < x_{k+1}
  // both CDFs are constant: F(x_k) = #{values <= x_k} / size.
  size_t iu = 0, iv = 0;
  double total = 0;
  double prev = std::min(u[0], v[0]);
  while (iu < u.size() || iv < v.size()) {
    const double x = iv == v.size() || (iu < u.size() && u[iu] <= v[iv]) ? u[iu] : v[iv];
    total += std::abs(static_cast<double>(iu) / nu - static_cast<double>(iv) / nv) * (x - prev);
    while (iu < u.size() && u[iu] == x) ++iu;
    while (iv < v.size() && v[iv] == x) ++iv;
    prev = x;
  }
  return total;
}

double pearson(const Vector& a, const Vector& b) {
  if (a.size() != b.size()) throw std::invalid_argument("pg::analysis::pearson: lengths differ");
  if (a.size() < 2) return kNaN;
  const Vector da = a.array() - a.mean(), db = b.array() - b.mean();
  const double saa = da.squaredNorm(), sbb = db.squaredNorm();
  if (saa == 0 || sbb == 0) return kNaN;
  return std::clamp(da.dot(db) / std::sqrt(saa * sbb), -1.0, 1.0);
}

LinearFit linear_regression(const Vector& x, const Vector& y) {
  if (x.size() != y.size()) throw std::invalid_argument("pg::analysis::linear_regression: lengths differ");
  LinearFit fit;
  const Vector dx = x.array() - x.mean(), dy = y.array() - y.mean();
  const double sxx = dx.squaredNorm();
  if (x.size() < 2 || sxx == 0) return {kNaN, kNaN, kNaN};
  fit.slope = dx.dot(dy) / sxx;
  fit.intercept = y.mean() - fit.slope * x.mean();
  const double r = pearson(x, y);
  fit.r2 = std::isnan(r) ? 0.0 : r * r;  // constant y: linregress gives r = 0
  return fit;
}

std::vector<int64_t> top_changed_genes(const Vector& mean_true, const Vector& mean_ctrl, int64_t k) {
  std::vector<int64_t> order(static_cast<size_t>(mean_true.size()));
  std::iota(order.begin(), order.end(), int64_t{0});
  const Vector change = (mean_true - mean_ctrl).cwiseAbs();
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return change(a) > change(b); });
  order.resize(static_cast<size_t>(std::clamp<int64_t>(k, 0, mean_true.size())));
  return order;
}

GeneMetrics gene_metrics(const Matrix& pred_log, const Matrix& true_log, const Matrix& ctrl_log,
                         int64_t n_de) {
  if (pred_log.cols() != true_log.cols() || ctrl_log.cols() != true_log.cols())
    throw std::invalid_argument("pg::analysis::gene_metrics: gene counts differ");
  if (pred_log.rows() == 0 || true_log.rows() == 0 || ctrl_log.rows() == 0)
    throw std::invalid_argument("pg::analysis::gene_metrics: empty population");
  GeneMetrics out;
  const Eigen::Index n_genes = true_log.cols();
  double emd = 0;
  for (Eigen::Index g = 0; g < n_genes; ++g) {
    emd += wasserstein_1d({true_log.col(g).data(), static_cast<size_t>(true_log.rows())},
                          {pred_log.col(g).data(), static_cast<size_t>(pred_log.rows())});
  }
  out.emd = n_genes > 0 ? emd / static_cast<double>(n_genes) : kNaN;

  const Vector mp = column_means(pred_log), mt = column_means(true_log), mc = column_means(ctrl_log);
  out.pearson_delta = pearson(mp - mc, mt - mc);
  out.means = linear_regression(mt, mp);
  out.rmse = n_genes > 0 ? std::sqrt((mt - mp).squaredNorm() / static_cast<double>(n_genes)) : kNaN;

  out.de_genes = top_changed_genes(mt, mc, n_de);
  const auto k = static_cast<Eigen::Index>(out.de_genes.size());
  Vector p(k), t(k);
  double mse = 0, agree = 0;
  for (Eigen::Index i = 0; i < k; ++i) {
    const int64_t g = out.de_genes[static_cast<size_t>(i)];
    p(i) = mp(g);
    t(i) = mt(g);
    mse += (mp(g) - mt(g)) * (mp(g) - mt(g));
    agree += sign(mp(g) - mc(g)) == sign(mt(g) - mc(g)) ? 1.0 : 0.0;
  }
  out.mse_top_de = k > 0 ? mse / static_cast<double>(k) : kNaN;
  out.direction_top_de = k > 0 ? agree / static_cast<double>(k) : kNaN;
  out.pearson_top_de = pearson(p, t);
  return out;
}

}  // namespace pg::analysis
