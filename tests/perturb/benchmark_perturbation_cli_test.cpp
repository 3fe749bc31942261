// `perturbgen benchmark-perturbation` end to end on a small slice of the
// lineage-resolved perturbation simulation (40 lineages x 4 stages, three
// perturbations): the table's structure (every method, perturbation, later
// time point and metric), the summary's keys, the baselines' values that
// follow from their definitions (no change: Pearson 0, E-distance ratio 1,
// AUROC 1/2; gene_only: only its own gene), and bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using pg::test::quote;
using pg::test::run_cli;

struct Row {
  std::string method, perturbation, time_point, metric;
  double value;
};

std::vector<Row> read_table(const fs::path& file, std::string& header) {
  std::ifstream in(file);
  std::getline(in, header);
  std::vector<Row> rows;
  for (std::string line; std::getline(in, line);) {
    std::stringstream s(line);
    Row r;
    std::string v;
    std::getline(s, r.method, '\t');
    std::getline(s, r.perturbation, '\t');
    std::getline(s, r.time_point, '\t');
    std::getline(s, r.metric, '\t');
    std::getline(s, v, '\t');
    r.value = v == "nan" ? NAN : std::stod(v);
    rows.push_back(r);
  }
  return rows;
}

// The slice: the first 40 lineages of wt.h5ad and of three perturbation files.
// Each test's folder: made fresh once (temp_dir() empties it on every call).
const fs::path& work() {
  static const fs::path dir = pg::test::temp_dir();
  return dir;
}

const fs::path& slice() {
  static const fs::path dir = [] {
    const fs::path d = work() / "lineage_slice";
    fs::create_directories(d / "perturbed");
    const std::string script = R"(
import sys, anndata as ad
src, out = sys.argv[1], sys.argv[2]
keep = None
for name, dest in [("wt", "wt"), ("pert_ko_G068", "perturbed/pert_ko_G068"),
                   ("pert_ko_G020", "perturbed/pert_ko_G020"), ("pert_oe_G050", "perturbed/pert_oe_G050")]:
    a = ad.read_h5ad(f"{src}/{name}.h5ad")
    if keep is None:
        keep = sorted(set(a.obs["lineage_id"].astype(str)))[:40]
    a = a[a.obs["lineage_id"].astype(str).isin(keep)].copy()
    a.write_h5ad(f"{out}/{dest}.h5ad")
)";
    const fs::path py = d / "make_slice.py";
    std::ofstream(py) << script;
    const auto r = pg::test::run_command("env -u LD_PRELOAD " + pg::test::python() + " " + quote(py) + " " +
                                         quote(pg::test::dataset("lineage_ko_sim")) + " " + quote(d));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return d;
  }();
  return dir;
}

std::string base_args(const fs::path& out) {
  return "benchmark-perturbation --control " + quote(slice() / "wt.h5ad") + " --perturbed " +
         quote(slice() / "perturbed") +
         " --time-key stage --time-order day0,day1,day2,day3 --group-key branch -o " + quote(out) +
         " --overwrite --pretrain-epochs 1 --epochs 2 --count-epochs 2 --iterations 2 --d-model 32 --layers "
         "1 "
         "--heads 2 --max-cells 40";
}

TEST(BenchmarkPerturbationCli, LineagePairingTableAndSummary) {
  const fs::path out = work() / "bench_lineage";
  const auto r = run_cli(base_args(out) + " --pairing lineage --lineage-key lineage_id", "OMP_NUM_THREADS=2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string header;
  const auto rows = read_table(out / "table.tsv", header);
  EXPECT_EQ(header, "method\tperturbation\ttime_point\tmetric\tvalue");
  const std::set<std::string> methods{"perturbgen", "no_change", "gene_only", "linear", "mean_other"};
  const std::set<std::string> perts{"ko_G068", "ko_G020", "oe_G050"};
  std::map<std::tuple<std::string, std::string, std::string, std::string>, double> at;
  for (const auto& row : rows) at[{row.method, row.perturbation, row.time_point, row.metric}] = row.value;
  for (const auto& m : methods)
    for (const auto& p : perts)
      for (const std::string tp : {"day1", "day2", "day3"})
        for (const std::string metric :
             {"pearson_lfc", "direction_acc_top20", "e_distance_ratio", "effect_size"})
          EXPECT_TRUE(at.count({m, p, tp, metric})) << m << " " << p << " " << tp << " " << metric;
  // Branches exist from day2 on: fate shifts there, none at day1 (trunk only).
  for (const auto& m : methods) {
    EXPECT_TRUE(at.count({m, "oe_G050", "day2", "fate_shift_error"}));
    EXPECT_FALSE(at.count({m, "oe_G050", "day1", "fate_shift_error"}));
  }
  for (const auto& p : perts)
    for (const std::string tp : {"day1", "day2", "day3"}) {
      EXPECT_EQ((at[{"no_change", p, tp, "pearson_lfc"}]), 0.0);
      EXPECT_NEAR((at[{"no_change", p, tp, "e_distance_ratio"}]), 1.0, 1e-9);
      EXPECT_TRUE(at.count({"observed", p, tp, "true_effect_ratio"}));
    }
  // The knock-out's own gene is the only one gene_only changes: Pearson over
  // the other genes is 0, over all genes positive (the gene falls in both).
  EXPECT_EQ((at[{"gene_only", "ko_G068", "day1", "pearson_lfc"}]), 0.0);
  EXPECT_GT((at[{"gene_only", "ko_G068", "day1", "pearson_lfc_all_genes"}]), 0.0);
  // A knock-out stays absent from every generated later state: the model's
  // leaf-gene knock-out is then its own gene's drop, as observed (without
  // that rule the model predicts about no change for the gene: r ~ 0).
  for (const std::string tp : {"day1", "day2", "day3"})
    EXPECT_GT((at[{"perturbgen", "ko_G020", tp, "pearson_lfc_all_genes"}]), 0.5) << tp;

  std::ifstream sf(out / "summary.json");
  const auto summary = nlohmann::json::parse(sf);
  std::set<std::string> keys;
  for (const auto& [k, v] : summary.items()) {
    keys.insert(k);
    EXPECT_TRUE(v.contains("mean_pearson_lfc") && v.contains("negative_control_auroc")) << k;
  }
  EXPECT_EQ(keys, methods);
  EXPECT_EQ(summary["no_change"]["negative_control_auroc"].get<double>(), 0.5);
  std::ifstream rf(out / "report.json");
  const auto report = nlohmann::json::parse(rf);
  // ko of a trunk master regulator changes its targets; ko of a leaf gene only itself.
  EXPECT_TRUE(report["truth"]["ko_G068"]["has_true_effect"].get<bool>());
  EXPECT_FALSE(report["truth"]["ko_G020"]["has_true_effect"].get<bool>());
  EXPECT_TRUE(report.contains("source_dependence"));
}

TEST(BenchmarkPerturbationCli, BadInputIsOneLine) {
  const fs::path out = work() / "bench_bad";
  auto r = run_cli(base_args(out) + " --pairing lineage");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--lineage-key"), std::string::npos) << r.output;
  const fs::path empty = work() / "no_perturbations";
  fs::create_directories(empty);
  r = run_cli("benchmark-perturbation --control " + quote(slice() / "wt.h5ad") + " --perturbed " +
              quote(empty) + " --time-key stage --time-order day0,day1 -o " + quote(out) +
              " --overwrite --pairing random");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("holds no pert_<kind>_<GENE>.h5ad file"), std::string::npos) << r.output;
  r = run_cli("benchmark-perturbation --control " + quote(slice() / "wt.h5ad") + " --perturbed " +
              quote(slice() / "perturbed") + " --time-key nope --time-order day0,day1 -o " + quote(out) +
              " --overwrite --pairing random");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("obs/nope"), std::string::npos) << r.output;
}

}  // namespace
