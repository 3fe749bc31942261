// The .h5ad reader against the format fixtures: every value listed in
// expected_values.json (computed with h5py + scipy, independently of this
// code) must come back, for every anndata generation from 0.5 to 0.12.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <regex>

#include "core/error.h"
#include "io/formats.h"
#include "test_support.h"

namespace pg::io {
namespace {

using nlohmann::json;

CellMatrix load(const std::string& rel, const ReadOptions& opt = {}) {
  return read_h5ad(test::fixture(rel).string(), opt);
}

bool has_skipped(const CellMatrix& m, const std::string& prefix) {
  for (const auto& s : m.skipped)
    if (s.rfind(prefix, 0) == 0) return true;
  return false;
}

void expect_close(double got, double want, const std::string& what, double rel = 1e-6) {
  EXPECT_NEAR(got, want, std::max(1e-9, std::abs(want) * rel)) << what;
}

double num(const json& v) {
  return v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>();
}

void check_matrix(const CsrMatrix& m, const DataFrame& obs, const DataFrame& var, const json& e,
                  const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(m.n_rows, e["n_cells"].get<int64_t>());
  ASSERT_EQ(m.n_cols, e["n_genes"].get<int64_t>());
  EXPECT_EQ(m.storage.layout, e["layout"].get<std::string>());
  EXPECT_EQ(m.storage.dtype, e["dtype_data"].get<std::string>());
  if (!e["dtype_indices"].is_null()) {
    const std::string idx = e["dtype_indices"], ptr = e["dtype_indptr"];
    EXPECT_EQ(m.storage.index_dtype, idx == "int64" || ptr == "int64" ? "int64" : idx);
  }
  int64_t nonzero = 0;
  double sum = 0;
  std::vector<double> cell_sums(static_cast<size_t>(m.n_rows)), gene_sums(static_cast<size_t>(m.n_cols));
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
      const double v = m.data[static_cast<size_t>(k)];
      nonzero += v != 0 ? 1 : 0;
      sum += v;
      cell_sums[static_cast<size_t>(r)] += v;
      gene_sums[static_cast<size_t>(m.indices[static_cast<size_t>(k)])] += v;
    }
  }
  // Dense layouts keep only non-zeros; sparse ones keep explicit zeros.
  const int64_t stored =
      e["nnz_stored"].is_null() ? e["n_nonzero"].get<int64_t>() : e["nnz_stored"].get<int64_t>();
  EXPECT_EQ(m.nnz(), stored);
  if (m.storage.dtype == "float64") {
    // Values are held as float: float64 values below float's range (hsmm's
    // layers/counts has ten, 1e-157..1e-48) stay stored but read as 0.
    EXPECT_LE(nonzero, e["n_nonzero"].get<int64_t>());
    EXPECT_GE(nonzero, e["n_nonzero"].get<int64_t>() - 10);
  } else {
    EXPECT_EQ(nonzero, e["n_nonzero"].get<int64_t>());
  }
  if (e["sum"].is_number_integer()) {
    EXPECT_EQ(sum, e["sum"].get<double>());
  } else {
    expect_close(sum, e["sum"].get<double>(), "sum");
  }
  for (size_t i = 0; i < 3 && e.contains("cell_sums_first3"); ++i) {
    expect_close(cell_sums[i], num(e["cell_sums_first3"][i]), "cell sum " + std::to_string(i));
    expect_close(gene_sums[i], num(e["gene_sums_first3"][i]), "gene sum " + std::to_string(i));
  }
  for (const auto& entry : e["entries"]) {
    const int64_t cell = entry["cell"], gene = entry["gene"];
    const double want = entry["value"];
    if (m.storage.dtype == "float64") {
      EXPECT_FLOAT_EQ(m.at(cell, gene), static_cast<float>(want)) << cell << "," << gene;
    } else {
      EXPECT_EQ(static_cast<double>(m.at(cell, gene)), want) << cell << "," << gene;
    }
    EXPECT_EQ(obs.index[static_cast<size_t>(cell)], entry["cell_name"].get<std::string>());
    EXPECT_EQ(var.index[static_cast<size_t>(gene)], entry["gene_name"].get<std::string>());
  }
}

ColumnType expected_type(const json& c) {
  const std::string enc = c["encoding"];
  const std::string dtype = c.value("dtype", "");
  if (enc.find("categorical") != std::string::npos) return ColumnType::Categorical;
  if (enc == "nullable-integer") return ColumnType::Int;
  if (enc == "nullable-boolean" || dtype == "bool") return ColumnType::Bool;
  if (dtype == "object") return ColumnType::String;
  if (dtype.rfind("float", 0) == 0) return ColumnType::Float;
  return ColumnType::Int;
}

// Value at row i as JSON, the way expected_values.json writes it.
json value_at(const Column& c, size_t i) {
  if (c.is_missing(i)) return nullptr;
  switch (c.type) {
    case ColumnType::Categorical:
      if (c.categories_dtype != "str") return json::parse(c.text(i));
      return c.text(i);
    case ColumnType::String:
      return c.strings[i];
    case ColumnType::Float:
      return c.floats[i];
    case ColumnType::Int:
      return c.ints[i];
    case ColumnType::Bool:
      return c.bools[i] != 0;
  }
  return nullptr;
}

void check_dataframe(const DataFrame& df, const json& e, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(static_cast<int64_t>(df.n_rows()), e["n"].get<int64_t>());
  for (size_t i = 0; i < 3 && i < df.n_rows(); ++i)
    EXPECT_EQ(df.index[i], e["names_first3"][i].get<std::string>());
  EXPECT_EQ(df.index.back(), e["name_last"].get<std::string>());
  if (e["meta"].contains("_index")) {
    EXPECT_EQ(df.index_name, e["meta"]["_index"].get<std::string>());
  }
  EXPECT_EQ(df.columns.size(), e["columns"].size());
  for (const auto& [name, c] : e["columns"].items()) {
    SCOPED_TRACE(name);
    const Column* col = df.find(name);
    ASSERT_NE(col, nullptr);
    ASSERT_EQ(col->size(), df.n_rows());
    EXPECT_EQ(col->type, expected_type(c));
    if (col->type == ColumnType::Categorical) {
      EXPECT_EQ(col->dtype, c["codes_dtype"].get<std::string>());
      const std::string cats_dtype = c.value("categories_dtype", "object");
      EXPECT_EQ(col->categories_dtype, cats_dtype == "object" ? "str" : cats_dtype);
      EXPECT_EQ(col->ordered, c.value("ordered", false));
      EXPECT_EQ(col->categories.size(), c["n_categories"].get<size_t>());
      for (size_t k = 0; k < c["categories_first6"].size(); ++k) {
        const json& cat = c["categories_first6"][k];
        EXPECT_EQ(col->categories[k], cat.is_string() ? cat.get<std::string>() : cat.dump());
      }
      std::map<std::string, int64_t> counts;
      for (size_t i = 0; i < col->size(); ++i) counts[col->text(i)]++;
      for (const auto& [label, n] : c["counts_top3"].items())
        EXPECT_EQ(counts[label], n.get<int64_t>()) << label;
    } else {
      const std::string dtype = c["dtype"];
      EXPECT_EQ(col->dtype, dtype == "object" ? "str" : dtype);
    }
    for (size_t i = 0; i < c["first3"].size(); ++i)
      EXPECT_EQ(value_at(*col, i), c["first3"][i]) << "row " << i;
    for (const auto& [row, v] : c["at"].items())
      EXPECT_EQ(value_at(*col, std::stoul(row)), v) << "row " << row;
    int64_t missing = 0, n_true = 0;
    double total = 0;
    for (size_t i = 0; i < col->size(); ++i) {
      if (col->is_missing(i)) {
        ++missing;
        continue;
      }
      if (col->type == ColumnType::Bool) n_true += col->bools[i];
      if (col->type == ColumnType::Int) total += static_cast<double>(col->ints[i]);
      if (col->type == ColumnType::Float) total += col->floats[i];
    }
    EXPECT_EQ(missing, c["n_missing"].get<int64_t>());
    if (c.contains("n_true")) {
      EXPECT_EQ(n_true, c["n_true"].get<int64_t>());
    }
    if (c.contains("sum_non_missing")) expect_close(total, c["sum_non_missing"].get<double>(), "sum", 1e-9);
  }
}

void check_arrays(const std::map<std::string, DenseMatrix>& got, const CellMatrix& m, const json& e,
                  const std::string& key, int64_t n_rows) {
  SCOPED_TRACE(key);
  for (const auto& [name, info] : e.items()) {
    SCOPED_TRACE(name);
    if (info.is_object() && info.value("encoding", "") == "dataframe") {
      EXPECT_TRUE(has_skipped(m, key + "/" + name + ": dataframe"));
      continue;
    }
    auto it = got.find(name);
    ASSERT_NE(it, got.end());
    EXPECT_EQ(it->second.n_rows, n_rows);
    EXPECT_EQ(it->second.values.size(), static_cast<size_t>(it->second.n_rows * it->second.n_cols));
    if (!info.is_object() || !info.contains("shape")) continue;  // sparse or record field: presence only
    EXPECT_EQ(it->second.n_cols, info["shape"][1].get<int64_t>());
    EXPECT_EQ(it->second.dtype, info["dtype"].get<std::string>());
    for (size_t j = 0; j < info["first_row"].size(); ++j) {
      EXPECT_EQ(it->second.at(0, static_cast<int64_t>(j)), info["first_row"][j].get<double>()) << j;
    }
  }
}

const json* uns_at(const json& uns, const std::string& path) {
  const json* cur = &uns;
  size_t start = 0;
  while (true) {
    const size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash - start);
    if (!cur->is_object() || !cur->contains(part)) return nullptr;
    cur = &(*cur)[part];
    if (slash == std::string::npos) return cur;
    start = slash + 1;
  }
}

void check_uns(const CellMatrix& m, const json& e) {
  static const std::regex described(R"(^\S+ \((\d+),\)$)");
  for (const auto& [path, want] : e.items()) {
    SCOPED_TRACE("uns/" + path);
    const json* got = uns_at(m.uns, path);
    std::smatch match;
    const std::string text = want.is_string() ? want.get<std::string>() : "";
    if (text.rfind("[(", 0) == 0) {
      EXPECT_EQ(got, nullptr);  // record array
      EXPECT_TRUE(has_skipped(m, "uns/" + path + ": record array"));
    } else if (path.size() > 11 && path.substr(path.size() - 11) == "_categories") {
      EXPECT_EQ(got, nullptr);  // moved into the legacy categorical column
    } else if (path.rfind("neighbors/connectivities", 0) == 0 || path.rfind("neighbors/distances", 0) == 0) {
      EXPECT_TRUE(has_skipped(m, "uns/" + path.substr(0, path.find('/', 10)) + ": sparse matrix"));
    } else if (std::regex_match(text, match, described)) {
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(got->size(), std::stoul(match[1]));
    } else {
      ASSERT_NE(got, nullptr);
      EXPECT_EQ(*got, want);
    }
  }
}

class H5adFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(H5adFixture, MatchesExpectedValues) {
  const json& e = test::expected_values()[GetParam()];
  const CellMatrix m = load(GetParam());
  check_dataframe(m.obs, e["obs"], "obs");
  check_dataframe(m.var, e["var"], "var");
  if (e["X"].is_null()) {
    EXPECT_FALSE(m.has_x);
    EXPECT_EQ(m.X.n_rows, m.n_cells());
    EXPECT_EQ(m.X.n_cols, m.n_genes());
    EXPECT_EQ(m.X.nnz(), 0);
  } else {
    EXPECT_TRUE(m.has_x);
    check_matrix(m.X, m.obs, m.var, e["X"], "X");
  }
  EXPECT_EQ(m.layers.size(), e["layers"].size());
  for (const auto& [name, le] : e["layers"].items()) {
    ASSERT_TRUE(m.layers.count(name)) << name;
    check_matrix(m.layers.at(name), m.obs, m.var, le, "layers/" + name);
  }
  const json& other = e["other_elements"];
  check_arrays(m.obsm, m, other["obsm"], "obsm", m.n_cells());
  check_arrays(m.varm, m, other["varm"], "varm", m.n_genes());
  for (const char* pairwise : {"obsp", "varp"}) {
    if (other.contains(pairwise) && !other[pairwise].empty()) {
      EXPECT_TRUE(has_skipped(m, pairwise)) << pairwise;
    }
  }
  if (e.contains("raw_X")) {
    EXPECT_TRUE(has_skipped(m, "raw")) << "raw";
  }
  if (e.contains("uns")) check_uns(m, e["uns"]);
  for (const auto& s : m.skipped) EXPECT_EQ(s.find("\n"), std::string::npos) << s;
}

INSTANTIATE_TEST_SUITE_P(AllH5ad, H5adFixture, ::testing::ValuesIn(pg::test::h5ad_fixtures()),
                         pg::test::FixtureName());

TEST(H5adRead, EveryFixtureIsCovered) {
  size_t n = 0;
  for (const auto& [key, value] : test::expected_values().items()) {
    if (key.size() > 5 && key.substr(key.size() - 5) == ".h5ad") ++n;
  }
  EXPECT_EQ(n, 16u);
}

TEST(H5adRead, HsmmUnsValues) {
  const CellMatrix m = load("hsmm_small.h5ad");
  EXPECT_EQ(m.uns["title"], "HSMM myoblast time course (Trapnell 2014), 60 cells x 300 genes, FPKM");
  EXPECT_EQ(m.uns["source_n_cells"], 271);
  ASSERT_TRUE(m.uns["pca"]["variance_ratio"].is_array());
  EXPECT_EQ(m.uns["pca"]["variance_ratio"].size(), 5u);
  EXPECT_EQ(m.uns["pca"]["variance_ratio"][0].get<double>(), 0.06607039495168529);
}

TEST(H5adRead, LegacyAndModernPbmc68kAgree) {
  const CellMatrix old_file = load("anndata_archives/v0.5.0_adata.h5ad");
  const CellMatrix new_file = load("anndata_archives/pbmc68k_reduced_2025.h5ad");
  EXPECT_EQ(old_file.X.indptr, new_file.X.indptr);
  EXPECT_EQ(old_file.X.indices, new_file.X.indices);
  EXPECT_EQ(old_file.X.data, new_file.X.data);
  EXPECT_EQ(old_file.obs.index, new_file.obs.index);
  EXPECT_EQ(old_file.var.index, new_file.var.index);
  for (const DataFrame* df : {&old_file.obs, &old_file.var}) {
    const DataFrame& other = df == &old_file.obs ? new_file.obs : new_file.var;
    ASSERT_EQ(df->columns.size(), other.columns.size());
    for (const Column& c : df->columns) {
      const Column* o = other.find(c.name);
      ASSERT_NE(o, nullptr) << c.name;
      EXPECT_EQ(c.type, o->type) << c.name;
      for (size_t i = 0; i < c.size(); ++i) ASSERT_EQ(c.text(i), o->text(i)) << c.name << " row " << i;
    }
  }
  EXPECT_FALSE(old_file.uns.contains("bulk_labels_categories"));
  EXPECT_EQ(old_file.obsm.at("X_pca").values, new_file.obsm.at("X_pca").values);
  // PCs holds NaN for genes outside the PCA (same positions in both files).
  const auto& old_pcs = old_file.varm.at("PCs").values;
  const auto& new_pcs = new_file.varm.at("PCs").values;
  ASSERT_EQ(old_pcs.size(), new_pcs.size());
  for (size_t i = 0; i < old_pcs.size(); ++i) {
    ASSERT_TRUE(old_pcs[i] == new_pcs[i] || (std::isnan(old_pcs[i]) && std::isnan(new_pcs[i]))) << i;
  }
}

TEST(H5adRead, SkippedElementsAreNamed) {
  const CellMatrix modern = load("anndata_archives/pbmc68k_reduced_2025.h5ad");
  EXPECT_TRUE(has_skipped(modern, "raw: 765 genes"));
  EXPECT_TRUE(has_skipped(modern, "obsp: connectivities, distances"));
  EXPECT_TRUE(has_skipped(modern, "uns/rank_genes_groups/names: record array"));
  const CellMatrix legacy = load("anndata_archives/v0.5.0_adata.h5ad");
  EXPECT_TRUE(has_skipped(legacy, "raw.X: 700 x 765"));
  const CellMatrix v07 = load("anndata_archives/v0.7.8_adata.h5ad");
  for (const char* p : {"obsm/df: dataframe", "varm/df: dataframe", "raw: 40 genes", "obsp: ", "varp: "}) {
    EXPECT_TRUE(has_skipped(v07, p)) << p;
  }
  EXPECT_EQ(v07.obsm.at("sparse").n_cols, 100);
}

void expect_rows_of(const CsrMatrix& part, const CsrMatrix& full, int64_t begin, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_EQ(part.n_cols, full.n_cols);
  EXPECT_EQ(part.storage.layout, full.storage.layout);
  ASSERT_EQ(static_cast<int64_t>(part.indptr.size()), part.n_rows + 1);
  for (int64_t r = 0; r < part.n_rows; ++r) {
    const auto fb = full.indptr[static_cast<size_t>(begin + r)],
               fe = full.indptr[static_cast<size_t>(begin + r + 1)];
    const auto pb = part.indptr[static_cast<size_t>(r)], pe = part.indptr[static_cast<size_t>(r + 1)];
    ASSERT_EQ(pe - pb, fe - fb) << "row " << r;
    for (int64_t k = 0; k < pe - pb; ++k) {
      ASSERT_EQ(part.indices[static_cast<size_t>(pb + k)], full.indices[static_cast<size_t>(fb + k)]);
      ASSERT_EQ(part.data[static_cast<size_t>(pb + k)], full.data[static_cast<size_t>(fb + k)]);
    }
  }
}

class H5adRows : public ::testing::TestWithParam<std::string> {};

TEST_P(H5adRows, RangeEqualsRowsOfFullRead) {
  const CellMatrix full = load(GetParam());
  ReadOptions opt;
  opt.rows = std::pair<int64_t, int64_t>{10, 20};
  const CellMatrix part = load(GetParam(), opt);
  ASSERT_EQ(part.n_cells(), 10);
  ASSERT_EQ(part.X.n_rows, 10);
  expect_rows_of(part.X, full.X, 10, "X");
  EXPECT_EQ(part.X.storage.dtype, full.X.storage.dtype);
  ASSERT_EQ(part.layers.size(), full.layers.size());
  for (const auto& [name, layer] : part.layers) expect_rows_of(layer, full.layers.at(name), 10, name);
  EXPECT_EQ(part.obs.index,
            std::vector<std::string>(full.obs.index.begin() + 10, full.obs.index.begin() + 20));
  ASSERT_EQ(part.obs.columns.size(), full.obs.columns.size());
  for (const Column& c : part.obs.columns) {
    const Column* f = full.obs.find(c.name);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(c.size(), 10u) << c.name;
    EXPECT_EQ(c.categories, f->categories) << c.name;
    for (size_t i = 0; i < 10; ++i) EXPECT_EQ(c.text(i), f->text(10 + i)) << c.name << " row " << i;
  }
  EXPECT_EQ(part.var.index, full.var.index);
  ASSERT_EQ(part.obsm.size(), full.obsm.size());
  for (const auto& [name, a] : part.obsm) {
    const DenseMatrix& f = full.obsm.at(name);
    ASSERT_EQ(a.n_rows, 10) << name;
    ASSERT_EQ(a.n_cols, f.n_cols) << name;
    for (int64_t r = 0; r < 10; ++r)
      for (int64_t c = 0; c < a.n_cols; ++c) ASSERT_EQ(a.at(r, c), f.at(10 + r, c)) << name;
  }
  for (const auto& [name, a] : part.varm) EXPECT_EQ(a.n_rows, full.varm.at(name).n_rows) << name;
}

INSTANTIATE_TEST_SUITE_P(Layouts, H5adRows,
                         ::testing::Values("hsmm_small.h5ad", "hsmm_small_csc.h5ad", "hsmm_small_dense.h5ad",
                                           "hsmm_small_int64idx.h5ad", "hsmm_small_nullable_string.h5ad",
                                           "anndata_archives/v0.5.0_adata.h5ad",
                                           "anndata_archives/v0.7.8_adata.h5ad",
                                           "anndata_archives/pbmc68k_reduced_2025.h5ad"));

TEST(H5adRead, EdgeRowRanges) {
  const CellMatrix full = load("hsmm_small.h5ad");
  for (const auto& [b, e] : std::vector<std::pair<int64_t, int64_t>>{{0, 0}, {0, 60}, {59, 60}, {30, 30}}) {
    ReadOptions opt;
    opt.rows = std::pair{b, e};
    const CellMatrix part = load("hsmm_small.h5ad", opt);
    EXPECT_EQ(part.n_cells(), e - b);
    expect_rows_of(part.X, full.X, b, "rows " + std::to_string(b));
  }
  ReadOptions bad;
  bad.rows = std::pair<int64_t, int64_t>{50, 61};
  EXPECT_THROW(load("hsmm_small.h5ad", bad), Error);
  bad.rows = std::pair<int64_t, int64_t>{5, 4};
  EXPECT_THROW(load("hsmm_small.h5ad", bad), Error);
}

TEST(H5adRead, WithoutXValuesKeepsShapeAndStorage) {
  ReadOptions opt;
  opt.load_x = false;
  for (const char* f : {"hsmm_small.h5ad", "hsmm_small_csc.h5ad", "hsmm_small_dense.h5ad"}) {
    const CellMatrix m = load(f, opt);
    EXPECT_TRUE(m.has_x);
    EXPECT_EQ(m.X.n_rows, 60);
    EXPECT_EQ(m.X.n_cols, 300);
    EXPECT_EQ(m.X.nnz(), 0);
    EXPECT_EQ(m.X.indptr.size(), 61u);
    EXPECT_EQ(m.X.storage.dtype, "float32");
    EXPECT_EQ(m.layers.at("counts").nnz(), 9292) << f;  // layers are selected separately
  }
  EXPECT_EQ(load("hsmm_small_int64idx.h5ad", opt).X.storage.index_dtype, "int64");
}

TEST(H5adRead, LayerSelection) {
  ReadOptions none;
  none.layers = std::vector<std::string>{};
  const CellMatrix m = load("hsmm_small.h5ad", none);
  EXPECT_TRUE(m.layers.empty());
  EXPECT_TRUE(has_skipped(m, "layers/counts: not requested"));
  ReadOptions one;
  one.layers = std::vector<std::string>{"transpose"};
  const CellMatrix b = load("bpcells/mini_mat.anndata-v0.10.9.h5ad", one);
  ASSERT_EQ(b.layers.size(), 1u);
  EXPECT_EQ(b.layers.at("transpose").storage.layout, "csc");
  EXPECT_EQ(b.layers.at("transpose").at(0, 3), 3.0f);
  EXPECT_TRUE(has_skipped(b, "layers/dense"));
  ReadOptions unknown;
  unknown.layers = std::vector<std::string>{"counts", "spliced"};
  try {
    load("hsmm_small.h5ad", unknown);
    ADD_FAILURE() << "no error for an unknown layer";
  } catch (const Error& e) {
    EXPECT_EQ(e.element(), "/layers/spliced");
    EXPECT_NE(std::string(e.what()).find("counts"), std::string::npos) << e.what();
  }
}

TEST(H5adRead, OptionalPartsCanBeLeftOut) {
  ReadOptions opt;
  opt.load_obsm = false;
  opt.load_varm = false;
  opt.load_uns = false;
  const CellMatrix m = load("hsmm_small.h5ad", opt);
  EXPECT_TRUE(m.obsm.empty());
  EXPECT_TRUE(m.varm.empty());
  EXPECT_TRUE(m.uns.empty());
  EXPECT_TRUE(has_skipped(m, "obsm: X_pca, not requested"));
  EXPECT_TRUE(has_skipped(m, "varm: PCs, not requested"));
  EXPECT_TRUE(has_skipped(m, "uns: not requested"));
  const CellMatrix legacy = load("anndata_archives/v0.5.0_adata.h5ad", opt);
  EXPECT_TRUE(legacy.obsm.empty());
  EXPECT_EQ(legacy.obs.find("bulk_labels")->type, ColumnType::Categorical);  // uns not needed for it
}

}  // namespace
}  // namespace pg::io
