// perturbgen: the command-line front end. Parses the command, runs it, and
// turns every failure into one line on stderr and a non-zero exit status.
#include <algorithm>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "cli/model_plugin.h"
#include "core/error.h"
#include "core/process.h"
#include "core/version.h"

namespace {

std::string version_text() {
  return "perturbgen " PERTURBGEN_VERSION " (" + pg::cli::model_runtime_text() + ")";
}

// The libtorch plugin is loaded only for a command the core does not have
// (or for --help / --version, which describe everything).
bool wants_model_commands(const CLI::App& app, const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "--version" || a == "--help" || a == "-h") return true;
    if (a.empty() || a[0] == '-') continue;
    for (const CLI::App* sub : app.get_subcommands({})) {
      if (sub->check_name(a)) return false;
    }
    return true;
  }
  return true;  // no command at all: the usage lists everything
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
  pg::cli::add_evaluate(app);
  pg::cli::add_programs(app);
  pg::cli::add_de(app);
  try {
    std::vector<std::string> args(argv + 1, argv + argc);
    std::string why;
    if (wants_model_commands(app, args) && !pg::cli::load_model_commands(app, why) && !args.empty() &&
        args[0].rfind("-", 0) != 0) {
      std::cerr << "perturbgen: note: " << why << "\n";
    }
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
