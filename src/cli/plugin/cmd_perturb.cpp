// perturbgen perturb --model MODEL_DIR --store STORE_DIR --genes G1[,G2,...]
//   --mode mask|pad|delete|overexpress|down|up -o OUT_DIR: one in-silico
// perturbation (the genes jointly; --each: every gene on its own) of the
// store's paired cells (perturb/perturber.h), one AnnData file per
// perturbation and one summary TSV (perturb/perturb_output.h).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>

#include "cli/plugin/generation_options.h"
#include "cli/plugin/model_cli.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"
#include "model/runtime.h"
#include "perturb/perturb_output.h"
#include "perturb/perturber.h"

namespace pg::cli {
namespace {

struct PerturbArgs {
  std::string model, store, output, device = "cpu";
  std::vector<std::string> genes, edit_times;
  std::string genes_file, mode = "mask", on = "source", validation = "generate";
  double shift = 0.25;
  bool each = false, reference_edits = false, overwrite = false;
  int64_t bootstrap = 1000, top = 10;
  GenerationArgs generation;
};

void run_perturb(PerturbArgs& a) {
  namespace fs = std::filesystem;
  const torch::Device device(pg::model::check_device(a.device));
  const auto store = pg::store::TokenStore::open(a.store);
  auto loaded = pg::model::load_model(a.model, device);
  auto names = a.genes;
  if (!a.genes_file.empty())
    for (auto& g : pg::perturb::read_gene_list(a.genes_file)) names.push_back(g);
  if (names.empty()) throw pg::Error("<options>", "--genes", "no gene given (--genes or --genes-file)");

  pg::perturb::PerturbOptions o;
  o.edit.mode = pg::perturb::parse_edit_mode(a.mode);
  o.edit.shift = a.shift;
  o.edit.rules = a.reference_edits ? pg::perturb::EditRules::reference : pg::perturb::EditRules::corrected;
  o.on = pg::perturb::parse_sequence(a.on);
  o.validation = pg::perturb::parse_validation(a.validation);
  o.generation = generation_options(a.generation, store, loaded.contents.meta, a.model);
  o.edit_times = parse_times(a.edit_times, store.pairing().columns, a.store);
  if ((o.edit.mode == pg::perturb::EditMode::down || o.edit.mode == pg::perturb::EditMode::up) &&
      !(a.shift > 0 && a.shift <= 1))
    throw pg::Error("<options>", "--shift", "must be in (0, 1]");

  std::vector<std::vector<std::string>> perturbations;
  if (a.each)
    for (const auto& g : names) perturbations.push_back({g});
  else
    perturbations.push_back(names);
  std::vector<pg::perturb::PerturbedGenes> resolved;
  for (const auto& p : perturbations) resolved.push_back(pg::perturb::resolve_genes(store, p));

  fs::create_directories(a.output);
  const fs::path summary_file = fs::path(a.output) / "summary.tsv";
  for (const auto& p : perturbations) {
    const auto file =
        fs::path(a.output) / pg::perturb::perturbation_file_name(o.validation, p, o.on, o.edit.mode);
    if (fs::exists(file) && !a.overwrite)
      throw pg::Error(file.string(), "output", "exists (pass --overwrite to replace it)");
  }

  pg::perturb::Perturber perturber(*loaded.model, loaded.contents.meta, store, o);
  const auto& labels = store.pairing().columns;
  std::vector<std::string> lines{pg::perturb::summary_header()};
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t k = 0; k < perturbations.size(); ++k) {
    const auto& genes = resolved[k];
    const auto result = perturber.run(genes);
    pg::perturb::SummaryOptions so;
    so.bootstrap = a.bootstrap;
    so.top = a.top;
    so.seed = o.generation.seed;
    std::map<int64_t, pg::perturb::TimeSummary> summaries;
    for (const auto& [t, pt] : result.times) summaries[t] = pg::perturb::summarise(pt, so);
    nlohmann::json settings = generation_settings(a.generation, o.generation);
    std::vector<std::string> ids;
    for (int64_t g : genes.genes) ids.push_back(store.genes()[static_cast<size_t>(g)].gene_id);
    nlohmann::json perturbation = {{"genes", genes.names},
                                   {"gene_ids", ids},
                                   {"mode", a.mode},
                                   {"on", o.on == pg::perturb::Sequence::source ? "source" : "target"},
                                   {"validation", a.validation},
                                   {"shift", a.shift},
                                   {"edit_rules", a.reference_edits ? "reference" : "corrected"},
                                   {"n_candidates", result.candidates},
                                   {"n_skipped", result.skipped},
                                   {"model", a.model},
                                   {"store", a.store},
                                   {"settings", settings}};
    const auto file = fs::path(a.output) /
                      pg::perturb::perturbation_file_name(o.validation, perturbations[k], o.on, o.edit.mode);
    const std::string stem = file.stem().string();
    const std::string plural = genes.names.size() > 1 ? "s" : "";
    std::string why = std::to_string(result.skipped) + " lack the gene" + plural;
    if (result.beyond_positions > 0)
      why += "; " + std::to_string(result.beyond_positions) + " of them hold it beyond the encoder's " +
             std::to_string(loaded.model->config().encoder.max_seq_length) +
             " positions, where the model cannot see it";
    perturbation["n_beyond_encoder_positions"] = result.beyond_positions;
    if (result.rows.empty()) {
      std::cout << stem << ": no cell's sentence holds the gene" << plural << " (" << why
                << "); nothing written\n";
      continue;
    }
    const auto cells =
        pg::perturb::perturbation_cells(result, summaries, store, loaded.model->config(), perturbation);
    pg::io::write_h5ad(cells, file.string());
    std::cout << stem << ": " << result.rows.size() << " of " << result.candidates << " cells perturbed ("
              << why << ")\n";
    for (const auto& [t, s] : summaries) {
      pg::perturb::SummaryRow row{
          stem, genes.names, perturbation, labels[static_cast<size_t>(t)], result.candidates, result.skipped,
          s};
      lines.push_back(pg::perturb::summary_line(row, store));
      std::cout << "  " << std::left << std::setw(12) << labels[static_cast<size_t>(t)] << " shift "
                << std::setprecision(4) << s.mean_shift << " [" << s.ci_low << ", " << s.ci_high << "]  DE "
                << (s.n_de < 0 ? std::string("NA (needs counts and 2 cells)")
                               : std::to_string(s.n_de) + " (" + std::to_string(s.n_up) + " up, " +
                                     std::to_string(s.n_down) + " down)")
                << "\n";
    }
  }
  pg::write_atomically(summary_file, [&](const fs::path& tmp) {
    std::ofstream out(tmp);
    for (const auto& l : lines) out << l << "\n";
    if (!out) throw pg::Error(summary_file.string(), "", "cannot be written");
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "perturbed " << perturbations.size() << " perturbation"
            << (perturbations.size() > 1 ? "s" : "") << " in " << seconds << " s; wrote "
            << summary_file.string() << "\n";
}

}  // namespace

void add_perturb(CLI::App& app) {
  auto a = std::make_shared<PerturbArgs>();
  CLI::App* cmd = app.add_subcommand(
      "perturb",
      "In-silico perturbation: edit genes in the source (or target) cells, compare later time points");
  cmd->add_option("--model", a->model, "Model directory (a count-stage model for counts)")->required();
  cmd->add_option("--store", a->store, "Token store with the paired cells")->required();
  cmd->add_option("--genes", a->genes, "Genes (symbols or Ensembl ids), perturbed jointly")->delimiter(',');
  cmd->add_option("--genes-file", a->genes_file, "A file with one gene per line (added to --genes)");
  cmd->add_flag("--each", a->each, "Perturb every gene on its own (one output per gene)");
  cmd->add_option("--mode", a->mode, "mask, pad, delete, overexpress, down or up")->capture_default_str();
  cmd->add_option("--shift", a->shift, "down/up: rank shift as a fraction of the sentence's genes")
      ->capture_default_str();
  cmd->add_option("--on", a->on, "Edit the source (propagated to every later time) or the target cells")
      ->capture_default_str();
  cmd->add_option("--edit-times", a->edit_times, "--on target: the time points edited (default: all)");
  cmd->add_option(
         "--validation", a->validation,
         "generate (generated futures, same random draws) or inference (teacher-forced, the reference's)")
      ->capture_default_str();
  cmd->add_flag("--reference-edits", a->reference_edits,
                "The reference's edit rules (overexpress drops the last columns, <eos> included)");
  cmd->add_option("-o,--output", a->output, "Output folder (one .h5ad per perturbation, summary.tsv)")
      ->required();
  add_generation_options(*cmd, a->generation);
  cmd->add_option("--bootstrap", a->bootstrap, "Bootstrap resamples of the shift's interval")
      ->capture_default_str();
  cmd->add_option("--top", a->top, "Genes listed per direction in the summary")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite, "Replace existing perturbation files");
  cmd->callback(guarded([a] { run_perturb(*a); }));
}

}  // namespace pg::cli
