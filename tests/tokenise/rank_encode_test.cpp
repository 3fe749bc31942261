// Rank-value encoding: the reference tokenizer's output on 200 HSMM cells
// (golden/tokenizer_hsmm200.safetensors, README §10), in both dtype variants,
// plus hand-checked cases for ordering, ties, truncation and numpy's sum.
#include "tokenise/rank_encode.h"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <sstream>
#include <unordered_map>

#include "io/formats.h"
#include "io/gzip.h"
#include "io/safetensors.h"
#include "test_support.h"

namespace {

using pg::tokenise::numpy_sum;
using pg::tokenise::rank_encode;
using pg::tokenise::RankOptions;
using pg::tokenise::RankScratch;

std::vector<uint32_t> encode(std::vector<int32_t> tokens, std::vector<double> values, double n_counts,
                             const std::vector<double>& medians, int64_t size = 4096) {
  RankScratch scratch;
  std::vector<uint32_t> out;
  RankOptions opt;
  opt.model_input_size = size;
  rank_encode<double>(tokens, values, n_counts, medians, opt, scratch, out);
  return out;
}

TEST(RankEncode, OrdersByValueOverMedianThenFramesWithClsEos) {
  // token:   4    5    6    7
  // median:  1    2    0.5  4
  // value:   3    8    1    0   -> normalised 3, 4, 2, (dropped)
  const std::vector<double> medians{0, 0, 0, 0, 1, 2, 0.5, 4};
  EXPECT_EQ(encode({4, 5, 6, 7}, {3, 8, 1, 0}, 10, medians), (std::vector<uint32_t>{2, 5, 4, 6, 3}));
}

TEST(RankEncode, TruncatesToModelInputSizeMinusSpecials) {
  const std::vector<double> medians{0, 0, 0, 0, 1, 1, 1, 1};
  // Four expressed genes, room for two: the two largest survive.
  EXPECT_EQ(encode({4, 5, 6, 7}, {1, 4, 3, 2}, 10, medians, 4), (std::vector<uint32_t>{2, 5, 6, 3}));
}

TEST(RankEncode, TiesAreBrokenByTokenIdAscending) {
  const std::vector<double> medians{0, 0, 0, 0, 1, 1, 1, 1};
  EXPECT_EQ(encode({7, 5, 6, 4}, {2, 2, 5, 2}, 10, medians), (std::vector<uint32_t>{2, 6, 4, 5, 7, 3}));
  // ... also when truncation cuts through the tied run.
  EXPECT_EQ(encode({7, 5, 6, 4}, {2, 2, 5, 2}, 10, medians, 4), (std::vector<uint32_t>{2, 6, 4, 3}));
}

TEST(NumpySum, MatchesPairwiseDefinitionAndDiffersFromNaiveLoopWhereItShould) {
  // 1 + 2^-24 * k: a sequential float loop loses every small term; numpy's
  // 8 running sums lose them too, but blocks > 128 split and recombine.
  std::vector<float> v(300, 1.0f / (1 << 24));
  v[0] = 1.0f;
  float naive = 0;
  for (float x : v) naive += x;
  EXPECT_EQ(naive, 1.0f);
  // Independent evaluation of numpy's rule: v[0] + pairwise(v[1:299]).
  // 299 -> halves of 144 and 155; each <= 128? no: 144 -> 72 + 72; 155 -> 72 + 83.
  // Every leaf sums its tiny terms exactly (<= 83 * 2^-24), so the total is exact.
  EXPECT_EQ(numpy_sum(v), 1.0f + 299.0f / (1 << 24));
  EXPECT_EQ(numpy_sum(std::vector<float>{}), 0.0f);
  EXPECT_EQ(numpy_sum(std::vector<float>{1, 2, 3}), 6.0f);
}

// ---- golden parity -------------------------------------------------------------

struct Hsmm {
  std::vector<std::vector<int32_t>> tokens;  // per cell, dictionary genes with a stored value
  std::vector<std::vector<int32_t>> cols;    // their columns in the file
  std::vector<double> median_of_token;
  std::vector<bool> in_dictionary;  // per column
  std::vector<int32_t> token_of_column;
};

// The dictionary files read here with plain parsing, independently of the
// project's vocabulary loader.
Hsmm load_dictionary(const std::vector<std::string>& var_ids) {
  Hsmm h;
  std::unordered_map<std::string, int32_t> token;
  std::istringstream dict(
      pg::io::read_maybe_gzip(pg::test::dataset("geneformer_gc95M/token_dictionary.tsv")));
  for (std::string line; std::getline(dict, line);) {
    const auto tab = line.find('\t');
    token[line.substr(0, tab)] = std::stoi(line.substr(tab + 1));
  }
  h.median_of_token.assign(token.size(), 0);
  std::istringstream med(pg::io::read_maybe_gzip(pg::test::dataset("geneformer_gc95M/gene_median.tsv")));
  for (std::string line; std::getline(med, line);) {
    const auto tab = line.find('\t');
    double v = 0;
    std::from_chars(line.data() + tab + 1, line.data() + line.size(), v);
    h.median_of_token[static_cast<size_t>(token.at(line.substr(0, tab)))] = v;
  }
  for (const auto& id : var_ids) {
    // The golden harness strips versions from the first '.', then keeps exact keys.
    auto it = token.find(id.substr(0, id.find('.')));
    h.token_of_column.push_back(it == token.end() || it->second < 4 ? -1 : it->second);
  }
  return h;
}

// matrix.mtx.gz as float64 (genes x cells, 1-based), for the f64 variant.
std::vector<std::vector<std::pair<int32_t, double>>> read_mtx_f64(const std::string& path, int64_t n_cells) {
  std::vector<std::vector<std::pair<int32_t, double>>> cells(static_cast<size_t>(n_cells));
  const std::string text = pg::io::read_maybe_gzip(path);
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line) && line[0] == '%') {
  }
  while (std::getline(in, line)) {
    int64_t gene = 0, cell = 0;
    double v = 0;
    const char* p = line.data();
    const char* end = p + line.size();
    // Fields may be separated by several blanks (aligned columns).
    const auto skip = [&](const char* q) {
      while (q < end && *q == ' ') ++q;
      return q;
    };
    p = skip(std::from_chars(p, end, gene).ptr);
    p = skip(std::from_chars(p, end, cell).ptr);
    std::from_chars(p, end, v);
    if (cell <= n_cells) cells[static_cast<size_t>(cell - 1)].emplace_back(static_cast<int32_t>(gene - 1), v);
  }
  for (auto& c : cells) std::sort(c.begin(), c.end());
  return cells;
}

class GoldenTokenizer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    golden_ = new pg::io::SafeTensors(pg::io::SafeTensors::read(
        (pg::test::shared_dir() / "golden/tokenizer_hsmm200.safetensors").string()));
    matrix_ =
        new pg::io::CellMatrix(pg::io::read_any(pg::test::dataset("hsmm_myoblast_timecourse").string()));
  }
  static void TearDownTestSuite() {
    delete golden_;
    delete matrix_;
  }
  // Compares every cell's sentence; returns the number of cells that differ.
  template <typename T>
  static int64_t compare(const std::string& variant,
                         const std::vector<std::vector<std::pair<int32_t, T>>>& cells) {
    const Hsmm dict = load_dictionary(matrix_->var.index);
    const auto ids = golden_->values<int32_t>(variant + ".input_ids_flat");
    const auto offsets = golden_->values<int64_t>(variant + ".offsets");
    const auto expressed = golden_->values<int64_t>(variant + ".n_expressed_dict_genes");
    const auto golden_counts = golden_->values<T>(variant + ".n_counts");
    int64_t differ = 0;
    RankScratch scratch;
    for (size_t c = 0; c < 200; ++c) {
      std::vector<T> all, values;
      std::vector<int32_t> tokens;
      for (const auto& [col, v] : cells[c]) {
        // Stored zeros (float64 artefacts that round to 0 in float32) are not
        // part of the reference's matrix: they would regroup numpy's sum.
        if (v != 0) all.push_back(v);
        const int32_t t = dict.token_of_column[static_cast<size_t>(col)];
        if (t >= 0) {
          tokens.push_back(t);
          values.push_back(v);
        }
      }
      // n_counts over all 47,192 genes, summed as numpy does: bit-identical.
      const T n_counts = numpy_sum(std::span<const T>(all));
      EXPECT_EQ(n_counts, golden_counts[c]) << variant << " cell " << c;
      std::vector<uint32_t> out;
      rank_encode<T>(tokens, values, n_counts, dict.median_of_token, RankOptions{}, scratch, out);
      const std::vector<uint32_t> want(ids.begin() + offsets[c], ids.begin() + offsets[c + 1]);
      int64_t n_expressed = 0;
      for (T v : values) n_expressed += (static_cast<double>(v / n_counts) * 10000.0 != 0);
      EXPECT_EQ(n_expressed, expressed[c]) << variant << " cell " << c;
      if (out != want) ++differ;
    }
    return differ;
  }
  static pg::io::SafeTensors* golden_;
  static pg::io::CellMatrix* matrix_;
};

pg::io::SafeTensors* GoldenTokenizer::golden_ = nullptr;
pg::io::CellMatrix* GoldenTokenizer::matrix_ = nullptr;

TEST_F(GoldenTokenizer, Float32MatchesReferenceOnEveryCell) {
  const auto& X = matrix_->X;
  std::vector<std::vector<std::pair<int32_t, float>>> cells(200);
  for (size_t c = 0; c < 200; ++c) {
    for (auto k = X.indptr[c]; k < X.indptr[c + 1]; ++k) {
      cells[c].emplace_back(X.indices[static_cast<size_t>(k)], X.data[static_cast<size_t>(k)]);
    }
  }
  // No cell of this fixture has an exact tie (summary json), so every cell must match.
  EXPECT_EQ(compare<float>("f32", cells), 0);
}

TEST_F(GoldenTokenizer, Float64MatchesReferenceOnEveryCell) {
  const auto cells = read_mtx_f64((pg::test::dataset("hsmm_myoblast_timecourse") / "matrix.mtx.gz").string(),
                                  matrix_->n_cells());
  EXPECT_EQ(compare<double>("f64", cells), 0);
}

}  // namespace
