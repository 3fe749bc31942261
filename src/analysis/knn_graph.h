// The neighbour graph scanpy builds for clustering (sc.pp.neighbors with the
// default method 'umap'): exact Euclidean k nearest neighbours of the rows
// of a matrix, then umap's fuzzy_simplicial_set (smooth_knn_dist,
// local_connectivity 1, set_op_mix_ratio 1: the fuzzy union) as the weights.
//
// scanpy (1.11) counts a point among its own n_neighbors and, for fewer than
// 4,096 points (8,192 with the Euclidean metric), uses sklearn's exact
// brute-force search, which is what this is at every size (O(n^2 d) time).
#pragma once

#include <cstdint>
#include <vector>

#include "analysis/graph.h"
#include "analysis/matrix.h"

namespace pg::analysis {

struct Neighbours {
  int64_t n_rows = 0;
  int64_t k = 0;                  // neighbours per row, the row itself included (always first)
  std::vector<int64_t> indices;   // n_rows x k, row-major; each row ascending by (distance, index)
  std::vector<double> distances;  // Euclidean, same layout; the first of each row is 0

  int64_t index(int64_t row, int64_t j) const { return indices[static_cast<size_t>(row * k + j)]; }
  double distance(int64_t row, int64_t j) const { return distances[static_cast<size_t>(row * k + j)]; }
};

// scanpy's neighbour count for `n_rows` points: n_neighbors, or
// 1 + n_rows / 2 when n_neighbors exceeds n_rows ("n_obs too small").
int64_t effective_neighbours(int64_t n_neighbors, int64_t n_rows);

// The effective_neighbours(n_neighbors, rows) nearest rows of every row
// (itself first). Ties are broken by the lower row number. A non-finite value
// is a pg::Error naming the row; n_neighbors < 1 is std::invalid_argument.
Neighbours exact_neighbours(const Matrix& rows, int64_t n_neighbors);

// umap's fuzzy simplicial set of the neighbours, as scanpy stores it in
// obsp['connectivities']: per row, rho = distance to the nearest other row
// at a positive distance and sigma from umap's binary search (64 steps,
// target log2(k), tolerance 1e-5, floor 1e-3 x the mean distance);
// membership exp(-(d - rho) / sigma) (1 within rho, 0 for the row itself);
// then w_ij = p_ij + p_ji - p_ij p_ji. Computed in float32 where umap does
// (distances, rho, sigma, memberships and their union), so the weights agree
// with scanpy's to float32 rounding. Zero weights are left out.
WeightedGraph umap_connectivities(const Neighbours& neighbours);

}  // namespace pg::analysis
