// perturbgen benchmark-perturbation --control WT.h5ad --perturbed DIR
//   --time-key COL --time-order S0,S1,... [--pairing lineage --lineage-key COL
//   | --pairing ot | --pairing random] [--group-key COL] -o OUT_DIR
//
// Does an early perturbation's predicted effect on later states match the
// observed one? Trains on the control time course only, edits the control's
// source cells the way each perturbation file says (pert_<kind>_<GENE>.h5ad:
// ko -> delete, and the gene is never generated later; kd -> down; oe -> up),
// generates every later time point from the edited and the unedited source
// with the same random draws, and scores predicted against observed effects
// next to the baselines (analysis/perturbation_benchmark.h). Steps:
//   tokenise WT.h5ad with the pairing       -> OUT_DIR/store
//   pretrain, train mask and count stages   -> OUT_DIR/encoder, mask, model
//   perturb + score                         -> OUT_DIR/table.tsv, summary.json, report.json
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <numeric>
#include <set>
#include <span>
#include <sstream>
#include <unordered_map>

#include "analysis/perturbation_benchmark.h"
#include "cli/plugin/generation_options.h"
#include "cli/plugin/launch.h"
#include "cli/plugin/model_cli.h"
#include "cli/plugin/small_model.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/random.h"
#include "model/runtime.h"
#include "perturb/perturber.h"

namespace pg::cli {
namespace {

namespace an = pg::analysis;

struct Args {
  std::string control, perturbed, time_key, time_order, pairing = "lineage", lineage_key, group_key, output,
                                                        model, vocab = "dataset";
  std::vector<std::string> tokenise_extra;
  double shift = 0.25;
  int64_t iterations = 10, max_cells = 250;
  std::string counts = "sample";
  bool overwrite = false;
  SmallModelArgs model_args;
};

// Normalised counts (each row to 1e4 over `columns` of `counts`), as an Eigen matrix.
an::Matrix normalised(const torch::Tensor& counts, const std::vector<int64_t>& columns) {
  const auto c = counts.to(torch::kCPU, torch::kFloat64).contiguous();
  const auto n = c.size(0), G = c.size(1);
  const double* p = c.data_ptr<double>();
  an::Matrix m(n, static_cast<Eigen::Index>(columns.size()));
  for (int64_t i = 0; i < n; ++i) {
    double total = 0;
    for (size_t g = 0; g < columns.size(); ++g) total += p[i * G + columns[g]];
    for (size_t g = 0; g < columns.size(); ++g)
      m(i, static_cast<Eigen::Index>(g)) = total > 0 ? p[i * G + columns[g]] * 1e4 / total : 0.0;
  }
  return m;
}

// The store's pairing as (source, target) indices into the benchmark's control cells.
an::StagePairs stage_pairs(const pg::store::TokenStore& store, const an::BenchmarkInput& in) {
  std::vector<std::unordered_map<std::string, int64_t>> index(in.time_points.size());
  for (size_t t = 0; t < in.time_points.size(); ++t)
    for (size_t i = 0; i < in.control[t].names.size(); ++i) index[t].emplace(in.control[t].names[i], i);
  const auto& table = store.pairing();
  an::StagePairs pairs(in.time_points.size());
  for (size_t c = 1; c < table.columns.size(); ++c) {
    const auto t = static_cast<size_t>(
        std::find(in.time_points.begin(), in.time_points.end(), table.columns[c]) - in.time_points.begin());
    if (t >= in.time_points.size()) continue;
    for (int64_t r = 0; r < table.n_rows; ++r) {
      const int64_t s = table.at(r, 0), x = table.at(r, c);
      if (s < 0 || x < 0) continue;
      const auto a = index[0].find(std::string(store.cell_id(s))),
                 b = index[t].find(std::string(store.cell_id(x)));
      if (a != index[0].end() && b != index[t].end()) pairs[t].emplace_back(a->second, b->second);
    }
  }
  return pairs;
}

// The model's predictions: every perturbation of the control's source cells.
an::MethodPrediction model_predictions(const Args& a, const std::string& model_dir,
                                       const an::BenchmarkInput& in, nlohmann::json& notes) {
  const auto store = pg::store::TokenStore::open((std::filesystem::path(a.output) / "store").string());
  auto loaded = pg::model::load_model(model_dir, torch::Device(torch::kCPU));
  GenerationArgs ga;
  ga.counts = a.counts;
  ga.options.maskgit.iterations = a.iterations;
  ga.options.seed = static_cast<uint64_t>(a.model_args.seed);
  pg::perturb::PerturbOptions o;
  o.generation = generation_options(ga, store, loaded.contents.meta, model_dir);
  // Generation dominates the run time: the model perturbs a seeded random
  // subset of the source cells (the population effect needs a few hundred).
  if (store.pairing().n_rows > a.max_cells) {
    std::vector<int64_t> rows(static_cast<size_t>(store.pairing().n_rows));
    std::iota(rows.begin(), rows.end(), 0);
    pg::Rng rng(static_cast<uint64_t>(a.model_args.seed));
    rng.shuffle(std::span<int64_t>(rows));
    rows.resize(static_cast<size_t>(a.max_cells));
    std::sort(rows.begin(), rows.end());
    o.generation.rows = rows;
  }
  o.keep_all_rows = true;
  o.reuse_control = true;
  pg::perturb::Perturber perturber(*loaded.model, loaded.contents.meta, store, o);
  // Scoring gene -> count-head column.
  std::unordered_map<std::string, int64_t> column_of;
  for (size_t g = 0; g < store.genes().size(); ++g) {
    column_of.emplace(store.genes()[g].gene_id, static_cast<int64_t>(g));
    column_of.emplace(store.genes()[g].gene_name, static_cast<int64_t>(g));
  }
  std::vector<int64_t> columns;
  for (const auto& g : in.genes) columns.push_back(column_of.at(g));
  std::map<std::string, int64_t> time_of;  // label -> model time
  for (size_t c = 1; c < store.pairing().columns.size(); ++c)
    time_of[store.pairing().columns[c]] = static_cast<int64_t>(c);
  an::MethodPrediction pred(in.perturbations.size());
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t p = 0; p < in.perturbations.size(); ++p) {
    const auto& spec = in.perturbations[p];
    pg::perturb::Edit edit;
    edit.shift = a.shift;
    edit.mode = spec.kind == "ko"   ? pg::perturb::EditMode::del
                : spec.kind == "kd" ? pg::perturb::EditMode::down
                                    : pg::perturb::EditMode::up;
    perturber.set_edit(edit, spec.kind == "ko");
    const auto result = perturber.run(pg::perturb::resolve_genes(store, {spec.gene}));
    for (size_t t = 1; t < in.time_points.size(); ++t) {
      const auto it = time_of.find(in.time_points[t]);
      if (it == time_of.end() || !result.times.count(it->second))
        throw pg::Error(a.output, "store", "the model generates no cells at '" + in.time_points[t] + "'");
      const auto& pt = result.times.at(it->second);
      pred[p].push_back({normalised(pt.control_counts, columns), normalised(pt.perturbed_counts, columns)});
    }
    std::cout << "   " << spec.name << ": " << result.rows.size() << " cells, "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() << " s\n"
              << std::flush;
  }
  notes["perturbgen"] = {{"iterations", a.iterations},
                         {"counts", a.counts},
                         {"shift", a.shift},
                         {"source_cells", pred.empty() || pred[0].empty() ? 0 : pred[0][0].control.rows()}};
  return pred;
}

void write_text(const std::filesystem::path& file, const std::string& text) {
  pg::write_atomically(file, [&](const std::filesystem::path& tmp) { std::ofstream(tmp) << text; });
}

void run_benchmark(Args& a) {
  namespace fs = std::filesystem;
  const auto order = split_list(a.time_order);
  if (order.size() < 2)
    throw pg::Error("", "--time-order", "needs a source and at least one later time point");
  if (a.pairing == "lineage" && a.lineage_key.empty())
    throw pg::Error("", "--lineage-key", "is required with --pairing lineage (the obs column of clone ids)");
  if (fs::exists(a.output) && !a.overwrite)
    throw pg::Error(a.output, "output", "exists (pass --overwrite to replace its contents)");
  // Read (and check) every input before the long training.
  an::BenchmarkLoadOptions lo;
  lo.time_key = a.time_key;
  lo.time_order = order;
  lo.group_key = a.group_key;
  std::cout << "== read " << a.control << " and " << a.perturbed << "\n" << std::flush;
  an::BenchmarkInput in = an::load_benchmark_input(a.control, a.perturbed, lo);
  fs::create_directories(a.output);
  const fs::path out(a.output);

  auto tok = benchmark_tokenise_args(a.control, out, a.time_key, a.time_order, a.vocab, a.pairing,
                                     a.model_args.seed);
  if (!a.lineage_key.empty()) tok.insert(tok.end(), {"--lineage-key", a.lineage_key});
  if (!a.group_key.empty()) tok.insert(tok.end(), {"--obs-keys", a.group_key});
  tok.insert(tok.end(), a.tokenise_extra.begin(), a.tokenise_extra.end());
  std::cout << "== tokenise the control (pairing " << a.pairing << ")\n" << std::flush;
  run_self(tok, "tokenise");
  const std::string model = a.model.empty() ? train_small_model(a.model_args, out, {}) : a.model;

  // Score the genes the model predicts (the store's genes) in the control's order.
  {
    const auto store = pg::store::TokenStore::open((out / "store").string());
    std::set<std::string> in_store;
    for (const auto& g : store.genes()) in_store.insert(g.gene_id), in_store.insert(g.gene_name);
    std::vector<std::string> genes;
    for (const auto& g : in.genes)
      if (in_store.count(g)) genes.push_back(g);
    if (genes.size() != in.genes.size()) {
      lo.genes = genes;
      in = an::load_benchmark_input(a.control, a.perturbed, lo);
    }
    nlohmann::json notes = {{"scored_genes", in.genes.size()}};
    an::BaselineOptions bo;
    bo.shift = a.shift;
    bo.seed = static_cast<uint64_t>(a.model_args.seed);
    std::cout << "== baselines\n" << std::flush;
    auto methods = an::baseline_predictions(in, stage_pairs(store, in), bo, notes);
    std::cout << "== perturb with the model (" << in.perturbations.size() << " perturbations)\n"
              << std::flush;
    methods["perturbgen"] = model_predictions(a, model, in, notes);
    std::cout << "== score\n" << std::flush;
    const auto res = an::score_benchmark(in, methods, bo.seed);
    write_text(out / "table.tsv", an::benchmark_tsv(res.rows));
    write_text(out / "summary.json", res.summary.dump(2) + "\n");
    nlohmann::json report = {{"summary", res.summary}, {"truth", res.truth}, {"notes", notes}};
    const auto mask_summary = fs::path(model).parent_path() / "mask.run" / "summary.json";
    if (fs::exists(mask_summary)) {
      std::ifstream f(mask_summary);
      const auto j = nlohmann::json::parse(f, nullptr, false);
      if (j.is_object() && j.contains("source_dependence"))
        report["source_dependence"] = j["source_dependence"];
    }
    write_text(out / "report.json", report.dump(2) + "\n");
    std::cout << std::left << std::setw(12) << "method" << std::setw(18) << "mean_pearson_lfc"
              << "negative_control_auroc\n";
    for (const auto& [m, s] : res.summary.items()) {
      const auto show = [](const nlohmann::json& v) {
        std::ostringstream o;
        o << std::fixed << std::setprecision(3);
        if (v.is_number())
          o << v.get<double>();
        else
          o << "nan";
        return o.str();
      };
      std::cout << std::setw(12) << m << std::setw(18) << show(s["mean_pearson_lfc"])
                << show(s["negative_control_auroc"]) << "\n";
    }
  }
  std::cout << "wrote " << (out / "table.tsv").string() << ", summary.json, report.json\n";
}

}  // namespace

void add_benchmark_perturbation(CLI::App& app) {
  auto a = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("benchmark-perturbation",
                                     "Train on a control time course, predict each perturbation's later "
                                     "effects, score against the observed");
  cmd->add_option("--control", a->control, "The unperturbed time course (h5ad)")->required();
  cmd->add_option("--perturbed", a->perturbed, "Folder of pert_<ko|kd|oe>_<GENE>.h5ad files")->required();
  cmd->add_option("--time-key", a->time_key, "obs column of the time points")->required();
  cmd->add_option("--time-order", a->time_order, "Time points in order, source first (S0,S1,...)")
      ->required();
  cmd->add_option("--pairing", a->pairing, "lineage | ot | random")->capture_default_str();
  cmd->add_option("--lineage-key", a->lineage_key, "obs column of clone / lineage ids (--pairing lineage)");
  cmd->add_option("--group-key", a->group_key,
                  "obs column of cell fates (e.g. branch): fate shifts, per-group scores");
  cmd->add_option("-o,--output", a->output, "Output folder (store, models, table.tsv, summary.json)")
      ->required();
  cmd->add_option("--model", a->model, "A model trained on this folder's store instead of training one");
  cmd->add_option("--vocab", a->vocab, "dataset or gc95M")->capture_default_str();
  cmd->add_option("--tokenise-option", a->tokenise_extra,
                  "Extra tokenise argument (repeatable), e.g. --ot-epsilon=0.1")
      ->allow_extra_args(false);
  cmd->add_option("--shift", a->shift, "kd / oe: rank shift, as a fraction of the sentence's genes")
      ->capture_default_str();
  cmd->add_option("--iterations", a->iterations, "MaskGIT iterations")->capture_default_str();
  cmd->add_option("--max-cells", a->max_cells, "Source cells the model perturbs (a seeded random subset)")
      ->capture_default_str();
  cmd->add_option("--counts", a->counts, "Generated counts: sample, mean or mu")->capture_default_str();
  add_small_model_options(cmd, a->model_args);
  cmd->add_flag("--overwrite", a->overwrite, "Reuse an existing output folder");
  cmd->callback(guarded([a] { run_benchmark(*a); }));
}

}  // namespace pg::cli
