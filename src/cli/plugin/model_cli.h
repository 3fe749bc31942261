// The libtorch plugin's commands, one file each, and the guard that turns
// libtorch's multi-line c10::Error into the project's one-line pg::Error.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace pg::cli {

// Wraps a command callback: a c10::Error (whose text carries a C++ backtrace)
// becomes a pg::Error holding only its first line.
std::function<void()> guarded(std::function<void()> body);

void add_import_ckpt(CLI::App& app);  // perturbgen import-ckpt IN.ckpt OUT_DIR
void add_model_info(CLI::App& app);   // perturbgen model-info MODEL_DIR [--json] [--device D --check-forward]
void add_train(CLI::App& app);
void add_generate(CLI::App& app);
void add_perturb(CLI::App& app);
void add_atlas(CLI::App& app);
void add_embed(CLI::App& app);                 // perturbgen embed --model M --store S -o OUT.h5ad
void add_benchmark_timepoints(CLI::App& app);  // perturbgen benchmark-timepoints INPUT ... --holdout S -o DIR
// perturbgen benchmark-perturbation --control WT.h5ad --perturbed DIR ... -o DIR
void add_benchmark_perturbation(CLI::App& app);
}  // namespace pg::cli
