// Highly variable genes, defined exactly as scanpy 1.11.5 (numpy 2.4.6,
// pandas 2.3.3) computes
//   sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata)
//   sc.pp.highly_variable_genes(adata, n_top_genes=N, flavor="seurat", batch_key=KEY)
// on float32 counts (what the reference does before tokenising, spec §2.2),
// but from one streaming pass over row chunks: memory is O(genes x batches).
//
// The arithmetic follows scanpy's dtype chain: library size = float64 sum of
// the row, rounded to float32; value = float32 expm1(log1p(x / (lib / 1e4)))
// with the C library's log1pf/expm1f; per gene and batch the sum of values and
// the sum of their float32 squares (numba squares in float32). Those sums are
// kept exactly (fixed-point integers) and rounded to double once, so any split
// of the cells into chunks, accumulators and merges gives the same bits.
// Then, per batch (genes with no positive value in the batch left out):
// mean==0 -> 1e-12, ddof=1 variance (E[x^2]-E[x]^2, times n/(n-1)),
// dispersion = log(var/mean) (0 -> NaN), mean -> log1p(mean); pd.cut into
// n_bins equal-width bins; per-bin pandas mean (Kahan) and std (Welford,
// ddof 1) of the non-NaN dispersions; a bin whose std is NaN (one gene) gets
// avg 0 and dev = its mean, i.e. normalised dispersion 1; top genes = those
// >= the n-th highest normalised dispersion. Batches are combined as
// scanpy's groupby: per gene NaN-skipping Kahan means over batches (a batch
// where the gene is unexpressed contributes 0), the number of batches that
// selected it, then a stable sort by (nbatches, normalised dispersion) with
// NaN last, descending, over genes in name order, cut at exactly n_top_genes.
//
// Known deviations: numpy on AVX-512 CPUs uses its own (SVML) float32
// log1p/expm1, one ulp off the C library's on a few percent of values; on the
// shared datasets that changes dispersions_norm by < 2e-6 relative and no
// selection (tests/data/hvg/README.md). float64 source matrices are computed
// in float32 here (scanpy would stay in float64).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/cell_matrix.h"

namespace pg::tokenise {

struct HvgOptions {
  int64_t n_top_genes = 2000;
  int n_bins = 20;
  // True: scanpy called with batch_key (batch codes = the key's categories,
  // sorted as pandas sorts them, for bit-identical batch averages). False:
  // without batch_key; the accumulator must have one batch. The two differ:
  // without a key genes never expressed stay in (mean 1e-12, NaN dispersion)
  // and every gene tied at the cut-off is selected.
  bool batch_key = true;
  // scanpy ranks genes of equal (nbatches, normalised dispersion) in var_names
  // order (it groups by name). Give the var index here for identical ties;
  // empty = gene index order.
  std::vector<std::string> gene_names;
};

// Per batch and gene, the mean and ddof=1 variance of expm1(log1p(normalised))
// values, as scanpy's _get_mean_var gives them (mean not yet clamped to 1e-12).
struct HvgBatchStats {
  int64_t n_cells = 0;
  std::vector<double> mean, var;
  std::vector<int64_t> n_expressed;  // cells with a positive value
};

class HvgAccumulator {
 public:
  HvgAccumulator(int64_t n_genes, int32_t n_batches);

  // Rows of `counts` are cells (raw counts, all genes of the dataset in var
  // order); batch[r] in [0, n_batches), or -1 = cell not used. Library size
  // for normalize_total = the row sum over all columns of `counts`. A negative
  // or non-finite count throws pg::Error naming `source` (a file, for messages).
  void add(const io::CsrMatrix& counts, std::span<const int32_t> batch, const std::string& source = "");
  // Adds another accumulator of the same shape (e.g. from a parallel chunk).
  // The result does not depend on how cells were split or merged.
  void merge(const HvgAccumulator& other);

  int64_t n_genes() const { return n_genes_; }
  int32_t n_batches() const { return n_batches_; }
  int64_t n_cells(int32_t batch) const { return cells_[static_cast<size_t>(batch)]; }
  HvgBatchStats batch_stats(int32_t batch) const;

 private:
  static constexpr int kLimbs = 9;  // 32-bit digits of a fixed-point sum of float32 values
  uint64_t* sum_of(int32_t b, int64_t g, int which) {
    return &limbs_[((static_cast<size_t>(b) * static_cast<size_t>(n_genes_) + static_cast<size_t>(g)) * 2 +
                    static_cast<size_t>(which)) *
                   kLimbs];
  }
  const uint64_t* sum_of(int32_t b, int64_t g, int which) const {
    return const_cast<HvgAccumulator*>(this)->sum_of(b, g, which);
  }
  void normalise_batch(int32_t b);

  int64_t n_genes_;
  int32_t n_batches_;
  std::vector<uint64_t> limbs_;     // [batch][gene][sum, sum of squares][limb]
  std::vector<int64_t> expressed_;  // [batch][gene]
  std::vector<int64_t> cells_;      // [batch]
  std::vector<int64_t> pending_;    // [batch] additions since the carries were last propagated
};

struct HvgResult {
  std::vector<int64_t> selected;                             // gene indices, ascending
  std::vector<double> means, dispersions, dispersions_norm;  // per gene, as scanpy reports (batch-averaged)
  std::vector<int32_t> n_batches_hvg;  // scanpy's highly_variable_nbatches (no batch key: 1 if selected)
};

// Throws pg::Error for bad options, an empty batch or a batch where no gene is
// expressed (scanpy fails there too).
HvgResult select_hvg_seurat(const HvgAccumulator& acc, const HvgOptions& opt);

}  // namespace pg::tokenise
