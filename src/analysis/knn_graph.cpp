#include "analysis/knn_graph.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/error.h"

namespace pg::analysis {

namespace {

// umap/umap_.py constants.
constexpr double kSmoothKTolerance = 1e-5;
constexpr double kMinKDistScale = 1e-3;
constexpr int kBinarySearchSteps = 64;

void check_finite(const Matrix& x) {
  for (Eigen::Index c = 0; c < x.cols(); ++c)
    for (Eigen::Index r = 0; r < x.rows(); ++r)
      if (!std::isfinite(x(r, c)))
        throw Error("", "row " + std::to_string(r), "value " + std::to_string(c) + " is not finite");
}

double exact_distance(const Matrix& x, int64_t i, int64_t j) {
  return (x.row(static_cast<Eigen::Index>(i)) - x.row(static_cast<Eigen::Index>(j))).norm();
}

// smooth_knn_dist for one row (local_connectivity 1, bandwidth 1): rho and sigma.
std::pair<float, float> smooth_row(const float* d, int64_t k, double target, double mean_all) {
  float rho = 0;
  for (int64_t j = 0; j < k; ++j)
    if (d[j] > 0.0f) {
      rho = d[j];  // the first positive distance: rows are sorted ascending
      break;
    }
  double lo = 0.0, hi = static_cast<double>(FLT_MAX), mid = 1.0;
  for (int step = 0; step < kBinarySearchSteps; ++step) {
    double psum = 0.0;
    for (int64_t j = 1; j < k; ++j) {
      const float diff = d[j] - rho;
      psum += diff > 0.0f ? std::exp(-(static_cast<double>(diff) / mid)) : 1.0;
    }
    if (std::fabs(psum - target) < kSmoothKTolerance) break;
    if (psum > target) {
      hi = mid;
      mid = (lo + hi) / 2.0;
    } else {
      lo = mid;
      mid = hi >= static_cast<double>(FLT_MAX) ? mid * 2 : (lo + hi) / 2.0;
    }
  }
  float sigma = static_cast<float>(mid);
  double mean = mean_all;
  if (rho > 0.0f) {
    mean = 0;
    for (int64_t j = 0; j < k; ++j) mean += d[j];
    mean /= static_cast<double>(k);
  }
  if (static_cast<double>(sigma) < kMinKDistScale * mean) sigma = static_cast<float>(kMinKDistScale * mean);
  return {rho, sigma};
}

}  // namespace

int64_t effective_neighbours(int64_t n_neighbors, int64_t n_rows) {
  if (n_neighbors < 1) throw std::invalid_argument("effective_neighbours: n_neighbors must be >= 1");
  return n_neighbors > n_rows ? 1 + n_rows / 2 : n_neighbors;
}

Neighbours exact_neighbours(const Matrix& x, int64_t n_neighbors) {
  const int64_t n = x.rows();
  Neighbours out;
  out.n_rows = n;
  out.k = std::min(effective_neighbours(n_neighbors, n), n);
  if (n == 0) return out;
  check_finite(x);
  const auto k = out.k;
  out.indices.resize(static_cast<size_t>(n * k));
  out.distances.resize(static_cast<size_t>(n * k));

  // Squared distances from the Gram matrix, a block of rows at a time, pick
  // the candidates, then measure those exactly for the distances and order.
  const Vector norms = x.rowwise().squaredNorm();
  const int64_t block = std::clamp<int64_t>((int64_t{1} << 24) / std::max<int64_t>(n, 1), 1, 256);
  std::vector<std::pair<double, int64_t>> cand(static_cast<size_t>(n));
  for (int64_t b0 = 0; b0 < n; b0 += block) {
    const int64_t nb = std::min(block, n - b0);
    const Matrix gram = x.middleRows(b0, nb) * x.transpose();
    for (int64_t r = 0; r < nb; ++r) {
      const int64_t i = b0 + r;
      size_t m = 0;
      for (int64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        const double d2 = norms(i) + norms(j) - 2 * gram(r, j);
        cand[m++] = {std::max(d2, 0.0), j};
      }
      const auto others = static_cast<size_t>(k - 1);
      std::nth_element(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(others),
                       cand.begin() + static_cast<std::ptrdiff_t>(m));
      std::sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(others));
      for (size_t c = 0; c < others; ++c) cand[c].first = exact_distance(x, i, cand[c].second);
      std::sort(cand.begin(), cand.begin() + static_cast<std::ptrdiff_t>(others));
      out.indices[static_cast<size_t>(i * k)] = i;
      out.distances[static_cast<size_t>(i * k)] = 0;
      for (size_t c = 0; c < others; ++c) {
        out.indices[static_cast<size_t>(i * k) + 1 + c] = cand[c].second;
        out.distances[static_cast<size_t>(i * k) + 1 + c] = cand[c].first;
      }
    }
  }
  return out;
}

WeightedGraph umap_connectivities(const Neighbours& nn) {
  const int64_t n = nn.n_rows, k = nn.k;
  WeightedGraph g;
  g.n_vertices = n;
  if (n == 0 || k == 0) return g;
  // umap casts the distances to float32 first.
  std::vector<float> d(nn.distances.size());
  double mean_all = 0;
  for (size_t t = 0; t < d.size(); ++t) {
    d[t] = static_cast<float>(nn.distances[t]);
    mean_all += d[t];
  }
  mean_all /= static_cast<double>(d.size());
  const double target = std::log2(static_cast<double>(k));

  // Directed memberships p_ij as (i, j, p), sorted by (i, j).
  struct Entry {
    int64_t i, j;
    float p;
  };
  std::vector<Entry> p;
  p.reserve(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = d.data() + i * k;
    const auto [rho, sigma] = smooth_row(row, k, target, mean_all);
    for (int64_t j = 0; j < k; ++j) {
      const int64_t to = nn.index(i, j);
      if (to == i) continue;
      float val = 1.0f;
      const float diff = row[j] - rho;
      if (!(diff <= 0.0f || sigma == 0.0f)) val = std::exp(-(diff / sigma));
      if (val != 0.0f) p.push_back({i, to, val});
    }
  }
  const auto before = [](const Entry& x, const Entry& y) {
    return std::pair(x.i, x.j) < std::pair(y.i, y.j);
  };
  std::sort(p.begin(), p.end(), before);
  // Fuzzy union: w = a + b - a b (float32, as scipy's float32 sparse sums).
  for (const Entry& e : p) {
    const Entry key{e.j, e.i, 0.0f};
    const auto back = std::lower_bound(p.begin(), p.end(), key, before);
    const bool mutual = back != p.end() && back->i == e.j && back->j == e.i;
    if (mutual && e.j < e.i) continue;  // counted from the (j, i) side
    const float b = mutual ? back->p : 0.0f;
    const float sum = e.p + b;
    const float prod = e.p * b;
    const float w = sum - prod;
    if (w != 0.0f) g.edges.push_back({std::min(e.i, e.j), std::max(e.i, e.j), static_cast<double>(w)});
  }
  std::sort(g.edges.begin(), g.edges.end(), [](const WeightedEdge& x, const WeightedEdge& y) {
    return std::pair(x.a, x.b) < std::pair(y.a, y.b);
  });
  return g;
}

}  // namespace pg::analysis
