// perturbgen generate --model MODEL_DIR --store STORE_DIR -o OUT.h5ad: later
// time points of the store's paired source cells, by MaskGIT decoding
// (generate/maskgit.h), written as one AnnData file (generate/output.h).
#include <chrono>
#include <filesystem>
#include <iostream>

#include "cli/plugin/generation_options.h"
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
  bool overwrite = false;
  GenerationArgs generation;
};

void run_generate(GenerateArgs& a) {
  check_h5ad_output(a.output, a.overwrite);
  const torch::Device device(pg::model::check_device(a.device));
  const auto store = pg::store::TokenStore::open(a.store);
  auto loaded = pg::model::load_model(a.model, device);
  const auto o = generation_options(a.generation, store, loaded.contents.meta, a.model);
  if (!loaded.model->count_head)
    std::cerr << "perturbgen: note: " << a.model << " has no count head (mask stage): X holds no counts\n";
  const auto t0 = std::chrono::steady_clock::now();
  const auto out = pg::generate::generate(*loaded.model, loaded.contents.meta, store, o);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  auto settings = generation_settings(a.generation, o);
  settings["model"] = a.model;
  settings["store"] = a.store;
  settings["decoder_calls"] = out.decoder_calls;
  settings["seconds"] = seconds;
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
  CLI::App* cmd =
      app.add_subcommand("generate", "Generate later time points of the store's source cells (MaskGIT)");
  cmd->add_option("--model", a->model, "Model directory (perturbgen train output)")->required();
  cmd->add_option("--store", a->store, "Token store with the paired source cells")->required();
  cmd->add_option("-o,--output", a->output, "Output .h5ad")->required();
  add_generation_options(*cmd, a->generation);
  cmd->add_option("--device", a->device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_flag("--overwrite", a->overwrite, "Replace an existing output file");
  cmd->callback(guarded([a] { run_generate(*a); }));
}

}  // namespace pg::cli
