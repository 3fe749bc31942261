// Leiden clustering (Traag, Waltman & van Eck 2019, "From Louvain to Leiden:
// guaranteeing well-connected communities") of a weighted undirected graph,
// optimising modularity with a resolution as scanpy's sc.tl.leiden does
// (leidenalg's RBConfigurationVertexPartition):
//   Q = sum_ij (A_ij - gamma k_i k_j / 2m) [c_i = c_j].
// Our own implementation: igraph pulled the reference BLAS into the process,
// whose sgemm_ then interposed libtorch's and slowed every matrix product.
// Each iteration is fast local moving (queue-based), a randomised refinement
// within each cluster (only well-connected nodes and refined clusters merge,
// drawn with probability ~ exp(gain / beta), as igraph does), and aggregation
// of the refined partition, started from the unrefined one, until every
// cluster is a single node.
#pragma once

#include <cstdint>
#include <vector>

#include "analysis/graph.h"

namespace pg::analysis {

struct LeidenOptions {
  double resolution = 1.0;  // gamma; larger gives more, smaller clusters
  uint64_t seed = 0;        // seeds pg::Rng, the only randomness: same seed, same labels
  // Iterations of the Leiden algorithm (each starts from the last partition);
  // negative: until an iteration leaves the partition unchanged (at most
  // 1,000), as scanpy's default n_iterations=-1 with leidenalg; its
  // flavor='igraph' uses 2. 0 is std::invalid_argument.
  int64_t n_iterations = -1;
  double beta = 0.01;  // randomness of the refinement (igraph's and leidenalg's default); > 0
};

// One label per vertex, 0..c-1, renumbered by cluster size (largest = 0;
// equal sizes by their lowest vertex). A graph without edges gives every
// vertex its own cluster. Deterministic for a seed, single-threaded, no
// shared state (calls may run concurrently). Non-finite or negative weights,
// a negative resolution and a non-positive beta are std::invalid_argument.
std::vector<int> leiden(const WeightedGraph& graph, const LeidenOptions& options = {});

// Modularity with resolution gamma of a labelling (the quantity leiden()
// maximises), normalised by 2m as igraph's and leidenalg's:
//   (1/2m) sum_ij (A_ij - gamma k_i k_j / 2m) [c_i = c_j].
double modularity(const WeightedGraph& graph, const std::vector<int>& labels, double resolution = 1.0);

// Labels renumbered by cluster size: largest 0, ties by lowest member.
std::vector<int> relabel_by_size(const std::vector<int>& labels);

}  // namespace pg::analysis
