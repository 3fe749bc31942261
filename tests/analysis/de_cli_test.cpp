// `perturbgen de` end to end on h5ad files written here from the scanpy
// fixtures of tests/data/de (see de_fixtures.h): group vs rest and vs a
// named group from counts and from log values, the perturbation layout per
// time point and group, the reversal score file, and one-line errors.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "analysis/differential_expression_reversal.h"
#include "core/number_text.h"
#include "de_fixtures.h"
#include "io/formats.h"
#include "io/tabular.h"

namespace fs = std::filesystem;

namespace {

std::vector<std::string> strings(const nlohmann::json& j) {
  std::vector<std::string> out;
  for (const auto& v : j) out.push_back(v.get<std::string>());
  return out;
}

pg::io::CellMatrix cells(pg::io::CsrMatrix x, const nlohmann::json& genes, const std::string& prefix) {
  pg::io::CellMatrix m;
  m.X = std::move(x);
  for (int64_t i = 0; i < m.X.n_rows; ++i) m.obs.index.push_back(prefix + std::to_string(i));
  m.var.index = strings(genes);
  return m;
}

// Writes `m` as `name` in the test's folder (created once per test: temp_dir() empties it).
fs::path write(const pg::io::CellMatrix& m, const std::string& name) {
  static std::string test;
  static fs::path dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string now = std::string(info->test_suite_name()) + "." + info->name();
  if (now != test) {
    test = now;
    dir = pg::test::temp_dir();
  }
  const auto p = dir / name;
  pg::io::write_h5ad(m, p.string());
  return p;
}

// The pbmc counts with obs grp, as the fixture grouped them.
fs::path pbmc_file() {
  const auto& pj = pg::test::de_expected()["pbmc"];
  auto m = cells(pg::test::csr_from_dense(pg::test::de_inputs().values<float>("pbmc_counts"), 200, 0, 300),
                 pj["genes"], "c");
  m.obs.columns.push_back(pg::io::string_column("grp", strings(pj["groups"])));
  return write(m, "pbmc.h5ad");
}

// The perturbation layout: X = cells 0-149, pred_counts = cells 150-299.
pg::io::CellMatrix perturbation_cells() {
  const auto& pj = pg::test::de_expected()["pbmc"];
  const auto counts = pg::test::de_inputs().values<float>("pbmc_counts");
  auto m = cells(pg::test::csr_from_dense(counts, 200, 0, 150), pj["genes"], "p");
  m.layers["pred_counts"] = pg::test::csr_from_dense(counts, 200, 150, 300);
  m.obs.columns.push_back(pg::io::string_column("time_point", strings(pj["perturbation"]["time_point"])));
  m.obs.columns.push_back(pg::io::string_column("cell_group", strings(pj["perturbation"]["cell_group"])));
  return m;
}

// (key0|key1) -> gene -> column -> value, from a de TSV.
using Table = std::map<std::string, std::map<std::string, std::map<std::string, double>>>;

Table read_table(const fs::path& p, size_t* rows = nullptr) {
  const auto t = pg::io::parse_tsv(pg::test::read_text(p));
  Table out;
  for (size_t i = 1; i < t.size(); ++i)
    for (size_t j = 3; j < t[0].size(); ++j)
      out[t[i][0] + "|" + t[i][1]][t[i][2]][t[0][j]] = t[i][j] == "nan" ? NAN : std::stod(t[i][j]);
  if (rows) *rows = t.size() - 1;
  return out;
}

// A comparison of the table as GeneTests in fixture gene order.
std::vector<pg::analysis::GeneTest> tests_of(const std::map<std::string, std::map<std::string, double>>& rows,
                                             const nlohmann::json& genes, const std::string& mean_group,
                                             const std::string& mean_reference) {
  std::vector<pg::analysis::GeneTest> out;
  for (const auto& g : genes) {
    const auto& r = rows.at(g.get<std::string>());
    pg::analysis::GeneTest t;
    t.score = r.at("score");
    t.pvalue = r.at("pvalue");
    t.pvalue_adj = r.at("pvalue_adj");
    t.log_fold_change = r.at("logfoldchange");
    t.mean_group = r.at(mean_group);
    t.mean_reference = r.at(mean_reference);
    out.push_back(t);
  }
  return out;
}

pg::test::CommandResult de(const std::string& args) {
  return pg::test::run_cli("de " + args);
}

TEST(DeCli, GroupVsRestAndVsReferenceFromCounts) {
  const auto& pj = pg::test::de_expected()["pbmc"];
  const auto in = pbmc_file();
  const auto out = in.parent_path() / "de.tsv";
  auto r = de(pg::test::quote(in) + " --groupby grp --group myeloid -o " + pg::test::quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("myeloid vs rest: 52 vs 248 cells"), std::string::npos) << r.output;
  size_t rows = 0;
  auto t = read_table(out, &rows);
  EXPECT_EQ(rows, 200u);
  const auto& rest = pj["comparisons"][0];
  ASSERT_EQ(rest["reference"], "rest");
  pg::test::report(pg::test::expect_matches_scanpy(
                       tests_of(t.at("myeloid|rest"), pj["genes"], "mean_group", "mean_reference"), rest,
                       "cli counts vs rest"),
                   "cli counts myeloid vs rest");

  r = de(pg::test::quote(in) + " --groupby grp --group myeloid --reference T --no-tie-correct -o " +
         pg::test::quote(out));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  t = read_table(out);
  const auto& vs_t = pj["comparisons"][1];
  ASSERT_EQ(vs_t["reference"], "T");
  ASSERT_FALSE(vs_t["tie_correct"].get<bool>());
  pg::test::report(
      pg::test::expect_matches_scanpy(
          tests_of(t.at("myeloid|T"), pj["genes"], "mean_group", "mean_reference"), vs_t, "cli counts vs T"),
      "cli counts myeloid vs T (no tie corr.)");
  // Rows are sorted by score, highest first.
  const auto lines = pg::io::parse_tsv(pg::test::read_text(out));
  for (size_t i = 2; i < lines.size(); ++i) EXPECT_GE(std::stod(lines[i - 1][3]), std::stod(lines[i][3]));
}

TEST(DeCli, LogNormalisedInput) {
  const auto& kj = pg::test::de_expected()["kang"];
  auto m = cells(pg::test::csr_from_dense(pg::test::de_inputs().values<float>("kang_x"), 200, 0, 300),
                 kj["genes"], "k");
  m.obs.columns.push_back(pg::io::string_column("cell_type", strings(kj["groups"])));
  const auto in = write(m, "kang.h5ad");
  const auto out = in.parent_path() / "de.tsv";
  for (const auto& cmp : kj["comparisons"]) {
    if (cmp["group"] != "CD14+Mono" || cmp["reference"] != "CD4T") continue;
    const bool tc = cmp["tie_correct"].get<bool>();
    const auto r =
        de(pg::test::quote(in) + " --groupby cell_type --group CD14+Mono --reference CD4T --log-normalised" +
           (tc ? "" : " --no-tie-correct") + " -o " + pg::test::quote(out));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto t = read_table(out);
    const std::string what = std::string("cli log values vs CD4T") + (tc ? " tc" : " no-tc");
    pg::test::report(
        pg::test::expect_matches_scanpy(
            tests_of(t.at("CD14+Mono|CD4T"), kj["genes"], "mean_group", "mean_reference"), cmp, what),
        what);
  }
}

TEST(DeCli, PerturbationPerTimePointAndGroupWithReversal) {
  const auto& pj = pg::test::de_expected()["pbmc"];
  const auto in = write(perturbation_cells(), "perturb.h5ad");
  const auto dir = in.parent_path();
  // Truth: scanpy's myeloid vs rest table; gene sets: two hand-made pathways.
  std::string truth = "names\tlogfoldchanges\tpvals_adj\n";
  const auto& rest = pj["comparisons"][0];
  for (size_t g = 0; g < pj["genes"].size(); ++g)
    truth += pj["genes"][g].get<std::string>() + "\t" + pg::shortest_text(rest["logfoldchanges"][g]) + "\t" +
             pg::shortest_text(rest["pvals_adj"][g]) + "\n";
  std::ofstream(dir / "truth.tsv") << truth;
  // DEGS: 40 true DEGs (significant by ORA); OTHERS: 50 other genes (no overlap, not tested).
  std::string degs = "DEGS\ttrue DEGs", others = "OTHERS\tother genes";
  int n_degs = 0, n_others = 0;
  for (size_t g = 0; g < pj["genes"].size(); ++g) {
    const bool deg =
        rest["pvals_adj"][g].get<double>() < 0.05 && std::abs(rest["logfoldchanges"][g].get<double>()) > 0.5;
    if (deg && n_degs++ < 40) degs += "\t" + pj["genes"][g].get<std::string>();
    if (!deg && n_others++ < 50) others += "\t" + pj["genes"][g].get<std::string>();
  }
  ASSERT_GE(n_degs, 40);
  std::ofstream(dir / "sets.gmt") << degs << "\n" << others << "\n";

  const auto out = dir / "pert.tsv";
  const auto r = de("--perturbation " + pg::test::quote(in) + " --group-key cell_group -o " +
                    pg::test::quote(out) + " --truth " + pg::test::quote(dir / "truth.tsv") +
                    " --gene-sets " + pg::test::quote(dir / "sets.gmt") + " --permutations 200 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto t = read_table(out);
  for (const auto& cmp : pj["perturbation"]["comparisons"]) {
    const std::string key = cmp["time_point"].get<std::string>() + "|" + cmp["cell_group"].get<std::string>();
    pg::test::report(
        pg::test::expect_matches_scanpy(tests_of(t.at(key), pj["genes"], "mean_perturbed", "mean_control"),
                                        cmp, "cli perturbation " + key),
        "cli perturbation " + key);
  }
  EXPECT_EQ(t.size(), 8u);  // 2 time points x (all, myeloid, T, other)

  // The reversal file: a summary row and one row per pathway for each comparison,
  // T as the library computes it from the written logFCs.
  const auto rev = pg::io::parse_tsv(pg::test::read_text(dir / "pert.reversal.tsv"));
  ASSERT_EQ(rev.size(), 1 + 8 * 3u);
  EXPECT_EQ(rev[0][2], "kind");
  // Time points in category order (10h, 6h), each: summary, then the pathways.
  size_t at = 0;
  while (at < rev.size() && rev[at][0] + rev[at][1] + rev[at][2] != "6hallsummary") ++at;
  ASSERT_LT(at, rev.size());
  std::vector<std::string> genes;
  std::vector<double> lfc;
  for (const auto& [gene, cols] : t.at("6h|all")) {
    genes.push_back(gene);
    lfc.push_back(cols.at("logfoldchange"));
  }
  pg::analysis::ReversalOptions ro;
  ro.permutations = 200;
  ro.seed = 3;
  const auto want =
      pg::analysis::reversal_score(genes, lfc, pg::analysis::read_true_de((dir / "truth.tsv").string()),
                                   pg::analysis::read_gmt((dir / "sets.gmt").string()), ro);
  ASSERT_EQ(want.n_used, 1);
  EXPECT_EQ(rev[at][9], "1");
  EXPECT_EQ(rev[at][10], pg::shortest_text(want.score));
  EXPECT_EQ(rev[at][12], pg::shortest_text(want.pvalue));
  EXPECT_EQ(rev[at + 1][3], "DEGS");
  EXPECT_EQ(rev[at + 1][11], "1");
  EXPECT_EQ(rev[at + 2][3], "OTHERS");
  EXPECT_EQ(rev[at + 2][7], "nan");  // no true DEG: not tested
  EXPECT_EQ(std::stoll(rev[at][6]), want.n_true_degs);
  EXPECT_NE(r.output.find("reversal 6h / all: T = "), std::string::npos) << r.output;
}

// Sets entry `k` of /X/data (float32) to NaN in place.
void poke_nan(const fs::path& file, size_t k) {
  const hid_t f = H5Fopen(file.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  const hid_t d = H5Dopen2(f, "/X/data", H5P_DEFAULT);
  ASSERT_GE(d, 0);
  const hid_t space = H5Dget_space(d);
  std::vector<float> v(static_cast<size_t>(H5Sget_simple_extent_npoints(space)));
  ASSERT_GE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  v.at(k) = NAN;
  ASSERT_GE(H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()), 0);
  H5Sclose(space);
  H5Dclose(d);
  H5Fclose(f);
}

// One line on stderr, "perturbgen: error: ...", and exit status 1.
void expect_one_line_error(const pg::test::CommandResult& r, const std::string& part) {
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_EQ(r.output.rfind("perturbgen: error: ", 0), 0u) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_NE(r.output.find(part), std::string::npos) << r.output;
}

TEST(DeCli, BadInputIsOneErrorLine) {
  const auto in = pbmc_file();
  const auto dir = in.parent_path();
  const std::string o = " -o " + pg::test::quote(dir / "x.tsv");
  const std::string q = pg::test::quote(in);
  expect_one_line_error(de(q + " --groupby nope --group myeloid" + o),
                        "obs/nope: no such column (obs has: grp)");
  expect_one_line_error(de(q + " --groupby grp --group B" + o),
                        "obs/grp: --group 'B' has no cells (groups: T, myeloid, other)");
  expect_one_line_error(de(q + " --groupby grp --group myeloid --reference nope" + o),
                        "--reference 'nope' has no cells");
  expect_one_line_error(de(q + " --groupby grp --group myeloid --layer counts" + o),
                        "layers/counts: no such layer (the file has none)");
  expect_one_line_error(de(q + " --groupby grp --group myeloid --target-sum lots" + o), "--target-sum");
  EXPECT_FALSE(fs::exists(dir / "x.tsv"));

  // A group of one cell.
  auto m = perturbation_cells();
  std::vector<std::string> labels(150, "a");
  labels[7] = "single";
  m.obs.columns.push_back(pg::io::string_column("lab", labels));
  auto file = write(m, "one.h5ad");
  expect_one_line_error(de(pg::test::quote(file) + " --groupby lab --group single" + o),
                        "--group 'single' has 1 cell; the test needs at least 2");
  // NaN (the writer refuses it, so it is patched into the file) and negative counts.
  file = write(m, "nan.h5ad");
  poke_nan(file, 5);
  expect_one_line_error(de(pg::test::quote(file) + " --groupby lab --group a --reference single" + o),
                        "non-finite");
  m.X.data[5] = -2;
  file = write(m, "neg.h5ad");
  expect_one_line_error(de(pg::test::quote(file) + " --groupby lab --group a --reference single" + o),
                        "negative value");
  // Perturbation files without the control layer or the time column.
  m = perturbation_cells();
  m.layers.clear();
  file = write(m, "nolayer.h5ad");
  expect_one_line_error(de("--perturbation " + pg::test::quote(file) + o),
                        "layers/pred_counts: no such layer");
  m = perturbation_cells();
  m.obs.columns.clear();
  file = write(m, "notime.h5ad");
  expect_one_line_error(de("--perturbation " + pg::test::quote(file) + o), "obs/time_point: no such column");
  expect_one_line_error(de("--perturbation " + pg::test::quote(file) + " " + q + o), "takes no INPUT");
  expect_one_line_error(de(q + o), "needs INPUT --groupby COL --group NAME, or --perturbation FILE");
  EXPECT_FALSE(fs::exists(dir / "x.tsv"));
}

}  // namespace
