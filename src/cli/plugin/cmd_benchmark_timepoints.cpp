// perturbgen benchmark-timepoints INPUT --time-key COL --time-order S0,S1,...
//   --holdout S -o OUT_DIR: the held-out time point task of spec §8.3 in one
// command. Holding out an inner time point is interpolation, the last one
// extrapolation. The steps are the user's own commands, run in order with
// their outputs in OUT_DIR (so every step can be rerun or inspected):
//   tokenise INPUT            -> OUT_DIR/store
//   pretrain                  -> OUT_DIR/encoder        (skipped with --model)
//   train --stage mask/count  -> OUT_DIR/mask, model    on the other time points only
//   generate the held-out time point for every source cell, the observed
//     time points as context                          -> OUT_DIR/generated.h5ad
//   evaluate against INPUT, with every applicable baseline -> OUT_DIR/table.tsv
// Training validates on a random 10 % of the pairs at the trained time
// points, never on the held-out one, so the held-out cells choose nothing.
// The generated cells are count samples by default: the distribution
// metrics compare populations of cells, and a population of expected values
// (smooth, no zeros) is far from any population of observed cells.
#include <filesystem>
#include <iostream>
#include <sstream>

#include "cli/plugin/launch.h"
#include "cli/plugin/model_cli.h"
#include "cli/plugin/small_model.h"
#include "core/error.h"

namespace pg::cli {
namespace {

struct BenchmarkArgs {
  std::string input, time_key, time_order, holdout, vocab = "dataset", output, model, group_key, obs_keys;
  std::string counts = "sample", pairing = "random";
  bool allow_non_integer = false, overwrite = false;
  int64_t n_hvg = 2000, iterations = 20;
  SmallModelArgs model_args;
};

void run_benchmark(const BenchmarkArgs& a) {
  namespace fs = std::filesystem;
  const auto order = split_list(a.time_order);
  if (order.size() < 3)
    throw pg::Error("--time-order", "",
                    "needs a source and at least two later time points (one is held out)");
  const auto it = std::find(order.begin(), order.end(), a.holdout);
  if (it == order.end() || it == order.begin())
    throw pg::Error("--holdout", a.holdout, "must be one of the later time points of --time-order");
  const auto held = static_cast<int64_t>(it - order.begin());
  const bool extrapolation = held == static_cast<int64_t>(order.size()) - 1;
  if (fs::exists(a.output) && !a.overwrite)
    throw pg::Error(a.output, "output", "exists (pass --overwrite to replace its contents)");
  fs::create_directories(a.output);
  const fs::path out(a.output);
  std::vector<std::string> trained;
  for (int64_t t = 1; t < static_cast<int64_t>(order.size()); ++t)
    if (t != held) trained.push_back(std::to_string(t));
  std::cout << "== benchmark-timepoints: " << (extrapolation ? "extrapolation" : "interpolation")
            << ", hold out " << a.holdout << " (time " << held << "), train on the other " << trained.size()
            << " time points\n"
            << std::flush;

  auto tok =
      benchmark_tokenise_args(a.input, out, a.time_key, a.time_order, a.vocab, a.pairing, a.model_args.seed);
  tok.insert(tok.end(), {"--genes", "hvg", "--n-hvg", std::to_string(a.n_hvg)});
  std::string obs_keys = a.obs_keys;
  if (!a.group_key.empty() && ("," + obs_keys + ",").find("," + a.group_key + ",") == std::string::npos)
    obs_keys += (obs_keys.empty() ? "" : ",") + a.group_key;
  if (!obs_keys.empty()) tok.insert(tok.end(), {"--obs-keys", obs_keys});
  if (a.allow_non_integer) tok.push_back("--allow-non-integer");
  std::cout << "== tokenise\n" << std::flush;
  run_self(tok, "tokenise");

  const std::string seed = std::to_string(a.model_args.seed);
  std::string model = a.model;
  if (model.empty()) model = train_small_model(a.model_args, out, trained);
  std::cout << "== generate " << a.holdout << " from every source cell (context: the observed time points)\n"
            << std::flush;
  run_self(
      {"generate", "--model", model, "--store", (out / "store").string(), "-o",
       (out / "generated.h5ad").string(), "--time-points", a.holdout, "--context", "truth", "--iterations",
       std::to_string(a.iterations), "--counts", a.counts, "--seed", seed, "--overwrite"},
      "generate");
  std::cout << "== evaluate against " << a.input << " with the baselines\n" << std::flush;
  std::vector<std::string> ev{"evaluate",
                              "--pred",
                              (out / "generated.h5ad").string(),
                              "--true",
                              a.input,
                              "--time-key",
                              a.time_key,
                              "--seed",
                              seed,
                              "-o",
                              (out / "table.tsv").string()};
  if (!a.group_key.empty()) ev.insert(ev.end(), {"--group-key", a.group_key});
  run_self(ev, "evaluate");
  std::cout << "wrote " << (out / "table.tsv").string() << "\n";
}

}  // namespace

void add_benchmark_timepoints(CLI::App& app) {
  auto a = std::make_shared<BenchmarkArgs>();
  CLI::App* cmd =
      app.add_subcommand("benchmark-timepoints",
                         "Hold out one time point, train on the others, generate it, compare with baselines");
  cmd->add_option("INPUT", a->input, "The time course (h5ad, loom, 10x)")->required();
  cmd->add_option("--time-key", a->time_key, "obs column of the time points")->required();
  cmd->add_option("--time-order", a->time_order, "Time points in order, source first (S0,S1,...)")
      ->required();
  cmd->add_option("--holdout", a->holdout, "The time point to hold out (the last: extrapolation)")
      ->required();
  cmd->add_option("--vocab", a->vocab, "dataset or gc95M")->capture_default_str();
  cmd->add_option("--pairing", a->pairing, "random | ot (source -> target pairing of the training pairs)")
      ->capture_default_str();
  cmd->add_option("-o,--output", a->output, "Output folder (store, models, generated.h5ad, table.tsv)")
      ->required();
  cmd->add_option("--model", a->model, "A trained model to use instead of training one (same tokenisation)");
  cmd->add_option("--group-key", a->group_key, "obs column to evaluate per group (e.g. cell type)");
  cmd->add_option("--obs-keys", a->obs_keys, "More obs columns to carry into the store (comma-separated)");
  cmd->add_flag("--allow-non-integer", a->allow_non_integer, "Accept non-integer expression values");
  cmd->add_option("--n-hvg", a->n_hvg, "Highly variable genes tokenised")->capture_default_str();
  add_small_model_options(cmd, a->model_args);
  cmd->add_option("--iterations", a->iterations, "MaskGIT iterations")->capture_default_str();
  cmd->add_option("--counts", a->counts,
                  "Generated counts: sample (cells comparable with observed cells), mean or mu")
      ->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite, "Reuse an existing output folder");
  cmd->callback(guarded([a] { run_benchmark(*a); }));
}

}  // namespace pg::cli
