// perturbgen atlas --model MODEL_DIR --store STORE_DIR --genes-file FILE
//   -o OUT_DIR [--shard I/N] [--nproc N]: every gene of a list perturbed on
// its own in the same cells (perturb/atlas.h); resumable, shardable across
// jobs and torch.distributed ranks; assembled and clustered into
// perturbation-induced programs once every gene is done.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/plugin/generation_options.h"
#include "cli/plugin/launch.h"
#include "cli/plugin/model_cli.h"
#include "core/error.h"
#include "model/runtime.h"
#include "perturb/atlas.h"
#include "train/distributed.h"

namespace pg::cli {
namespace {

struct AtlasArgs {
  std::string model, store, genes_file, output, device = "cpu", shard = "0/1", progress = "auto";
  std::string mode = "delete", validation = "inference";
  double shift = 0.25;
  int nproc = 1;
  pg::perturb::AtlasOptions options;
  GenerationArgs generation;
};

std::pair<int64_t, int64_t> parse_shard(const std::string& s) {
  const auto slash = s.find('/');
  try {
    if (slash != std::string::npos) {
      const int64_t i = std::stoll(s.substr(0, slash)), n = std::stoll(s.substr(slash + 1));
      if (n >= 1 && i >= 0 && i < n) return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw pg::Error("<options>", "--shard", "'" + s + "' is not I/N with 0 <= I < N");
}

void run_atlas(AtlasArgs& a) {
  if (a.nproc > 1 && launch_workers(a.nproc)) return;  // the parent only waits for its workers
  configure_worker_threads();
  const auto dist = pg::train::Distributed::from_environment();
  const torch::Device device(pg::model::check_device(a.device));
  const auto store = pg::store::TokenStore::open(a.store);
  auto loaded = pg::model::load_model(a.model, device);
  const auto genes = pg::perturb::read_gene_list(a.genes_file);
  auto& o = a.options;
  const auto [shard, n_shards] = parse_shard(a.shard);
  o.shard = shard * dist->world() + dist->rank();
  o.n_shards = n_shards * dist->world();
  o.perturb.edit.mode = pg::perturb::parse_edit_mode(a.mode);
  o.perturb.edit.shift = a.shift;
  o.perturb.validation = pg::perturb::parse_validation(a.validation);
  o.perturb.generation = generation_options(a.generation, store, loaded.contents.meta, a.model);
  o.summary.seed = o.perturb.generation.seed;
  o.progress = a.progress == "auto" ? dist->is_main() : a.progress != "none";
  const auto run = pg::perturb::run_atlas(*loaded.model, loaded.contents.meta, store, genes, o, a.output);
  std::cout << "atlas shard " << o.shard << "/" << o.n_shards << ": " << run.genes_in_shard << " genes ("
            << run.genes_done_before << " already done, " << run.genes_run << " run, "
            << run.genes_without_cells << " without an expressing cell); " << run.pairs
            << " perturbed cells in " << run.seconds << " s";
  if (run.seconds > 0 && run.pairs > 0)
    std::cout << " (" << static_cast<double>(run.pairs) / run.seconds << "/s)";
  std::cout << "\n";
  dist->barrier();
  if (!dist->is_main()) return;
  if (pg::perturb::assemble_atlas(store, genes, o, a.output))
    std::cout << "atlas complete: wrote " << a.output << "/effects.tsv, atlas.h5ad, programs.tsv\n";
  else
    std::cout << "atlas incomplete: other shards still have genes to run (rerun any shard to assemble)\n";
}

}  // namespace

void add_atlas(CLI::App& app) {
  auto a = std::make_shared<AtlasArgs>();
  CLI::App* cmd = app.add_subcommand(
      "atlas", "Perturb every gene of a list on its own; effect table and perturbation programs");
  cmd->add_option("--model", a->model, "Model directory (a count-stage model for counts)")->required();
  cmd->add_option("--store", a->store, "Token store with the paired cells")->required();
  cmd->add_option("--genes-file", a->genes_file, "One gene (symbol or Ensembl id) per line")->required();
  cmd->add_option("-o,--output", a->output, "Output folder (resumable: finished genes are kept)")->required();
  cmd->add_option("--mode", a->mode, "mask, pad, delete, overexpress, down or up")->capture_default_str();
  cmd->add_option("--shift", a->shift, "down/up: rank shift as a fraction of the sentence")
      ->capture_default_str();
  cmd->add_option("--validation", a->validation, "inference (teacher-forced) or generate")
      ->capture_default_str();
  cmd->add_option("--shard", a->shard, "This job's share of the gene list, I/N")->capture_default_str();
  cmd->add_option("--nproc", a->nproc, "Worker processes (torch.distributed ranks) on this machine")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--pair-batch", a->options.pair_batch, "Perturbed (gene, cell) pairs per forward pass")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--bootstrap", a->options.summary.bootstrap, "Bootstrap resamples of each shift's interval")
      ->capture_default_str();
  cmd->add_option("--resolution", a->options.resolution, "Leiden resolution of the perturbation programs")
      ->capture_default_str();
  cmd->add_option("--progress", a->progress, "auto, lines or none")->capture_default_str();
  add_generation_options(*cmd, a->generation);
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->callback(guarded([a] { run_atlas(*a); }));
}

}  // namespace pg::cli
