// Leiden clustering: planted partitions, determinism, and agreement with
// scanpy's sc.tl.leiden (leidenalg) on real connectivities, in labels and in
// the modularity reached; the adjusted Rand index used to measure it,
// against sklearn's values.
#include "analysis/leiden.h"

#include <gtest/gtest.h>

#include <iostream>
#include <set>

#include "analysis/rand_index.h"
#include "core/random.h"
#include "program_fixtures.h"

namespace {

using pg::analysis::adjusted_rand_index;
using pg::analysis::WeightedGraph;

// `blocks` groups of `size` vertices, dense inside (weights in [0.5, 1]),
// with sparse weak edges between, vertices of the groups interleaved.
WeightedGraph planted(int blocks, int size, uint64_t seed, std::vector<int>& truth) {
  pg::Rng rng(seed);
  const int n = blocks * size;
  truth.resize(static_cast<size_t>(n));
  for (int v = 0; v < n; ++v) truth[static_cast<size_t>(v)] = v % blocks;
  WeightedGraph g;
  g.n_vertices = n;
  for (int a = 0; a < n; ++a)
    for (int b = a + 1; b < n; ++b) {
      const bool same = truth[static_cast<size_t>(a)] == truth[static_cast<size_t>(b)];
      if (same && rng.uniform() < 0.6) g.edges.push_back({a, b, 0.5 + 0.5 * rng.uniform()});
      if (!same && rng.uniform() < 0.03) g.edges.push_back({a, b, 0.2 * rng.uniform()});
    }
  return g;
}

TEST(RandIndex, MatchesSklearn) {
  EXPECT_DOUBLE_EQ(adjusted_rand_index({0, 0, 1, 1}, {1, 1, 0, 0}), 1.0);
  // sklearn.metrics.adjusted_rand_score values.
  EXPECT_NEAR(adjusted_rand_index({0, 0, 1, 1}, {0, 0, 1, 2}), 0.5714285714285714, 1e-15);
  EXPECT_NEAR(adjusted_rand_index({0, 0, 1, 1}, {0, 1, 0, 1}), -0.5, 1e-15);
  EXPECT_NEAR(adjusted_rand_index({0, 0, 0, 1, 1, 1, 2, 2}, {0, 0, 1, 1, 2, 2, 2, 2}), 0.18181818181818182,
              1e-15);
  EXPECT_DOUBLE_EQ(adjusted_rand_index({0, 0, 0}, {1, 1, 1}), 1.0);
  EXPECT_DOUBLE_EQ(adjusted_rand_index({0, 1, 2}, {2, 0, 1}), 1.0);
  EXPECT_THROW(adjusted_rand_index({0, 1}, {0}), std::invalid_argument);
}

TEST(Leiden, RecoversPlantedPartitionsExactly) {
  for (const uint64_t seed : {1u, 2u, 3u}) {
    std::vector<int> truth;
    const auto g = planted(4, 30, seed, truth);
    const auto labels = pg::analysis::leiden(g);
    EXPECT_DOUBLE_EQ(adjusted_rand_index(labels, truth), 1.0) << "seed " << seed;
    EXPECT_EQ(std::set<int>(labels.begin(), labels.end()).size(), 4u);
  }
}

TEST(Leiden, LabelsAreNumberedBySize) {
  // Two cliques: 3 vertices (0..2) and 5 vertices (3..7); the larger is 0.
  WeightedGraph g;
  g.n_vertices = 8;
  for (int a = 0; a < 3; ++a)
    for (int b = a + 1; b < 3; ++b) g.edges.push_back({a, b, 1.0});
  for (int a = 3; a < 8; ++a)
    for (int b = a + 1; b < 8; ++b) g.edges.push_back({a, b, 1.0});
  g.edges.push_back({2, 3, 0.01});
  EXPECT_EQ(pg::analysis::leiden(g), (std::vector<int>{1, 1, 1, 0, 0, 0, 0, 0}));
  EXPECT_EQ(pg::analysis::relabel_by_size({5, 5, 2, 7, 7, 2}), (std::vector<int>{0, 0, 1, 2, 2, 1}));
}

TEST(Leiden, GraphWithoutEdgesGivesSingletons) {
  WeightedGraph g;
  g.n_vertices = 3;
  EXPECT_EQ(pg::analysis::leiden(g), (std::vector<int>{0, 1, 2}));
  g.n_vertices = 0;
  EXPECT_TRUE(pg::analysis::leiden(g).empty());
  g.n_vertices = 2;
  g.edges.push_back({0, 1, -1.0});
  EXPECT_THROW(pg::analysis::leiden(g), std::invalid_argument);
}

TEST(Leiden, AgreesWithScanpyOnRealConnectivities) {
  const auto g = pg::test::fixture_connectivities();
  const auto leidenalg = pg::test::fixture_labels("leiden_leidenalg");
  const auto igraph_flavor = pg::test::fixture_labels("leiden_igraph");
  // The default seed is held to ARI >= 0.9 against scanpy. Other seeds vary
  // as leidenalg's own do on these cells (a continuum, not crisp clusters:
  // leidenalg seeds 0..7 agree with seed 0 at ARI 0.89-1.0), so they are
  // held to the same modularity and a looser ARI.
  const double q_scanpy = pg::analysis::modularity(g, leidenalg);
  for (const uint64_t seed : {0u, 1u, 2u, 3u}) {
    pg::analysis::LeidenOptions o;
    o.seed = seed;
    const auto labels = pg::analysis::leiden(g, o);
    const double ari = adjusted_rand_index(labels, leidenalg);
    const double ari_ig = adjusted_rand_index(labels, igraph_flavor);
    const double q = pg::analysis::modularity(g, labels);
    std::cout << "seed " << seed << ": " << std::set<int>(labels.begin(), labels.end()).size()
              << " clusters, ARI vs scanpy leidenalg " << ari << ", vs flavor igraph " << ari_ig
              << ", modularity " << q << " (scanpy " << q_scanpy << ")\n";
    EXPECT_GE(ari, seed == 0 ? 0.9 : 0.85) << seed;
    EXPECT_GE(ari_ig, 0.85) << seed;
    EXPECT_GE(q, q_scanpy - 1e-3) << seed;
    EXPECT_EQ(std::set<int>(labels.begin(), labels.end()).size(), 5u) << seed;
  }
}

TEST(Leiden, ReachesScanpysModularityOnItsGraph) {
  // The quality optimised, whatever the labels: on scanpy's own graph, every
  // seed and both iteration settings reach leidenalg's modularity (less a
  // small margin, as leidenalg's seeds differ among themselves).
  const auto g = pg::test::fixture_connectivities();
  const double q_scanpy = pg::analysis::modularity(g, pg::test::fixture_labels("leiden_leidenalg"));
  for (const int64_t iterations : {int64_t{-1}, int64_t{2}})
    for (uint64_t seed = 0; seed < 8; ++seed) {
      pg::analysis::LeidenOptions o;
      o.seed = seed;
      o.n_iterations = iterations;
      const double q = pg::analysis::modularity(g, pg::analysis::leiden(g, o));
      EXPECT_GE(q, q_scanpy - 0.005) << "seed " << seed << ", n_iterations " << iterations;
    }
}

TEST(Leiden, SameSeedSameLabels) {
  const auto g = pg::test::fixture_connectivities();
  pg::analysis::LeidenOptions o;
  o.seed = 7;
  const auto first = pg::analysis::leiden(g, o);
  EXPECT_EQ(pg::analysis::leiden(g, o), first);
  o.n_iterations = 2;  // scanpy's flavor='igraph' setting
  const auto two = pg::analysis::leiden(g, o);
  EXPECT_EQ(pg::analysis::leiden(g, o), two);
  EXPECT_GE(adjusted_rand_index(two, first), 0.9);
}

TEST(Leiden, ResolutionControlsTheNumberOfClusters) {
  const auto g = pg::test::fixture_connectivities();
  pg::analysis::LeidenOptions low, high;
  low.resolution = 0.2;
  high.resolution = 3.0;
  const auto a = pg::analysis::leiden(g, low), b = pg::analysis::leiden(g, high);
  EXPECT_LT(std::set<int>(a.begin(), a.end()).size(), std::set<int>(b.begin(), b.end()).size());
}

TEST(Leiden, ModularityOfKnownPartition) {
  // Two triangles joined by one edge, all weights 1: m = 7,
  // Q = 2 * (3/7 - (7/14)^2) = 0.357142...
  WeightedGraph g;
  g.n_vertices = 6;
  g.edges = {{0, 1, 1}, {0, 2, 1}, {1, 2, 1}, {2, 3, 1}, {3, 4, 1}, {3, 5, 1}, {4, 5, 1}};
  EXPECT_NEAR(pg::analysis::modularity(g, {0, 0, 0, 1, 1, 1}), 2 * (3.0 / 7 - 0.25), 1e-15);
  EXPECT_EQ(pg::analysis::leiden(g), (std::vector<int>{0, 0, 0, 1, 1, 1}));
}

}  // namespace
