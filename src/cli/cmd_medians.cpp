// perturbgen medians: the per-gene normalisation medians of a corpus (the
// gene_median table of rank-value tokenisation) as a TSV in the layout of the
// shipped gene_median.tsv: gene id TAB median, no header, shortest round-trip
// numbers; genes never non-zero have no median and are left out.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/number_text.h"
#include "tokenise/medians.h"

namespace pg::cli {

namespace {

std::string human_bytes(size_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  auto v = static_cast<double>(bytes);
  size_t u = 0;
  while (v >= 1024 && u + 1 < std::size(units)) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

void write_table(const tokenise::CorpusMedians& r, const std::filesystem::path& path) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path.string(), "", "cannot create the file");
  std::string line;
  for (size_t g = 0; g < r.genes.size(); ++g) {
    if (std::isnan(r.medians[g])) continue;
    line.assign(r.genes[g]).append("\t").append(shortest_text(r.medians[g])).append("\n");
    out << line;
  }
  out.close();
  if (!out) throw Error(path.string(), "", "write failed (disk full?)");
}

std::string summary(const tokenise::CorpusMedians& r, size_t n_files, const tokenise::MedianOptions& opt,
                    const std::string& out) {
  std::vector<std::string> missing;
  for (size_t g = 0; g < r.genes.size(); ++g)
    if (std::isnan(r.medians[g])) missing.push_back(r.genes[g]);
  std::ostringstream s;
  s << "medians: " << n_files << (n_files == 1 ? " file, " : " files, ") << r.n_cells << " cells, "
    << r.genes.size() << " genes: " << r.genes.size() - missing.size() << " with a median, " << missing.size()
    << " never non-zero";
  for (size_t i = 0; i < std::min<size_t>(5, missing.size()); ++i)
    s << (i == 0 ? " (left out: " : ", ") << missing[i];
  if (missing.size() > 5) s << ", ...";
  if (!missing.empty()) s << ")";
  s << ". ";
  if (r.exact) {
    s << "Exact medians of " << r.n_values << " non-zero values";
  } else {
    s << "t-digest medians (compression " << opt.compression << ") of " << r.n_values << " non-zero values";
    if (opt.mode == tokenise::MedianOptions::Mode::Auto)
      s << " (more than --exact-max-values " << opt.exact_max_values << ")";
  }
  s << "; peak accumulator memory " << human_bytes(r.peak_memory_bytes) << ". Wrote " << out << ".\n";
  return s.str();
}

}  // namespace

void add_medians(CLI::App& app) {
  struct Options {
    std::vector<std::string> inputs;
    std::string out;
    std::string layer;
    bool exact = false;
    bool streaming = false;
    double compression = 200;
    int64_t chunk_cells = 4096;
    int64_t exact_max_values = tokenise::MedianOptions{}.exact_max_values;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "medians",
      "Per-gene normalisation medians (non-zero median of counts / library size * 10,000) as a TSV");
  cmd->add_option("INPUT", opt->inputs,
                  "h5ad, loom, 10x HDF5 files or 10x folders (genes matched by var index)")
      ->required();
  cmd->add_option("-o,--output", opt->out, "Output TSV: gene id TAB median, no header")->required();
  cmd->add_option("--layer", opt->layer, "Layer holding the raw counts (default: X)");
  auto* exact =
      cmd->add_flag("--exact", opt->exact, "Exact medians whatever the size (holds every non-zero value)");
  auto* streaming =
      cmd->add_flag("--streaming", opt->streaming, "t-digest medians in bounded memory whatever the size");
  exact->excludes(streaming);
  cmd->add_option("--compression", opt->compression, "t-digest compression (delta, >= 10)")
      ->check(CLI::Range(10.0, 1e6));
  cmd->add_option("--chunk-cells", opt->chunk_cells, "Cells read at a time")->check(CLI::PositiveNumber);
  cmd->add_option("--exact-max-values", opt->exact_max_values,
                  "Without --exact/--streaming: exact until this many non-zero values, then t-digests")
      ->check(CLI::NonNegativeNumber);
  cmd->callback([opt] {
    tokenise::MedianOptions mo;
    mo.mode = opt->exact       ? tokenise::MedianOptions::Mode::Exact
              : opt->streaming ? tokenise::MedianOptions::Mode::Streaming
                               : tokenise::MedianOptions::Mode::Auto;
    mo.compression = opt->compression;
    mo.exact_max_values = opt->exact_max_values;
    const auto result = tokenise::corpus_medians(opt->inputs, opt->layer, opt->chunk_cells, mo);
    std::vector<std::filesystem::path> inputs(opt->inputs.begin(), opt->inputs.end());
    write_atomically(
        opt->out, [&](const std::filesystem::path& tmp) { write_table(result, tmp); }, inputs);
    std::cout << summary(result, opt->inputs.size(), mo, opt->out);
  });
}

}  // namespace pg::cli
