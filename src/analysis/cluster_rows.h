// Clusters of the rows of a matrix, as scanpy's sc.pp.neighbors +
// sc.tl.leiden would find them: PCA when the rows are wider than n_pcs,
// exact k nearest neighbours (the row itself counted), UMAP connectivities,
// Leiden (modularity, resolution). Used for gene programs (rows = gene
// embeddings) and perturbation programs (rows = embedding shifts).
#pragma once

#include <cstdint>
#include <vector>

#include "analysis/matrix.h"

namespace pg::analysis {

struct ClusterOptions {
  int64_t n_pcs = 50;        // PCA to min(n_pcs, rows - 1) components when columns > n_pcs; 0: never
  int64_t n_neighbors = 15;  // scanpy's n_neighbors: the row itself included
  double resolution = 1.0;   // Leiden resolution
  uint64_t seed = 0;         // PCA (randomized beyond 1,500 dims) and Leiden
};

// One cluster label per row, 0..c-1, the largest cluster 0. Deterministic for
// a given seed. Non-finite values are a pg::Error naming the row; 0 rows give
// an empty result, 1 row the label 0.
std::vector<int> cluster_rows(const Matrix& rows, const ClusterOptions& options = {});

}  // namespace pg::analysis
