// `perturbgen evaluate` end to end on real data (the LPS BMDC time course,
// 390 cells x 4,016 genes, ../shared/data/lps_bmdc_timecourse): a prediction
// in the contract layout whose cells ARE the true cells must score as a
// perfect model, the baselines must appear where they apply (and score
// worse), the table must be deterministic, and bad input must be one error line.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include "analysis/normalise.h"
#include "analysis/rouge.h"
#include "io/formats.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

const std::vector<std::string> kOrder = {"LPS#1h", "LPS#2h", "LPS#4h", "LPS#6h"};

fs::path lps() {
  return pg::test::dataset("lps_bmdc_timecourse");
}

const pg::io::CellMatrix& truth() {
  static const pg::io::CellMatrix m = pg::io::read_10x_mtx(lps().string());
  return m;
}

std::vector<int64_t> cells_at(const std::string& label) {
  const auto* col = truth().obs.find("grouping");
  std::vector<int64_t> rows;
  for (size_t i = 0; i < col->size(); ++i)
    if (col->text(i) == label) rows.push_back(static_cast<int64_t>(i));
  return rows;
}

pg::io::Column string_column(const std::string& name, std::vector<std::string> values) {
  pg::io::Column c;
  c.name = name;
  c.type = pg::io::ColumnType::String;
  c.dtype = "str";
  c.strings = std::move(values);
  return c;
}

// A prediction whose cells are true cells: all of LPS#4h (held out) and 20
// validation targets of LPS#2h (trained), each paired with itself as target,
// with the target's own Geneformer-style ranking as gene_ranking.
pg::io::CellMatrix perfect_prediction(bool with_time_point = true) {
  const auto& t = truth();
  std::vector<int64_t> rows = cells_at("LPS#4h");
  std::vector<std::string> times(rows.size(), "LPS#4h");
  const auto two = cells_at("LPS#2h");
  for (size_t i = 0; i < 20; ++i) {
    rows.push_back(two[i]);
    times.push_back("LPS#2h");
  }
  const auto sources = cells_at("LPS#1h");
  pg::io::CellMatrix p;
  p.X.n_cols = t.X.n_cols;
  std::vector<std::string> names, src, tgt, batch;
  const auto* rep = t.obs.find("replicate_batch");
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto r = static_cast<size_t>(rows[i]);
    for (int64_t k = t.X.indptr[r]; k < t.X.indptr[r + 1]; ++k) {
      p.X.indices.push_back(t.X.indices[static_cast<size_t>(k)]);
      p.X.data.push_back(t.X.data[static_cast<size_t>(k)]);
    }
    p.X.indptr.push_back(static_cast<int64_t>(p.X.data.size()));
    names.push_back("pred" + std::to_string(i));
    src.push_back(t.obs.index[static_cast<size_t>(sources[i % sources.size()])]);
    tgt.push_back(t.obs.index[r]);
    batch.push_back(rep->text(r));
  }
  p.X.n_rows = static_cast<int64_t>(rows.size());
  p.X.storage = {"csr", "float32", "int32"};
  p.obs.index = names;
  p.var.index = t.var.index;
  if (with_time_point) p.obs.columns.push_back(string_column("time_point", times));
  p.obs.columns.push_back(string_column("source_cell", src));
  p.obs.columns.push_back(string_column("target_cell", tgt));
  p.obs.columns.push_back(string_column("replicate_batch", batch));

  // The targets' rankings, as the evaluator ranks them (medians over all true cells).
  pg::analysis::GeneColumns all;
  all.n_dense = t.n_genes();
  for (int32_t g = 0; g < t.n_genes(); ++g) all.dense_of_file.push_back(g);
  std::vector<int64_t> every(static_cast<size_t>(t.n_cells()));
  for (size_t i = 0; i < every.size(); ++i) every[i] = static_cast<int64_t>(i);
  const auto med = pg::analysis::nonzero_medians(
      pg::analysis::normalised_counts(pg::analysis::log_normalised_rows(t.X, every, all, "true")));
  const auto expr =
      pg::analysis::normalised_counts(pg::analysis::log_normalised_rows(t.X, rows, all, "true"));
  std::vector<std::vector<int64_t>> ranks;
  size_t width = 0;
  for (Eigen::Index i = 0; i < expr.rows(); ++i) {
    ranks.push_back(pg::analysis::rank_genes(expr.row(i), med));
    width = std::max(width, ranks.back().size());
  }
  pg::io::DenseMatrix gr{static_cast<int64_t>(rows.size()), static_cast<int64_t>(width), {}, "int64"};
  for (const auto& r : ranks)
    for (size_t k = 0; k < width; ++k) gr.values.push_back(k < r.size() ? static_cast<double>(r[k]) : -1.0);
  p.obsm["gene_ranking"] = gr;
  p.uns["perturbgen"] = {{"time_key", "grouping"},
                         {"time_order", kOrder},
                         {"train_time_points", {"LPS#2h", "LPS#6h"}},
                         {"method", "perturbgen"}};
  return p;
}

pg::test::CommandResult evaluate(const std::string& args) {
  return pg::test::run_command(pg::test::cli() + " evaluate " + args);
}

// (method|time|group|metric) -> (value, n_pred, n_true)
struct Cell {
  double value;
  int64_t n_pred, n_true;
};
std::map<std::string, Cell> parse_table(const fs::path& path) {
  std::istringstream in(pg::test::read_text(path));
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "method\ttime_point\tgroup\tmetric\tvalue\tn_pred\tn_true");
  std::map<std::string, Cell> out;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream s(line);
    std::string x;
    while (std::getline(s, x, '\t')) f.push_back(x);
    EXPECT_EQ(f.size(), 7u) << line;
    if (f.size() != 7) continue;
    out[f[0] + "|" + f[1] + "|" + f[2] + "|" + f[3]] = {f[4] == "nan" ? NAN : std::stod(f[4]),
                                                        std::stoll(f[5]), std::stoll(f[6])};
  }
  return out;
}

class EvaluateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = pg::test::temp_dir();
    pred_ = dir_ / "pred.h5ad";
    pg::io::write_h5ad(perfect_prediction(), pred_.string());
  }
  std::string base_args(const fs::path& out) const {
    return "--pred '" + pred_.string() + "' --true '" + lps().string() + "' -o '" + out.string() +
           "' --time-values 1,2,4,6";
  }
  fs::path dir_, pred_;
};

TEST_F(EvaluateCli, PerfectPredictionScoresPerfectlyAndBaselinesApplyWhereTheyShould) {
  const auto r = evaluate(base_args(dir_ / "table.tsv"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto t = parse_table(dir_ / "table.tsv");
  auto at = [&](const std::string& key) {
    const auto it = t.find(key);
    EXPECT_NE(it, t.end()) << key;
    return it == t.end() ? Cell{NAN, -1, -1} : it->second;
  };
  for (const std::string time : {"LPS#4h", "LPS#2h"}) {
    const std::string m = "perturbgen|" + time + "|all|";
    EXPECT_LT(std::abs(at(m + "e_distance_pca").value), 1e-12) << time;
    EXPECT_LT(at(m + "w1_pca").value, 1e-5) << time;
    EXPECT_LT(at(m + "w2_pca").value, 1e-5) << time;
    EXPECT_EQ(at(m + "ot_exact").value, 1.0);
    EXPECT_LT(std::abs(at(m + "linear_mmd_pca").value), 1e-12) << time;
    EXPECT_EQ(at(m + "emd_genes").value, 0.0) << time;
    EXPECT_NEAR(at(m + "pearson_delta").value, 1.0, 1e-12) << time;
    EXPECT_NEAR(at(m + "means_r2").value, 1.0, 1e-12) << time;
    EXPECT_NEAR(at(m + "means_slope").value, 1.0, 1e-12) << time;
    EXPECT_LT(at(m + "means_rmse").value, 1e-12) << time;
    EXPECT_EQ(at(m + "direction_acc_top20_de").value, 1.0) << time;
    EXPECT_LT(at(m + "mse_top20_de").value, 1e-20) << time;
    EXPECT_EQ(at(m + "n_pcs").value, time == "LPS#4h" ? 50.0 : 39.0) << time;  // 2h: 40 cells in the union
    for (const char* k : {"rouge1_25", "rouge1_100", "rouge1_all"})
      EXPECT_DOUBLE_EQ(at(m + k).value, 1.0) << k;
    // MMD with the within-sample diagonals removed: slightly negative for identical samples.
    EXPECT_LT(std::abs(at(m + "mmd_rbf_pca").value), 2.0 / at(m + "mmd_rbf_pca").n_true);
  }
  // Held out 4h: true = all 162 cells; trained 2h: the 20 named targets.
  EXPECT_EQ(at("perturbgen|LPS#4h|all|emd_genes").n_true, 162);
  EXPECT_EQ(at("perturbgen|LPS#4h|all|emd_genes").n_pred, 162);
  EXPECT_EQ(at("perturbgen|LPS#2h|all|emd_genes").n_true, 20);
  // Baselines: never the target mean of a held-out time point; interpolation only between observed points.
  EXPECT_EQ(t.count("target_mean|LPS#4h|all|emd_genes"), 0u);
  for (const std::string b : {"copy_source", "nearest_time", "linear_interp", "ot_interp"}) {
    EXPECT_EQ(at(b + "|LPS#4h|all|emd_genes").n_pred, 162) << b;
    EXPECT_GT(at(b + "|LPS#4h|all|e_distance_pca").value, 1e-3) << b;  // worse than the perfect model
    EXPECT_GT(at(b + "|LPS#2h|all|emd_genes").value, 0.0) << b;
  }
  EXPECT_EQ(at("target_mean|LPS#2h|all|emd_genes").n_pred, 20);
  EXPECT_EQ(t.count("copy_source|LPS#4h|all|rouge1_25"), 0u);  // ROUGE: model rows only
  EXPECT_NE(r.output.find("LPS#4h: nearest_time uses LPS#2h"), std::string::npos)
      << r.output;  // tie 2h/6h -> earlier
  EXPECT_NE(r.output.find("LPS#2h: nearest_time uses LPS#1h"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("LPS#4h: interpolation between LPS#2h and LPS#6h at lambda 0.5"),
            std::string::npos);
  EXPECT_NE(r.output.find("LPS#2h: interpolation between LPS#1h and LPS#6h at lambda 0.2"),
            std::string::npos);
  EXPECT_NE(r.output.find("genes: 4016 shared"), std::string::npos) << r.output;
}

TEST_F(EvaluateCli, SameSeedSameTableAndJsonAndGroups) {
  ASSERT_EQ(evaluate(base_args(dir_ / "a.tsv") + " --seed 5").exit_code, 0);
  ASSERT_EQ(evaluate(base_args(dir_ / "b.tsv") + " --seed 5").exit_code, 0);
  ASSERT_EQ(evaluate(base_args(dir_ / "c.tsv") + " --seed 6").exit_code, 0);
  const std::string a = pg::test::read_text(dir_ / "a.tsv");
  EXPECT_EQ(a, pg::test::read_text(dir_ / "b.tsv"));
  EXPECT_NE(a, pg::test::read_text(dir_ / "c.tsv"));  // the baselines' draws depend on the seed

  const auto j = evaluate(base_args(dir_ / "t.json") + " --seed 5 --baselines none");
  ASSERT_EQ(j.exit_code, 0) << j.output;
  const auto json = nlohmann::json::parse(pg::test::read_text(dir_ / "t.json"));
  for (const auto& row : json["rows"]) EXPECT_EQ(row["method"], "perturbgen");
  EXPECT_EQ(json["rows"].size(), 2u * (17 + 3));  // two time points x (17 metrics + 3 ROUGE)

  const auto g =
      evaluate(base_args(dir_ / "g.tsv") + " --group-key replicate_batch --baselines nearest_time");
  ASSERT_EQ(g.exit_code, 0) << g.output;
  const auto t = parse_table(dir_ / "g.tsv");
  EXPECT_EQ(t.at("perturbgen|LPS#4h|replicate|emd_genes").value, 0.0);
  EXPECT_EQ(t.at("perturbgen|LPS#4h|replicate|emd_genes").n_true, 83);  // the 4h replicate experiment
  EXPECT_EQ(t.at("perturbgen|LPS#4h|main|emd_genes").n_true, 79);
  EXPECT_EQ(t.count("perturbgen|LPS#2h|replicate|emd_genes"), 0u);
  EXPECT_EQ(t.count("nearest_time|LPS#4h|main|emd_genes"), 1u);

  const auto ref = evaluate(base_args(dir_ / "r.tsv") + " --reference-metrics --baselines none");
  ASSERT_EQ(ref.exit_code, 0) << ref.output;
  const auto rt = parse_table(dir_ / "r.tsv");
  EXPECT_EQ(rt.at("perturbgen|LPS#4h|all|n_pcs").value, 5.0);
  EXPECT_LT(std::abs(rt.at("perturbgen|LPS#4h|all|mmd_rbf_genes").value), 2.0 / 162);
}

TEST_F(EvaluateCli, BadInputIsOneErrorLine) {
  auto expect_error = [&](const std::string& args, const std::string& needle) {
    const auto r = evaluate(args);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("perturbgen: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  };
  expect_error(base_args(dir_ / "x.tsv") + " --time-key no_such_column",
               "obs/no_such_column: no such column");
  EXPECT_FALSE(fs::exists(dir_ / "x.tsv"));

  const fs::path no_time = dir_ / "no_time.h5ad";
  pg::io::write_h5ad(perfect_prediction(false), no_time.string());
  expect_error("--pred '" + no_time.string() + "' --true '" + lps().string() + "' -o '" +
                   (dir_ / "y.tsv").string() + "'",
               "obs/time_point: missing");

  // The writer refuses NaN, so put one into /X/data afterwards, as another tool might.
  const fs::path nan_path = dir_ / "nan.h5ad";
  pg::io::write_h5ad(perfect_prediction(), nan_path.string());
  {
    const hid_t file = H5Fopen(nan_path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t data = H5Dopen2(file, "/X/data", H5P_DEFAULT);
    const hid_t space = H5Dget_space(data);
    const hsize_t start = 5, count = 1;
    H5Sselect_hyperslab(space, H5S_SELECT_SET, &start, nullptr, &count, nullptr);
    const hid_t mem = H5Screate_simple(1, &count, nullptr);
    const float value = NAN;
    EXPECT_GE(H5Dwrite(data, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, &value), 0);
    H5Sclose(mem);
    H5Sclose(space);
    H5Dclose(data);
    H5Fclose(file);
  }
  expect_error("--pred '" + nan_path.string() + "' --true '" + lps().string() + "' -o '" +
                   (dir_ / "z.tsv").string() + "'",
               "non-finite");

  // A predicted time point the true data does not have.
  auto other = perfect_prediction();
  other.uns["perturbgen"]["time_order"] = std::vector<std::string>{"LPS#1h", "LPS#2h", "LPS#4h", "LPS#8h"};
  for (auto& v : other.obs.find("time_point")->strings)
    if (v == "LPS#2h") v = "LPS#8h";
  const fs::path other_path = dir_ / "other.h5ad";
  pg::io::write_h5ad(other, other_path.string());
  expect_error("--pred '" + other_path.string() + "' --true '" + lps().string() + "' -o '" +
                   (dir_ / "w.tsv").string() + "'",
               "obs/grouping: no cells at time point 'LPS#8h'");
}

}  // namespace
