// `perturbgen generate` as a user runs it on the LPS time course, with a small
// model trained in the fixture: the output h5ad (what anndata reads, one row
// per source cell and time point, no duplicate genes, counts from the count
// head), determinism across runs, threads and batch sizes, the reference
// settings, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "io/formats.h"
#include "test_support.h"
#include "trained_model_fixture.h"

namespace fs = std::filesystem;

namespace {

using pg::test::quote;
using pg::test::run_cli;

using Fixture = pg::test::TrainedModel;
const Fixture& fixture() {
  return pg::test::trained_lps_model();
}

pg::io::CellMatrix generate(const fs::path& out, const std::string& extra, const std::string& env = "") {
  const auto& f = fixture();
  const auto r = run_cli("generate --model " + quote(f.model) + " --store " + quote(f.store) + " -o " +
                             quote(out) + " --iterations 8 --overwrite " + extra,
                         env);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return pg::io::read_h5ad(out.string());
}

std::vector<std::vector<int>> rankings(const pg::io::CellMatrix& m) {
  const auto& g = m.obsm.at("gene_ranking");
  std::vector<std::vector<int>> out(static_cast<size_t>(g.n_rows));
  for (int64_t i = 0; i < g.n_rows; ++i)
    for (int64_t k = 0; k < g.n_cols && g.at(i, k) >= 0; ++k)
      out[static_cast<size_t>(i)].push_back(static_cast<int>(g.at(i, k)));
  return out;
}

TEST(GenerateCli, WritesOneCellPerSourceAndTimeWithDistinctGenesAndCounts) {
  const auto dir = pg::test::temp_dir();
  const auto m = generate(dir / "gen.h5ad", "--seed 3");
  // 82 source cells (1 h) x the 3 later time points, 300 count genes.
  ASSERT_EQ(m.n_cells(), 82 * 3);
  ASSERT_EQ(m.n_genes(), 300);
  const auto* time = m.obs.find("time_point");
  ASSERT_NE(time, nullptr);
  EXPECT_EQ(time->categories, (std::vector<std::string>{"LPS#2h", "LPS#4h", "LPS#6h"}));
  for (const char* col : {"source_cell", "target_cell", "pairing_row", "replicate_batch"})
    EXPECT_NE(m.obs.find(col), nullptr) << col;
  EXPECT_EQ(m.obsm.at("X_perturbgen").n_cols, 32);
  EXPECT_EQ(m.uns["perturbgen"]["time_key"], "grouping");
  EXPECT_EQ(m.uns["perturbgen"]["train_time_points"].size(), 3u);
  // Sampled lengths lie in the range of the training cells' lengths (capped at 64).
  for (const auto& genes : rankings(m)) {
    ASSERT_GE(genes.size(), 1u);
    EXPECT_LE(genes.size(), 64u);
    EXPECT_EQ(std::set<int>(genes.begin(), genes.end()).size(), genes.size()) << "a gene appears twice";
    for (int g : genes) EXPECT_TRUE(g >= 0 && g < 300);
  }
  // Counts: non-negative, finite, a positive library for every cell.
  ASSERT_EQ(m.X.n_rows, m.n_cells());
  for (float v : m.X.data) EXPECT_TRUE(std::isfinite(v) && v >= 0);
  for (int64_t i = 0; i < m.X.n_rows; ++i)
    EXPECT_GT(m.X.indptr[static_cast<size_t>(i) + 1], m.X.indptr[static_cast<size_t>(i)]);
  // What anndata itself reads.
  const auto py = pg::test::run_command(pg::test::python() + " " +
                                        quote(pg::test::source_dir() / "tests/python/anndata_check.py") +
                                        " " + quote(dir / "gen.h5ad"));
  ASSERT_EQ(py.exit_code, 0) << py.output;
  const auto j = nlohmann::json::parse(py.output);
  EXPECT_EQ(j["shape"], (std::vector<int>{246, 300}));
  EXPECT_EQ(j["obsm"]["gene_ranking"]["shape"][0], 246);
}

TEST(GenerateCli, SameSeedSameCellsWhateverTheThreadsOrBatches) {
  const auto dir = pg::test::temp_dir();
  const auto a = generate(dir / "a.h5ad", "--seed 5 --time-points 'LPS#2h' 3", "OMP_NUM_THREADS=1");
  const auto b =
      generate(dir / "b.h5ad", "--seed 5 --time-points 'LPS#2h' 3 --batch-size 5", "OMP_NUM_THREADS=2");
  const auto c = generate(dir / "c.h5ad", "--seed 6 --time-points 'LPS#2h' 3");
  const auto ra = rankings(a), rb = rankings(b), rc = rankings(c);
  ASSERT_EQ(ra.size(), 164u);
  int same = 0;
  for (size_t i = 0; i < ra.size(); ++i) same += ra[i] == rb[i];
  EXPECT_EQ(same, 164) << "cells whose genes changed with threads/batch size: " << 164 - same;
  int same_c = 0;
  for (size_t i = 0; i < ra.size(); ++i) same_c += ra[i] == rc[i];
  EXPECT_LT(same_c, 20) << "another seed should give other cells";
  const auto again = generate(dir / "a2.h5ad", "--seed 5 --time-points 'LPS#2h' 3", "OMP_NUM_THREADS=1");
  EXPECT_EQ(again.X.data, a.X.data);
  EXPECT_EQ(rankings(again), ra);
}

TEST(GenerateCli, ReferenceSettingsUseTheTrueCells) {
  const auto dir = pg::test::temp_dir();
  const auto m =
      generate(dir / "ref.h5ad",
               "--demasking reference --length truth --context truth --library observed --counts mu "
               "--time-points 3");
  const auto truth = generate(dir / "truth.h5ad", "--length truth --context truth --time-points 3");
  // --length truth: each generated cell has as many genes as its true cell (capped at 64).
  const auto store = pg::io::read_h5ad((dir / "truth.h5ad").string());
  const auto r = rankings(truth);
  const auto* target = truth.obs.find("target_cell");
  ASSERT_NE(target, nullptr);
  for (const auto& s : target->strings) EXPECT_FALSE(s.empty());
  for (const auto& genes : r) EXPECT_LE(genes.size(), 64u);
  EXPECT_EQ(m.n_cells(), 82);
  EXPECT_EQ(m.uns["perturbgen"]["settings"]["demasking"], "reference");
}

// --split validation: exactly the pairs the count stage's run validated on.
TEST(GenerateCli, SplitSelectsTheTrainingRunsValidationPairs) {
  const auto dir = pg::test::temp_dir();
  std::ifstream in(fs::path(fixture().model.string() + ".run") / "split.json");
  ASSERT_TRUE(in.good());
  const auto split = nlohmann::json::parse(in);
  const auto val = split["validation"].get<std::vector<int64_t>>();
  ASSERT_FALSE(val.empty());
  EXPECT_EQ(val.size() + split["train"].size() + split["test"].size(), 82u);
  const auto m = generate(dir / "val.h5ad", "--split validation --time-points 1");
  const auto* rows = m.obs.find("pairing_row");
  ASSERT_NE(rows, nullptr);
  std::vector<int64_t> got(rows->ints.begin(), rows->ints.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, val);
}

TEST(GenerateCli, BadInputIsOneLine) {
  const auto dir = pg::test::temp_dir();
  const auto& f = fixture();
  auto r = run_cli("generate --model " + quote(f.model) + " --store " + quote(f.store) + " -o " +
                   quote(dir / "x.h5ad") + " --time-points 9h");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("time point '9h'"), std::string::npos) << r.output;
  r = run_cli("generate --model " + quote(f.model) + " --store " + quote(f.store) + " -o " +
              quote(dir / "x.h5ad") + " --length fixed");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--fixed-length"), std::string::npos) << r.output;
  r = run_cli("generate --model " + quote(dir / "missing") + " --store " + quote(f.store) + " -o " +
              quote(dir / "x.h5ad"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_FALSE(fs::exists(dir / "x.h5ad"));
  // An existing output is kept unless --overwrite.
  { std::ofstream(dir / "keep.h5ad") << "mine"; }
  r = run_cli("generate --model " + quote(f.model) + " --store " + quote(f.store) + " -o " +
              quote(dir / "keep.h5ad"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(pg::test::read_text(dir / "keep.h5ad"), "mine");
}

// The held-out time point task end to end on LPS (tiny model): the table has
// the model and every baseline that applies to an interpolated time point,
// scored against all 162 cells of the held-out time point.
TEST(BenchmarkTimepoints, InterpolationTableHasTheModelAndTheBaselines) {
  const auto dir = pg::test::temp_dir();
  const std::string data = quote(pg::test::dataset("lps_bmdc_timecourse"));
  auto r = run_cli(
      "benchmark-timepoints " + data +
      " --time-key grouping --time-order 'LPS#1h,LPS#2h,LPS#4h,LPS#6h' --holdout 'LPS#4h' -o " +
      quote(dir / "out") +
      " --n-hvg 200 --max-length 64 --d-model 32 --layers 1 --heads 2 --head-dim 8 --pretrain-epochs 1"
      " --epochs 2 --count-epochs 2 --iterations 6 --batch-size 16");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // The model never saw the held-out time point.
  const auto gen = pg::io::read_h5ad((dir / "out" / "generated.h5ad").string());
  EXPECT_EQ(gen.uns["perturbgen"]["train_time_points"], nlohmann::json({"LPS#2h", "LPS#6h"}));
  std::ifstream in(dir / "out" / "table.tsv");
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "method\ttime_point\tgroup\tmetric\tvalue\tn_pred\tn_true");
  std::set<std::string> methods;
  int e_distance_rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string w; std::getline(ss, w, '\t');) f.push_back(w);
    ASSERT_EQ(f.size(), 7u) << line;
    methods.insert(f[0]);
    EXPECT_EQ(f[1], "LPS#4h");
    if (f[3] == "e_distance_pca") {
      ++e_distance_rows;
      EXPECT_TRUE(std::isfinite(std::stod(f[4]))) << line;
      EXPECT_EQ(f[6], "162") << line;
    }
  }
  EXPECT_EQ(methods, (std::set<std::string>{"perturbgen", "copy_source", "nearest_time", "linear_interp",
                                            "ot_interp"}));
  EXPECT_EQ(e_distance_rows, 5);
  // The source state cannot be held out.
  r = run_cli("benchmark-timepoints " + data +
              " --time-key grouping --time-order 'LPS#1h,LPS#2h,LPS#4h' --holdout 'LPS#1h' -o " +
              quote(dir / "bad"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--holdout"), std::string::npos) << r.output;
}

}  // namespace
