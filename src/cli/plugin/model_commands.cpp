// The commands that need libtorch, built as a plugin (libperturbgen_model.so)
// that the CLI loads only when one of them is asked for: loading libtorch
// costs about 0.4 s and 120 MB, which every I/O and tokenise run would
// otherwise pay. The interface is two C functions (see cli/model_plugin.h).
#include <CLI/CLI.hpp>
#include <iostream>
#include <string>

#include "cli/plugin/model_cli.h"
#include "model/runtime.h"

namespace {

std::string runtime_text() {
  const auto rt = pg::model::runtime_info();
  return "libtorch " + rt.torch_version + ", CUDA " +
         (rt.cuda_available ? std::to_string(rt.cuda_devices) + " device(s)" : std::string("not available")) +
         ", " + std::to_string(rt.intra_op_threads) + " intra-op threads";
}

}  // namespace

extern "C" __attribute__((visibility("default"))) const char* perturbgen_model_runtime() {
  static const std::string text = runtime_text();
  return text.c_str();
}

extern "C" __attribute__((visibility("default"))) void perturbgen_model_register(CLI::App* app) {
  CLI::App* cmd = app->add_subcommand("device", "Show the libtorch runtime: version, CUDA devices, threads");
  cmd->callback(pg::cli::guarded([] { std::cout << runtime_text() << "\n"; }));
  pg::cli::add_import_ckpt(*app);
  pg::cli::add_model_info(*app);
  pg::cli::add_train(*app);
  pg::cli::add_generate(*app);
  pg::cli::add_perturb(*app);
  pg::cli::add_atlas(*app);
  pg::cli::add_embed(*app);
  pg::cli::add_benchmark_timepoints(*app);
  pg::cli::add_benchmark_perturbation(*app);
}
