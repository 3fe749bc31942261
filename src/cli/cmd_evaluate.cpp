// perturbgen evaluate: scores a prediction .h5ad (written by `perturbgen
// generate`) against the true data, next to the baselines a model must beat,
// as a tidy table (method, time_point, group, metric, value, n_pred, n_true).
// The metric definitions are in src/analysis/evaluate.h; what is compared
// with what, per time point, in src/analysis/evaluation_run.h.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "analysis/evaluation_run.h"
#include "analysis/metric_table.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"

namespace pg::cli {

namespace {

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<std::string> parse_baselines(const std::string& text) {
  if (text == "all") return analysis::all_baselines();
  if (text == "none") return {};
  const auto names = split_list(text);
  for (const auto& n : names) {
    const auto& known = analysis::all_baselines();
    if (std::find(known.begin(), known.end(), n) == known.end())
      throw Error("", "--baselines",
                  "unknown baseline '" + n +
                      "' (all, none, or a list of copy_source, "
                      "target_mean, nearest_time, linear_interp, ot_interp)");
  }
  return names;
}

std::vector<double> parse_values(const std::string& text) {
  std::vector<double> out;
  for (const auto& item : split_list(text)) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !std::isfinite(v))
      throw Error("", "--time-values", "'" + item + "' is not a number");
    out.push_back(v);
  }
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path.string(), "", "cannot create the file");
  out << text;
  out.close();
  if (!out) throw Error(path.string(), "", "write failed (disk full?)");
}

}  // namespace

void add_evaluate(CLI::App& app) {
  struct Options {
    std::string pred, truth, out, group_key, time_key, time_order, time_values, baselines = "all";
    uint64_t seed = 0;
    int64_t max_cells = 10000;
    int64_t n_pcs = 0;
    int64_t exact_ot_max_cells = 3000;
    double sinkhorn_eps = 0.01;
    bool reference_metrics = false;
    bool json = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate",
      "Score a prediction (.h5ad from `generate`) against the true data, next to simple baselines");
  cmd->add_option("--pred", opt->pred,
                  "Prediction .h5ad (X = predicted counts, obs time_point, uns perturbgen)")
      ->required();
  cmd->add_option("--true", opt->truth, "The true data (h5ad, loom, 10x) the prediction was made from")
      ->required();
  cmd->add_option("-o,--output", opt->out, "Output table: TSV, or JSON with --json or a .json name")
      ->required();
  cmd->add_option("--group-key", opt->group_key,
                  "obs column in both files: metrics also per group (e.g. cell type)");
  cmd->add_option("--time-key", opt->time_key,
                  "obs column of the true data with the time labels "
                  "(default: uns perturbgen/time_key of the prediction)");
  cmd->add_option("--time-order", opt->time_order,
                  "S0,S1,...: time points, source first (default: from the prediction)");
  cmd->add_option("--time-values", opt->time_values,
                  "v0,v1,...: numeric time of each time point, for nearest/interpolation baselines "
                  "(default: positions in the time order)");
  cmd->add_option("--seed", opt->seed, "Seed of every subsample and baseline draw");
  cmd->add_option("--max-cells", opt->max_cells, "Cells per population at most (deterministic subsample)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag(
      "--reference-metrics", opt->reference_metrics,
      "PerturbGen's own preprocessing: 5 PCs fitted on each population separately; adds mmd_rbf_genes");
  cmd->add_option("--baselines", opt->baselines,
                  "all, none, or a list of copy_source,target_mean,nearest_time,linear_interp,ot_interp");
  cmd->add_option("--n-pcs", opt->n_pcs,
                  "Principal components (default 50 joint, 5 with --reference-metrics)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--exact-ot-max-cells", opt->exact_ot_max_cells,
                  "Exact Wasserstein up to this many cells per side; Sinkhorn beyond")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--sinkhorn-eps", opt->sinkhorn_eps, "Sinkhorn epsilon relative to the mean ground cost")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opt->json, "Write JSON instead of TSV");
  cmd->callback([opt] {
    analysis::EvaluationOptions eo;
    eo.group_key = opt->group_key;
    eo.time_key = opt->time_key;
    eo.time_order = split_list(opt->time_order);
    eo.time_values = parse_values(opt->time_values);
    eo.baselines = parse_baselines(opt->baselines);
    eo.seed = opt->seed;
    eo.max_cells = opt->max_cells;
    eo.metrics.preprocess.reference_metrics = opt->reference_metrics;
    eo.metrics.preprocess.n_components = opt->n_pcs;
    eo.metrics.preprocess.seed = opt->seed;
    eo.metrics.transport.exact_max_cells = opt->exact_ot_max_cells;
    eo.metrics.transport.max_cells = opt->max_cells;
    eo.metrics.transport.seed = opt->seed;
    eo.metrics.transport.sinkhorn_relative_eps = opt->sinkhorn_eps;

    io::ReadOptions true_read;
    true_read.layers = std::vector<std::string>{};
    true_read.load_obsm = false;
    true_read.load_varm = false;
    true_read.load_uns = false;
    const io::CellMatrix pred = io::read_any(opt->pred);
    const io::CellMatrix truth = io::read_any(opt->truth, true_read);
    const auto report = analysis::evaluate_prediction(pred, opt->pred, truth, opt->truth, eo);

    const bool json = opt->json || ends_with(opt->out, ".json");
    const std::string text =
        json ? analysis::table_json(report.rows, report.notes) : analysis::table_tsv(report.rows);
    write_atomically(opt->out, [&](const std::filesystem::path& tmp) { write_text(tmp, text); },
                     {std::filesystem::path(opt->pred), std::filesystem::path(opt->truth)});
    for (const auto& n : report.notes) std::cout << n << "\n";
    std::cout << analysis::table_summary(report.rows);
    std::cout << "Wrote " << report.rows.size() << " rows to " << opt->out << ".\n";
  });
}

}  // namespace pg::cli
