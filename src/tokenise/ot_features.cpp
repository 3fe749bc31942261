#include "tokenise/ot_features.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace pg::tokenise {

std::vector<int64_t> ot_feature_genes(const std::vector<int32_t>& slot_of_column,
                                      const std::vector<int64_t>& gene_cells, int64_t max_genes) {
  std::vector<int64_t> genes;
  for (size_t g = 0; g < slot_of_column.size(); ++g)
    if (slot_of_column[g] >= 0 && gene_cells[g] > 0) genes.push_back(static_cast<int64_t>(g));
  const auto keep = static_cast<size_t>(std::max<int64_t>(0, max_genes));
  if (genes.size() > keep) {
    std::stable_sort(genes.begin(), genes.end(), [&](int64_t a, int64_t b) {
      return gene_cells[static_cast<size_t>(a)] > gene_cells[static_cast<size_t>(b)];
    });
    genes.resize(keep);
    std::sort(genes.begin(), genes.end());
  }
  return genes;
}

std::vector<float> ot_features(const ChunkedInput& input, int64_t chunk_cells,
                               const std::vector<std::string>& obs_columns, const std::vector<bool>& used,
                               std::span<const int64_t> cells, std::span<const int64_t> genes) {
  const size_t n_genes = genes.size();
  std::vector<float> out(cells.size() * n_genes, 0.0f);
  std::vector<int32_t> feature(static_cast<size_t>(input.n_genes()), -1);
  for (size_t k = 0; k < n_genes; ++k) feature[static_cast<size_t>(genes[k])] = static_cast<int32_t>(k);
  int64_t next_used = 0;  // store index of the next used cell
  size_t want = 0;        // next entry of `cells`
  for_each_chunk(input, chunk_cells, obs_columns, [&](int64_t first, const io::CellMatrix& chunk) {
    const io::CsrMatrix& x = chunk.X;
    for (int64_t row = 0; row < chunk.n_cells() && want < cells.size(); ++row) {
      if (!used[static_cast<size_t>(first + row)]) continue;
      if (next_used++ != cells[want]) continue;
      const auto b = static_cast<size_t>(x.indptr[static_cast<size_t>(row)]);
      const auto e = static_cast<size_t>(x.indptr[static_cast<size_t>(row) + 1]);
      const double library = std::accumulate(x.data.begin() + static_cast<std::ptrdiff_t>(b),
                                             x.data.begin() + static_cast<std::ptrdiff_t>(e), 0.0);
      float* dst = out.data() + want * n_genes;
      if (library > 0) {
        const double scale = 1e4 / library;
        for (size_t k = b; k < e; ++k) {
          const int32_t f = feature[static_cast<size_t>(x.indices[k])];
          // Duplicate column entries (unsorted CSR) add up, as scanpy's sum would.
          if (f >= 0) dst[f] += static_cast<float>(x.data[k] * scale);
        }
        for (size_t f = 0; f < n_genes; ++f) dst[f] = std::log1p(dst[f]);
      }
      ++want;
    }
  });
  return out;
}

}  // namespace pg::tokenise
