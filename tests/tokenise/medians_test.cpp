// Per-gene medians: exact medians equal numpy's (run on the same 10x files)
// and a brute-force sort, on hand-made matrices they equal values worked out
// by hand, streaming (t-digest) medians stay within stated error bounds of the
// exact ones, results do not depend on chunking or threads, Auto mode is Exact
// or Streaming exactly, memory stays bounded over 500k cells, and bad input
// fails with the file, cell and gene named.
#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <map>
#include <numbers>
#include <random>
#include <sstream>

#include "core/error.h"
#include "io/formats.h"
#include "test_support.h"
#include "tokenise/medians.h"

namespace fs = std::filesystem;
using pg::io::CsrMatrix;
using pg::tokenise::corpus_medians;
using pg::tokenise::CorpusMedians;
using pg::tokenise::MedianAccumulator;
using pg::tokenise::MedianOptions;
using Mode = pg::tokenise::MedianOptions::Mode;

namespace {

CsrMatrix csr(int64_t cols, const std::vector<std::vector<std::pair<int32_t, float>>>& rows) {
  return pg::test::csr_from_rows(cols, rows);
}

void write_h5ad(const fs::path& path, const std::vector<std::string>& genes, const CsrMatrix& x) {
  pg::io::CellMatrix m;
  m.X = x;
  for (int64_t r = 0; r < x.n_rows; ++r)
    m.obs.index.push_back(path.stem().string() + "_cell" + std::to_string(r));
  m.var.index = genes;
  pg::io::write_h5ad(m, path.string());
}

MedianOptions with_mode(Mode mode, int threads = 0) {
  MedianOptions o;
  o.mode = mode;
  o.threads = threads;
  return o;
}

void expect_same(const std::vector<double>& a, const std::vector<double>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i])) {
      ASSERT_TRUE(std::isnan(b[i])) << i;
    } else {
      ASSERT_EQ(a[i], b[i]) << i;
    }
  }
}

// Gene id -> (median, non-zero cells), from numpy on the dataset's own
// MatrixMarket files (scipy reader, float64, numpy.median).
std::map<std::string, std::pair<double, int64_t>> numpy_medians(const fs::path& folder) {
  const fs::path dir = pg::test::temp_dir();
  const fs::path script = dir / "medians.py", out = dir / "medians.tsv";
  std::ofstream(script) << R"(import gzip, sys
import numpy as np, scipy.io, scipy.sparse as sp
folder, out = sys.argv[1], sys.argv[2]
with gzip.open(folder + "/matrix.mtx.gz") as f:
    X = sp.csc_matrix(scipy.io.mmread(f).T, dtype=np.float64)  # cells x genes
with gzip.open(folder + "/features.tsv.gz", "rt") as f:
    genes = [line.split("\t")[0] for line in f.read().splitlines()]
total = np.asarray(X.sum(axis=1)).ravel()
with open(out, "w") as f:
    for g in range(X.shape[1]):
        lo, hi = X.indptr[g], X.indptr[g + 1]
        v = X.data[lo:hi] / total[X.indices[lo:hi]] * 1e4
        v = v[v != 0]
        if len(v):
            f.write(f"{genes[g]}\t{float(np.median(v))!r}\t{len(v)}\n")
)";
  const auto r = pg::test::run_command(pg::test::python() + " " + script.string() + " " + folder.string() +
                                       " " + out.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, std::pair<double, int64_t>> m;
  std::ifstream in(out);
  std::string gene, median;
  int64_t n = 0;
  while (in >> gene >> median >> n) {
    double v = 0;
    std::from_chars(median.data(), median.data() + median.size(), v);
    m[gene] = {v, n};
  }
  return m;
}

// Every gene's non-zero normalised values, sorted: the brute-force reference.
std::vector<std::vector<double>> sorted_values(const fs::path& folder) {
  const pg::io::CellMatrix m = pg::io::read_any(folder.string());
  std::vector<std::vector<double>> v(static_cast<size_t>(m.n_genes()));
  for (int64_t r = 0; r < m.X.n_rows; ++r) {
    double total = 0;
    for (int64_t k = m.X.indptr[r]; k < m.X.indptr[r + 1]; ++k) total += m.X.data[static_cast<size_t>(k)];
    for (int64_t k = m.X.indptr[r]; k < m.X.indptr[r + 1]; ++k)
      if (m.X.data[static_cast<size_t>(k)] != 0)
        v[static_cast<size_t>(m.X.indices[static_cast<size_t>(k)])].push_back(
            m.X.data[static_cast<size_t>(k)] / total * 1e4);
  }
  for (auto& g : v) std::sort(g.begin(), g.end());
  return v;
}

// --- hand-made matrix ------------------------------------------------------
// 4 cells x 5 genes. Library sizes 4, 4, 10, 0 (row sums):
//   cell0: g0=2, g2=1, g4=1          -> g0 5000, g2 2500, g4 2500
//   cell1: g0=1, g1=0 (stored), g2=3 -> g0 2500, g2 7500
//   cell2: g0=4, g2=1, g4=5          -> g0 4000, g2 1000, g4 5000
//   cell3: nothing
// Medians: g0 {5000, 2500, 4000} -> 4000; g1 none; g2 {2500, 7500, 1000} ->
// 2500; g3 none; g4 {2500, 5000} -> 3750 (mean of the two).
CsrMatrix hand_matrix() {
  return csr(5, {{{0, 2}, {2, 1}, {4, 1}}, {{0, 1}, {1, 0}, {2, 3}}, {{0, 4}, {2, 1}, {4, 5}}, {}});
}

TEST(Medians, HandComputedExactAndStreaming) {
  for (Mode mode : {Mode::Exact, Mode::Auto, Mode::Streaming}) {
    MedianAccumulator acc(5, with_mode(mode));
    acc.add(hand_matrix());
    const auto med = acc.medians();
    EXPECT_EQ(med[0], 4000.0);
    EXPECT_TRUE(std::isnan(med[1]));
    EXPECT_EQ(med[2], 2500.0);
    EXPECT_TRUE(std::isnan(med[3]));
    EXPECT_EQ(med[4], 3750.0);
    EXPECT_EQ(acc.nonzero_cells(), (std::vector<int64_t>{3, 0, 3, 0, 2}));
    EXPECT_EQ(acc.n_cells(), 4);
    EXPECT_EQ(acc.n_values(), 8);
    EXPECT_EQ(acc.exact(), mode != Mode::Streaming);
  }
  // Given library sizes twice the row sums, every value halves.
  MedianAccumulator acc(5);
  const std::vector<double> lib = {8, 8, 20, 1};
  acc.add(hand_matrix(), lib);
  const auto med = acc.medians();
  EXPECT_EQ(med[0], 2000.0);
  EXPECT_EQ(med[2], 1250.0);
  EXPECT_EQ(med[4], 1875.0);
}

TEST(Medians, ColumnMapAndGrowingGenes) {
  // Two matrices over different gene orders: columns (b, a) then (a, c).
  MedianAccumulator acc(2);
  const std::vector<int64_t> first = {1, 0};
  acc.add(csr(2, {{{0, 1}, {1, 3}}}), {}, first);  // b 2500, a 7500
  acc.add_genes(1);
  const std::vector<int64_t> second = {0, 2};
  acc.add(csr(2, {{{0, 1}, {1, 1}}, {{0, 1}}}), {}, second);  // a 5000, c 5000; a 10000
  const auto med = acc.medians();
  EXPECT_EQ(med[0], 7500.0);  // a {7500, 5000, 10000}
  EXPECT_EQ(med[1], 2500.0);
  EXPECT_EQ(med[2], 5000.0);
  const std::vector<int64_t> clash = {0, 0};
  EXPECT_NE(pg::test::error_of([&] {
              acc.add(csr(2, {{{0, 1}}}), {}, clash);
            }).find("already taken"),
            std::string::npos);
}

TEST(Medians, RejectsNegativeAndNonFinite) {
  MedianAccumulator acc(3);
  EXPECT_NE(pg::test::error_of([&] {
              acc.add(csr(3, {{{0, 1}}, {{2, -2}}}));
            }).find("value -2 at row 1, column 2 is negative"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([&] {
              acc.add(csr(3, {{{1, std::numeric_limits<float>::infinity()}}}));
            }).find("is not finite"),
            std::string::npos);
  EXPECT_EQ(acc.n_values(), 0);  // nothing of a rejected chunk is kept
  EXPECT_NE(pg::test::error_of([] {
              MedianOptions o;
              o.compression = 2;
              MedianAccumulator bad(1, o);
            }).find("--compression"),
            std::string::npos);
}

// --- real datasets ---------------------------------------------------------

class DatasetMedians : public ::testing::TestWithParam<std::string> {};

TEST_P(DatasetMedians, ExactEqualsNumpyAndBruteForce) {
  const fs::path folder = pg::test::dataset(GetParam());
  const CorpusMedians r = corpus_medians({folder.string()}, "", 1000, with_mode(Mode::Exact));
  const auto numpy = numpy_medians(folder);
  const auto brute = sorted_values(folder);
  ASSERT_EQ(r.genes.size(), brute.size());
  ASSERT_FALSE(numpy.empty());
  size_t with_median = 0;
  for (size_t g = 0; g < r.genes.size(); ++g) {
    const auto it = numpy.find(r.genes[g]);
    if (it == numpy.end()) {
      EXPECT_TRUE(std::isnan(r.medians[g])) << r.genes[g];
      EXPECT_EQ(r.nonzero_cells[g], 0);
      continue;
    }
    ++with_median;
    // Integer counts: library sizes are exact sums, so values and medians are bit-identical.
    ASSERT_EQ(r.medians[g], it->second.first) << r.genes[g];
    ASSERT_EQ(r.nonzero_cells[g], it->second.second) << r.genes[g];
    const auto& s = brute[g];
    const size_t n = s.size();
    ASSERT_EQ(r.medians[g], n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2) << r.genes[g];
  }
  EXPECT_EQ(with_median, numpy.size());
  EXPECT_TRUE(r.exact);
  // Neither chunk size nor thread count changes an exact result.
  expect_same(r.medians, corpus_medians({folder.string()}, "", 37, with_mode(Mode::Exact, 1)).medians);
  expect_same(r.medians, corpus_medians({folder.string()}, "", 5000, with_mode(Mode::Exact, 3)).medians);
}

TEST_P(DatasetMedians, StreamingWithinBoundsOfExact) {
  const fs::path folder = pg::test::dataset(GetParam());
  const CorpusMedians exact = corpus_medians({folder.string()}, "", 1000, with_mode(Mode::Exact));
  const CorpusMedians stream = corpus_medians({folder.string()}, "", 1000, with_mode(Mode::Streaming));
  EXPECT_FALSE(stream.exact);
  const auto brute = sorted_values(folder);
  std::vector<double> rel, rel_merged;  // all genes; genes with more values than a digest keeps unmerged
  double max_rank = 0;
  const int64_t unmerged = static_cast<int64_t>(pg::tokenise::TDigest(200).max_points_unmerged());
  for (size_t g = 0; g < exact.genes.size(); ++g) {
    ASSERT_EQ(std::isnan(exact.medians[g]), std::isnan(stream.medians[g])) << g;
    if (std::isnan(exact.medians[g])) continue;
    const double e = std::abs(stream.medians[g] - exact.medians[g]) / exact.medians[g];
    rel.push_back(e);
    if (exact.nonzero_cells[g] > unmerged) rel_merged.push_back(e);
    if (exact.nonzero_cells[g] <= unmerged) {
      EXPECT_EQ(e, 0.0) << exact.genes[g];
    }
    // Rank error of the streaming median among the gene's own values.
    const auto& s = brute[g];
    const auto n = static_cast<double>(s.size());
    const double lo =
        static_cast<double>(std::lower_bound(s.begin(), s.end(), stream.medians[g]) - s.begin()) / n;
    const double hi =
        static_cast<double>(std::upper_bound(s.begin(), s.end(), stream.medians[g]) - s.begin()) / n;
    max_rank = std::max(max_rank, std::max(0.0, std::max(lo - 0.5, 0.5 - hi)));
  }
  std::sort(rel.begin(), rel.end());
  std::sort(rel_merged.begin(), rel_merged.end());
  ASSERT_FALSE(rel_merged.empty());
  const double max_rel = rel.back(), median_rel = rel[rel.size() / 2];
  const double median_rel_merged = rel_merged[rel_merged.size() / 2];
  std::cout << GetParam() << ": streaming vs exact over " << rel.size() << " genes: max relative error "
            << max_rel << ", median " << median_rel << "; over the " << rel_merged.size() << " genes with > "
            << unmerged << " values: median " << median_rel_merged << ", 90th percentile "
            << rel_merged[rel_merged.size() * 9 / 10] << "; max rank error " << max_rank
            << "; peak memory exact " << exact.peak_memory_bytes << " B, streaming "
            << stream.peak_memory_bytes << " B\n";
  // Genes with few values are answered exactly (checked above), so the median
  // error over all genes is 0. The rank error stays within one centroid's
  // width at the median, pi / delta (delta = 200); measured: 0.012.
  EXPECT_EQ(median_rel, 0.0);
  EXPECT_LE(max_rank, std::numbers::pi / 200);
  EXPECT_LE(max_rel, 0.05);             // measured 0.027 (pbmc3k), 0.027 (lps)
  EXPECT_LE(median_rel_merged, 0.005);  // measured 0.001 (pbmc3k), 0.0036 (lps)
  // Same input order, same output; chunking and threads do not matter either.
  expect_same(stream.medians,
              corpus_medians({folder.string()}, "", 53, with_mode(Mode::Streaming, 1)).medians);
  expect_same(stream.medians,
              corpus_medians({folder.string()}, "", 4000, with_mode(Mode::Streaming, 4)).medians);
  // Auto with a small limit switches part-way and then equals Streaming exactly.
  MedianOptions autoswitch = with_mode(Mode::Auto);
  autoswitch.exact_max_values = exact.n_values / 3;
  const CorpusMedians a = corpus_medians({folder.string()}, "", 100, autoswitch);
  EXPECT_FALSE(a.exact);
  expect_same(stream.medians, a.medians);
  autoswitch.exact_max_values = exact.n_values;  // everything fits: exact
  const CorpusMedians b = corpus_medians({folder.string()}, "", 100, autoswitch);
  EXPECT_TRUE(b.exact);
  expect_same(exact.medians, b.medians);
}

INSTANTIATE_TEST_SUITE_P(Real, DatasetMedians, ::testing::Values("lps_bmdc_timecourse", "pbmc3k_raw"),
                         pg::test::FixtureName{});

// --- corpus of files -------------------------------------------------------

TEST(CorpusMedians, UnionOfGenesInFirstSeenOrder) {
  const fs::path dir = pg::test::temp_dir();
  // a.h5ad genes (g1, g2, g3): cell0 g1=1 g2=3 (total 4); cell1 g1=2 g3=2 (total 4).
  write_h5ad(dir / "a.h5ad", {"g1", "g2", "g3"}, csr(3, {{{0, 1}, {1, 3}}, {{0, 2}, {2, 2}}}));
  // b.h5ad genes (g4, g1, g5): cell0 g4=1 g1=4 (total 5); cell1 g1=5 (total 5).
  write_h5ad(dir / "b.h5ad", {"g4", "g1", "g5"}, csr(3, {{{0, 1}, {1, 4}}, {{1, 5}}}));
  const CorpusMedians r =
      corpus_medians({(dir / "a.h5ad").string(), (dir / "b.h5ad").string()}, "", 1, MedianOptions{});
  EXPECT_EQ(r.genes, (std::vector<std::string>{"g1", "g2", "g3", "g4", "g5"}));
  // g1 {2500, 5000, 8000, 10000} -> 6500; g2 {7500}; g3 {5000}; g4 {2000}; g5 none.
  EXPECT_EQ(r.medians[0], 6500.0);
  EXPECT_EQ(r.medians[1], 7500.0);
  EXPECT_EQ(r.medians[2], 5000.0);
  EXPECT_EQ(r.medians[3], 2000.0);
  EXPECT_TRUE(std::isnan(r.medians[4]));
  EXPECT_EQ(r.nonzero_cells, (std::vector<int64_t>{4, 1, 1, 1, 0}));
  EXPECT_EQ(r.n_cells, 4);
  EXPECT_TRUE(r.exact);
}

TEST(CorpusMedians, ErrorsNameFileCellAndGene) {
  const std::string neg = pg::test::fixture("bpcells/mini_mat_int_64_neg.anndata-v0.12.6.h5ad").string();
  const std::string msg = pg::test::error_of([&] { corpus_medians({neg}, "", 100, MedianOptions{}); });
  EXPECT_NE(msg.find(neg + ": X: value -"), std::string::npos) << msg;
  EXPECT_NE(msg.find("is negative"), std::string::npos) << msg;
  EXPECT_NE(msg.find("at cell '"), std::string::npos) << msg;
  EXPECT_NE(msg.find("gene '"), std::string::npos) << msg;

  const fs::path dir = pg::test::temp_dir();
  write_h5ad(dir / "dup.h5ad", {"g1", "g2", "g1"}, csr(3, {{{0, 1}}}));
  EXPECT_NE(pg::test::error_of([&] {
              corpus_medians({(dir / "dup.h5ad").string()}, "", 10, MedianOptions{});
            }).find("gene 'g1' occurs twice (columns 0 and 2)"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([] { corpus_medians({}, "", 10, MedianOptions{}); }).find("no input files"),
            std::string::npos);
}

// --- memory ----------------------------------------------------------------

TEST(Medians, StreamingMemoryBoundedOver500kCells) {
  // 500,000 synthetic cells x 1,000 genes, about 8 non-zero counts per cell
  // (4 million values): the digests fill up early and then stay the same size.
  constexpr int64_t kGenes = 1000, kCells = 500'000, kChunk = 10'000;
  MedianAccumulator acc(kGenes, with_mode(Mode::Streaming));
  const size_t bound = MedianAccumulator::streaming_memory_bound(kGenes, MedianOptions{});
  std::mt19937_64 rng(99);
  std::uniform_int_distribution<int32_t> gene(0, kGenes - 1);
  std::geometric_distribution<int> count(0.4);
  size_t at_100k = 0;
  for (int64_t first = 0; first < kCells; first += kChunk) {
    CsrMatrix m;
    m.n_rows = kChunk;
    m.n_cols = kGenes;
    for (int64_t r = 0; r < kChunk; ++r) {
      std::vector<int32_t> genes;
      for (int i = 0; i < 8; ++i) genes.push_back(gene(rng));
      std::sort(genes.begin(), genes.end());
      genes.erase(std::unique(genes.begin(), genes.end()), genes.end());
      for (int32_t g : genes) {
        m.indices.push_back(g);
        m.data.push_back(static_cast<float>(1 + count(rng)));
      }
      m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
    }
    acc.add(m);
    ASSERT_LE(acc.memory_bytes(), bound) << first;
    if (first + kChunk == 100'000) at_100k = acc.memory_bytes();
  }
  EXPECT_EQ(acc.n_cells(), kCells);
  EXPECT_EQ(acc.memory_bytes(), at_100k);  // no growth from 100k to 500k cells
  EXPECT_LE(acc.peak_memory_bytes(), bound);
  // Exact medians would hold 8 bytes per value.
  EXPECT_LT(acc.peak_memory_bytes() * 4, static_cast<size_t>(acc.n_values()) * sizeof(double));
  std::cout << "500k cells: " << acc.n_values() << " values, streaming memory " << acc.memory_bytes()
            << " B (bound " << bound << " B; exact would hold >= " << acc.n_values() * 8 << " B)\n";
  for (double m : acc.medians()) EXPECT_FALSE(std::isnan(m));
}

}  // namespace
