#include "analysis/transport.h"

#include <lemon/network_simplex.h>
#include <lemon/smart_graph.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "analysis/sampling.h"
#include "analysis/sinkhorn.h"

namespace pg::analysis {

namespace {

// Integer costs span [0, kCostScale]; with at most 2^31 units of flow and
// ~10^4 nodes, tree potentials stay far below LEMON's artificial cost
// (max int64 / 2), so nothing overflows.
constexpr double kCostScale = 1e12;

Matrix squared_distances(const Matrix& x, const Matrix& y) {
  Matrix d = -2.0 * x * y.transpose();
  d.colwise() += x.rowwise().squaredNorm();
  d.rowwise() += y.rowwise().squaredNorm().transpose();
  return d.cwiseMax(0.0);
}

// The ground cost in float, a block of rows at a time, so the only large
// allocation is the result (the Sinkhorn path: up to 10,000 x 10,000).
Eigen::MatrixXf ground_cost_float(const Matrix& x, const Matrix& y, int power) {
  Eigen::MatrixXf out(x.rows(), y.rows());
  constexpr Eigen::Index kRows = 512;
  for (Eigen::Index i0 = 0; i0 < x.rows(); i0 += kRows) {
    const Eigen::Index b = std::min(kRows, x.rows() - i0);
    Matrix d = squared_distances(x.middleRows(i0, b), y);
    if (power == 1) d = d.cwiseSqrt();
    out.middleRows(i0, b) = d.cast<float>();
  }
  return out;
}

}  // namespace

Matrix ground_cost(const Matrix& x, const Matrix& y, int power) {
  if (x.cols() != y.cols()) throw std::invalid_argument("pg::analysis::ground_cost: dimensions differ");
  if (power != 1 && power != 2)
    throw std::invalid_argument("pg::analysis::ground_cost: power must be 1 or 2");
  Matrix d = squared_distances(x, y);
  if (power == 1) d = d.cwiseSqrt();
  return d;
}

ExactTransport exact_transport(const Matrix& cost) {
  const int64_t n = cost.rows(), m = cost.cols();
  if (n < 1 || m < 1) throw std::invalid_argument("pg::analysis::exact_transport: empty population");
  const int64_t g = std::gcd(n, m);
  const int64_t per_source = m / g, per_sink = n / g, total = n * per_source;
  if (total > std::numeric_limits<int32_t>::max() || n * m > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("pg::analysis::exact_transport: " + std::to_string(n) + " x " +
                                std::to_string(m) + " cells is too large for exact transport");
  if (!cost.allFinite() || cost.minCoeff() < 0)
    throw std::invalid_argument("pg::analysis::exact_transport: costs must be finite and non-negative");
  const double max_cost = cost.maxCoeff();
  const double scale = max_cost > 0 ? kCostScale / max_cost : 0.0;

  using Graph = lemon::SmartDigraph;
  Graph graph;
  graph.reserveNode(static_cast<int>(n + m));
  graph.reserveArc(static_cast<int>(n * m));
  std::vector<Graph::Node> nodes;
  nodes.reserve(static_cast<size_t>(n + m));
  for (int64_t i = 0; i < n + m; ++i) nodes.push_back(graph.addNode());
  Graph::ArcMap<int64_t> arc_cost(graph);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < m; ++j) {
      const Graph::Arc a = graph.addArc(nodes[static_cast<size_t>(i)], nodes[static_cast<size_t>(n + j)]);
      arc_cost[a] = std::llround(cost(i, j) * scale);
    }
  }
  Graph::NodeMap<int32_t> supply(graph);
  for (int64_t i = 0; i < n; ++i) supply[nodes[static_cast<size_t>(i)]] = static_cast<int32_t>(per_source);
  for (int64_t j = 0; j < m; ++j) supply[nodes[static_cast<size_t>(n + j)]] = -static_cast<int32_t>(per_sink);

  lemon::NetworkSimplex<Graph, int32_t, int64_t> simplex(graph);
  simplex.costMap(arc_cost).supplyMap(supply);
  const auto status = simplex.run();
  if (status != lemon::NetworkSimplex<Graph, int32_t, int64_t>::OPTIMAL)
    throw std::runtime_error("pg::analysis::exact_transport: network simplex did not find an optimum");

  ExactTransport out;
  const double unit = 1.0 / static_cast<double>(total);
  // Arcs were added source-major, so arc id = i * m + j.
  for (Graph::ArcIt a(graph); a != lemon::INVALID; ++a) {
    const int32_t f = simplex.flow(a);
    if (f == 0) continue;
    const int64_t id = graph.id(a);
    const int64_t i = id / m, j = id % m;
    const double mass = f * unit;
    out.coupling.source.push_back(i);
    out.coupling.target.push_back(j);
    out.coupling.mass.push_back(mass);
    out.cost += mass * cost(i, j);
  }
  // ArcIt walks arcs from the last added; keep the plan in (source, target) order.
  std::vector<size_t> order(out.coupling.mass.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return std::pair(out.coupling.source[a], out.coupling.target[a]) <
           std::pair(out.coupling.source[b], out.coupling.target[b]);
  });
  Coupling sorted;
  for (const size_t k : order) {
    sorted.source.push_back(out.coupling.source[k]);
    sorted.target.push_back(out.coupling.target[k]);
    sorted.mass.push_back(out.coupling.mass[k]);
  }
  out.coupling = std::move(sorted);
  return out;
}

Wasserstein wasserstein(const Matrix& x, const Matrix& y, const WassersteinOptions& opt) {
  if (x.rows() < 1 || y.rows() < 1)
    throw std::invalid_argument("pg::analysis::wasserstein: empty population");
  if (std::max(x.rows(), y.rows()) > opt.max_cells && opt.max_cells > 0) {
    WassersteinOptions rest = opt;
    rest.max_cells = 0;
    return wasserstein(select_rows(x, subsample(x.rows(), opt.max_cells, derive_seed(opt.seed, "w/x"))),
                       select_rows(y, subsample(y.rows(), opt.max_cells, derive_seed(opt.seed, "w/y"))),
                       rest);
  }
  Wasserstein out;
  out.exact = std::max(x.rows(), y.rows()) <= opt.exact_max_cells;
  if (out.exact) {
    const Matrix sq = ground_cost(x, y, 2);
    out.w1 = exact_transport(sq.cwiseSqrt()).cost;
    out.w2 = std::sqrt(exact_transport(sq).cost);
    return out;
  }
  for (const int power : {1, 2}) {
    const Eigen::MatrixXf c = ground_cost_float(x, y, power);
    SinkhornOptions so;
    so.epsilon = std::max(opt.sinkhorn_relative_eps * c.cast<double>().mean(), 1e-12);
    so.max_iterations = opt.sinkhorn_max_iterations;
    const double v = sinkhorn(c, so).cost;
    (power == 1 ? out.w1 : out.w2) = power == 1 ? v : std::sqrt(v);
  }
  return out;
}

}  // namespace pg::analysis
