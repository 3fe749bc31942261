// What the .h5ad reader does with broken input: the damaged fixtures in
// format_fixtures/bad/, small files damaged on purpose here, and odd uns
// content that must never stop a read. Also the LZF decoder and the real
// dataset files in shared/data/*/original/.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <sstream>

#include "core/error.h"
#include "io/formats.h"
#include "io/hdf5.h"
#include "io/lzf_filter.h"

#include <liblzf/lzf.h>
#include "test_support.h"

namespace pg::io {
namespace {

// ---- the damaged fixtures ---------------------------------------------------

struct BadCase {
  std::string file;
  std::vector<std::string> phrases;  // all must appear in the message
  std::string element;               // expected element prefix ("" = none)
};

// Names the case in test listings (instead of a hex dump of the struct).
void PrintTo(const BadCase& c, std::ostream* os) {
  *os << c.file;
}

class BadFixture : public ::testing::TestWithParam<BadCase> {};

TEST_P(BadFixture, FailsWithAClearMessage) {
  const BadCase& c = GetParam();
  const std::string path = test::fixture(c.file).string();
  ::testing::internal::CaptureStderr();
  try {
    read_h5ad(path);
    ADD_FAILURE() << "no error for " << c.file;
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& p : c.phrases) EXPECT_NE(msg.find(p), std::string::npos) << msg;
    EXPECT_EQ(e.file(), path);
    EXPECT_EQ(e.element().rfind(c.element, 0), 0u) << e.element();
    if (!c.element.empty()) {
      // A defect in the data is reported as such, not as an unreadable file.
      for (const char* wrong : {"HDF5", "truncated", "signature"})
        EXPECT_EQ(msg.find(wrong), std::string::npos) << msg;
    }
  }
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");  // HDF5's own printing is off
}

INSTANTIATE_TEST_SUITE_P(
    All, BadFixture,
    ::testing::Values(BadCase{"bad/empty.h5ad", {"empty"}, ""},
                      BadCase{"bad/not_hdf5.h5ad", {"not an HDF5 file"}, ""},
                      BadCase{"bad/truncated.h5ad", {"truncated"}, ""},
                      BadCase{"bad/indices_negative.h5ad", {"out of range", "-1"}, "/X"},
                      BadCase{"bad/indices_out_of_range.h5ad", {"out of range", "300"}, "/X"},
                      BadCase{"bad/indptr_not_monotone.h5ad", {"not monotone", "1939", "1771"}, "/X"},
                      BadCase{"bad/shape_mismatch.h5ad", {"61", "62"}, "/X"}),
    [](const auto& param_info) {
      std::string name = param_info.param.file.substr(4);
      return name.substr(0, name.find('.'));
    });

TEST(H5adReadErrors, DamagedXCanBeLeftUnread) {
  // The defect lies in X's values; the rest of these files is sound.
  ReadOptions opt;
  opt.load_x = false;
  for (const char* f :
       {"bad/indices_out_of_range.h5ad", "bad/indices_negative.h5ad", "bad/indptr_not_monotone.h5ad"}) {
    const CellMatrix m = read_h5ad(test::fixture(f).string(), opt);
    EXPECT_EQ(m.layers.at("counts").nnz(), 9292) << f;
  }
  // A shape that contradicts the file's own arrays is found without reading values.
  EXPECT_THROW(read_h5ad(test::fixture("bad/shape_mismatch.h5ad").string(), opt), Error);
  // A row range is checked where it is read.
  ReadOptions rows;
  rows.rows = std::pair<int64_t, int64_t>{0, 20};
  EXPECT_THROW(read_h5ad(test::fixture("bad/indptr_not_monotone.h5ad").string(), rows), Error);
}

// ---- small files damaged on purpose ------------------------------------------

void write_dataframe(hid_t file, const std::string& name, const std::vector<std::string>& index) {
  h5::Handle g = h5::create_group(file, name);
  h5::set_encoding(g, "dataframe", "0.2.0");
  h5::set_attr(g, "_index", std::string("_index"));
  h5::set_attr(g, "column-order", std::vector<std::string>{});
  h5::write_strings(g, "_index", index);
}

void write_csr(hid_t loc, const std::string& name, std::vector<int64_t> shape,
               const std::vector<int32_t>& indptr, const std::vector<int32_t>& indices,
               const std::vector<float>& data, const char* enc = "csr_matrix") {
  h5::Handle g = h5::create_group(loc, name);
  if (enc != nullptr) h5::set_encoding(g, enc, "0.1.0");
  h5::set_attr(g, "shape", shape);
  h5::write<int32_t>(g, "indptr", indptr, {static_cast<int64_t>(indptr.size())});
  h5::write<int32_t>(g, "indices", indices, {static_cast<int64_t>(indices.size())});
  h5::write<float>(g, "data", data, {static_cast<int64_t>(data.size())});
}

// 3 cells x 5 genes [[1,2,0,3,0],[0,0,2,2,1],[0,0,2,0,2]]; `change` then
// damages the open file (H5Ldelete + rewrite).
std::string tiny_h5ad(const std::string& name, const std::function<void(hid_t)>& change) {
  const std::string path = (test::temp_dir() / name).string();
  h5::Handle file = h5::create_file(path);
  write_dataframe(file, "obs", {"c0", "c1", "c2"});
  write_dataframe(file, "var", {"g0", "g1", "g2", "g3", "g4"});
  write_csr(file, "X", {3, 5}, {0, 3, 6, 8}, {0, 1, 3, 2, 3, 4, 2, 4}, {1, 2, 3, 2, 2, 1, 2, 2});
  change(file);
  return path;
}

void replace_x(hid_t file, const std::function<void(hid_t)>& write) {
  H5Ldelete(file, "X", H5P_DEFAULT);
  write(file);
}

// The error raised by reading `path`: it must be a pg::Error.
Error error_of(const std::string& path) {
  try {
    read_h5ad(path);
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << path;
  return Error("", "", "");
}

void expect_error(const std::string& path, const std::string& element, const std::string& phrase) {
  const Error e = error_of(path);
  EXPECT_EQ(e.element(), element) << e.what();
  EXPECT_NE(std::string(e.what()).find(phrase), std::string::npos) << e.what();
}

TEST(H5adReadErrors, TinyFileReads) {
  const CellMatrix m = read_h5ad(tiny_h5ad("ok.h5ad", [](hid_t) {}));
  EXPECT_EQ(m.X.nnz(), 8);
  EXPECT_EQ(m.X.at(0, 3), 3.0f);
  EXPECT_TRUE(m.skipped.empty());
}

TEST(H5adReadErrors, WrongObjectTypes) {
  expect_error(tiny_h5ad("indptr_group.h5ad",
                         [](hid_t f) {
                           H5Ldelete(f, "X/indptr", H5P_DEFAULT);
                           h5::create_group(f, "X/indptr");
                         }),
               "/X/indptr", "is a group, expected a dataset");
  expect_error(tiny_h5ad("x_strings.h5ad",
                         [](hid_t f) {
                           replace_x(f, [](hid_t l) { h5::write_strings(l, "X", {"a", "b", "c"}); });
                         }),
               "/X", "dense matrix must be 2-D");
  expect_error(
      tiny_h5ad("x_group.h5ad",
                [](hid_t f) {
                  replace_x(f, [](hid_t l) { h5::set_encoding(h5::create_group(l, "X"), "dict", "0.1.0"); });
                }),
      "/X", "not a sparse matrix");
  expect_error(tiny_h5ad("no_obs.h5ad", [](hid_t f) { H5Ldelete(f, "obs", H5P_DEFAULT); }), "/obs",
               "missing");
}

TEST(H5adReadErrors, InconsistentSparseArrays) {
  expect_error(tiny_h5ad("negative_nnz.h5ad",
                         [](hid_t f) {
                           replace_x(f, [](hid_t l) { write_csr(l, "X", {3, 5}, {0, 0, 0, -3}, {}, {}); });
                         }),
               "/X/indptr", "negative");
  expect_error(
      tiny_h5ad("short_indices.h5ad",
                [](hid_t f) {
                  replace_x(f, [](hid_t l) { write_csr(l, "X", {3, 5}, {0, 1, 2, 2}, {0}, {1, 2}); });
                }),
      "/X", "data has 2 values but indices has 1");
  expect_error(
      tiny_h5ad("shape_vs_obs.h5ad",
                [](hid_t f) {
                  replace_x(f, [](hid_t l) { write_csr(l, "X", {4, 5}, {0, 1, 1, 1, 1}, {0}, {1}); });
                }),
      "/X", "shape 4 x 5 does not match obs x var = 3 x 5");
  expect_error(
      tiny_h5ad("nan.h5ad",
                [](hid_t f) {
                  replace_x(f, [](hid_t l) {
                    write_csr(l, "X", {3, 5}, {0, 1, 1, 1}, {0}, {std::numeric_limits<float>::quiet_NaN()});
                  });
                }),
      "/X", "non-finite");
  // CSC is checked before it is converted (out-of-range rows must not be used as positions).
  expect_error(tiny_h5ad("csc_bad.h5ad",
                         [](hid_t f) {
                           replace_x(f, [](hid_t l) {
                             write_csr(l, "X", {3, 5}, {0, 1, 1, 1, 1, 1}, {7}, {1}, "csc_matrix");
                           });
                         }),
               "/X", "out of range");
}

TEST(H5adReadErrors, DenseAndLayerShapes) {
  expect_error(tiny_h5ad("dense_shape.h5ad",
                         [](hid_t f) {
                           replace_x(f, [](hid_t l) {
                             h5::write<float>(l, "X", std::vector<float>(12, 1.0f), {3, 4});
                           });
                         }),
               "/X", "dense shape 3 x 4 does not match obs x var = 3 x 5");
  expect_error(tiny_h5ad("layer_shape.h5ad",
                         [](hid_t f) {
                           h5::Handle layers = h5::create_group(f, "layers");
                           h5::write<double>(layers, "bad", std::vector<double>(10, 1.0), {2, 5});
                         }),
               "/layers/bad", "dense shape 2 x 5");
}

TEST(H5adReadErrors, BadColumns) {
  expect_error(tiny_h5ad("codes.h5ad",
                         [](hid_t f) {
                           h5::Handle obs = h5::open_group(f, "obs");
                           H5Adelete(obs, "column-order");
                           h5::set_attr(obs, "column-order", std::vector<std::string>{"cat"});
                           h5::Handle cat = h5::create_group(obs, "cat");
                           h5::set_encoding(cat, "categorical", "0.2.0");
                           h5::set_attr_bool(cat, "ordered", false);
                           h5::write<int8_t>(cat, "codes", {0, 2, -1}, {3});
                           h5::write_strings(cat, "categories", {"a", "b"});
                         }),
               "/obs/cat/codes", "categorical code 2 at row 1 outside its 2 categories");
  expect_error(tiny_h5ad("length.h5ad",
                         [](hid_t f) {
                           h5::Handle var = h5::open_group(f, "var");
                           H5Adelete(var, "column-order");
                           h5::set_attr(var, "column-order", std::vector<std::string>{"n"});
                           h5::write<int64_t>(var, "n", {1, 2}, {2});
                         }),
               "/var/n", "has 2 rows but the dataframe index has 5");
}

TEST(H5adReadErrors, AStringDatasetClaimingMoreValuesThanTheFileCanHoldIsRefused) {
  // A chunked dataset never written keeps its (huge) dataspace in a tiny
  // file: the reader must refuse it, not try to allocate 2^40 strings (a
  // finding of the h5ad fuzzer).
  expect_error(
      tiny_h5ad("huge_index.h5ad",
                [](hid_t f) {
                  h5::Handle var = h5::open_group(f, "var");
                  H5Ldelete(var, "_index", H5P_DEFAULT);
                  const hsize_t dims[1] = {hsize_t{1} << 40}, chunk[1] = {1024};
                  h5::Handle space(H5Screate_simple(1, dims, nullptr));
                  h5::Handle type(H5Tcopy(H5T_C_S1));
                  H5Tset_size(type, H5T_VARIABLE);
                  h5::Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
                  H5Pset_chunk(dcpl, 1, chunk);
                  h5::Handle d(H5Dcreate2(var, "_index", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
                }),
      "/var/_index", "claims 1099511627776 strings, more than a file of");
}

TEST(H5adReadErrors, OddUnsAndObsmEntriesAreSkippedNotFatal) {
  const std::string path = tiny_h5ad("odd.h5ad", [](hid_t f) {
    h5::Handle uns = h5::create_group(f, "uns");
    h5::write_scalar_string(uns, "title", "tiny");
    h5::write<int64_t>(uns, "cube", std::vector<int64_t>(8, 1), {2, 2, 2});
    h5::write<double>(uns, "grid", {1, 2, 3, 4}, {2, 2});
    h5::set_encoding(h5::create_group(uns, "table"), "dataframe", "0.2.0");
    h5::Handle nested = h5::create_group(uns, "nested");
    h5::write_scalar<int64_t>(nested, "k", 7);
    h5::write_bools(nested, "flags", {1, 0});
    // A record array (compound dataset), as scanpy's rank_genes_groups writes.
    h5::Handle rec(H5Tcreate(H5T_COMPOUND, 8));
    H5Tinsert(rec, "a", 0, H5T_NATIVE_INT32);
    H5Tinsert(rec, "b", 4, H5T_NATIVE_FLOAT);
    hsize_t n = 2;
    h5::Handle space(H5Screate_simple(1, &n, nullptr));
    h5::Handle ds(H5Dcreate2(uns, "records", rec, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
    h5::Handle obsm = h5::create_group(f, "obsm");
    h5::write<double>(obsm, "short", std::vector<double>(4, 1.0), {2, 2});
    h5::write_strings(obsm, "labels", {"a", "b", "c"});
    h5::write<float>(obsm, "vec", {1, 2, 3}, {3});
  });
  CellMatrix m;
  ASSERT_NO_THROW(m = read_h5ad(path));
  EXPECT_EQ(m.uns["title"], "tiny");
  EXPECT_EQ(m.uns["grid"], nlohmann::json::parse("[[1.0, 2.0], [3.0, 4.0]]"));
  EXPECT_EQ(m.uns["nested"]["k"], 7);
  EXPECT_EQ(m.uns["nested"]["flags"], nlohmann::json::parse("[true, false]"));
  for (const char* key : {"cube", "table", "records"}) EXPECT_FALSE(m.uns.contains(key)) << key;
  std::string all;
  for (const auto& s : m.skipped) all += s + "\n";
  for (const char* p : {"uns/cube: ", "uns/table: dataframe", "uns/records: record array",
                        "obsm/short: array with 2 rows", "obsm/labels: array of str"}) {
    EXPECT_NE(all.find(p), std::string::npos) << p << " in\n" << all;
  }
  ASSERT_EQ(m.obsm.count("vec"), 1u);
  EXPECT_EQ(m.obsm.at("vec").n_cols, 1);
  EXPECT_EQ(m.obsm.at("vec").at(2, 0), 3.0);
}

// ---- LZF ----------------------------------------------------------------------

TEST(LzfDecoder, LiteralsAndBackReferences) {
  // "abc" as a literal run, then "abcabc" as a back reference of length 6 at distance 3.
  const std::vector<uint8_t> in{0x02, 'a', 'b', 'c', 0x80, 0x02};
  std::vector<uint8_t> out(16);
  bool too_small = false;
  const size_t n = h5::lzf_decode(in.data(), in.size(), out.data(), out.size(), too_small);
  EXPECT_EQ(std::string(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(n)), "abcabcabc");
  EXPECT_EQ(h5::lzf_decode(in.data(), in.size(), out.data(), 5, too_small), 0u);
  EXPECT_TRUE(too_small);
  const std::vector<uint8_t> bad{0x00, 'a', 0x20, 0x05};  // reference before the start
  EXPECT_EQ(h5::lzf_decode(bad.data(), bad.size(), out.data(), out.size(), too_small), 0u);
  EXPECT_FALSE(too_small);
}

TEST(LzfDecoder, RoundTripsLiblzfCompression) {
  std::string text;
  for (int i = 0; i < 200; ++i) text += "gene_" + std::to_string(i % 17) + ";";
  std::vector<uint8_t> packed(text.size() * 2);
  const unsigned n = lzf_compress(text.data(), static_cast<unsigned>(text.size()), packed.data(),
                                  static_cast<unsigned>(packed.size()));
  ASSERT_GT(n, 0u);
  ASSERT_LT(n, text.size());
  std::vector<uint8_t> out(text.size());
  bool too_small = false;
  ASSERT_EQ(h5::lzf_decode(packed.data(), n, out.data(), out.size(), too_small), text.size());
  EXPECT_EQ(std::string(out.begin(), out.end()), text);
}

// ---- the real datasets' original .h5ad files -------------------------------

// genes, cells, entries from line 3 of a dataset's matrix.mtx.gz.
std::vector<int64_t> mtx_header(const std::filesystem::path& mtx) {
  const auto r = test::run_command("zcat '" + mtx.string() + "' | sed -n 3p");
  std::istringstream in(r.output);
  std::vector<int64_t> v(3, -1);
  in >> v[0] >> v[1] >> v[2];
  return v;
}

TEST(H5adRead, OriginalDatasetFiles) {
  namespace fs = std::filesystem;
  int checked = 0;
  for (const auto& dir : fs::directory_iterator(test::dataset(""))) {
    const fs::path original = dir.path() / "original";
    if (!fs::is_directory(original)) continue;
    for (const auto& f : fs::directory_iterator(original)) {
      if (f.path().extension() != ".h5ad") continue;
      SCOPED_TRACE(f.path().string());
      const CellMatrix m = read_h5ad(f.path().string());
      const fs::path mtx = dir.path() / "matrix.mtx.gz";
      ASSERT_TRUE(fs::exists(mtx));
      const auto header = mtx_header(mtx);
      EXPECT_EQ(m.n_genes(), header[0]);
      EXPECT_EQ(m.n_cells(), header[1]);
      EXPECT_EQ(m.X.nnz(), header[2]);
      // Legacy categoricals (codes + uns/<col>_categories) become real categoricals.
      for (const DataFrame* df : {&m.obs, &m.var}) {
        for (const Column& c : df->columns) {
          EXPECT_FALSE(m.uns.contains(c.name + "_categories")) << c.name;
          if (c.type == ColumnType::Categorical) {
            EXPECT_FALSE(c.categories.empty()) << c.name;
          }
        }
      }
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no original .h5ad in shared/data";
}

}  // namespace
}  // namespace pg::io

// ---- in-memory images ------------------------------------------------------

TEST(H5adImage, ReadsLikeTheFileAndRejectsGarbage) {
  for (const char* name : {"hsmm_small.h5ad", "bpcells/mini_mat.anndata-v0.6.22.h5ad"}) {
    SCOPED_TRACE(name);
    std::ifstream in(pg::test::fixture(name), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto a = pg::io::read_h5ad(pg::test::fixture(name).string());
    const auto b = pg::io::read_h5ad_image(bytes, name);
    EXPECT_EQ(a.X.indptr, b.X.indptr);
    EXPECT_EQ(a.X.indices, b.X.indices);
    EXPECT_EQ(a.X.data, b.X.data);
    EXPECT_EQ(a.obs.index, b.obs.index);
    EXPECT_EQ(a.var.index, b.var.index);
    EXPECT_EQ(a.obs.columns.size(), b.obs.columns.size());
  }
  EXPECT_THROW(pg::io::read_h5ad_image("", "empty.h5ad"), pg::Error);
  try {
    pg::io::read_h5ad_image("gene\tvalue\nA\t1\n", "text.h5ad");
    FAIL() << "expected pg::Error";
  } catch (const pg::Error& e) {
    EXPECT_NE(std::string(e.what()).find("text.h5ad"), std::string::npos) << e.what();
  }
}
