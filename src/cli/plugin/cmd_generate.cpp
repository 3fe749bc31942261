// perturbgen generate --model MODEL_DIR --store STORE_DIR -o OUT.h5ad: later
// time points of the store's paired source cells, by MaskGIT decoding
// (generate/maskgit.h), written as one AnnData file (generate/output.h).
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cli/plugin/model_cli.h"
#include "core/error.h"
#include "generate/generator.h"
#include "generate/output.h"
#include "io/formats.h"
#include "model/model_dir.h"
#include "model/runtime.h"

namespace pg::cli {
namespace {

struct GenerateArgs {
  std::string model, store, output, device = "cpu";
  std::vector<std::string> time_points;
  std::string demasking = "maskgit", scoring = "topk-margin", schedule = "pow";
  std::string length = "sampled", context = "generated", library = "median", counts = "mean", split = "all";
  bool overwrite = false;
  pg::generate::GenerateOptions options;
};

// Time points by label (a pairing column of the store) or by number 1..T.
std::vector<int64_t> parse_times(const std::vector<std::string>& given,
                                 const std::vector<std::string>& labels, const std::string& store) {
  std::vector<int64_t> out;
  for (const auto& s : given) {
    auto it = std::find(labels.begin(), labels.end(), s);
    if (it != labels.end() && it != labels.begin()) {
      out.push_back(it - labels.begin());
      continue;
    }
    char* end = nullptr;
    const long t = std::strtol(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0' && t >= 1 && t < static_cast<long>(labels.size())) {
      out.push_back(t);
      continue;
    }
    std::string names;
    for (size_t k = 1; k < labels.size(); ++k) names += (k > 1 ? ", " : "") + labels[k];
    throw pg::Error(store, "time point '" + s + "'", "is not a target time of the store (" + names + ")");
  }
  return out;
}

// The pairing rows of one split of the model's training run (RUN_DIR/split.json).
std::vector<int64_t> split_rows(const pg::model::ModelMeta& meta, const std::string& model,
                                const std::string& split) {
  const std::string run_dir = meta.provenance.value("run_dir", "");
  if (run_dir.empty())
    throw pg::Error(model, "provenance.run_dir", "missing: --split needs the model's training run directory");
  const auto file = std::filesystem::path(run_dir) / "split.json";
  std::ifstream in(file);
  if (!in) throw pg::Error(file.string(), "", "cannot be read (--split needs the training run's split)");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains(split) || !j[split].is_array())
    throw pg::Error(file.string(), split, "missing or not a list of pairing rows");
  const auto rows = j[split].get<std::vector<int64_t>>();
  if (rows.empty()) throw pg::Error(file.string(), split, "is empty: the training run had no such examples");
  return rows;
}

void run_generate(GenerateArgs& a) {
  namespace fs = std::filesystem;
  if (fs::exists(a.output) && !a.overwrite)
    throw pg::Error(a.output, "output", "exists (pass --overwrite to replace it)");
  if (fs::path(a.output).extension() != ".h5ad") throw pg::Error(a.output, "output", "must end in .h5ad");
  const torch::Device device(pg::model::check_device(a.device));
  auto& o = a.options;
  o.maskgit.demasking = pg::generate::parse_demasking(a.demasking);
  o.maskgit.scoring = pg::generate::parse_scoring(a.scoring);
  o.maskgit.schedule = pg::train::parse_mask_schedule(a.schedule, "--schedule");
  o.length = pg::generate::parse_length_mode(a.length);
  o.context = pg::generate::parse_context_mode(a.context);
  o.library = pg::generate::parse_library_mode(a.library);
  o.counts = pg::generate::parse_count_output(a.counts);

  const auto store = pg::store::TokenStore::open(a.store);
  if (!store.has_pairing())
    throw pg::Error(a.store, "pairing table", "missing: generation starts from paired source cells");
  o.times = parse_times(a.time_points, store.pairing().columns, a.store);
  auto loaded = pg::model::load_model(a.model, device);
  if (a.split != "all") o.rows = split_rows(loaded.contents.meta, a.model, a.split);
  if (!loaded.model->count_head)
    std::cerr << "perturbgen: note: " << a.model << " has no count head (mask stage): X holds no counts\n";
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = pg::generate::generate(*loaded.model, loaded.contents.meta, store, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  nlohmann::json settings = {{"model", a.model},
                             {"store", a.store},
                             {"seed", o.seed},
                             {"iterations", o.maskgit.iterations},
                             {"temperature", o.maskgit.temperature},
                             {"topk_filter_thres", o.maskgit.topk_filter_thres},
                             {"scoring", a.scoring},
                             {"schedule", a.schedule},
                             {"demasking", a.demasking},
                             {"length", a.length},
                             {"fixed_length", o.fixed_length},
                             {"context", a.context},
                             {"library", a.library},
                             {"counts", a.counts},
                             {"bf16", o.bf16},
                             {"split", a.split},
                             {"decoder_calls", out.decoder_calls},
                             {"seconds", seconds}};
  const auto cells = pg::generate::generated_cells(out, store, loaded.model->config(), settings);
  pg::io::write_h5ad(cells, a.output);
  const auto n = static_cast<double>(cells.n_cells());
  std::cout << "generated " << out.rows.size() << " source cells x " << out.times.size() << " time points ("
            << cells.n_cells() << " cells) in " << seconds << " s (" << n / seconds << " cells/s, "
            << out.decoder_calls << " decoder calls)";
  if (out.skipped_rows > 0)
    std::cout << "; " << out.skipped_rows << " pairing rows skipped (cells this mode needs are missing)";
  std::cout << "\nwrote " << a.output << "\n";
}

}  // namespace

void add_generate(CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  auto& o = a->options;
  CLI::App* cmd =
      app.add_subcommand("generate", "Generate later time points of the store's source cells (MaskGIT)");
  cmd->add_option("--model", a->model, "Model directory (perturbgen train output)")->required();
  cmd->add_option("--store", a->store, "Token store with the paired source cells")->required();
  cmd->add_option("-o,--output", a->output, "Output .h5ad")->required();
  cmd->add_option("--time-points", a->time_points,
                  "Time points to generate, by label or 1..T (default: all)");
  cmd->add_option("--iterations", o.maskgit.iterations, "MaskGIT iterations")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o.seed, "Seed of every random draw")->capture_default_str();
  cmd->add_option("--temperature", o.maskgit.temperature, "Initial sampling temperature (decays to 0)")
      ->capture_default_str();
  cmd->add_option("--topk-filter-thres", o.maskgit.topk_filter_thres,
                  "Keep the top (1 - thres) share of logits")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9999));
  cmd->add_option("--scoring", a->scoring, "topk-margin or topk")->capture_default_str();
  cmd->add_option("--schedule", a->schedule, "Mask schedule: pow, cosine, exp, log or uniform")
      ->capture_default_str();
  cmd->add_option("--demasking", a->demasking,
                  "maskgit (k = L*gamma) or reference (its multiplicative count)")
      ->capture_default_str();
  cmd->add_option("--length", a->length, "Generated genes per cell: sampled, truth or fixed")
      ->capture_default_str();
  cmd->add_option("--fixed-length", o.fixed_length, "Genes per cell with --length fixed");
  cmd->add_option("--max-length", o.max_length, "Cap on generated genes (0: the model's position table)");
  cmd->add_option("--context", a->context, "Other time points: generated (in time order) or truth")
      ->capture_default_str();
  cmd->add_option("--library", a->library,
                  "Library size of the counts: median (of training cells) or observed")
      ->capture_default_str();
  cmd->add_option("--counts", a->counts, "X: mean, mu (the reference's rho*l) or sample")
      ->capture_default_str();
  cmd->add_option("--split", a->split,
                  "Source cells: all, or the train / validation / test pairs of the model's training run")
      ->capture_default_str()
      ->check(CLI::IsMember({"all", "train", "validation", "test"}));
  cmd->add_option("--batch-size", o.batch_size, "Cells per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--bf16", o.bf16,
                "bf16 autocast of the model (about 2-3x faster matrix products on CPUs with avx512_bf16)");
  cmd->add_flag("--overwrite", a->overwrite, "Replace an existing output file");
  cmd->callback(guarded([a] { run_generate(*a); }));
}

}  // namespace pg::cli
