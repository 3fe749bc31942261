// Random cells with every field a store holds, kept in memory as the
// reference the round-trip tests compare the store against value by value.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "store/schema.h"
#include "store/store_writer.h"
#include "store/token_store.h"

namespace pg::store::test {

struct Cell {
  std::vector<uint32_t> tokens;
  std::vector<uint32_t> genes;
  std::vector<float> values;
  double library_size = 0;
  int32_t state = 0;
  std::vector<int32_t> codes;   // per obs column (categorical; 0 for float columns)
  std::vector<double> numbers;  // per obs column (float; 0 for categorical columns)
  std::string id;
};

// Two categorical obs columns and one float column.
inline StoreSchema make_schema(int64_t vocab_size, int64_t n_count_genes, int64_t cells_per_shard) {
  StoreSchema s;
  s.vocab_size = vocab_size;
  s.n_count_genes = n_count_genes;
  s.states = {"day0", "day2", "day4"};
  s.obs = {{"cell_type", ObsColumnSpec::Kind::Categorical, {"myoblast", "myotube", "fibroblast"}},
           {"pseudotime", ObsColumnSpec::Kind::Float, {}},
           {"batch", ObsColumnSpec::Kind::Categorical, {"b1", "b2"}}};
  s.cells_per_shard = cells_per_shard;
  s.vocabulary_name = "test-vocab";
  s.vocabulary_hash = "sha256:0123abcd";
  return s;
}

inline std::vector<GeneRow> make_genes(int64_t n) {
  std::vector<GeneRow> g;
  for (int64_t i = 0; i < n; ++i)
    g.push_back({"ENSG" + std::to_string(100000 + i), "GENE" + std::to_string(i), 10 + i, 4 + i});
  return g;
}

// Cells with 0..max_len tokens (some empty), sorted distinct count genes,
// every obs code including -1 (missing), every state including -1, and
// non-ASCII / empty cell ids.
inline std::vector<Cell> random_cells(size_t n, const StoreSchema& s, uint64_t seed, size_t max_len = 40) {
  std::mt19937_64 rng(seed);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  std::vector<Cell> cells(n);
  for (size_t i = 0; i < n; ++i) {
    Cell& c = cells[i];
    const auto len = static_cast<size_t>(uni(0, static_cast<int64_t>(max_len)));
    for (size_t k = 0; k < len; ++k) c.tokens.push_back(static_cast<uint32_t>(uni(0, s.vocab_size - 1)));
    for (int64_t g = 0; g < s.n_count_genes; ++g)
      if (uni(0, 3) == 0) {
        c.genes.push_back(static_cast<uint32_t>(g));
        c.values.push_back(static_cast<float>(uni(1, 500)) * 0.5f);
      }
    c.library_size = static_cast<double>(uni(100, 100000)) + 0.25;
    c.state = static_cast<int32_t>(uni(-1, static_cast<int64_t>(s.states.size()) - 1));
    for (const auto& col : s.obs) {
      if (col.kind == ObsColumnSpec::Kind::Categorical) {
        c.codes.push_back(static_cast<int32_t>(uni(-1, static_cast<int64_t>(col.categories.size()) - 1)));
        c.numbers.push_back(0);
      } else {
        c.codes.push_back(0);
        c.numbers.push_back(static_cast<double>(uni(0, 1000000)) / 7.0);
      }
    }
    c.id = uni(0, 20) == 0 ? std::string()
                           : "cell-" + std::to_string(seed) + "-" + std::to_string(i) + "-\xc3\xa9";
  }
  return cells;
}

inline CellBatch to_batch(const std::vector<Cell>& cells, size_t begin, size_t end, const StoreSchema& s) {
  CellBatch b;
  b.token_offsets.push_back(0);
  b.count_offsets.push_back(0);
  b.obs_codes.resize(s.obs.size());
  b.obs_values.resize(s.obs.size());
  for (size_t i = begin; i < end; ++i) {
    const Cell& c = cells[i];
    b.tokens.insert(b.tokens.end(), c.tokens.begin(), c.tokens.end());
    b.token_offsets.push_back(b.tokens.size());
    b.count_genes.insert(b.count_genes.end(), c.genes.begin(), c.genes.end());
    b.count_values.insert(b.count_values.end(), c.values.begin(), c.values.end());
    b.count_offsets.push_back(b.count_genes.size());
    b.library_size.push_back(c.library_size);
    b.state.push_back(c.state);
    for (size_t j = 0; j < s.obs.size(); ++j) {
      if (s.obs[j].kind == ObsColumnSpec::Kind::Categorical)
        b.obs_codes[j].push_back(c.codes[j]);
      else
        b.obs_values[j].push_back(c.numbers[j]);
    }
    b.cell_ids.push_back(c.id);
  }
  return b;
}

// Every value of cell i as the store returns it, against the reference.
inline void expect_cell(const TokenStore& st, int64_t i, const Cell& c) {
  std::vector<uint32_t> tokens, genes;
  std::vector<float> values;
  st.tokens(i, tokens);
  ASSERT_EQ(tokens, c.tokens) << "cell " << i;
  ASSERT_EQ(st.length(i), static_cast<int64_t>(c.tokens.size())) << "cell " << i;
  const TokenSpan span = st.token_span(i);
  ASSERT_EQ(span.size, c.tokens.size());
  for (size_t k = 0; k < span.size; ++k) ASSERT_EQ(span[k], c.tokens[k]) << "cell " << i;
  st.counts(i, genes, values);
  ASSERT_EQ(genes, c.genes) << "cell " << i;
  ASSERT_EQ(values, c.values) << "cell " << i;
  ASSERT_EQ(st.library_size(i), c.library_size) << "cell " << i;
  ASSERT_EQ(st.state(i), c.state) << "cell " << i;
  ASSERT_EQ(st.cell_id(i), c.id) << "cell " << i;
  const auto& obs = st.schema().obs;
  for (size_t j = 0; j < obs.size(); ++j) {
    if (obs[j].kind == ObsColumnSpec::Kind::Categorical)
      ASSERT_EQ(st.obs_code(i, j), c.codes[j]) << "cell " << i << " obs " << j;
    else
      ASSERT_EQ(st.obs_value(i, j), c.numbers[j]) << "cell " << i << " obs " << j;
  }
}

// Writes `cells` in batches of `batch` cells.
inline void append_cells(StoreWriter& w, const std::vector<Cell>& cells, size_t batch) {
  for (size_t b = 0; b < cells.size(); b += batch)
    w.append(to_batch(cells, b, std::min(cells.size(), b + batch), w.schema()));
}

}  // namespace pg::store::test
