// scanpy's neighbours, Leiden labels and score_genes results on 300 real
// cells (tests/data/programs/program_fixtures.json, written by
// tests/python/make_program_fixtures.py with scanpy 1.11.5 and leidenalg).
#pragma once

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "analysis/graph.h"
#include "analysis/matrix.h"
#include "io/cell_matrix.h"
#include "metric_fixtures.h"  // matrix_of
#include "test_support.h"

namespace pg::test {

inline const nlohmann::json& program_fixtures() {
  static const nlohmann::json j = [] {
    std::ifstream in(source_dir() / "tests" / "data" / "programs" / "program_fixtures.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

// The counts as a CSR (float32 values, as a reader gives them).
inline io::CsrMatrix fixture_counts_csr() {
  const auto& rows = program_fixtures()["counts"];
  io::CsrMatrix m;
  m.n_rows = static_cast<int64_t>(rows.size());
  m.n_cols = static_cast<int64_t>(rows[0].size());
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      const double v = row[c].get<double>();
      if (v == 0) continue;
      m.indices.push_back(static_cast<int32_t>(c));
      m.data.push_back(static_cast<float>(v));
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  m.storage = {"csr", "float32", "int32"};
  return m;
}

// scanpy's connectivities (upper triangle triplets) as a graph.
inline analysis::WeightedGraph fixture_connectivities() {
  analysis::WeightedGraph g;
  g.n_vertices = static_cast<int64_t>(program_fixtures()["counts"].size());
  for (const auto& t : program_fixtures()["connectivities"])
    g.edges.push_back({t[0].get<int64_t>(), t[1].get<int64_t>(), t[2].get<double>()});
  std::sort(g.edges.begin(), g.edges.end(),
            [](const auto& x, const auto& y) { return std::pair(x.a, x.b) < std::pair(y.a, y.b); });
  return g;
}

inline std::vector<int> fixture_labels(const char* key) {
  return program_fixtures()[key].get<std::vector<int>>();
}

}  // namespace pg::test
