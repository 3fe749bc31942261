// Per-gene normalisation medians (Geneformer / PerturbGen gene_median tables):
// for gene g, the median over the cells c with x_cg != 0 of
//   x_cg / total_c * 10,000          (total_c = the cell's library size)
// computed in float64, numpy.median semantics (the mean of the two middle
// values for an even count). Genes that are never non-zero have no median.
//
// Exact while the held values fit (every non-zero value of every gene is kept,
// 8 bytes each); past MedianOptions::exact_max_values, or when asked, one
// t-digest per gene holds the values in bounded memory (the reference builds
// its table with t-digests too, spec §4.1).
//
// Determinism: each gene sees its values in cell order, and the digests fold
// their buffers in after a fixed number of values, so neither the chunking of
// the input nor the number of threads changes a result. Auto mode switches by
// feeding every gene's held values, in cell order, through that gene's digest
// (genes in order): the state is then exactly what Streaming mode would have
// built, so Auto gives the Exact result when the corpus holds at most
// exact_max_values non-zero values and the Streaming result otherwise.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "io/cell_matrix.h"
#include "tokenise/tdigest.h"

namespace pg::tokenise {

struct MedianOptions {
  enum class Mode { Auto, Exact, Streaming } mode = Mode::Auto;
  int64_t exact_max_values =
      20'000'000;            // Auto: exact until this many non-zero values are held, then digests
  double compression = 200;  // t-digest delta (>= 10)
  int threads = 0;           // worker threads (0 = hardware concurrency); results do not depend on it
};

class MedianAccumulator {
 public:
  explicit MedianAccumulator(int64_t n_genes, MedianOptions opt = {});

  // Rows = cells, columns = the accumulator's genes. library_size[r] = total of
  // cell r (if empty: the row sums of `counts`). Values must be finite and
  // >= 0; stored zeros are skipped. pg::Error (no file named) otherwise.
  void add(const io::CsrMatrix& counts, std::span<const double> library_size = {});
  // The same for a matrix whose column j is the accumulator's gene
  // column_to_gene[j] (distinct, in [0, n_genes)); library sizes are then the
  // row sums over all of the matrix's columns, mapped or not.
  void add(const io::CsrMatrix& counts, std::span<const double> library_size,
           std::span<const int64_t> column_to_gene);
  // Appends genes (never seen non-zero) at the end, e.g. new genes of a corpus's next file.
  void add_genes(int64_t n);

  std::vector<double> medians() const;  // NaN for genes with no non-zero value
  std::vector<int64_t> nonzero_cells() const;
  int64_t n_genes() const { return static_cast<int64_t>(nonzero_.size()); }
  int64_t n_cells() const { return n_cells_; }
  int64_t n_values() const { return n_values_; }  // non-zero values seen
  bool exact() const { return exact_; }           // false once it switched to digests
  size_t memory_bytes() const;                    // what it holds now
  size_t peak_memory_bytes() const { return peak_; }
  // Upper bound of memory_bytes() in streaming mode for this many genes.
  static size_t streaming_memory_bound(int64_t n_genes, const MedianOptions& opt);

 private:
  void add_mapped(const io::CsrMatrix& counts, std::span<const double> library_size,
                  std::span<const int64_t> column_to_gene);
  void switch_to_digests();
  TDigest new_digest() const { return TDigest(opt_.compression); }
  int thread_count(int64_t work) const;

  MedianOptions opt_;
  bool exact_ = true;
  std::vector<std::vector<double>> held_;  // exact: every value of every gene, in cell order
  std::vector<TDigest> digests_;           // streaming: one digest per gene
  std::vector<int64_t> nonzero_;
  int64_t n_cells_ = 0;
  int64_t n_values_ = 0;
  size_t peak_ = 0;
};

// Medians over a corpus of files: genes are matched by their var index (the
// file's own gene names, no mapping), the union in first-seen order; each file
// is read a chunk of cells at a time (ChunkedInput). `layer` empty = X.
struct CorpusMedians {
  std::vector<std::string> genes;
  std::vector<double> medians;  // NaN: never non-zero
  std::vector<int64_t> nonzero_cells;
  int64_t n_cells = 0;
  bool exact = true;
  int64_t n_values = 0;          // non-zero values seen
  size_t peak_memory_bytes = 0;  // of the accumulator
};
CorpusMedians corpus_medians(const std::vector<std::string>& paths, const std::string& layer,
                             int64_t chunk_cells, const MedianOptions& opt);

// The exact median of `values` (numpy.median; NaN when empty). Reorders them.
double median_of(std::span<double> values);

}  // namespace pg::tokenise
