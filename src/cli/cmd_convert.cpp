#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "io/formats.h"

namespace pg::cli {

void add_convert(CLI::App& app) {
  struct Options {
    std::string in;
    std::string out;
    std::string to;
    std::string genome;
    bool overwrite = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert between h5ad, 10x MatrixMarket, 10x HDF5 and loom");
  cmd->add_option("IN", opt->in, "Input file or 10x folder")->required();
  cmd->add_option("OUT", opt->out,
                  "Output path; format from extension (.h5ad, .loom, .h5; none = 10x folder)")
      ->required();
  cmd->add_option("--to", opt->to, "Output format: h5ad, 10x-mtx, 10x-h5, loom (overrides the extension)");
  cmd->add_option("--genome", opt->genome, "CellRanger v2 HDF5 with several genomes: the one to read");
  cmd->add_flag("--overwrite", opt->overwrite, "Replace OUT if it exists (never the input)");
  cmd->callback([opt] {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (fs::exists(opt->out, ec)) {
      if (fs::equivalent(opt->in, opt->out, ec))
        throw Error(opt->out, "", "output is the input; refusing to overwrite it");
      if (!opt->overwrite) throw Error(opt->out, "", "output exists (pass --overwrite to replace it)");
    }
    const io::Format to = opt->to.empty() ? io::format_for_output(opt->out) : io::parse_format(opt->to);
    io::ReadOptions read;
    read.genome = opt->genome;
    const io::CellMatrix m = io::read_any(opt->in, read);
    io::write_any(m, opt->out, to);
    std::cout << "wrote " << opt->out << " (" << io::format_name(to) << "): " << m.n_cells() << " cells x "
              << m.n_genes() << " genes, " << m.X.nnz() << " stored values\n";
  });
}

}  // namespace pg::cli
