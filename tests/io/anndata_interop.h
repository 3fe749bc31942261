// What anndata sees in an .h5ad, for interop tests: runs the scripts in
// tests/python with the setup's Python and compares their JSON view of a file
// (see anndata_check.py for its keys) with what our reader returns. Header-only
// so that every io test executable can compare against anndata.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "io/cell_matrix.h"
#include "test_support.h"

namespace pg::test {

using nlohmann::json;
using pg::io::CellMatrix;
using pg::io::Column;
using pg::io::ColumnType;
using pg::io::CsrMatrix;
using pg::io::DataFrame;
using pg::io::DenseMatrix;

// Runs a tests/python script and parses the JSON it prints last.
inline json run_script(const std::string& script, const std::string& args) {
  const auto r = run_command("'" + python() + "' '" + (source_dir() / "tests" / "python" / script).string() +
                             "' " + args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const size_t start = r.output.rfind("\n{");
  return json::parse(start == std::string::npos ? r.output : r.output.substr(start + 1));
}

// anndata's view of `file` (tests/python/anndata_check.py).
inline json anndata_view(const std::filesystem::path& file) {
  return run_script("anndata_check.py", "'" + file.string() + "'");
}

// The column type our reader should give a pandas dtype.
inline ColumnType type_for(const std::string& dtype) {
  if (dtype == "object" || dtype == "string") return ColumnType::String;
  if (dtype == "category") return ColumnType::Categorical;
  if (dtype.rfind("float", 0) == 0) return ColumnType::Float;
  if (dtype == "bool" || dtype == "boolean") return ColumnType::Bool;
  return ColumnType::Int;  // int*, uint*, Int64
}

// Expects one matrix read by us to equal anndata's view of it.
inline void expect_read_matrix(const CsrMatrix& m, const json& v) {
  ASSERT_EQ(m.n_rows, v["shape"][0].get<int64_t>());
  ASSERT_EQ(m.n_cols, v["shape"][1].get<int64_t>());
  EXPECT_EQ(m.nnz(), v["nnz"].get<int64_t>());  // dense: we keep the non-zeros, so does coo_matrix
  for (const auto& e : v["entries"]) {
    EXPECT_EQ(m.at(e[0].get<int64_t>(), e[1].get<int64_t>()), static_cast<float>(e[2].get<double>())) << e;
  }
}

inline void expect_read_frame(const DataFrame& df, const json& v) {
  EXPECT_EQ(df.index, v["index"].get<std::vector<std::string>>());
  if (!v["index_name"].is_null()) {
    EXPECT_EQ(df.index_name, v["index_name"]);
  }
  std::vector<std::string> names;
  for (const auto& c : df.columns) names.push_back(c.name);
  ASSERT_EQ(json(names), v["columns"]);
  for (const auto& c : df.columns) {
    SCOPED_TRACE(c.name);
    const json& x = v["column"][c.name];
    ASSERT_EQ(c.type, type_for(x["dtype"]));
    if (c.type == ColumnType::Categorical) {
      ASSERT_EQ(c.categories.size(), x["categories"].size());
      for (size_t k = 0; k < c.categories.size(); ++k) {
        const json& cat = x["categories"][k];
        if (cat.is_string())
          EXPECT_EQ(c.categories[k], cat);
        else
          EXPECT_EQ(std::stod(c.categories[k]), cat.get<double>());
      }
      EXPECT_EQ(c.ordered, x["ordered"].get<bool>());
      EXPECT_EQ(json(c.codes), x["codes"]);
    }
    for (size_t i = 0; i < c.size(); ++i) {
      const json& val = x["values"][i];
      ASSERT_EQ(c.is_missing(i), val.is_null()) << i;
      if (val.is_null()) continue;
      if (c.type == ColumnType::String) {
        EXPECT_EQ(c.strings[i], val) << i;
      }
      if (c.type == ColumnType::Float) {
        EXPECT_EQ(c.floats[i], val.get<double>()) << i;
      }
      if (c.type == ColumnType::Int) {
        EXPECT_EQ(c.ints[i], val.get<int64_t>()) << i;
      }
      if (c.type == ColumnType::Bool) {
        EXPECT_EQ(c.bools[i] != 0, val.get<bool>()) << i;
      }
    }
  }
}

inline void expect_read_dense(const DenseMatrix& d, const json& v) {
  ASSERT_EQ(json::array({d.n_rows, d.n_cols}), v["shape"]);
  ASSERT_EQ(d.values.size(), v["values"].size());
  for (size_t i = 0; i < d.values.size(); ++i) {
    const json& x = v["values"][i];
    if (x.is_null()) {
      EXPECT_TRUE(std::isnan(d.values[i])) << i;  // NaN is null in the JSON
    } else {
      EXPECT_EQ(d.values[i], x.get<double>()) << i;
    }
  }
}

// Everything anndata sees in a file equals what our reader returns for it.
inline void expect_read_equals_anndata(const CellMatrix& m, const json& a) {
  EXPECT_EQ(json::array({m.n_cells(), m.n_genes()}), a["shape"]);
  EXPECT_EQ(m.has_x, !a["X"].is_null());
  if (m.has_x) expect_read_matrix(m.X, a["X"]);
  EXPECT_EQ(m.layers.size(), a["layers"].size());
  for (const auto& [k, v] : a["layers"].items()) {
    SCOPED_TRACE("layers/" + k);
    ASSERT_TRUE(m.layers.count(k));
    expect_read_matrix(m.layers.at(k), v);
  }
  {
    SCOPED_TRACE("obs");
    expect_read_frame(m.obs, a["obs"]);
  }
  {
    SCOPED_TRACE("var");
    expect_read_frame(m.var, a["var"]);
  }
  for (const auto& [key, mine, theirs] :
       {std::tuple{"obsm", &m.obsm, &a["obsm"]}, std::tuple{"varm", &m.varm, &a["varm"]}}) {
    EXPECT_EQ(mine->size(), theirs->size()) << key;
    for (const auto& [k, v] : theirs->items()) {
      SCOPED_TRACE(std::string(key) + "/" + k);
      ASSERT_TRUE(mine->count(k));
      expect_read_dense(mine->at(k), v);
    }
  }
}

}  // namespace pg::test
