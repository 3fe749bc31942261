// perturbgen embed --model MODEL_DIR --store STORE_DIR -o OUT.h5ad: cell
// embeddings of every paired target cell and contextual gene embeddings per
// condition value (embed/embeddings.h), the input of `perturbgen programs`.
#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/plugin/generation_options.h"
#include "cli/plugin/model_cli.h"
#include "core/error.h"
#include "embed/embeddings.h"
#include "io/formats.h"
#include "model/runtime.h"

namespace pg::cli {
namespace {

struct EmbedArgs {
  std::string model, store, output, condition, device = "cpu";
  bool overwrite = false;
  GenerationArgs data;
};

void run_embed(EmbedArgs& a) {
  check_h5ad_output(a.output, a.overwrite);
  const torch::Device device(pg::model::check_device(a.device));
  const auto store = pg::store::TokenStore::open(a.store);
  auto loaded = pg::model::load_model(a.model, device);
  pg::embed::EmbedOptions o;
  o.data = generation_options(a.data, store, loaded.contents.meta, a.model);
  o.condition = a.condition;
  const auto t0 = std::chrono::steady_clock::now();
  const auto e = pg::embed::embed(*loaded.model, loaded.contents.meta, store, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  nlohmann::json settings = {{"model", a.model},
                             {"store", a.store},
                             {"condition", a.condition.empty() ? "time_point" : a.condition},
                             {"split", a.data.split},
                             {"seconds", seconds}};
  const auto cells = pg::embed::embedding_cells(e, store, loaded.model->config(), settings);
  pg::io::write_h5ad(cells, a.output);
  std::cout << "embedded " << e.rows.size() << " pairing rows x " << e.cell_embedding.size()
            << " time points (" << cells.n_cells() << " cells) in " << seconds << " s; gene embeddings for "
            << e.conditions.size() << " values of " << (a.condition.empty() ? "time_point" : a.condition)
            << "\nwrote " << a.output << "\n";
}

}  // namespace

void add_embed(CLI::App& app) {
  auto a = std::make_shared<EmbedArgs>();
  CLI::App* cmd = app.add_subcommand(
      "embed", "Cell embeddings and contextual gene embeddings per condition value (input of `programs`)");
  cmd->add_option("--model", a->model, "Model directory")->required();
  cmd->add_option("--store", a->store, "Token store with the paired cells")->required();
  cmd->add_option("-o,--output", a->output, "Output .h5ad")->required();
  cmd->add_option("--condition", a->condition,
                  "Categorical obs column to average gene embeddings over (default: the time point)");
  cmd->add_option("--time-points", a->data.time_points, "Time points, by label or 1..T (default: all)");
  cmd->add_option("--split", a->data.split,
                  "Cells: all, or the train / validation / test pairs of the training run")
      ->capture_default_str()
      ->check(CLI::IsMember({"all", "train", "validation", "test"}));
  cmd->add_option("--batch-size", a->data.options.batch_size, "Cells per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--bf16", a->data.options.bf16, "bf16 autocast of the model");
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite, "Replace an existing output file");
  cmd->callback(guarded([a] { run_embed(*a); }));
}

}  // namespace pg::cli
