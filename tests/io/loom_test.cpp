// Loom 3.0.0 (loompy) and 2.0.1 (fixed-length strings, root attributes)
// fixtures checked against expected_values.json, cell-range reads, and a
// write -> read round trip whose layout h5py confirms is loom 3.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "core/error.h"
#include "io/formats.h"
#include "io/hdf5.h"
#include "io/matrix_market.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pg::io {
namespace {

double row_sum(const CsrMatrix& m, int64_t r) {
  double s = 0;
  for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k)
    s += m.data[static_cast<size_t>(k)];
  return s;
}

void check_dense(const CsrMatrix& x, const CellMatrix& m, const json& e) {
  ASSERT_EQ(x.n_rows, e["n_cells"].get<int64_t>());
  ASSERT_EQ(x.n_cols, e["n_genes"].get<int64_t>());
  EXPECT_EQ(x.nnz(), e["n_nonzero"].get<int64_t>());  // zeros of the dense matrix are not stored
  EXPECT_EQ(x.storage.dtype, e["dtype_data"].get<std::string>());
  double total = 0;
  std::vector<double> gene(static_cast<size_t>(x.n_cols), 0.0);
  for (size_t k = 0; k < x.data.size(); ++k) {
    total += x.data[k];
    gene[static_cast<size_t>(x.indices[k])] += x.data[k];
  }
  const double tol = 1e-6;
  EXPECT_NEAR(total, e["sum"].get<double>(), tol * e["sum"].get<double>());
  for (size_t i = 0; i < 3; ++i) {
    const double cs = e["cell_sums_first3"][i].get<double>(), gs = e["gene_sums_first3"][i].get<double>();
    EXPECT_NEAR(row_sum(x, static_cast<int64_t>(i)), cs, tol * cs) << i;
    EXPECT_NEAR(gene[i], gs, tol * gs) << i;
  }
  for (const auto& entry : e["entries"]) {
    const auto cell = entry["cell"].get<int64_t>(), gene_i = entry["gene"].get<int64_t>();
    EXPECT_EQ(static_cast<double>(x.at(cell, gene_i)), entry["value"].get<double>()) << cell << "," << gene_i;
    EXPECT_EQ(m.obs.index[static_cast<size_t>(cell)], entry["cell_name"].get<std::string>());
    EXPECT_EQ(m.var.index[static_cast<size_t>(gene_i)], entry["gene_name"].get<std::string>());
  }
}

void check_attrs(const DataFrame& df, const json& attrs, const std::string& index_attr) {
  for (const auto& [name, a] : attrs.items()) {
    SCOPED_TRACE(name);
    if (name == index_attr) {
      EXPECT_EQ(df.index_name, name);
      for (size_t i = 0; i < 3; ++i) EXPECT_EQ(df.index[i], a["first3"][i].get<std::string>());
      continue;
    }
    const Column* c = df.find(name);
    ASSERT_NE(c, nullptr);
    for (size_t i = 0; i < 3; ++i) {
      const json& v = a["first3"][i];
      if (v.is_string()) {
        EXPECT_EQ(c->text(i), v.get<std::string>());
      } else if (v.is_number_integer()) {
        ASSERT_EQ(c->type, ColumnType::Int);
        EXPECT_EQ(c->ints[i], v.get<int64_t>());
      } else {
        ASSERT_EQ(c->type, ColumnType::Float);
        EXPECT_EQ(c->floats[i], v.get<double>());
      }
    }
    if (a.contains("sum")) {
      int64_t s = 0;
      for (int64_t v : c->ints) s += v;
      EXPECT_EQ(s, a["sum"].get<int64_t>());
    }
  }
}

TEST(Loom, Fixtures) {
  for (const char* file : {"lps_small.loom", "lps_small_loom2.loom"}) {
    SCOPED_TRACE(file);
    const json& e = test::expected_values()[file];
    const CellMatrix m = read_loom(test::fixture(file).string());
    check_dense(m.X, m, e["matrix"]);
    ASSERT_EQ(m.layers.count("log1p"), 1u);
    check_dense(m.layers.at("log1p"), m, e["layers"]["log1p"]);
    check_attrs(m.obs, e["col_attrs"], "CellID");
    check_attrs(m.var, e["row_attrs"], "Gene");
    EXPECT_EQ(m.obs.columns.size(), 4u);
    EXPECT_TRUE(m.var.columns.empty());
    EXPECT_EQ(m.uns.value("title", ""), "LPS-stimulated mouse BMDC (Shalek 2014), 50 cells, read counts");
    EXPECT_FALSE(m.uns.contains("LOOM_SPEC_VERSION"));
  }
}

TEST(Loom, CellRangeAndLayerSelection) {
  const std::string path = test::fixture("lps_small.loom").string();
  const CellMatrix all = read_loom(path);
  ReadOptions opt;
  opt.rows = std::make_pair<int64_t, int64_t>(20, 45);
  opt.layers = std::vector<std::string>{};
  const CellMatrix part = read_loom(path, opt);
  EXPECT_TRUE(part.layers.empty());
  const CsrMatrix expected = slice_rows(all.X, 20, 45);
  EXPECT_EQ(part.X.indptr, expected.indptr);
  EXPECT_EQ(part.X.indices, expected.indices);
  EXPECT_EQ(part.X.data, expected.data);
  ASSERT_EQ(part.obs.index.size(), 25u);
  EXPECT_EQ(part.obs.index[0], all.obs.index[20]);
  EXPECT_EQ(part.obs.find("n_counts")->ints[3], all.obs.find("n_counts")->ints[23]);
  EXPECT_EQ(part.var.index, all.var.index);
  opt.load_x = false;
  const CellMatrix names = read_loom(path, opt);
  EXPECT_EQ(names.X.n_rows, 25);
  EXPECT_EQ(names.X.n_cols, 500);
  EXPECT_EQ(names.X.nnz(), 0);
  EXPECT_EQ(names.X.storage.dtype, "int32");
  EXPECT_EQ(names.obs.index, part.obs.index);
  opt.rows = std::make_pair<int64_t, int64_t>(40, 51);
  EXPECT_NE(test::error_of([&] { read_loom(path, opt); }).find("outside 0..50"), std::string::npos);
}

TEST(Loom, RoundTrip) {
  CellMatrix in = read_loom(test::fixture("lps_small_loom2.loom").string());
  DenseMatrix emb;  // a 2-D column attribute (loompy's multidimensional attributes)
  emb.n_rows = in.n_cells();
  emb.n_cols = 2;
  for (int64_t i = 0; i < emb.n_rows * 2; ++i) emb.values.push_back(0.5 * static_cast<double>(i));
  in.obsm["X_umap"] = emb;
  const fs::path out = test::temp_dir() / "out.loom";
  write_loom(in, out.string());
  EXPECT_EQ(detect_format(out.string()), Format::Loom);
  const CellMatrix back = read_loom(out.string());
  EXPECT_EQ(back.X.indptr, in.X.indptr);
  EXPECT_EQ(back.X.indices, in.X.indices);
  EXPECT_EQ(back.X.data, in.X.data);
  EXPECT_EQ(back.X.storage.dtype, "int32");
  ASSERT_EQ(back.layers.count("log1p"), 1u);
  EXPECT_EQ(back.layers.at("log1p").data, in.layers.at("log1p").data);
  EXPECT_EQ(back.layers.at("log1p").storage.dtype, "float32");
  EXPECT_EQ(back.obs.index, in.obs.index);
  EXPECT_EQ(back.var.index, in.var.index);
  EXPECT_EQ(back.var.index_name, "Gene");
  test::expect_same_columns(in.obs, back.obs);
  ASSERT_EQ(back.obsm.count("X_umap"), 1u);
  EXPECT_EQ(back.obsm.at("X_umap").values, emb.values);
  EXPECT_EQ(back.uns.value("title", ""), in.uns.value("title", ""));

  // What loompy 3 expects to find.
  const auto r = test::run_command(
      test::python() + " -c \"import h5py; f = h5py.File('" + out.string() +
      "'); print(f['matrix'].dtype, f['matrix'].shape, f['matrix'].chunks, f['matrix'].compression, "
      "f['attrs/LOOM_SPEC_VERSION'][()].decode(), f['col_attrs/CellID'].dtype, f['row_attrs/Gene'].shape, "
      "sorted(f.keys()), h5py.check_string_dtype(f['col_attrs/grouping'].dtype).length)\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(
                "int32 (500, 50) (64, 50) gzip 3.0.0 object (500,) "
                "['attrs', 'col_attrs', 'col_graphs', 'layers', 'matrix', 'row_attrs', 'row_graphs'] None"),
            std::string::npos)
      << r.output;
}

TEST(Loom, FromTenxAndBack) {
  // Gene ids as the var index survive through a loom file, symbols as a column.
  const CellMatrix in = read_10x_mtx(test::fixture("pbmc_small_mtx").string());
  const fs::path out = test::temp_dir() / "pbmc.loom";
  write_loom(in, out.string());
  const CellMatrix back = read_loom(out.string());
  EXPECT_EQ(back.var.index, in.var.index);
  EXPECT_EQ(back.var.index_name, "gene_ids");
  EXPECT_EQ(back.var.find("gene_symbols")->text(0), "MS4A1");
  EXPECT_EQ(back.X.data, in.X.data);
  EXPECT_EQ(back.X.indices, in.X.indices);
}

TEST(Loom, BrokenFiles) {
  const fs::path dir = test::temp_dir();
  EXPECT_NE(test::error_of([&] { read_loom((dir / "nope.loom").string()); }).find("no such file"),
            std::string::npos);
  EXPECT_NE(test::error_of([] {
              read_loom(test::fixture("pbmc_small_10x.h5").string());
            }).find("expected a dataset"),
            std::string::npos);
  const std::string path = (dir / "short_attr.loom").string();
  {
    h5::Handle f = h5::create_file(path);
    h5::write<float>(f, "matrix", {1, 0, 2, 0, 0, 3}, {2, 3});
    h5::Handle ca = h5::create_group(f, "col_attrs");
    h5::write_strings(ca, "CellID", {"a", "b"});  // 3 cells in /matrix
  }
  EXPECT_NE(test::error_of([&] { read_loom(path); }).find("has 2 entries, /matrix has 3"), std::string::npos);
  const std::string nan_path = (dir / "nan.loom").string();
  {
    h5::Handle f = h5::create_file(nan_path);
    h5::write<float>(f, "matrix", {1, 0, std::nanf(""), 0}, {2, 2});
  }
  EXPECT_NE(test::error_of([&] { read_loom(nan_path); }).find("non-finite"), std::string::npos);
  CellMatrix no_x;
  no_x.has_x = false;
  EXPECT_NE(test::error_of([&] { write_loom(no_x, (dir / "x.loom").string()); }).find("no X"),
            std::string::npos);
}

}  // namespace
}  // namespace pg::io
