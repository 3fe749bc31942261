// 10x Genomics inputs: MatrixMarket folders and Cell Ranger HDF5 (v2, v3),
// checked value by value against the fixtures' expected_values.json, every
// real dataset's folder against its own header lines, and round trips.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "io/formats.h"
#include "io/gzip.h"
#include "io/hdf5.h"
#include "io/matrix_market.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pg::io {
namespace {

double sum(const CsrMatrix& m) {
  double s = 0;
  for (float v : m.data) s += v;
  return s;
}

std::vector<double> gene_sums(const CsrMatrix& m) {
  std::vector<double> s(static_cast<size_t>(m.n_cols), 0.0);
  for (size_t k = 0; k < m.data.size(); ++k) s[static_cast<size_t>(m.indices[k])] += m.data[k];
  return s;
}

double row_sum(const CsrMatrix& m, int64_t r) {
  double s = 0;
  for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k)
    s += m.data[static_cast<size_t>(k)];
  return s;
}

std::string column_text(const DataFrame& df, const std::string& name, size_t i) {
  const Column* c = df.find(name);
  return c == nullptr ? "<no column " + name + ">" : c->text(i);
}

// Every expected value of one matrix entry of expected_values.json.
void check_matrix(const CellMatrix& m, const json& e) {
  ASSERT_EQ(m.n_cells(), e["n_cells"].get<int64_t>());
  ASSERT_EQ(m.n_genes(), e["n_genes"].get<int64_t>());
  ASSERT_EQ(m.X.n_rows, m.n_cells());
  ASSERT_EQ(m.X.n_cols, m.n_genes());
  EXPECT_EQ(m.X.nnz(), e["nnz_stored"].get<int64_t>());
  EXPECT_NEAR(sum(m.X), e["sum"].get<double>(), 1e-6 * std::abs(e["sum"].get<double>()));
  EXPECT_EQ(m.X.storage.dtype, e["dtype_data"].get<std::string>());
  const auto gs = gene_sums(m.X);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_DOUBLE_EQ(row_sum(m.X, static_cast<int64_t>(i)), e["cell_sums_first3"][i].get<double>()) << i;
    EXPECT_DOUBLE_EQ(gs[i], e["gene_sums_first3"][i].get<double>()) << i;
    EXPECT_EQ(m.obs.index[i], e["barcodes_first3"][i].get<std::string>());
    EXPECT_EQ(m.var.index[i], e["feature_ids_first3"][i].get<std::string>());
    EXPECT_EQ(column_text(m.var, "gene_symbols", i), e["feature_names_first3"][i].get<std::string>());
  }
  for (const auto& entry : e["entries"]) {
    const auto cell = entry["cell"].get<int64_t>(), gene = entry["gene"].get<int64_t>();
    EXPECT_EQ(static_cast<double>(m.X.at(cell, gene)), entry["value"].get<double>()) << cell << "," << gene;
    EXPECT_EQ(m.obs.index[static_cast<size_t>(cell)], entry["cell_name"].get<std::string>());
    EXPECT_EQ(m.var.index[static_cast<size_t>(gene)], entry["gene_name"].get<std::string>());
  }
}

void expect_same(const CellMatrix& a, const CellMatrix& b) {
  EXPECT_EQ(a.X.n_rows, b.X.n_rows);
  EXPECT_EQ(a.X.n_cols, b.X.n_cols);
  EXPECT_EQ(a.X.indptr, b.X.indptr);
  EXPECT_EQ(a.X.indices, b.X.indices);
  EXPECT_EQ(a.X.data, b.X.data);
  EXPECT_EQ(a.obs.index, b.obs.index);
  EXPECT_EQ(a.var.index, b.var.index);
  for (size_t i = 0; i < a.var.n_rows(); ++i) {
    ASSERT_EQ(column_text(a.var, "gene_symbols", i), column_text(b.var, "gene_symbols", i)) << i;
  }
}

// ---- MatrixMarket folders --------------------------------------------------

TEST(TenxMtx, Fixtures) {
  for (const char* dir : {"pbmc_small_mtx/", "scanpy_10x/cellranger_v2_mtx/hg19_chr21/",
                          "scanpy_10x/cellranger_v3_mtx/", "scanpy_10x/int_ids_mtx/"}) {
    SCOPED_TRACE(dir);
    const json& e = test::expected_values()[dir]["matrix"];
    const CellMatrix m = read_10x_mtx(test::fixture(dir).string());
    check_matrix(m, e);
    EXPECT_EQ(m.var.find("feature_types") != nullptr, e["feature_columns"].get<int>() == 3);
  }
  const CellMatrix v3 = read_10x_mtx(test::fixture("scanpy_10x/cellranger_v3_mtx").string());
  EXPECT_EQ(v3.var.find("feature_types")->text(0), "Gene Expression");
  EXPECT_NE(v3.var.index[0], v3.var.find("gene_symbols")->text(0));  // id != name
}

TEST(TenxMtx, FewerEntriesThanHeader) {
  const std::string e =
      test::error_of([] { read_10x_mtx(test::fixture("bad/mtx_fewer_entries_than_header").string()); });
  EXPECT_NE(e.find("matrix.mtx.gz"), std::string::npos) << e;
  EXPECT_NE(e.find("premature end of data: header says 4456 entries, found 4446"), std::string::npos) << e;
}

TEST(TenxMtx, RowRangeReadsASlice) {
  const std::string dir = test::fixture("pbmc_small_mtx").string();
  const CellMatrix all = read_10x_mtx(dir);
  ReadOptions opt;
  opt.rows = std::make_pair<int64_t, int64_t>(10, 25);
  const CellMatrix part = read_10x_mtx(dir, opt);
  ASSERT_EQ(part.n_cells(), 15);
  EXPECT_EQ(part.X.indptr, slice_rows(all.X, 10, 25).indptr);
  EXPECT_EQ(part.X.data, slice_rows(all.X, 10, 25).data);
  EXPECT_EQ(part.obs.index[0], all.obs.index[10]);
  opt.rows = std::make_pair<int64_t, int64_t>(70, 81);
  EXPECT_NE(test::error_of([&] { read_10x_mtx(dir, opt); }).find("outside 0..80"), std::string::npos);
  ReadOptions no_x;
  no_x.load_x = false;
  no_x.rows = std::make_pair<int64_t, int64_t>(0, 30);
  const CellMatrix names = read_10x_mtx(dir, no_x);
  EXPECT_TRUE(names.has_x);  // the file has X; its values were not asked for
  EXPECT_EQ(names.n_cells(), 30);
  EXPECT_EQ(names.X.n_rows, 30);
  EXPECT_EQ(names.X.n_cols, 230);
  EXPECT_EQ(names.X.nnz(), 0);
  EXPECT_EQ(names.X.storage.dtype, "int64");
  validate(names.X, "", "");
}

// The first `n` lines of a (gzipped) text file, read with zlib directly.
std::vector<std::string> head(const fs::path& p, int n) {
  std::vector<std::string> lines;
  gzFile f = gzopen(p.c_str(), "rb");
  char buf[1 << 16];
  while (static_cast<int>(lines.size()) < n && f != nullptr && gzgets(f, buf, sizeof(buf)) != nullptr) {
    std::string s(buf);
    while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    lines.push_back(s);
  }
  if (f != nullptr) gzclose(f);
  return lines;
}

TEST(TenxMtx, EveryRealDataset) {
  int matrices = 0;
  for (const auto& d : fs::directory_iterator(test::dataset(""))) {
    if (!d.is_directory()) continue;
    for (const auto& f : fs::directory_iterator(d.path())) {
      const std::string name = f.path().filename().string();
      const std::string suffix = "matrix.mtx.gz";
      if (name.size() < suffix.size() ||
          name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
        continue;
      const std::string prefix = name.substr(0, name.size() - suffix.size());
      SCOPED_TRACE(d.path().filename().string() + "/" + name);
      const auto lines = head(f.path(), 3);
      ASSERT_EQ(lines.size(), 3u);
      std::istringstream size_line(lines[2]);
      int64_t genes = 0, cells = 0, nnz = 0;
      size_line >> genes >> cells >> nnz;
      const CellMatrix m = read_10x_mtx(d.path().string(), {}, prefix);
      EXPECT_EQ(m.X.n_rows, cells);
      EXPECT_EQ(m.X.n_cols, genes);
      EXPECT_EQ(m.X.nnz(), nnz);
      EXPECT_EQ(m.X.storage.dtype, lines[0].find("integer") != std::string::npos ? "int64" : "float64");
      EXPECT_EQ(m.n_cells(), cells);
      EXPECT_EQ(m.n_genes(), genes);
      const fs::path obs = d.path() / (prefix + "obs.tsv.gz");
      if (fs::exists(obs)) {
        const std::string header = head(obs, 1).at(0);
        const auto fields = std::count(header.begin(), header.end(), '\t') + 1;
        EXPECT_EQ(static_cast<int64_t>(m.obs.columns.size()), fields - 1) << header;
        EXPECT_EQ(m.obs.index_name, header.substr(0, header.find('\t')));
      }
      ++matrices;
    }
  }
  EXPECT_GE(matrices, 9);  // 7 datasets + lps tscan_0h_6h_ + papalexi grna_
}

TEST(TenxMtx, ObsColumnTypes) {
  const CellMatrix p = read_10x_mtx(test::dataset("papalexi2021_eccite_crispr").string());
  EXPECT_EQ(p.obs.find("assigned")->type, ColumnType::Bool);
  EXPECT_EQ(p.obs.find("grna_total_umis")->type, ColumnType::Int);
  EXPECT_EQ(p.obs.find("max_grna_frac")->type, ColumnType::Float);
  EXPECT_EQ(p.obs.find("perturbation")->type, ColumnType::Categorical);
  const CellMatrix g = read_10x_mtx(test::dataset("papalexi2021_eccite_crispr").string(), {}, "grna_");
  EXPECT_EQ(g.n_genes(), 110);
  EXPECT_EQ(g.var.index[0], "CUL3g1");
  const CellMatrix lps = read_10x_mtx(test::dataset("lps_bmdc_timecourse").string());
  EXPECT_EQ(lps.obs.find("time_hours")->type, ColumnType::Int);
  EXPECT_EQ(lps.obs.find("slingshot_pseudotime")->type, ColumnType::Float);
  EXPECT_DOUBLE_EQ(lps.obs.find("slingshot_pseudotime")->floats[0], 0.384477046926673);
  EXPECT_EQ(lps.obs.find("grouping")->type, ColumnType::Categorical);
  EXPECT_EQ(lps.obs.find("grouping")->text(0), "LPS#1h");
}

TEST(TenxMtx, RoundTrip) {
  const CellMatrix in = read_10x_mtx(test::dataset("pbmc_small_seurat").string());
  ASSERT_FALSE(in.obs.columns.empty());
  const fs::path out = test::temp_dir() / "out";
  write_10x_mtx(in, out.string());
  write_10x_mtx(in, out.string());  // replacing an existing folder
  for (const auto& f : fs::directory_iterator(out.parent_path()))
    EXPECT_EQ(f.path().filename().string().find(".tmp-"), std::string::npos) << f.path();
  for (const char* f : {"matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz", "obs.tsv.gz"})
    EXPECT_TRUE(is_gzip_file((out / f).string())) << f;
  const CellMatrix back = read_10x_mtx(out.string());
  expect_same(in, back);
  EXPECT_EQ(detect_format(out.string()), Format::TenxMtx);
  EXPECT_EQ(back.X.storage.dtype, "int64");
  test::expect_same_columns(in.obs, back.obs);

  CellMatrix real = in;  // non-integral values go out as `real` and come back bit-exact
  for (auto& v : real.X.data) v *= 0.37f;
  write_10x_mtx(real, out.string());
  EXPECT_NE(read_maybe_gzip((out / "matrix.mtx.gz").string()).find("coordinate real general"),
            std::string::npos);
  const CellMatrix real_back = read_10x_mtx(out.string());
  EXPECT_EQ(real_back.X.data, real.X.data);
  EXPECT_EQ(real_back.X.storage.dtype, "float64");
}

TEST(TenxMtx, BrokenFolders) {
  const fs::path src = test::fixture("pbmc_small_mtx");
  const fs::path dir = test::temp_dir() / "mtx";
  auto fresh = [&] {
    fs::remove_all(dir);
    fs::create_directories(dir);
    for (const auto& f : fs::directory_iterator(src)) fs::copy_file(f.path(), dir / f.path().filename());
  };
  auto err = [&] { return test::error_of([&] { read_10x_mtx(dir.string()); }); };
  EXPECT_NE(test::error_of([&] { read_10x_mtx((dir / "nope").string()); }).find("no such directory"),
            std::string::npos);
  for (const char* missing : {"barcodes", "features", "matrix"}) {
    fresh();
    fs::remove(dir / (std::string(missing) + (std::string(missing) == "matrix" ? ".mtx.gz" : ".tsv.gz")));
    EXPECT_NE(err().find("missing " + std::string(missing) + " file"), std::string::npos) << err();
  }
  fresh();  // one barcode too many
  write_gzip((dir / "barcodes.tsv.gz").string(),
             read_maybe_gzip((src / "barcodes.tsv.gz").string()) + "EXTRA-1\n");
  EXPECT_NE(err().find("has 81 barcodes but matrix.mtx.gz has 80 columns"), std::string::npos) << err();
  fresh();  // one feature missing, plain text (not gzip) under a .gz-less name
  fs::remove(dir / "features.tsv.gz");
  std::string features = read_maybe_gzip((src / "features.tsv.gz").string());
  features.erase(features.rfind('\n', features.size() - 2) + 1);
  write_text((dir / "features.tsv").string(), features);
  EXPECT_NE(err().find("has 229 features but matrix.mtx.gz has 230 rows"), std::string::npos) << err();
  fresh();  // obs rows out of order
  std::string obs = "cell_id\tx\n";
  const CellMatrix ok = read_10x_mtx(src.string());
  for (int i = 0; i < 80; ++i)
    obs += ok.obs.index[static_cast<size_t>(i == 5 ? 6 : i == 6 ? 5 : i)] + "\t1\n";
  write_gzip((dir / "obs.tsv.gz").string(), obs);
  EXPECT_NE(err().find("line 7: cell id '" + ok.obs.index[6] + "' does not match barcode 6"),
            std::string::npos)
      << err();
  write_gzip((dir / "obs.tsv.gz").string(), "cell_id\tx\n" + ok.obs.index[0] + "\t1\n");
  EXPECT_NE(err().find("has 1 cell rows but the barcodes list has 80"), std::string::npos) << err();
  fresh();  // a corrupt gzip stream
  std::string gz = read_maybe_gzip((src / "matrix.mtx.gz").string());
  write_gzip((dir / "matrix.mtx.gz").string(), gz);
  std::string raw;
  {
    FILE* f = std::fopen((dir / "matrix.mtx.gz").c_str(), "rb");
    char buf[4096];
    size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) raw.append(buf, n);
    std::fclose(f);
  }
  write_text((dir / "matrix.mtx.gz").string(), raw.substr(0, raw.size() / 2));
  EXPECT_NE(err().find("truncated gzip"), std::string::npos) << err();
}

// ---- Cell Ranger HDF5 ------------------------------------------------------

TEST(TenxH5, Fixtures) {
  for (const char* file : {"pbmc_small_10x.h5", "scanpy_10x/cellranger_v2_filtered_gene_bc_matrices_h5.h5",
                           "scanpy_10x/cellranger_v3_filtered_feature_bc_matrix.h5"}) {
    SCOPED_TRACE(file);
    const json& genomes = test::expected_values()[file]["genomes"];
    const json& e = genomes.begin().value();
    const CellMatrix m = read_10x_h5(test::fixture(file).string());
    check_matrix(m, e);
    if (e.contains("feature_type_first")) {
      EXPECT_EQ(m.var.find("feature_types")->text(0), e["feature_type_first"].get<std::string>());
      EXPECT_EQ(m.var.find("genome")->text(0), e["genome_first"].get<std::string>());
    }
  }
}

TEST(TenxH5, SeveralGenomes) {
  const std::string path = test::fixture("scanpy_10x/cellranger_v2_multiple_genomes.h5").string();
  const json& genomes = test::expected_values()["scanpy_10x/cellranger_v2_multiple_genomes.h5"]["genomes"];
  ASSERT_EQ(genomes.size(), 2u);
  for (const auto& [genome, e] : genomes.items()) {
    SCOPED_TRACE(genome);
    ReadOptions opt;
    opt.genome = genome;
    check_matrix(read_10x_h5(path, opt), e);
  }
  const std::string e = test::error_of([&] { read_10x_h5(path); });
  EXPECT_NE(e.find("several genomes (another_genome, hg19_chr21)"), std::string::npos) << e;
  ReadOptions bad;
  bad.genome = "mm10";
  EXPECT_NE(test::error_of([&] { read_10x_h5(path, bad); }).find("genome 'mm10' not in the file"),
            std::string::npos);
}

TEST(TenxH5, SameAsMatrixMarket) {
  expect_same(read_10x_h5(test::fixture("pbmc_small_10x.h5").string()),
              read_10x_mtx(test::fixture("pbmc_small_mtx").string()));
  expect_same(read_10x_h5(test::fixture("scanpy_10x/cellranger_v3_filtered_feature_bc_matrix.h5").string()),
              read_10x_mtx(test::fixture("scanpy_10x/cellranger_v3_mtx").string()));
  expect_same(read_10x_h5(test::fixture("scanpy_10x/cellranger_v2_filtered_gene_bc_matrices_h5.h5").string()),
              read_10x_mtx(test::fixture("scanpy_10x/cellranger_v2_mtx/hg19_chr21").string()));
}

TEST(TenxH5, RowRangeAndV3Genome) {
  const std::string path = test::fixture("scanpy_10x/cellranger_v3_filtered_feature_bc_matrix.h5").string();
  const CellMatrix all = read_10x_h5(path);
  ReadOptions opt;
  opt.rows = std::make_pair<int64_t, int64_t>(500, 600);
  const CellMatrix part = read_10x_h5(path, opt);
  const CsrMatrix expected = slice_rows(all.X, 500, 600);
  EXPECT_EQ(part.X.indptr, expected.indptr);
  EXPECT_EQ(part.X.indices, expected.indices);
  EXPECT_EQ(part.X.data, expected.data);
  EXPECT_EQ(part.obs.index.front(), all.obs.index[500]);
  opt.load_x = false;
  const CellMatrix names = read_10x_h5(path, opt);
  EXPECT_EQ(names.X.n_rows, 100);
  EXPECT_EQ(names.X.nnz(), 0);
  EXPECT_EQ(names.X.storage.dtype, "int32");
  EXPECT_EQ(names.obs.index, part.obs.index);
  ReadOptions genome;
  genome.genome = "GRCh38_chr21";
  EXPECT_EQ(read_10x_h5(path, genome).n_genes(), 507);
  genome.genome = "mm10";
  EXPECT_NE(test::error_of([&] { read_10x_h5(path, genome); }).find("no feature of genome 'mm10'"),
            std::string::npos);
}

TEST(TenxH5, RoundTrip) {
  const CellMatrix in = read_10x_mtx(test::fixture("scanpy_10x/cellranger_v3_mtx").string());
  const fs::path out = test::temp_dir() / "out.h5";
  write_10x_h5(in, out.string());
  const CellMatrix back = read_10x_h5(out.string());
  expect_same(in, back);
  EXPECT_EQ(back.X.storage.dtype, "int32");
  EXPECT_EQ(back.var.find("feature_types")->text(0), "Gene Expression");
  EXPECT_EQ(detect_format(out.string()), Format::TenxH5);

  // The layout Cell Ranger writes, as h5py sees it.
  const auto r =
      test::run_command(test::python() + " -c \"import h5py; f = h5py.File('" + out.string() +
                        "'); m = f['matrix']; print(m['data'].dtype, m['indices'].dtype, "
                        "m['indptr'].dtype, m['shape'].dtype, list(m['shape'][:]), m['barcodes'].dtype.kind, "
                        "m['features/id'].dtype.kind, f.attrs['filetype'], f.attrs['version'])\"");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("int32 int64 int64 int32 [np.int32(507), np.int32(1107)] S S matrix 2"),
            std::string::npos)
      << r.output;

  CellMatrix real = in;
  for (auto& v : real.X.data) v *= 0.37f;
  write_10x_h5(real, out.string());
  const CellMatrix real_back = read_10x_h5(out.string());
  EXPECT_EQ(real_back.X.data, real.X.data);
  EXPECT_EQ(real_back.X.storage.dtype, "float32");
}

TEST(TenxH5, BrokenFiles) {
  const fs::path dir = test::temp_dir();
  EXPECT_NE(test::error_of([] {
              read_10x_h5(test::fixture("hsmm_small.h5ad").string());
            }).find("not a Cell Ranger"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] { read_10x_h5((dir / "nope.h5").string()); }).find("no such file"),
            std::string::npos);
  // A v3 file whose index is out of range / whose indptr does not reach nnz.
  auto make = [&](const std::string& name, std::vector<int64_t> indices, std::vector<int64_t> indptr) {
    const std::string path = (dir / name).string();
    h5::Handle f = h5::create_file(path);
    h5::Handle g = h5::create_group(f, "matrix");
    h5::write_fixed_strings(g, "barcodes", {"A", "B"});
    h5::write<int32_t>(g, "data", {1, 2, 3}, {3});
    h5::write<int64_t>(g, "indices", indices, {3});
    h5::write<int64_t>(g, "indptr", indptr, {3});
    h5::write<int32_t>(g, "shape", {3, 2}, {2});
    h5::Handle ft = h5::create_group(g, "features");
    h5::write_fixed_strings(ft, "id", {"g1", "g2", "g3"});
    h5::write_fixed_strings(ft, "name", {"G1", "G2", "G3"});
    return path;
  };
  const std::string good = make("good.h5", {0, 2, 1}, {0, 2, 3});
  EXPECT_EQ(read_10x_h5(good).X.nnz(), 3);
  EXPECT_NE(test::error_of([&] {
              read_10x_h5(make("neg.h5", {0, -1, 1}, {0, 2, 3}));
            }).find("index out of range"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              read_10x_h5(make("big.h5", {0, 3, 1}, {0, 2, 3}));
            }).find("index out of range"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              read_10x_h5(make("ptr.h5", {0, 1, 1}, {0, 2, 9}));
            }).find("points outside"),
            std::string::npos);
  EXPECT_NE(test::error_of([&] {
              read_10x_h5(make("mono.h5", {0, 1, 1}, {0, 3, 2}));
            }).find("not monotone"),
            std::string::npos);
}

}  // namespace
}  // namespace pg::io
