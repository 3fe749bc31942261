#include "analysis/cluster_rows.h"

#include <algorithm>
#include <stdexcept>

#include "analysis/knn_graph.h"
#include "analysis/leiden.h"
#include "analysis/pca.h"

namespace pg::analysis {

std::vector<int> cluster_rows(const Matrix& rows, const ClusterOptions& options) {
  if (options.n_pcs < 0) throw std::invalid_argument("cluster_rows: n_pcs must be >= 0");
  if (options.n_neighbors < 1) throw std::invalid_argument("cluster_rows: n_neighbors must be >= 1");
  const int64_t n = rows.rows();
  if (n == 0) return {};
  if (n == 1) return {0};
  // As scanpy: the data itself when it has at most n_pcs columns, else its PCs
  // (scanpy caps the count at min(n_obs, n_vars) - 1).
  const Neighbours nn = [&] {
    if (options.n_pcs == 0 || rows.cols() <= options.n_pcs)
      return exact_neighbours(rows, options.n_neighbors);
    if (!rows.allFinite()) exact_neighbours(rows, options.n_neighbors);  // throws, naming the row
    const int64_t k =
        std::max<int64_t>(1, std::min<int64_t>(options.n_pcs, std::min<int64_t>(n, rows.cols()) - 1));
    const Pca pca = fit_pca(rows, k, options.seed);
    return exact_neighbours(project(pca, rows), options.n_neighbors);
  }();
  LeidenOptions lo;
  lo.resolution = options.resolution;
  lo.seed = options.seed;
  return leiden(umap_connectivities(nn), lo);
}

}  // namespace pg::analysis
