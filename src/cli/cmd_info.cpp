#include <iostream>

#include "cli/commands.h"
#include "io/summary.h"

namespace pg::cli {

void add_info(CLI::App& app) {
  struct Options {
    std::string path;
    bool json = false;
    int64_t sample = 1000;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "info", "Describe a single-cell file: format, shape, X storage, raw counts or not, annotations");
  cmd->add_option("FILE", opt->path, "h5ad, loom, 10x HDF5 file or 10x MatrixMarket folder")->required();
  cmd->add_flag("--json", opt->json, "Print a JSON object instead of text");
  cmd->add_option("--sample-cells", opt->sample, "Cells whose values are checked for raw counts")
      ->check(CLI::PositiveNumber);
  cmd->callback([opt] {
    const auto summary = io::summarize(opt->path, opt->sample);
    if (opt->json) {
      std::cout << io::to_json(summary).dump(2) << "\n";
    } else {
      std::cout << io::to_text(summary);
    }
  });
}

}  // namespace pg::cli
