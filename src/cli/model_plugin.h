// Finding and loading the libtorch plugin (libperturbgen_model.so, beside the
// executable or named by PERTURBGEN_MODEL_PLUGIN). The core commands never
// load it, so they start in milliseconds.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace pg::cli {

// Registers the plugin's commands on `app`. Returns false (and says why in
// `why`) when the build has no libtorch or the plugin cannot be loaded.
bool load_model_commands(CLI::App& app, std::string& why);

// "libtorch 2.11.0, CUDA not available, ..." or why it is not available.
std::string model_runtime_text();

}  // namespace pg::cli
