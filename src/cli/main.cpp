// perturbgen: the command-line front end. Parses the command, runs it, and
// turns every failure into one line on stderr and a non-zero exit status.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "core/error.h"
#include "core/process.h"
#include "core/version.h"
#ifdef PERTURBGEN_WITH_TORCH
#include "model/runtime.h"
#endif

namespace {

std::string version_text() {
  std::string v = "perturbgen " PERTURBGEN_VERSION;
#ifdef PERTURBGEN_WITH_TORCH
  const auto rt = pg::model::runtime_info();
  v += " (libtorch " + rt.torch_version + ", CUDA " +
       (rt.cuda_available ? std::to_string(rt.cuda_devices) + " device(s)" : std::string("not available")) +
       ")";
#endif
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  pg::configure_process();
  CLI::App app{"perturbgen: generative modelling of perturbations along single-cell trajectories"};
  app.set_version_flag("--version", version_text);
  app.require_subcommand(1);
  pg::cli::add_info(app);
  pg::cli::add_convert(app);
  pg::cli::add_medians(app);
  pg::cli::add_tokenise(app);
  pg::cli::add_store_info(app);
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    args = pg::cli::expand_config(args);
    std::reverse(args.begin(), args.end());  // CLI11 takes the words last first
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const pg::Error& e) {
    std::cerr << "perturbgen: error: " << e.what() << "\n";
    return 1;
  } catch (const std::bad_alloc&) {
    std::cerr << "perturbgen: error: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "perturbgen: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
