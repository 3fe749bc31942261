// `perturbgen medians` as a user runs it: two files of different formats with
// overlapping genes give the TSV worked out by hand (gene TAB shortest
// round-trip median, genes never non-zero left out), --layer picks the counts,
// and bad input is one error line with no output written.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "io/formats.h"
#include "test_support.h"

namespace fs = std::filesystem;
using pg::io::CellMatrix;
using pg::io::CsrMatrix;

namespace {

using pg::test::quote;
using pg::test::run_cli;

CsrMatrix csr(int64_t cols, const std::vector<std::vector<std::pair<int32_t, float>>>& rows) {
  return pg::test::csr_from_rows(cols, rows);
}

CellMatrix cells(const std::string& prefix, const std::vector<std::string>& genes, const CsrMatrix& x) {
  CellMatrix m;
  m.X = x;
  for (int64_t r = 0; r < x.n_rows; ++r) m.obs.index.push_back(prefix + std::to_string(r));
  m.var.index = genes;
  return m;
}

// a.h5ad, genes (g1, g2, g3):
//   cell0 g1=1 g2=3 (total 4) -> g1 2500, g2 7500
//   cell1 g1=2 g3=2 (total 4) -> g1 5000, g3 5000
//   cell2 g2=1 g3=2 (total 3) -> g2 1/3*1e4, g3 2/3*1e4
// b (10x MatrixMarket folder), genes (g4, g1, g5):
//   cell0 g4=1 g1=4 (total 5) -> g4 2000, g1 8000
//   cell1 g1=5      (total 5) -> g1 10000
//   cell2 g4=3      (total 3) -> g4 10000
// Medians (numbers as Python's repr prints them):
//   g1 {2500, 5000, 8000, 10000} -> 6500
//   g2 {7500, 3333.333333333333}  -> 5416.666666666666
//   g3 {5000, 6666.666666666666}  -> 5833.333333333333
//   g4 {2000, 10000}              -> 6000
//   g5 never non-zero             -> left out
const char* kExpected = "g1\t6500\ng2\t5416.666666666666\ng3\t5833.333333333333\ng4\t6000\n";

void write_inputs(const fs::path& dir) {
  pg::io::write_h5ad(
      cells("a", {"g1", "g2", "g3"}, csr(3, {{{0, 1}, {1, 3}}, {{0, 2}, {2, 2}}, {{1, 1}, {2, 2}}})),
      (dir / "a.h5ad").string());
  pg::io::write_10x_mtx(cells("b", {"g4", "g1", "g5"}, csr(3, {{{0, 1}, {1, 4}}, {{1, 5}}, {{0, 3}}})),
                        (dir / "b").string());
}

}  // namespace

TEST(MediansCli, TwoFilesGiveTheHandComputedTable) {
  const fs::path dir = pg::test::temp_dir();
  write_inputs(dir);
  const fs::path out = dir / "medians.tsv";
  auto r = run_cli("medians " + quote(dir / "a.h5ad") + " " + quote(dir / "b") + " -o " + quote(out) +
                   " --chunk-cells 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(pg::test::read_text(out), kExpected);
  EXPECT_NE(r.output.find("2 files, 6 cells, 5 genes: 4 with a median, 1 never non-zero (left out: g5)"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("Exact medians of 10 non-zero values"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("peak accumulator memory"), std::string::npos) << r.output;

  // So few values stay single points in the digests: the same table, and an
  // existing output is replaced.
  r = run_cli("medians " + quote(dir / "a.h5ad") + " " + quote(dir / "b") + " -o " + quote(out) +
              " --streaming --compression 50");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(pg::test::read_text(out), kExpected);
  EXPECT_NE(r.output.find("t-digest medians (compression 50)"), std::string::npos) << r.output;
}

TEST(MediansCli, LayerHoldsTheCounts) {
  const fs::path dir = pg::test::temp_dir();
  // X is normalised (other values); the counts are in layers/counts.
  CellMatrix m = cells("c", {"x", "y"}, csr(2, {{{0, 0.5f}, {1, 0.25f}}, {{0, 9}}}));
  m.layers["counts"] = csr(2, {{{0, 1}, {1, 4}}, {{0, 3}, {1, 1}}});  // x {2000, 7500} y {8000, 2500}
  pg::io::write_h5ad(m, (dir / "l.h5ad").string());
  const fs::path out = dir / "m.tsv";
  auto r = run_cli("medians " + quote(dir / "l.h5ad") + " --layer counts -o " + quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(pg::test::read_text(out), "x\t4750\ny\t5250\n");
  r = run_cli("medians " + quote(dir / "l.h5ad") + " --layer nope -o " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("layers/nope: no such layer"), std::string::npos) << r.output;
}

TEST(MediansCli, BadInputIsOneLineAndNoOutput) {
  const fs::path dir = pg::test::temp_dir();
  const fs::path out = dir / "out.tsv";
  const fs::path neg = pg::test::fixture("bpcells/mini_mat_int_64_neg.anndata-v0.12.6.h5ad");
  auto r = run_cli("medians " + quote(neg) + " -o " + quote(out));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find("perturbgen: error: " + neg.string() + ": X: value -"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("is negative"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));

  write_inputs(dir);
  r = run_cli("medians " + quote(dir / "a.h5ad") + " -o " + quote(out) + " --exact --streaming");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("excludes"), std::string::npos) << r.output;
  r = run_cli("medians " + quote(dir / "a.h5ad") + " -o " + quote(out) + " --compression 3");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(out));
  // The output may not be one of the inputs.
  r = run_cli("medians " + quote(dir / "a.h5ad") + " -o " + quote(dir / "a.h5ad"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NO_THROW(pg::io::read_h5ad((dir / "a.h5ad").string()));
}
