// Seurat-flavour HVG selection: textbook statistics on a hand-made matrix,
// scanpy's tie rules, and scanpy 1.11.5's own selections on three shared
// datasets (tests/data/hvg/*.tsv from tests/python/make_hvg_expected.py),
// streamed 50 cells at a time through several merged accumulators; plus the
// bit-for-bit independence of the result from chunking and merge order.
#include "tokenise/hvg.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "io/formats.h"
#include "test_support.h"
#include "tokenise/chunked_input.h"

namespace {

using pg::io::CsrMatrix;
using pg::tokenise::HvgAccumulator;
using pg::tokenise::HvgOptions;
using pg::tokenise::HvgResult;
using pg::tokenise::select_hvg_seurat;

CsrMatrix csr(const std::vector<std::vector<float>>& dense) {
  CsrMatrix m;
  m.n_rows = static_cast<int64_t>(dense.size());
  m.n_cols = dense.empty() ? 0 : static_cast<int64_t>(dense[0].size());
  for (const auto& row : dense) {
    for (size_t j = 0; j < row.size(); ++j) {
      if (row[j] == 0) continue;
      m.indices.push_back(static_cast<int32_t>(j));
      m.data.push_back(row[j]);
    }
    m.indptr.push_back(static_cast<int64_t>(m.data.size()));
  }
  return m;
}

// Textbook mean and ddof=1 variance.
std::pair<double, double> mean_var(const std::vector<double>& x) {
  double m = 0;
  for (double v : x) m += v;
  m /= static_cast<double>(x.size());
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return {m, ss / static_cast<double>(x.size() - 1)};
}

// Every cell's counts sum to 625, so normalize_total divides by exactly
// 0.0625 (values = 16 x counts), and every count is one whose 16x survives
// float32 log1p/expm1 unchanged: the statistics are exact textbook numbers.
const std::vector<std::vector<float>> kHand = {
    {13, 0, 16, 596}, {1, 0, 33, 591}, {23, 0, 16, 586},  // batch 0
    {9, 29, 17, 570}, {0, 61, 0, 564}, {9, 49, 17, 550},  // batch 1
    {300, 300, 25, 0}};                                   // unused (-1)
const std::vector<int32_t> kHandBatch = {0, 0, 0, 1, 1, 1, -1};

TEST(Hvg, HandMatrixStatisticsAreTextbookMeanAndVariance) {
  HvgAccumulator acc(4, 2);
  acc.add(csr(kHand), kHandBatch);
  EXPECT_EQ(acc.n_cells(0), 3);
  EXPECT_EQ(acc.n_cells(1), 3);
  for (int32_t b = 0; b < 2; ++b) {
    const auto s = acc.batch_stats(b);
    for (size_t g = 0; g < 4; ++g) {
      std::vector<double> x;
      int64_t expressed = 0;
      for (size_t c = 0; c < 6; ++c) {
        if (kHandBatch[c] != b) continue;
        x.push_back(16.0 * kHand[c][g]);
        expressed += kHand[c][g] > 0;
      }
      const auto [m, v] = mean_var(x);
      EXPECT_EQ(s.n_expressed[g], expressed) << b << " " << g;
      EXPECT_NEAR(s.mean[g], m, 1e-12 * m) << b << " " << g;
      EXPECT_NEAR(s.var[g], v, 1e-9 * std::max(v, 1.0)) << b << " " << g;
    }
  }
  // By hand for two of them: batch 0 gene 0 = 16 * {13, 1, 23}: mean 197.33, var 256 * 121.33.
  EXPECT_NEAR(acc.batch_stats(0).mean[0], 16.0 * 37 / 3, 1e-10);
  EXPECT_NEAR(acc.batch_stats(0).var[0], 256.0 * 364 / 3, 1e-7);
}

TEST(Hvg, HandMatrixDispersionsBinsAndSelection) {
  HvgAccumulator acc(4, 2);
  acc.add(csr(kHand), kHandBatch);
  HvgOptions opt;
  opt.n_top_genes = 2;
  opt.n_bins = 2;
  const HvgResult r = select_hvg_seurat(acc, opt);

  // Per batch by hand: log1p(mean), log(var / mean); two equal-width bins
  // over the log means. Gene 3 (mean ~9500) is alone in the upper bin of
  // both batches, so its normalised dispersion is 1; the lower bin is
  // standardised with its mean and ddof=1 std. Gene 1 is not expressed in
  // batch 0 and enters that batch's table as zeros.
  std::vector<double> mean_sum(4, 0), disp_sum(4, 0), norm_sum(4, 0);
  std::vector<int> nb(4, 0);
  for (int32_t b = 0; b < 2; ++b) {
    std::vector<size_t> genes;
    std::vector<double> lm(4), d(4), z(4, 0);
    for (size_t g = 0; g < 4; ++g) {
      std::vector<double> x;
      for (size_t c = 0; c < 6; ++c)
        if (kHandBatch[c] == b) x.push_back(16.0 * kHand[c][g]);
      if (*std::max_element(x.begin(), x.end()) == 0) continue;
      genes.push_back(g);
      const auto [m, v] = mean_var(x);
      lm[g] = std::log1p(m);
      d[g] = std::log(v / m);
    }
    ASSERT_EQ(genes.size(), b == 0 ? 3u : 4u);
    std::vector<double> low;
    for (size_t g : genes)
      if (g != 3) low.push_back(d[g]);
    const auto [avg, var] = mean_var(low);
    for (size_t g : genes) z[g] = g == 3 ? 1.0 : (d[g] - avg) / std::sqrt(var);
    if (b == 0) {  // two genes in the lower bin: +-1/sqrt(2)
      EXPECT_NEAR(std::fabs(z[0]), std::sqrt(0.5), 1e-12);
      EXPECT_NEAR(z[0], -z[2], 1e-12);
    }
    // Top 2 per batch: gene 3 (z = 1) and the best of the lower bin.
    std::vector<double> sorted(z);
    for (size_t g = 0; g < 4; ++g)
      if (std::find(genes.begin(), genes.end(), g) == genes.end()) sorted[g] = -1e300;
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    for (size_t g : genes) nb[g] += z[g] >= sorted[1];
    for (size_t g = 0; g < 4; ++g) {
      mean_sum[g] += lm[g];
      disp_sum[g] += d[g];
      norm_sum[g] += z[g];
    }
  }
  for (size_t g = 0; g < 4; ++g) {
    EXPECT_NEAR(r.means[g], mean_sum[g] / 2, 1e-12) << g;
    EXPECT_NEAR(r.dispersions[g], disp_sum[g] / 2, 1e-9) << g;
    EXPECT_NEAR(r.dispersions_norm[g], norm_sum[g] / 2, 1e-9) << g;
    EXPECT_EQ(r.n_batches_hvg[g], nb[g]) << g;
  }
  EXPECT_DOUBLE_EQ(r.dispersions_norm[3], 1.0);
  // scanpy 1.11.5 on this matrix (tests/python, by hand): nbatches 1 0 1 2, genes 2 and 3 chosen.
  EXPECT_EQ(r.n_batches_hvg, (std::vector<int32_t>{1, 0, 1, 2}));
  EXPECT_EQ(r.selected, (std::vector<int64_t>{2, 3}));
  EXPECT_NEAR(r.dispersions_norm[2], 0.187223, 1e-6);
  EXPECT_NEAR(r.dispersions_norm[0], -0.091965, 1e-6);
}

// Genes 0 and 1 are identical; one bin, so they tie for the top everywhere.
const std::vector<std::vector<float>> kTie = {{50, 50, 100, 20, 780}, {5, 5, 101, 40, 849},
                                              {80, 80, 99, 25, 716},  {10, 10, 100, 35, 845},
                                              {60, 60, 102, 30, 748}, {2, 2, 98, 45, 853}};

TEST(Hvg, BatchedTiesAreBrokenByGeneNameAsScanpyGroupsByName) {
  HvgAccumulator acc(5, 2);
  acc.add(csr(kTie), std::vector<int32_t>{0, 0, 0, 1, 1, 1});
  HvgOptions opt;
  opt.n_top_genes = 1;
  opt.n_bins = 1;
  EXPECT_EQ(select_hvg_seurat(acc, opt).selected, (std::vector<int64_t>{0}));  // no names: index order
  opt.gene_names = {"zeta", "alpha", "g2", "g3", "g4"};
  const HvgResult r = select_hvg_seurat(acc, opt);
  EXPECT_EQ(r.selected, (std::vector<int64_t>{1}));  // scanpy picks "alpha" wherever it stands
  EXPECT_EQ(r.n_batches_hvg, (std::vector<int32_t>{2, 2, 0, 0, 0}));
  EXPECT_NEAR(r.dispersions_norm[0], 0.793944, 1e-6);  // scanpy's value
  EXPECT_NEAR(r.dispersions_norm[4], 0.135678, 1e-6);
  opt.gene_names = {"alpha", "zeta", "g2", "g3", "g4"};
  EXPECT_EQ(select_hvg_seurat(acc, opt).selected, (std::vector<int64_t>{0}));
}

TEST(Hvg, WithoutBatchKeyEveryGeneTiedAtTheCutoffIsSelected) {
  HvgAccumulator acc(5, 1);
  acc.add(csr(kTie), std::vector<int32_t>(6, 0));
  HvgOptions opt;
  opt.n_top_genes = 1;
  opt.n_bins = 1;
  opt.batch_key = false;
  const HvgResult r = select_hvg_seurat(acc, opt);
  EXPECT_EQ(r.selected, (std::vector<int64_t>{0, 1}));
  EXPECT_NEAR(r.dispersions_norm[0], 0.784251, 1e-6);  // scanpy's values
  EXPECT_NEAR(r.dispersions_norm[2], -1.659246, 1e-6);
  EXPECT_NEAR(r.means[4], 8.985445, 1e-6);
  // With a batch key over the same single batch, exactly n_top_genes.
  opt.batch_key = true;
  EXPECT_EQ(select_hvg_seurat(acc, opt).selected.size(), 1u);
}

TEST(Hvg, BadInputIsAOneLineError) {
  HvgAccumulator acc(4, 2);
  const CsrMatrix m = csr(kHand);
  EXPECT_NE(pg::test::error_of([&] {
              acc.add(m, std::vector<int32_t>{0, 0});
            }).find("2 labels for 7 cells"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([&] {
              acc.add(m, std::vector<int32_t>{0, 0, 0, 1, 1, 2, 0}, "x.h5ad");
            }).find("x.h5ad: HVG batch labels: cell 5 has batch 2, outside [-1, 2)"),
            std::string::npos);
  CsrMatrix neg = csr({{1, -2, 0, 0}});
  EXPECT_NE(pg::test::error_of([&] { acc.add(neg, std::vector<int32_t>{0}, "x.h5ad"); }).find("not a count"),
            std::string::npos);
  HvgAccumulator wide(5, 2);
  EXPECT_NE(pg::test::error_of([&] { wide.add(m, kHandBatch); }).find("has 4 genes"), std::string::npos);
  EXPECT_NE(pg::test::error_of([&] { wide.merge(acc); }).find("cannot merge"), std::string::npos);
  HvgAccumulator one_empty(4, 3);
  one_empty.add(m, kHandBatch);
  EXPECT_NE(pg::test::error_of([&] { select_hvg_seurat(one_empty, {}); }).find("HVG batch 2: has no cells"),
            std::string::npos);
  HvgOptions zero;
  zero.n_top_genes = 0;
  EXPECT_NE(pg::test::error_of([&] { select_hvg_seurat(acc, zero); }).find("must be at least 1"),
            std::string::npos);
}

// --- the shared datasets against scanpy ---------------------------------------

struct Case {
  std::string dataset, batch_key;
  int64_t n_top;
};
void PrintTo(const Case& c, std::ostream* os) {
  *os << c.dataset;
}

struct ExpectedRow {
  int64_t gene;
  std::string name;
  bool selected;
  int32_t nbatches;
  double means, dispersions, norm;
};

std::vector<ExpectedRow> read_expected(const std::string& dataset) {
  std::ifstream in(pg::test::source_dir() / "tests" / "data" / "hvg" / (dataset + ".tsv"));
  EXPECT_TRUE(in.good()) << dataset;
  std::vector<ExpectedRow> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    std::istringstream f(line);
    ExpectedRow r;
    std::string sel, m, d, n;
    std::getline(f, sel, '\t');
    r.gene = std::stoll(sel);
    std::getline(f, r.name, '\t');
    std::getline(f, sel, '\t');
    r.selected = sel == "1";
    std::getline(f, sel, '\t');
    r.nbatches = std::stoi(sel);
    std::getline(f, m, '\t');
    std::getline(f, d, '\t');
    std::getline(f, n, '\t');
    r.means = std::strtod(m.c_str(), nullptr);
    r.dispersions = std::strtod(d.c_str(), nullptr);
    r.norm = std::strtod(n.c_str(), nullptr);
    rows.push_back(r);
  }
  return rows;
}

// Batch codes in the order of scanpy's categories: the column's values as
// text (astype(str)), sorted.
std::vector<int32_t> batch_codes(const pg::tokenise::ChunkedInput& input, const std::string& key) {
  std::vector<int32_t> codes(static_cast<size_t>(input.n_cells()), 0);
  if (key.empty()) return codes;
  std::vector<std::string> labels;
  pg::tokenise::for_each_chunk(input, 1000, {key}, [&](int64_t, const pg::io::CellMatrix& m) {
    const pg::io::Column* c = m.obs.find(key);
    for (size_t i = 0; i < m.obs.n_rows(); ++i) labels.push_back(c->text(i));
  });
  std::vector<std::string> cats(labels);
  std::sort(cats.begin(), cats.end());
  cats.erase(std::unique(cats.begin(), cats.end()), cats.end());
  for (size_t i = 0; i < labels.size(); ++i)
    codes[i] = static_cast<int32_t>(std::lower_bound(cats.begin(), cats.end(), labels[i]) - cats.begin());
  return codes;
}

// Milliseconds spent in each step, for the report line.
struct Timing {
  double labels = 0, chunks = 0, add = 0, merge = 0, select = 0;
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Streams the dataset `chunk` cells at a time into `n_acc` accumulators in
// turn and merges them in `reverse` or forward order.
HvgAccumulator accumulate(const pg::tokenise::ChunkedInput& input, const std::vector<int32_t>& codes,
                          int32_t n_batches, int64_t chunk, size_t n_acc, bool reverse,
                          Timing* timing = nullptr) {
  Timing local;
  Timing& t = timing != nullptr ? *timing : local;
  std::vector<HvgAccumulator> accs(n_acc, HvgAccumulator(input.n_genes(), n_batches));
  size_t turn = 0;
  auto start = std::chrono::steady_clock::now();
  pg::tokenise::for_each_chunk(input, chunk, {}, [&](int64_t first, const pg::io::CellMatrix& m) {
    t.chunks += ms_since(start);
    const auto added = std::chrono::steady_clock::now();
    const std::span<const int32_t> b(codes.data() + first, static_cast<size_t>(m.X.n_rows));
    accs[turn++ % n_acc].add(m.X, b, input.path());
    t.add += ms_since(added);
    start = std::chrono::steady_clock::now();
  });
  const auto merged = std::chrono::steady_clock::now();
  if (reverse) std::reverse(accs.begin(), accs.end());
  for (size_t i = 1; i < accs.size(); ++i) accs[0].merge(accs[i]);
  t.merge += ms_since(merged);
  return std::move(accs[0]);
}

class HvgScanpy : public ::testing::TestWithParam<Case> {};

TEST_P(HvgScanpy, SameSelectionAndValuesAsScanpy) {
  const Case& c = GetParam();
  Timing t;
  const auto t0 = std::chrono::steady_clock::now();
  const pg::tokenise::ChunkedInput input(pg::test::dataset(c.dataset).string());
  const std::vector<int32_t> codes = batch_codes(input, c.batch_key);
  const int32_t n_batches = *std::max_element(codes.begin(), codes.end()) + 1;
  t.labels = ms_since(t0);
  const HvgAccumulator acc = accumulate(input, codes, n_batches, 50, 3, false, &t);
  HvgOptions opt;
  opt.n_top_genes = c.n_top;
  opt.batch_key = !c.batch_key.empty();
  opt.gene_names = input.var().index;
  const auto t1 = std::chrono::steady_clock::now();
  const HvgResult r = select_hvg_seurat(acc, opt);
  t.select = ms_since(t1);

  const std::vector<ExpectedRow> expected = read_expected(c.dataset);
  ASSERT_FALSE(expected.empty());
  std::vector<int64_t> want;
  for (const auto& e : expected)
    if (e.selected) want.push_back(e.gene);
  EXPECT_EQ(want.size(), static_cast<size_t>(c.n_top));
  EXPECT_EQ(r.selected, want);

  // Relative agreement, with a floor of 1e-2 on the scale: a few values are
  // near zero (a log dispersion of a var ~ mean gene), where only absolute
  // differences mean anything.
  double worst[3] = {0, 0, 0};
  for (const auto& e : expected) {
    const auto g = static_cast<size_t>(e.gene);
    ASSERT_EQ(input.var().index[g], e.name);
    EXPECT_EQ(r.n_batches_hvg[g], e.nbatches) << e.name;
    const double got[3] = {r.means[g], r.dispersions[g], r.dispersions_norm[g]};
    const double ref[3] = {e.means, e.dispersions, e.norm};
    for (int k = 0; k < 3; ++k) {
      ASSERT_EQ(std::isnan(got[k]), std::isnan(ref[k])) << e.name << " " << k;
      if (std::isnan(ref[k])) continue;
      const double rel = std::fabs(got[k] - ref[k]) / std::max(std::fabs(ref[k]), 1e-2);
      worst[k] = std::max(worst[k], rel);
      EXPECT_LT(rel, 1e-5) << e.name << " column " << k << ": " << got[k] << " vs scanpy " << ref[k];
    }
  }
  std::printf(
      "[ hvg      ] %s: %zu genes compared, max rel diff means %.2e dispersions %.2e norm %.2e; ms: "
      "read+labels %.0f, chunk slicing %.0f, add %.0f, merge of 3 %.0f, select %.0f\n",
      c.dataset.c_str(), expected.size(), worst[0], worst[1], worst[2], t.labels, t.chunks, t.add, t.merge,
      t.select);
}

INSTANTIATE_TEST_SUITE_P(Datasets, HvgScanpy,
                         ::testing::Values(Case{"lps_bmdc_timecourse", "grouping", 500},
                                           Case{"hsmm_myoblast_timecourse", "Hours", 2000},
                                           Case{"pbmc3k_raw", "", 1000}),
                         [](const auto& param_info) { return param_info.param.dataset; });

template <typename T>
std::vector<uint64_t> bits(const std::vector<T>& v) {
  std::vector<uint64_t> out;
  for (T x : v) out.push_back(std::bit_cast<uint64_t>(static_cast<double>(x)));
  return out;
}

TEST(Hvg, ChunkingAndMergeOrderDoNotChangeOneBit) {
  const pg::tokenise::ChunkedInput input(pg::test::dataset("lps_bmdc_timecourse").string());
  const std::vector<int32_t> codes = batch_codes(input, "grouping");
  const HvgAccumulator whole = accumulate(input, codes, 4, input.n_cells(), 1, false);
  const HvgAccumulator pieces = accumulate(input, codes, 4, 7, 5, true);
  const HvgAccumulator other = accumulate(input, codes, 4, 64, 2, false);
  for (int32_t b = 0; b < 4; ++b) {
    const auto a = whole.batch_stats(b), p = pieces.batch_stats(b), o = other.batch_stats(b);
    EXPECT_EQ(bits(a.mean), bits(p.mean));
    EXPECT_EQ(bits(a.var), bits(p.var));
    EXPECT_EQ(bits(a.mean), bits(o.mean));
    EXPECT_EQ(bits(a.var), bits(o.var));
    EXPECT_EQ(a.n_expressed, p.n_expressed);
  }
  HvgOptions opt;
  opt.n_top_genes = 500;
  const HvgResult x = select_hvg_seurat(whole, opt), y = select_hvg_seurat(pieces, opt);
  EXPECT_EQ(x.selected, y.selected);
  EXPECT_EQ(bits(x.means), bits(y.means));
  EXPECT_EQ(bits(x.dispersions), bits(y.dispersions));
  EXPECT_EQ(bits(x.dispersions_norm), bits(y.dispersions_norm));
  // Cells in the opposite order (a running double sum would change in the
  // last bits): the exact sums give the same bits.
  HvgAccumulator backwards(input.n_genes(), 4);
  pg::io::CellMatrix all = input.read(0, input.n_cells(), {});
  CsrMatrix rev;
  rev.n_cols = all.X.n_cols;
  std::vector<int32_t> rev_codes;
  for (int64_t r = all.X.n_rows - 1; r >= 0; --r) {
    const auto b = static_cast<size_t>(all.X.indptr[static_cast<size_t>(r)]);
    const auto e = static_cast<size_t>(all.X.indptr[static_cast<size_t>(r) + 1]);
    rev.indices.insert(rev.indices.end(), all.X.indices.begin() + static_cast<ptrdiff_t>(b),
                       all.X.indices.begin() + static_cast<ptrdiff_t>(e));
    rev.data.insert(rev.data.end(), all.X.data.begin() + static_cast<ptrdiff_t>(b),
                    all.X.data.begin() + static_cast<ptrdiff_t>(e));
    rev.indptr.push_back(static_cast<int64_t>(rev.data.size()));
    rev_codes.push_back(codes[static_cast<size_t>(r)]);
    ++rev.n_rows;
  }
  backwards.add(rev, rev_codes);
  for (int32_t b = 0; b < 4; ++b) {
    EXPECT_EQ(bits(whole.batch_stats(b).mean), bits(backwards.batch_stats(b).mean));
    EXPECT_EQ(bits(whole.batch_stats(b).var), bits(backwards.batch_stats(b).var));
  }
}

}  // namespace
