#include "analysis/leiden.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <numeric>
#include <span>
#include <stdexcept>
#include <string>
#include <utility>

#include "core/random.h"

namespace pg::analysis {

namespace {

// One level of the algorithm: the input graph or an aggregate of it, as an
// adjacency list (CSR) holding each undirected edge in both directions.
// Edges inside an aggregate node are dropped: they add the same amount to
// every choice a move compares, and the null-model term reads the node's
// weight, not its edges.
struct Level {
  std::vector<size_t> offset;       // n + 1
  std::vector<int> target;          // neighbour of each half-edge
  std::vector<double> weight;       // its weight
  std::vector<double> node_weight;  // k: summed strengths of the input vertices in the node
  size_t size() const { return node_weight.size(); }
};

// The quality is sum_ij (A_ij - res k_i k_j) [c_i = c_j] with res = gamma / 2m,
// so moving node v (taken out of its cluster) into cluster C gains
//   w(v, C) - res k_v K_C,   K_C the summed node weight of C,
// relative to leaving it alone (igraph's scale for the refinement's beta).
struct Quality {
  double res = 0;    // gamma / 2m
  double gamma = 0;  // for the tolerance below
  // Gains within this of each other are ties: every gain is at most
  // k_v (1 + gamma) in magnitude, and without a margin rounding could move
  // a node back and forth between equally good clusters forever.
  double tolerance(double k) const { return 1e-12 * k * (1 + gamma); }
};

void check_graph(const WeightedGraph& graph) {
  for (const auto& e : graph.edges) {
    if (e.a < 0 || e.b < 0 || e.a >= graph.n_vertices || e.b >= graph.n_vertices)
      throw std::invalid_argument("leiden: edge (" + std::to_string(e.a) + ", " + std::to_string(e.b) +
                                  ") outside the " + std::to_string(graph.n_vertices) + " vertices");
    if (!std::isfinite(e.weight) || e.weight < 0)
      throw std::invalid_argument("leiden: edge (" + std::to_string(e.a) + ", " + std::to_string(e.b) +
                                  ") has weight " + std::to_string(e.weight));
  }
}

std::vector<double> strengths(const WeightedGraph& graph) {
  std::vector<double> k(static_cast<size_t>(graph.n_vertices), 0.0);
  for (const auto& e : graph.edges) {
    k[static_cast<size_t>(e.a)] += e.weight;
    k[static_cast<size_t>(e.b)] += e.weight;
  }
  return k;
}

Level input_level(const WeightedGraph& graph, std::vector<double> k) {
  const auto n = static_cast<size_t>(graph.n_vertices);
  Level g;
  g.offset.assign(n + 1, 0);
  for (const auto& e : graph.edges) {
    if (e.a == e.b) continue;  // graph.h rules self-loops out; they would not change a move anyway
    ++g.offset[static_cast<size_t>(e.a) + 1];
    ++g.offset[static_cast<size_t>(e.b) + 1];
  }
  std::partial_sum(g.offset.begin(), g.offset.end(), g.offset.begin());
  g.target.resize(g.offset[n]);
  g.weight.resize(g.offset[n]);
  std::vector<size_t> fill(g.offset.begin(), g.offset.end() - 1);
  for (const auto& e : graph.edges) {
    if (e.a == e.b) continue;
    const auto a = static_cast<size_t>(e.a), b = static_cast<size_t>(e.b);
    g.target[fill[a]] = static_cast<int>(b);
    g.weight[fill[a]++] = e.weight;
    g.target[fill[b]] = static_cast<int>(a);
    g.weight[fill[b]++] = e.weight;
  }
  g.node_weight = std::move(k);
  return g;
}

// Labels renumbered 0.. in order of first appearance (a canonical form);
// returns the number of labels.
int compact(std::vector<int>& labels) {
  std::vector<int> map(labels.size(), -1);
  int next = 0;
  for (int& l : labels) {
    int& m = map[static_cast<size_t>(l)];
    if (m < 0) m = next++;
    l = m;
  }
  return next;
}

// Neighbour weight per cluster of one node, with the clusters in the order
// first met (so ties resolve the same way on every platform).
class ClusterWeights {
 public:
  explicit ClusterWeights(size_t n) : w_(n, 0.0), seen_(n, 0) {}
  void add(int c, double w) {
    const auto i = static_cast<size_t>(c);
    if (!seen_[i]) {
      seen_[i] = 1;
      touched_.push_back(c);
    }
    w_[i] += w;
  }
  double operator[](int c) const { return w_[static_cast<size_t>(c)]; }
  const std::vector<int>& clusters() const { return touched_; }
  void clear() {
    for (const int c : touched_) {
      w_[static_cast<size_t>(c)] = 0;
      seen_[static_cast<size_t>(c)] = 0;
    }
    touched_.clear();
  }

 private:
  std::vector<double> w_;
  std::vector<char> seen_;
  std::vector<int> touched_;
};

// Fast local moving (the paper's MoveNodesFast): nodes are visited from a
// queue, first in random order; each goes to the neighbouring cluster (or an
// empty one) that raises the quality most, and when it moves, its neighbours
// outside its new cluster are queued again. Clusters are labelled 0..n-1.
void move_nodes(const Level& g, const Quality& q, std::vector<int>& membership, Rng& rng) {
  const size_t n = g.size();
  std::vector<double> cluster_weight(n, 0.0);
  std::vector<int> cluster_size(n, 0);
  for (size_t v = 0; v < n; ++v) {
    cluster_weight[static_cast<size_t>(membership[v])] += g.node_weight[v];
    ++cluster_size[static_cast<size_t>(membership[v])];
  }
  std::vector<int> empty;  // a stack: clusters become non-empty only from its top
  for (size_t c = n; c-- > 0;)
    if (cluster_size[c] == 0) empty.push_back(static_cast<int>(c));

  // A ring buffer suffices: a node is queued at most once at a time.
  std::vector<int> queue(n);
  std::iota(queue.begin(), queue.end(), 0);
  rng.shuffle(std::span<int>(queue));
  std::vector<char> queued(n, 1);
  size_t head = 0, count = n;
  ClusterWeights to(n);
  while (count > 0) {
    const auto v = static_cast<size_t>(queue[head]);
    head = head + 1 == n ? 0 : head + 1;
    --count;
    queued[v] = 0;
    const double k = g.node_weight[v];
    const int old = membership[v];
    cluster_weight[static_cast<size_t>(old)] -= k;
    if (--cluster_size[static_cast<size_t>(old)] == 0) {
      cluster_weight[static_cast<size_t>(old)] = 0;  // no rounding residue in an empty cluster
      empty.push_back(old);
    }

    for (size_t e = g.offset[v]; e < g.offset[v + 1]; ++e)
      to.add(membership[static_cast<size_t>(g.target[e])], g.weight[e]);
    const double stay = to[old] - q.res * k * cluster_weight[static_cast<size_t>(old)];
    // An empty cluster gains 0; v alone in `old` is already in one (v is in
    // no cluster now, so at most n - 1 are occupied and `empty` is never empty).
    int best = empty.back();
    double best_gain = 0;
    for (const int c : to.clusters()) {
      const double gain = to[c] - q.res * k * cluster_weight[static_cast<size_t>(c)];
      if (gain > best_gain) {
        best = c;
        best_gain = gain;
      }
    }
    if (!(best_gain > stay + q.tolerance(k))) best = old;
    to.clear();

    if (cluster_size[static_cast<size_t>(best)]++ == 0) empty.pop_back();  // it was the top
    cluster_weight[static_cast<size_t>(best)] += k;
    membership[v] = best;
    if (best == old) continue;
    for (size_t e = g.offset[v]; e < g.offset[v + 1]; ++e) {
      const auto u = static_cast<size_t>(g.target[e]);
      if (queued[u] || membership[u] == best) continue;
      queued[u] = 1;
      queue[(head + count) % n] = static_cast<int>(u);
      ++count;
    }
  }
}

// The refinement (the paper's MergeNodesSubset, as igraph implements it):
// within each cluster S of `membership`, every node starts alone; in random
// order, each node still alone and well connected to S
// (w(v, S - v) >= res k_v (K_S - k_v)) joins a well-connected refined cluster
// C of S, or stays alone, drawn with probability proportional to
// exp(gain / beta) among the non-negative gains (staying alone gains 0).
// The gains are shifted by their maximum before exp, which leaves the
// probabilities as they are but cannot overflow (igraph falls back to the
// greedy choice when exp overflows). Returns refined labels, 0..r-1.
std::vector<int> refine(const Level& g, const Quality& q, double beta, const std::vector<int>& membership,
                        Rng& rng) {
  const size_t n = g.size();
  std::vector<double> cluster_total(n, 0.0);
  for (size_t v = 0; v < n; ++v) cluster_total[static_cast<size_t>(membership[v])] += g.node_weight[v];
  std::vector<int> refined(n);
  std::iota(refined.begin(), refined.end(), 0);
  std::vector<double> weight(g.node_weight);  // of each refined cluster, labelled by its first node
  std::vector<double> external(n, 0.0);       // w(C, S - C)
  for (size_t v = 0; v < n; ++v)
    for (size_t e = g.offset[v]; e < g.offset[v + 1]; ++e)
      if (membership[static_cast<size_t>(g.target[e])] == membership[v]) external[v] += g.weight[e];
  std::vector<char> joined(n, 0);  // a refined cluster others have joined

  const auto well_connected = [&](size_t c, double total) {
    return external[c] >= q.res * weight[c] * (total - weight[c]);
  };
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  rng.shuffle(std::span<int>(order));
  ClusterWeights to(n);
  std::vector<double> cumulative;
  for (const int vi : order) {
    const auto v = static_cast<size_t>(vi);
    const auto own = static_cast<size_t>(refined[v]);
    const int s = membership[v];
    const double total = cluster_total[static_cast<size_t>(s)];
    if (own != v || joined[own] || !well_connected(own, total)) continue;
    const double k = g.node_weight[v];
    weight[own] = 0;  // v leaves its singleton, which is then empty
    external[own] = 0;
    to.add(static_cast<int>(own), 0.0);
    for (size_t e = g.offset[v]; e < g.offset[v + 1]; ++e) {
      const auto u = static_cast<size_t>(g.target[e]);
      if (membership[u] == s) to.add(refined[u], g.weight[e]);
    }
    const auto& candidates = to.clusters();
    cumulative.assign(candidates.size(), 0.0);
    double max_gain = 0;  // staying alone
    for (const int c : candidates)
      if (well_connected(static_cast<size_t>(c), total))
        max_gain = std::max(max_gain, to[c] - q.res * k * weight[static_cast<size_t>(c)]);
    double sum = 0;
    for (size_t i = 0; i < candidates.size(); ++i) {
      const auto c = static_cast<size_t>(candidates[i]);
      const double gain = to[candidates[i]] - q.res * k * weight[c];
      if (gain >= 0 && well_connected(c, total)) sum += std::exp((gain - max_gain) / beta);
      cumulative[i] = sum;
    }
    // sum >= 1: the best candidate (or v's own empty singleton) contributes exp(0).
    const double r = rng.uniform() * sum;
    const size_t pick =
        static_cast<size_t>(std::upper_bound(cumulative.begin(), cumulative.end(), r) - cumulative.begin());
    const int chosen = candidates[std::min(pick, candidates.size() - 1)];
    to.clear();

    const auto c = static_cast<size_t>(chosen);
    weight[c] += k;
    for (size_t e = g.offset[v]; e < g.offset[v + 1]; ++e) {
      const auto u = static_cast<size_t>(g.target[e]);
      if (membership[u] != s) continue;
      external[c] += refined[u] == chosen ? -g.weight[e] : g.weight[e];
    }
    refined[v] = chosen;
    if (c != v) joined[c] = 1;
  }
  compact(refined);
  return refined;
}

// The graph of the groups of g: a node per group, weighted by its members'
// total, edge weights summed between groups, those inside a group dropped.
Level aggregate(const Level& g, const std::vector<int>& group, int n_groups) {
  const auto m = static_cast<size_t>(n_groups);
  std::vector<size_t> start(m + 1, 0);
  for (const int c : group) ++start[static_cast<size_t>(c) + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<int> members(g.size());
  std::vector<size_t> fill(start.begin(), start.end() - 1);
  for (size_t v = 0; v < g.size(); ++v) members[fill[static_cast<size_t>(group[v])]++] = static_cast<int>(v);

  Level out;
  out.offset.assign(m + 1, 0);
  out.node_weight.assign(m, 0.0);
  ClusterWeights to(m);
  for (size_t a = 0; a < m; ++a) {
    for (size_t i = start[a]; i < start[a + 1]; ++i) {
      const auto v = static_cast<size_t>(members[i]);
      out.node_weight[a] += g.node_weight[v];
      for (size_t e = g.offset[v]; e < g.offset[v + 1]; ++e) {
        const int b = group[static_cast<size_t>(g.target[e])];
        if (static_cast<size_t>(b) != a) to.add(b, g.weight[e]);
      }
    }
    for (const int b : to.clusters()) {
      out.target.push_back(b);
      out.weight.push_back(to[b]);
    }
    out.offset[a + 1] = out.target.size();
    to.clear();
  }
  return out;
}

// One iteration of the Leiden algorithm from `membership` (labels 0..n-1 of
// the input's vertices): local moving, refinement, aggregation of the refined
// partition with the unrefined one as its start, until every cluster is a
// single node. Returns the partition, compacted.
std::vector<int> iterate(const Level& input, const Quality& q, double beta, std::vector<int> membership,
                         Rng& rng) {
  const Level* g = &input;
  Level aggregated;
  std::vector<int> node_of(input.size());  // each input vertex's node in *g
  std::iota(node_of.begin(), node_of.end(), 0);
  std::vector<int> current = membership;  // of *g's nodes
  for (;;) {
    move_nodes(*g, q, current, rng);
    const int n_clusters = compact(current);
    for (size_t i = 0; i < node_of.size(); ++i) membership[i] = current[static_cast<size_t>(node_of[i])];
    if (static_cast<size_t>(n_clusters) == g->size()) break;  // nothing left to merge

    std::vector<int> refined = refine(*g, q, beta, current, rng);
    int n_refined = *std::max_element(refined.begin(), refined.end()) + 1;
    // Refinement merged nothing: aggregate the clusters themselves (as
    // igraph does), so every level shrinks the graph.
    if (static_cast<size_t>(n_refined) == g->size()) {
      refined = current;
      n_refined = n_clusters;
    }
    std::vector<int> next(static_cast<size_t>(n_refined));
    for (size_t v = 0; v < g->size(); ++v) next[static_cast<size_t>(refined[v])] = current[v];
    for (int& node : node_of) node = refined[static_cast<size_t>(node)];
    aggregated = aggregate(*g, refined, n_refined);
    g = &aggregated;
    current = std::move(next);
  }
  compact(membership);
  return membership;
}

// Upper bound on iterations "until stable" (each is near linear in the
// edges; every one that changes the partition raises the quality, so real
// neighbour graphs settle within a few).
constexpr int kMaxIterations = 1000;

}  // namespace

std::vector<int> relabel_by_size(const std::vector<int>& labels) {
  if (labels.empty()) return {};
  const int n_labels = *std::max_element(labels.begin(), labels.end()) + 1;
  std::vector<int64_t> size(static_cast<size_t>(n_labels), 0), first(static_cast<size_t>(n_labels), -1);
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto c = static_cast<size_t>(labels[i]);
    if (first[c] < 0) first[c] = static_cast<int64_t>(i);
    ++size[c];
  }
  std::vector<int> order;
  for (int c = 0; c < n_labels; ++c)
    if (size[static_cast<size_t>(c)] > 0) order.push_back(c);
  std::sort(order.begin(), order.end(), [&](int x, int y) {
    const auto sx = size[static_cast<size_t>(x)], sy = size[static_cast<size_t>(y)];
    return sx != sy ? sx > sy : first[static_cast<size_t>(x)] < first[static_cast<size_t>(y)];
  });
  std::vector<int> renumber(static_cast<size_t>(n_labels), -1);
  for (size_t r = 0; r < order.size(); ++r) renumber[static_cast<size_t>(order[r])] = static_cast<int>(r);
  std::vector<int> out(labels.size());
  for (size_t i = 0; i < labels.size(); ++i) out[i] = renumber[static_cast<size_t>(labels[i])];
  return out;
}

std::vector<int> leiden(const WeightedGraph& graph, const LeidenOptions& options) {
  check_graph(graph);
  const int64_t n = graph.n_vertices;
  if (!std::isfinite(options.resolution) || options.resolution < 0)
    throw std::invalid_argument("leiden: resolution must be finite and >= 0");
  if (!std::isfinite(options.beta) || !(options.beta > 0))
    throw std::invalid_argument("leiden: beta must be finite and > 0");
  if (options.n_iterations == 0) throw std::invalid_argument("leiden: n_iterations must not be 0");
  if (n > static_cast<int64_t>(std::numeric_limits<int>::max()))
    throw std::invalid_argument("leiden: more vertices than int labels can number");
  std::vector<double> k = strengths(graph);
  const double two_m = std::accumulate(k.begin(), k.end(), 0.0);
  if (n == 0) return {};
  std::vector<int> labels(static_cast<size_t>(n));
  std::iota(labels.begin(), labels.end(), 0);
  if (!(two_m > 0)) return labels;

  const Quality q{options.resolution / two_m, options.resolution};
  const Level input = input_level(graph, std::move(k));
  Rng rng(options.seed);
  if (options.n_iterations > 0) {
    for (int64_t i = 0; i < options.n_iterations; ++i) labels = iterate(input, q, options.beta, labels, rng);
  } else {
    // Both partitions are compacted, so equal labels mean an equal partition.
    for (int i = 0; i < kMaxIterations; ++i) {
      std::vector<int> next = iterate(input, q, options.beta, labels, rng);
      if (next == labels) break;
      labels = std::move(next);
    }
  }
  return relabel_by_size(labels);
}

double modularity(const WeightedGraph& graph, const std::vector<int>& labels, double resolution) {
  check_graph(graph);
  if (static_cast<int64_t>(labels.size()) != graph.n_vertices)
    throw std::invalid_argument("modularity: one label per vertex expected");
  const std::vector<double> k = strengths(graph);
  const double two_m = std::accumulate(k.begin(), k.end(), 0.0);
  if (!(two_m > 0)) return 0.0;
  int n_labels = 0;
  for (const int l : labels) {
    if (l < 0) throw std::invalid_argument("modularity: negative label");
    n_labels = std::max(n_labels, l + 1);
  }
  std::vector<double> inside(static_cast<size_t>(n_labels), 0.0), total(static_cast<size_t>(n_labels), 0.0);
  for (const auto& e : graph.edges)
    if (labels[static_cast<size_t>(e.a)] == labels[static_cast<size_t>(e.b)])
      inside[static_cast<size_t>(labels[static_cast<size_t>(e.a)])] += 2 * e.weight;  // A_ab and A_ba
  for (size_t v = 0; v < k.size(); ++v) total[static_cast<size_t>(labels[v])] += k[v];
  double q = 0;
  for (size_t c = 0; c < inside.size(); ++c) q += inside[c] - resolution * total[c] * total[c] / two_m;
  return q / two_m;
}

}  // namespace pg::analysis
