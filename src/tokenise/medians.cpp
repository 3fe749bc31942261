#include "tokenise/medians.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <limits>
#include <thread>
#include <unordered_map>

#include "core/error.h"
#include "core/number_text.h"
#include "tokenise/chunked_input.h"

namespace pg::tokenise {

namespace {

// Runs fn(lo, hi) on `threads` contiguous gene ranges of about equal work
// (`work_offsets[g]` = work before gene g, n_genes + 1 entries). Each gene is
// handled by exactly one thread, in its own order, so the result is the same
// for any thread count.
template <typename Fn>
void for_gene_ranges(int threads, const std::vector<int64_t>& work_offsets, Fn fn) {
  const auto n_genes = static_cast<int64_t>(work_offsets.size()) - 1;
  if (threads <= 1 || n_genes < 2) {
    fn(int64_t{0}, n_genes);
    return;
  }
  const int64_t total = work_offsets.back();
  std::vector<int64_t> bounds{0};
  for (int t = 1; t < threads; ++t) {
    const int64_t target = total / threads * t;
    const auto it = std::lower_bound(work_offsets.begin(), work_offsets.end(), target);
    bounds.push_back(std::max(bounds.back(), static_cast<int64_t>(it - work_offsets.begin())));
  }
  bounds.push_back(n_genes);
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        fn(bounds[static_cast<size_t>(t)], bounds[static_cast<size_t>(t) + 1]);
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& w : workers) w.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::vector<int64_t> even_offsets(int64_t n) {
  std::vector<int64_t> o(static_cast<size_t>(n) + 1);
  for (int64_t i = 0; i <= n; ++i) o[static_cast<size_t>(i)] = i;
  return o;
}

}  // namespace

double median_of(std::span<double> values) {
  const size_t n = values.size();
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const auto mid = values.begin() + static_cast<std::ptrdiff_t>(n / 2);
  std::nth_element(values.begin(), mid, values.end());
  const double hi = *mid;
  if (n % 2 == 1) return hi;
  const double lo = *std::max_element(values.begin(), mid);
  return (lo + hi) / 2;  // as numpy.mean of the two middle values
}

MedianAccumulator::MedianAccumulator(int64_t n_genes, MedianOptions opt) : opt_(opt) {
  if (n_genes < 0) throw Error("", "medians", "negative number of genes " + std::to_string(n_genes));
  if (!(opt_.compression >= 10) || !std::isfinite(opt_.compression))
    throw Error("", "--compression", shortest_text(opt_.compression) + " must be a finite number >= 10");
  if (opt_.exact_max_values < 0)
    throw Error("", "medians", "exact_max_values " + std::to_string(opt_.exact_max_values) + " is negative");
  exact_ = opt_.mode != MedianOptions::Mode::Streaming;
  add_genes(n_genes);
  peak_ = memory_bytes();
}

void MedianAccumulator::add_genes(int64_t n) {
  const auto total = static_cast<size_t>(n_genes() + n);
  nonzero_.reserve(total);
  nonzero_.resize(total, 0);
  if (exact_) {
    held_.reserve(total);
    held_.resize(total);
  } else {
    digests_.reserve(total);
    while (digests_.size() < total) digests_.push_back(new_digest());
  }
}

int MedianAccumulator::thread_count(int64_t work) const {
  const int hw =
      opt_.threads > 0 ? opt_.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  // A thread per 200k values at least: below that, starting threads costs more than it saves.
  const auto useful = static_cast<int>(std::min<int64_t>(64, work / 200'000 + 1));
  return std::max(1, std::min(hw, useful));
}

void MedianAccumulator::add(const io::CsrMatrix& counts, std::span<const double> library_size) {
  if (counts.n_cols != n_genes())
    throw Error("", "medians",
                "matrix has " + std::to_string(counts.n_cols) + " columns, the accumulator " +
                    std::to_string(n_genes()) + " genes");
  const std::vector<int64_t> identity = even_offsets(counts.n_cols);
  add_mapped(counts, library_size,
             std::span<const int64_t>(identity.data(), static_cast<size_t>(counts.n_cols)));
}

void MedianAccumulator::add(const io::CsrMatrix& counts, std::span<const double> library_size,
                            std::span<const int64_t> column_to_gene) {
  if (static_cast<int64_t>(column_to_gene.size()) != counts.n_cols)
    throw Error("", "medians",
                "column map has " + std::to_string(column_to_gene.size()) + " entries for " +
                    std::to_string(counts.n_cols) + " columns");
  std::vector<uint8_t> used(static_cast<size_t>(n_genes()), 0);
  for (size_t j = 0; j < column_to_gene.size(); ++j) {
    const int64_t g = column_to_gene[j];
    if (g < 0 || g >= n_genes() || used[static_cast<size_t>(g)])
      throw Error("", "medians",
                  "column " + std::to_string(j) + " maps to gene " + std::to_string(g) +
                      ", which is out of range or already taken by another column");
    used[static_cast<size_t>(g)] = 1;
  }
  add_mapped(counts, library_size, column_to_gene);
}

void MedianAccumulator::add_mapped(const io::CsrMatrix& counts, std::span<const double> library_size,
                                   std::span<const int64_t> column_to_gene) {
  const auto n_rows = static_cast<size_t>(counts.n_rows);
  if (!library_size.empty() && library_size.size() != n_rows)
    throw Error(
        "", "medians",
        std::to_string(library_size.size()) + " library sizes for " + std::to_string(n_rows) + " cells");
  std::vector<int64_t> offsets(static_cast<size_t>(n_genes()) + 1, 0);
  std::vector<double> totals(n_rows, 0);
  for (size_t r = 0; r < n_rows; ++r) {
    double sum = 0;
    for (int64_t k = counts.indptr[r]; k < counts.indptr[r + 1]; ++k) {
      const double x = counts.data[static_cast<size_t>(k)];
      if (!(x >= 0) || !std::isfinite(x))
        throw Error("", "counts",
                    "value " + shortest_text(x) + " at row " + std::to_string(r) + ", column " +
                        std::to_string(counts.indices[static_cast<size_t>(k)]) +
                        (std::isfinite(x) ? " is negative" : " is not finite"));
      sum += x;
      if (x > 0)
        ++offsets[static_cast<size_t>(
                      column_to_gene[static_cast<size_t>(counts.indices[static_cast<size_t>(k)])]) +
                  1];
    }
    totals[r] = library_size.empty() ? sum : library_size[r];
    if (sum > 0 && !(totals[r] > 0 && std::isfinite(totals[r])))
      throw Error("", "medians",
                  "library size " + shortest_text(totals[r]) + " of row " + std::to_string(r) +
                      " is not positive and finite");
  }
  for (size_t g = 1; g < offsets.size(); ++g) offsets[g] += offsets[g - 1];
  const int64_t chunk_values = offsets.back();

  // Bucket the normalised values by gene, each gene's run in cell order.
  std::vector<double> values(static_cast<size_t>(chunk_values));
  std::vector<int64_t> cursor(offsets.begin(), offsets.end() - 1);
  for (size_t r = 0; r < n_rows; ++r) {
    for (int64_t k = counts.indptr[r]; k < counts.indptr[r + 1]; ++k) {
      const double x = counts.data[static_cast<size_t>(k)];
      if (x == 0) continue;
      const auto g =
          static_cast<size_t>(column_to_gene[static_cast<size_t>(counts.indices[static_cast<size_t>(k)])]);
      values[static_cast<size_t>(cursor[g]++)] = x / totals[r] * 10'000;
    }
  }

  if (exact_ && opt_.mode == MedianOptions::Mode::Auto && n_values_ + chunk_values > opt_.exact_max_values)
    switch_to_digests();
  for_gene_ranges(thread_count(chunk_values), offsets, [&](int64_t lo, int64_t hi) {
    for (auto g = static_cast<size_t>(lo); g < static_cast<size_t>(hi); ++g) {
      const std::span<const double> run(values.data() + offsets[g],
                                        static_cast<size_t>(offsets[g + 1] - offsets[g]));
      if (run.empty()) continue;
      nonzero_[g] += static_cast<int64_t>(run.size());
      if (exact_) {
        held_[g].insert(held_[g].end(), run.begin(), run.end());
      } else {
        digests_[g].add_all(run);
      }
    }
  });
  n_cells_ += counts.n_rows;
  n_values_ += chunk_values;
  peak_ = std::max(peak_, memory_bytes());
}

void MedianAccumulator::switch_to_digests() {
  // Gene by gene, each gene's held values in cell order: the digests end up
  // exactly as if they had been fed from the first cell (see the header).
  const auto n = static_cast<size_t>(n_genes());
  digests_.reserve(n);
  for (size_t g = 0; g < n; ++g) digests_.push_back(new_digest());
  std::vector<int64_t> work(n + 1, 0);
  for (size_t g = 0; g < n; ++g) work[g + 1] = work[g] + static_cast<int64_t>(held_[g].size());
  for_gene_ranges(thread_count(work.back()), work, [&](int64_t lo, int64_t hi) {
    for (auto g = static_cast<size_t>(lo); g < static_cast<size_t>(hi); ++g) {
      digests_[g].add_all(held_[g]);
      std::vector<double>().swap(held_[g]);
    }
  });
  std::vector<std::vector<double>>().swap(held_);
  exact_ = false;
  peak_ = std::max(peak_, memory_bytes());
}

std::vector<double> MedianAccumulator::medians() const {
  const auto n = static_cast<size_t>(n_genes());
  std::vector<double> out(n, std::numeric_limits<double>::quiet_NaN());
  std::vector<int64_t> work(n + 1, 0);
  for (size_t g = 0; g < n; ++g) work[g + 1] = work[g] + nonzero_[g];
  for_gene_ranges(thread_count(work.back()), work, [&](int64_t lo, int64_t hi) {
    std::vector<double> scratch;
    for (auto g = static_cast<size_t>(lo); g < static_cast<size_t>(hi); ++g) {
      if (nonzero_[g] == 0) continue;
      if (exact_) {
        scratch.assign(held_[g].begin(), held_[g].end());
        out[g] = median_of(scratch);
      } else {
        out[g] = digests_[g].quantile(0.5);
      }
    }
  });
  return out;
}

std::vector<int64_t> MedianAccumulator::nonzero_cells() const {
  return nonzero_;
}

size_t MedianAccumulator::memory_bytes() const {
  size_t bytes = sizeof(*this) + nonzero_.capacity() * sizeof(int64_t);
  bytes += held_.capacity() * sizeof(std::vector<double>);
  for (const auto& h : held_) bytes += h.capacity() * sizeof(double);
  bytes += (digests_.capacity() - digests_.size()) * sizeof(TDigest);
  for (const auto& d : digests_) bytes += d.memory_bytes();
  return bytes;
}

size_t MedianAccumulator::streaming_memory_bound(int64_t n_genes, const MedianOptions& opt) {
  const auto n = static_cast<size_t>(n_genes);
  return sizeof(MedianAccumulator) + n * (sizeof(int64_t) + TDigest::max_memory_bytes(opt.compression));
}

namespace {

// The first negative or non-finite value of a chunk, named by cell and gene.
void check_counts(const io::CellMatrix& chunk, const ChunkedInput& input, int64_t first_cell) {
  const io::CsrMatrix& m = chunk.X;
  for (size_t k = 0; k < m.data.size(); ++k) {
    const double x = m.data[k];
    if (x >= 0 && std::isfinite(x)) continue;
    const auto row = static_cast<size_t>(
        std::upper_bound(m.indptr.begin(), m.indptr.end(), static_cast<int64_t>(k)) - m.indptr.begin() - 1);
    const auto col = static_cast<size_t>(m.indices[k]);
    const std::string cell = row < chunk.obs.index.size() ? "'" + chunk.obs.index[row] + "' " : "";
    const std::string gene = col < input.var().index.size() ? "'" + input.var().index[col] + "' " : "";
    throw Error(input.path(), input.matrix_name(),
                "value " + shortest_text(x) + " at cell " + cell + "(row " +
                    std::to_string(first_cell + static_cast<int64_t>(row)) + "), gene " + gene + "(column " +
                    std::to_string(col) + ") is " + (std::isfinite(x) ? "negative" : "not finite") +
                    "; medians need non-negative counts");
  }
}

}  // namespace

CorpusMedians corpus_medians(const std::vector<std::string>& paths, const std::string& layer,
                             int64_t chunk_cells, const MedianOptions& opt) {
  if (paths.empty()) throw Error("", "INPUT", "no input files");
  if (chunk_cells < 1) throw Error("", "--chunk-cells", std::to_string(chunk_cells) + " must be at least 1");
  MedianAccumulator acc(0, opt);
  CorpusMedians out;
  std::unordered_map<std::string, int64_t> gene_index;
  for (const std::string& path : paths) {
    const ChunkedInput input(path, layer);
    const std::vector<std::string>& names = input.var().index;
    // Column j of this file -> union gene; a name twice in one file would give
    // a cell two values for one gene, so it is refused.
    std::vector<int64_t> to_gene(names.size());
    std::unordered_map<std::string, size_t> seen;
    for (size_t j = 0; j < names.size(); ++j) {
      if (auto [it, fresh] = seen.emplace(names[j], j); !fresh)
        throw Error(path, "var",
                    "gene '" + names[j] + "' occurs twice (columns " + std::to_string(it->second) + " and " +
                        std::to_string(j) + "); medians are keyed by gene name");
      auto [it, fresh] = gene_index.emplace(names[j], static_cast<int64_t>(out.genes.size()));
      if (fresh) out.genes.push_back(names[j]);
      to_gene[j] = it->second;
    }
    acc.add_genes(static_cast<int64_t>(out.genes.size()) - acc.n_genes());
    for_each_chunk(input, chunk_cells, {}, [&](int64_t first, const io::CellMatrix& chunk) {
      check_counts(chunk, input, first);
      acc.add(chunk.X, {}, to_gene);
    });
  }
  out.medians = acc.medians();
  out.nonzero_cells = acc.nonzero_cells();
  out.n_cells = acc.n_cells();
  out.exact = acc.exact();
  out.n_values = acc.n_values();
  out.peak_memory_bytes = acc.peak_memory_bytes();
  return out;
}

}  // namespace pg::tokenise
