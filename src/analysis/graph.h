// A weighted undirected graph on vertices 0..n-1 (a neighbour graph's
// connectivities), as the clustering reads it: each edge once, a < b.
#pragma once

#include <cstdint>
#include <vector>

namespace pg::analysis {

struct WeightedEdge {
  int64_t a = 0;  // a < b
  int64_t b = 0;
  double weight = 0;  // > 0
};

struct WeightedGraph {
  int64_t n_vertices = 0;
  std::vector<WeightedEdge> edges;  // sorted by (a, b), no duplicates, no self-loops
};

}  // namespace pg::analysis
