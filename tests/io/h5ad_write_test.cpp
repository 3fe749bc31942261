// The h5ad writer against the real anndata: files we write are read by
// anndata (tests/python/anndata_check.py) with every value and type intact,
// files anndata writes (tests/python/anndata_make.py) are read by our reader
// with the values anndata sees, every h5ad fixture survives read -> write ->
// read, and a failed write never damages what was there before.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>

#include "core/error.h"
#include "io/anndata_interop.h"
#include "io/formats.h"
#include "io/hdf5.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace pg::io;
using pg::test::anndata_view;
using pg::test::expect_read_equals_anndata;
using pg::test::run_script;

namespace {

CsrMatrix csr(int64_t rows, int64_t cols, const std::vector<std::vector<std::pair<int32_t, float>>>& r,
              const std::string& dtype = "float32") {
  CsrMatrix m;
  m.n_rows = rows;
  m.n_cols = cols;
  for (const auto& row : r) {
    for (const auto& [c, v] : row) {
      m.indices.push_back(c);
      m.data.push_back(v);
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  m.storage = {"csr", dtype, "int32"};
  return m;
}

Column col(const std::string& name, ColumnType t, const std::string& dtype) {
  Column c;
  c.name = name;
  c.type = t;
  c.dtype = dtype;
  return c;
}

Column categorical(const std::string& name, std::vector<std::string> cats, std::vector<int32_t> codes,
                   const std::string& cat_dtype = "str", bool ordered = false) {
  Column c = col(name, ColumnType::Categorical, "int8");
  c.categories = std::move(cats);
  c.codes = std::move(codes);
  c.categories_dtype = cat_dtype;
  c.ordered = ordered;
  return c;
}

const double kNaN = std::nan("");

// Six cells x four genes with every column type, missing values, unicode,
// numeric categories, two layers, obsm/varm and a nested uns.
CellMatrix rich_matrix() {
  CellMatrix m;
  m.X = csr(6, 4,
            {{{0, 0.1f}, {3, 2.5f}}, {}, {{1, 1e-7f}}, {{0, 3.0f}, {1, 0.0f}, {2, 7.25f}}, {{3, 1e6f}}, {}});
  m.obs.index = {"AAAC-1", "Zellkern-ä", "细胞", "cell 4", "cell/5", "c6"};
  m.var.index_name = "gene_symbol";
  m.var.index = {"CD3E", "MS4A1", "β-actin", "GENE4"};
  Column label = col("label", ColumnType::String, "str");
  label.strings = {"a", "ü", "细胞", "", "e", "f"};
  Column note = col("note", ColumnType::String, "str");
  note.strings = {"x", "", "z", "", "Zellkern-ä", "w"};
  note.missing = {0, 1, 0, 1, 0, 0};
  Column score = col("score", ColumnType::Float, "float64");
  score.floats = {0.5, kNaN, -1.25, 1e300, 3.0, kNaN};
  Column score32 = col("score32", ColumnType::Float, "float32");
  score32.floats = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  Column n_counts = col("n_counts", ColumnType::Int, "int64");
  n_counts.ints = {1, 2, 3, (int64_t{1} << 40), -5, 0};
  Column n_genes = col("n_genes", ColumnType::Int, "int32");
  n_genes.ints = {1, 2, 3, 4, 5, 6};
  Column hours = col("hours", ColumnType::Int, "int64");
  hours.ints = {10, 0, 30, 40, 0, 60};
  hours.missing = {0, 1, 0, 0, 1, 0};
  Column flag = col("flag", ColumnType::Bool, "bool");
  flag.bools = {1, 0, 1, 1, 0, 0};
  Column passed = col("passed", ColumnType::Bool, "bool");
  passed.bools = {1, 0, 0, 1, 0, 1};
  passed.missing = {0, 0, 1, 0, 0, 1};
  m.obs.columns = {label,
                   note,
                   categorical("group", {"Zellkern-ä", "细胞", "unused"}, {0, 1, -1, 0, 1, 0}),
                   categorical("stage", {"late", "early"}, {1, 1, 0, 0, 1, 0}, "str", true),
                   categorical("cluster", {"0", "1", "7"}, {2, 0, 1, 2, -1, 0}, "int64"),
                   categorical("ratio", {"0.5", "2.0"}, {0, 1, 1, 0, 0, 1}, "float64"),
                   score,
                   score32,
                   n_counts,
                   n_genes,
                   hours,
                   flag,
                   passed};
  Column ids = col("gene_ids", ColumnType::String, "str");
  ids.strings = {"ENSG1", "ENSG2", "ENSG3", "ENSG4"};
  Column hv = col("highly_variable", ColumnType::Bool, "bool");
  hv.bools = {1, 0, 0, 1};
  m.var.columns = {ids, hv};
  m.layers["counts"] =
      csr(6, 4, {{{0, 1}, {3, 40}}, {}, {{1, 2}}, {{0, 3}}, {{3, 123456}}, {{2, 1}}}, "int64");
  m.layers["scaled"] = csr(6, 4, {{{1, 0.25f}}, {}, {}, {}, {}, {{0, 1.5f}}}, "float64");
  m.obsm["X_pca"] = {
      6, 2, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f, 1.1f, 1.2f}, "float32"};
  m.obsm["X_umap"] = {6, 2, {0.1, -0.2, 0.3, 0.4, 1e-9, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2}, "float64"};
  m.varm["PCs"] = {4, 3, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12.5}, "float64"};
  m.uns = json::parse(R"({"title": "Zellkern-ä 细胞", "n_pcs": 3, "big": 1099511627776, "neg": -5,
      "resolution": 0.25, "log1p": true, "ints": [3, 1, 2], "floats": [0.5, 1], "names": ["a", "β"],
      "flags": [true, false], "grid": [[1, 2, 3], [4, 5, 6]], "empty": [], "mixed": [1, "a"],
      "neighbors": {"params": {"n_neighbors": 15, "method": "umap"}, "deep": {"x": {"y": "z"}}},
      "nothing": null})");
  return m;
}

// Expects the anndata view of one matrix (X or a layer) to equal `m` entry by entry.
void expect_matrix(const json& view, const CsrMatrix& m, const std::string& dtype) {
  ASSERT_FALSE(view.is_null());
  EXPECT_EQ(view["dtype"], dtype);
  EXPECT_EQ(view["shape"], json::array({m.n_rows, m.n_cols}));
  ASSERT_EQ(view["nnz"].get<int64_t>(), m.nnz());
  size_t k = 0;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (int64_t p = m.indptr[r]; p < m.indptr[r + 1]; ++p, ++k) {
      const auto& e = view["entries"][k];
      EXPECT_EQ(e[0].get<int64_t>(), r);
      EXPECT_EQ(e[1].get<int64_t>(), m.indices[p]);
      EXPECT_EQ(e[2].get<double>(), static_cast<double>(m.data[p])) << "entry " << k;  // float32-exact
    }
  }
}

// Expects anndata's view of one column to hold the values of `c` as `dtype`.
void expect_column(const json& v, const Column& c, const std::string& dtype) {
  SCOPED_TRACE(c.name);
  EXPECT_EQ(v["dtype"], dtype);
  json na = json::array();
  for (size_t i = 0; i < c.size(); ++i)
    if (c.is_missing(i)) na.push_back(i);
  EXPECT_EQ(v["na"], na);
  for (size_t i = 0; i < c.size(); ++i) {
    const json& x = v["values"][i];
    if (c.is_missing(i)) {
      EXPECT_TRUE(x.is_null()) << i;
      continue;
    }
    switch (c.type) {
      case ColumnType::String:
        EXPECT_EQ(x, c.strings[i]) << i;
        break;
      case ColumnType::Categorical:
        EXPECT_EQ(v["codes"][i], c.codes[i]) << i;
        break;
      case ColumnType::Float:
        EXPECT_EQ(x.get<double>(), c.floats[i]) << i;
        break;
      case ColumnType::Int:
        EXPECT_EQ(x.get<int64_t>(), c.ints[i]) << i;
        break;
      case ColumnType::Bool:
        EXPECT_EQ(x.get<bool>(), c.bools[i] != 0) << i;
        break;
    }
  }
}

void expect_dense(const json& v, const DenseMatrix& d, const std::string& dtype) {
  EXPECT_EQ(v["dtype"], dtype);
  EXPECT_EQ(v["shape"], json::array({d.n_rows, d.n_cols}));
  ASSERT_EQ(v["values"].size(), d.values.size());
  for (size_t i = 0; i < d.values.size(); ++i) EXPECT_EQ(v["values"][i].get<double>(), d.values[i]) << i;
}

TEST(H5adWrite, AnndataReadsEveryColumnTypeAndValue) {
  const CellMatrix m = rich_matrix();
  const fs::path out = pg::test::temp_dir() / "rich.h5ad";
  write_h5ad(m, out.string());
  const json a = anndata_view(out);

  EXPECT_EQ(a["shape"], json::array({6, 4}));
  expect_matrix(a["X"], m.X, "float32");
  expect_matrix(a["layers"]["counts"], m.layers.at("counts"), "int64");
  expect_matrix(a["layers"]["scaled"], m.layers.at("scaled"), "float64");

  EXPECT_EQ(a["obs"]["index"], m.obs.index);
  EXPECT_EQ(a["var"]["index"], m.var.index);
  EXPECT_EQ(a["var"]["index_name"], "gene_symbol");
  const json& obs = a["obs"]["column"];
  std::vector<std::string> names;
  for (const auto& c : m.obs.columns) names.push_back(c.name);
  EXPECT_EQ(a["obs"]["columns"], names);
  // "note" (strings with missing values) is written as a categorical, see write_column.
  const std::vector<std::string> dtypes = {"object",   "category", "category", "category", "category",
                                           "category", "float64",  "float32",  "int64",    "int32",
                                           "Int64",    "bool",     "boolean"};
  for (size_t i = 0; i < m.obs.columns.size(); ++i)
    expect_column(obs[m.obs.columns[i].name], m.obs.columns[i], dtypes[i]);
  EXPECT_EQ(obs["group"]["categories"], json::array({"Zellkern-ä", "细胞", "unused"}));  // unused kept
  EXPECT_EQ(obs["group"]["ordered"], false);
  EXPECT_EQ(obs["stage"]["ordered"], true);
  EXPECT_EQ(obs["stage"]["categories"], json::array({"late", "early"}));
  EXPECT_EQ(obs["cluster"]["categories"], json::array({0, 1, 7}));
  EXPECT_EQ(obs["cluster"]["categories_dtype"], "int64");
  EXPECT_EQ(obs["ratio"]["categories"], json::array({0.5, 2.0}));
  EXPECT_EQ(obs["ratio"]["categories_dtype"], "float64");
  expect_column(a["var"]["column"]["gene_ids"], m.var.columns[0], "object");
  expect_column(a["var"]["column"]["highly_variable"], m.var.columns[1], "bool");

  expect_dense(a["obsm"]["X_pca"], m.obsm.at("X_pca"), "float32");
  expect_dense(a["obsm"]["X_umap"], m.obsm.at("X_umap"), "float64");
  expect_dense(a["varm"]["PCs"], m.varm.at("PCs"), "float64");

  json uns = m.uns;
  uns.erase("nothing");         // None has no h5ad encoding
  uns["mixed"] = R"([1,"a"])";  // kept as JSON text
  uns["floats"] = json::array({0.5, 1.0});
  EXPECT_EQ(a["uns"], uns);
  const json& t = a["uns_types"];
  EXPECT_EQ(t["ints"], "ndarray[int64][3]");
  EXPECT_EQ(t["floats"], "ndarray[float64][2]");
  EXPECT_EQ(t["flags"], "ndarray[bool][2]");
  EXPECT_EQ(t["grid"], "ndarray[int64][2, 3]");
  EXPECT_EQ(t["empty"], "ndarray[float64][0]");
  EXPECT_EQ(t["names"], "ndarray[object][2]");
  EXPECT_EQ(t["log1p"], "bool");
  EXPECT_EQ(t["neighbors"]["params"]["n_neighbors"], "int");
}

// The encodings chosen, checked on the HDF5 level where anndata's view hides them.
TEST(H5adWrite, EncodingsOnDisk) {
  CellMatrix m = rich_matrix();
  std::vector<std::string> many;
  std::vector<int32_t> codes;
  for (int i = 0; i < 200; ++i) many.push_back("c" + std::to_string(i));
  for (int i = 0; i < 6; ++i) codes.push_back(199 - i);
  m.obs.columns.push_back(categorical("many", many, codes));
  const fs::path out = pg::test::temp_dir() / "enc.h5ad";
  write_h5ad(m, out.string());
  namespace h5 = pg::io::h5;
  h5::Handle f = h5::open_file(out.string());
  EXPECT_EQ(h5::encoding_type(f), "anndata");
  EXPECT_EQ(h5::attr_string(f, "encoding-version"), "0.1.0");
  EXPECT_EQ(h5::encoding_type(h5::open_group(f, "X")), "csr_matrix");
  EXPECT_EQ(h5::attr_ints(h5::open_group(f, "X"), "shape"), (std::vector<int64_t>{6, 4}));
  auto dtype = [&](const std::string& p) { return h5::dataset_info(h5::open_dataset(f, p)).dtype; };
  EXPECT_EQ(dtype("X/data"), "float32");
  EXPECT_EQ(dtype("X/indices"), "int32");
  EXPECT_EQ(dtype("X/indptr"), "int32");
  EXPECT_EQ(dtype("obs/group/codes"), "int8");
  EXPECT_EQ(dtype("obs/many/codes"), "int16");
  EXPECT_EQ(dtype("obs/flag"), "bool");
  EXPECT_EQ(h5::attr_string(h5::open_group(f, "var"), "_index"), "gene_symbol");
  // Strings with missing values: a categorical with code -1, readable by every anndata >= 0.8.
  EXPECT_EQ(h5::encoding_type(h5::open_object(f, "obs/note")), "categorical");
  EXPECT_EQ(h5::read<int8_t>(h5::open_dataset(f, "obs/note/codes")),
            (std::vector<int8_t>{2, -1, 3, -1, 0, 1}));
  EXPECT_EQ(h5::encoding_type(h5::open_object(f, "obs/hours")), "nullable-integer");
  EXPECT_EQ(h5::encoding_type(h5::open_object(f, "obs/passed")), "nullable-boolean");
  EXPECT_EQ(h5::encoding_type(h5::open_object(f, "obs/cluster/categories")), "array");
  for (const char* g : {"layers", "obsm", "varm", "obsp", "varp", "uns", "uns/neighbors/params"})
    EXPECT_EQ(h5::encoding_type(h5::open_group(f, g)), "dict") << g;
  EXPECT_EQ(h5::encoding_type(h5::open_object(f, "uns/title")), "string");
  EXPECT_EQ(h5::encoding_type(h5::open_object(f, "uns/n_pcs")), "numeric-scalar");
}

// X keeps an integer dtype only when every stored value is integral and fits it.
TEST(H5adWrite, IntegerCountsKeepTheirDtype) {
  CellMatrix m;
  m.obs.index = {"a", "b"};
  m.var.index = {"g1", "g2", "g3"};
  m.X = csr(2, 3, {{{0, 1}, {2, 65535}}, {{1, 7}}}, "uint16");
  const fs::path dir = pg::test::temp_dir();
  write_h5ad(m, (dir / "int.h5ad").string());
  EXPECT_EQ(anndata_view(dir / "int.h5ad")["X"]["dtype"], "uint16");
  m.X.data[1] = 65536;  // no longer fits uint16
  write_h5ad(m, (dir / "big.h5ad").string());
  EXPECT_EQ(anndata_view(dir / "big.h5ad")["X"]["dtype"], "float32");
  m.X.data[1] = 0.5f;
  m.X.storage.dtype = "int32";
  write_h5ad(m, (dir / "frac.h5ad").string());
  expect_matrix(anndata_view(dir / "frac.h5ad")["X"], m.X, "float32");
}

// Tables without columns, files without X and zero-cell files are still valid h5ad.
TEST(H5adWrite, EmptyPartsAreReadable) {
  CellMatrix m;
  m.obs.index = {"a", "b"};
  m.var.index = {"g1"};
  m.X = csr(2, 1, {{}, {{0, 2}}});
  const fs::path dir = pg::test::temp_dir();
  write_h5ad(m, (dir / "nocols.h5ad").string());
  json a = anndata_view(dir / "nocols.h5ad");
  EXPECT_EQ(a["shape"], json::array({2, 1}));
  EXPECT_EQ(a["obs"]["columns"], json::array());
  EXPECT_EQ(a["var"]["columns"], json::array());
  expect_matrix(a["X"], m.X, "float32");

  m.has_x = false;
  write_h5ad(m, (dir / "nox.h5ad").string());
  a = anndata_view(dir / "nox.h5ad");
  EXPECT_EQ(a["shape"], json::array({2, 1}));
  EXPECT_TRUE(a["X"].is_null());

  CellMatrix empty;
  empty.var.index = {"g1", "g2"};
  empty.X = csr(0, 2, {});
  write_h5ad(empty, (dir / "zero.h5ad").string());
  a = anndata_view(dir / "zero.h5ad");
  EXPECT_EQ(a["shape"], json::array({0, 2}));
  EXPECT_EQ(a["X"]["nnz"], 0);
}

// ---- anndata -> our reader -----------------------------------------------------

class FromAnndata : public ::testing::TestWithParam<std::string> {};

TEST_P(FromAnndata, ReaderSeesWhatAnndataSees) {
  const fs::path file = pg::test::temp_dir() / ("made_" + GetParam() + ".h5ad");
  const json a = run_script("anndata_make.py", "'" + file.string() + "' " + GetParam());
  const CellMatrix m = read_h5ad(file.string());
  expect_read_equals_anndata(m, a);
  EXPECT_EQ(m.X.storage.layout, GetParam());
  EXPECT_EQ(m.X.storage.dtype, "float32");
  EXPECT_EQ(m.layers.at("counts").storage.dtype, "int64");
  EXPECT_EQ(m.obsm.at("X_pca").dtype, "float32");
  for (const auto& [k, v] : a["uns"].items()) EXPECT_EQ(m.uns.value(k, json()), v) << "uns/" << k;
  // Written back by us, the file reads the same in anndata.
  const fs::path again = file.parent_path() / "again.h5ad";
  write_h5ad(m, again.string());
  json b = anndata_view(again);
  json a2 = a;
  for (json* j : {&a2, &b}) j->erase("anndata_version");
  // The pandas "string" column with missing values comes back as a categorical
  // (see write_column): same values and missing positions, other dtype.
  const std::string note = "barcode_note";
  EXPECT_EQ(b["obs"]["column"][note]["dtype"], "category");
  EXPECT_EQ(b["obs"]["column"][note]["values"], a2["obs"]["column"][note]["values"]);
  EXPECT_EQ(b["obs"]["column"][note]["na"], a2["obs"]["column"][note]["na"]);
  for (json* j : {&a2, &b}) (*j)["obs"]["column"].erase(note);
  EXPECT_EQ(b["obs"], a2["obs"]);
  EXPECT_EQ(b["var"], a2["var"]);
  EXPECT_EQ(b["obsm"], a2["obsm"]);
  EXPECT_EQ(b["uns"], a2["uns"]);
  expect_read_equals_anndata(read_h5ad(again.string()), anndata_view(again));
}

INSTANTIATE_TEST_SUITE_P(Layouts, FromAnndata, ::testing::Values("csr", "csc", "dense"));

// ---- fixtures: read -> write -> read ----------------------------------------------

void expect_same_frame(const DataFrame& a, const DataFrame& b) {
  EXPECT_EQ(a.index, b.index);
  EXPECT_EQ(a.index_name.empty() ? "_index" : a.index_name, b.index_name);
  ASSERT_EQ(a.columns.size(), b.columns.size());
  for (size_t i = 0; i < a.columns.size(); ++i) {
    const Column& x = a.columns[i];
    const Column& y = b.columns[i];
    SCOPED_TRACE(x.name);
    EXPECT_EQ(x.name, y.name);
    // Strings with missing values come back as a categorical (see write_column): same values.
    const bool nullable_string = x.type == ColumnType::String && !x.missing.empty();
    if (nullable_string) {
      ASSERT_EQ(y.type, ColumnType::Categorical);
    } else {
      ASSERT_EQ(x.type, y.type);
    }
    ASSERT_EQ(x.size(), y.size());
    for (size_t r = 0; r < x.size(); ++r) {
      ASSERT_EQ(x.is_missing(r), y.is_missing(r)) << r;
      if (!x.is_missing(r)) {
        EXPECT_EQ(x.text(r), y.text(r)) << r;
      }
    }
    if (x.type == ColumnType::Float) {
      EXPECT_EQ(x.floats.size(), y.floats.size());
    }
    if (nullable_string) continue;
    if (x.type != ColumnType::Categorical) {
      EXPECT_EQ(x.dtype, y.dtype);
      continue;
    }
    EXPECT_EQ(x.categories, y.categories);
    EXPECT_EQ(x.categories_dtype, y.categories_dtype);
    EXPECT_EQ(x.ordered, y.ordered);
    EXPECT_EQ(x.codes, y.codes);
  }
}

void expect_same_dense(const std::map<std::string, DenseMatrix>& a,
                       const std::map<std::string, DenseMatrix>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [k, d] : a) {
    SCOPED_TRACE(k);
    ASSERT_TRUE(b.count(k));
    EXPECT_EQ(d.n_rows, b.at(k).n_rows);
    EXPECT_EQ(d.n_cols, b.at(k).n_cols);
    ASSERT_EQ(d.values.size(), b.at(k).values.size());
    for (size_t i = 0; i < d.values.size(); ++i) {
      const double x = d.values[i], y = b.at(k).values[i];
      EXPECT_TRUE(x == y || (std::isnan(x) && std::isnan(y))) << i << ": " << x << " vs " << y;
    }
    EXPECT_EQ(d.dtype, b.at(k).dtype);
  }
}

class FixtureRoundTrip : public ::testing::TestWithParam<std::string> {};

TEST_P(FixtureRoundTrip, ReadWriteReadIsIdentical) {
  const fs::path in = pg::test::fixture(GetParam());
  ASSERT_TRUE(fs::exists(in)) << in;
  const std::string before = pg::test::read_text(in);
  CellMatrix a;
  try {
    a = read_h5ad(in.string());
  } catch (const pg::Error& e) {
    // h5py's LZF filter is a plugin this HDF5 may lack; the reader's own tests cover the message.
    if (std::string(e.what()).find("compression filter") != std::string::npos) GTEST_SKIP() << e.what();
    throw;
  }
  const fs::path out = pg::test::temp_dir() / "rt.h5ad";
  write_h5ad(a, out.string());
  EXPECT_EQ(pg::test::read_text(in), before);  // the input is never touched
  const CellMatrix b = read_h5ad(out.string());
  EXPECT_EQ(a.has_x, b.has_x);
  pg::test::expect_same_matrix(a.X, b.X);
  ASSERT_EQ(a.layers.size(), b.layers.size());
  for (const auto& [k, l] : a.layers) {
    SCOPED_TRACE("layers/" + k);
    ASSERT_TRUE(b.layers.count(k));
    pg::test::expect_same_matrix(l, b.layers.at(k));
  }
  {
    SCOPED_TRACE("obs");
    expect_same_frame(a.obs, b.obs);
  }
  {
    SCOPED_TRACE("var");
    expect_same_frame(a.var, b.var);
  }
  expect_same_dense(a.obsm, b.obsm);
  expect_same_dense(a.varm, b.varm);
  EXPECT_EQ(a.uns, b.uns);
  // anndata reads our file, sees the same shape, X and tables as our reader.
  const json v = anndata_view(out);
  expect_read_equals_anndata(b, v);
  double sum = 0;
  for (float x : a.X.data) sum += x;
  if (a.has_x) {
    EXPECT_NEAR(v["X"]["sum"].get<double>(), sum, 1e-6 * std::max(1.0, std::abs(sum)));
  }
}

INSTANTIATE_TEST_SUITE_P(Fixtures, FixtureRoundTrip, ::testing::ValuesIn(pg::test::h5ad_fixtures()),
                         pg::test::FixtureName());

// ---- safety -----------------------------------------------------------------------

// Only the target (and whatever the test put there) remains: no temporary sibling.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

TEST(H5adWrite, InconsistentMatrixIsRejectedBeforeWriting) {
  const fs::path dir = pg::test::temp_dir();
  const fs::path target = dir / "keep.h5ad";
  write_h5ad(rich_matrix(), target.string());
  const std::string before = pg::test::read_text(target);
  const fs::path fresh = dir / "never.h5ad";

  std::vector<std::pair<std::string, std::function<void(CellMatrix&)>>> breakers = {
      {"obs rows != X rows", [](CellMatrix& m) { m.obs.index.pop_back(); }},
      {"var rows != X cols", [](CellMatrix& m) { m.var.index.push_back("extra"); }},
      {"column length", [](CellMatrix& m) { m.obs.columns[0].strings.pop_back(); }},
      {"mask length", [](CellMatrix& m) { m.obs.columns[1].missing.push_back(0); }},
      {"code out of range", [](CellMatrix& m) { m.obs.columns[2].codes[3] = 3; }},
      {"code below -1", [](CellMatrix& m) { m.obs.columns[2].codes[3] = -2; }},
      {"duplicate categories", [](CellMatrix& m) { m.obs.columns[2].categories[2] = "细胞"; }},
      {"int category not a number", [](CellMatrix& m) { m.obs.columns[4].categories[0] = "zero"; }},
      {"duplicate column", [](CellMatrix& m) { m.obs.columns[1].name = "label"; }},
      {"slash in column name", [](CellMatrix& m) { m.obs.columns[1].name = "a/b"; }},
      {"layer shape", [](CellMatrix& m) { m.layers["counts"].n_cols = 5; }},
      {"bad indptr", [](CellMatrix& m) { m.X.indptr[2] = 0; }},
      {"index out of range", [](CellMatrix& m) { m.X.indices[0] = 4; }},
      {"obsm rows", [](CellMatrix& m) { m.obsm["X_pca"].n_rows = 5; }},
      {"varm values", [](CellMatrix& m) { m.varm["PCs"].values.pop_back(); }},
      {"empty uns key", [](CellMatrix& m) { m.uns["neighbors"][""] = 1; }},
  };
  for (const auto& [what, breaker] : breakers) {
    SCOPED_TRACE(what);
    CellMatrix m = rich_matrix();
    breaker(m);
    EXPECT_THROW(write_h5ad(m, target.string()), pg::Error);
    EXPECT_THROW(write_h5ad(m, fresh.string()), pg::Error);
    EXPECT_EQ(pg::test::read_text(target), before);
    EXPECT_EQ(listing(dir), std::vector<std::string>{"keep.h5ad"});
  }
}

// A write that fails after the data is written (here: the final rename onto a
// folder) leaves no temporary file and the folder as it was.
TEST(H5adWrite, FailedRenameLeavesNoTemporary) {
  const fs::path dir = pg::test::temp_dir();
  const fs::path target = dir / "out.h5ad";
  fs::create_directories(target / "inside");
  EXPECT_ANY_THROW(write_h5ad(rich_matrix(), target.string()));
  EXPECT_TRUE(fs::is_directory(target / "inside"));
  EXPECT_EQ(listing(dir), std::vector<std::string>{"out.h5ad"});
  // And a successful write replaces an existing file completely.
  const fs::path file = dir / "f.h5ad";
  std::ofstream(file) << "old contents";
  write_h5ad(rich_matrix(), file.string());
  EXPECT_EQ(anndata_view(file)["shape"], json::array({6, 4}));
}

}  // namespace
