// Speed and memory of `perturbgen tokenise` against the Python peer
// (bench/peer_tokenise.py: the reference's own steps with anndata, scanpy,
// numpy and Hugging Face datasets), in the same run, on the same h5ad files:
//   * pbmc3k_raw (converted to h5ad with `perturbgen convert`; it has no time
//     labels, so a synthetic `time` column is added first: cell i is t0, t0,
//     t1, t2 for i mod 4 = 0, 1, 2, 3), and
//   * a synthetic corpus (tests/python/make_corpus.py, 1,000,000 cells by
//     default, generated once into the work folder).
// Genes: HVG (scanpy seurat flavour, batch = time) 2000 for pbmc3k, 1000 of
// the corpus's 2000; random pairing from t0. Both tools run as child
// processes; wall time and the child's peak RSS come from wait4. The peer's time is the one it measures
// itself with time.perf_counter, which leaves out interpreter start-up and imports (in the peer's favour).
// Prints a markdown table; the last line is the headline.
//
//   bench_tokenise --perturbgen BIN --python PY --shared SHARED_DIR --work WORK_DIR
//       [--reps 3] [--peer-reps N] [--cells 1000000] [--peer-cells N] [--threads N]
//       [--datasets pbmc3k,synthetic] [--genes hvg|all] [--source-dir REPO]
// --reps: runs of ours (and of the peer on pbmc3k); --peer-reps: peer runs on
// the corpus (default 1 from 200,000 cells: ~5-10 min each on 2 cores);
// --peer-cells: the peer on that prefix only, seconds scaled linearly and the
// row labelled EXTRAPOLATED.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_child.h"
#include "core/process.h"
#include "io/gzip.h"

namespace fs = std::filesystem;

namespace {

using namespace pg::bench;

struct Args {
  std::string perturbgen, python, shared, work, source_dir = PG_SOURCE_DIR;
  int reps = 3, peer_reps = -1, threads = 0;
  long long cells = 1000000, peer_cells = 0;
  std::string datasets = "pbmc3k,synthetic", genes = "hvg";
};

// pbmc3k has no time labels: a copy of the folder (links) with obs.tsv plus a
// `time` column, converted to h5ad by perturbgen itself.
fs::path prepare_pbmc3k(const Args& a) {
  const fs::path h5ad = fs::path(a.work) / "pbmc3k_time.h5ad";
  if (fs::exists(h5ad)) return h5ad;
  const fs::path src = fs::path(a.shared) / "data" / "pbmc3k_raw";
  const fs::path dir = fs::path(a.work) / "pbmc3k_time";
  fs::remove_all(dir);
  fs::create_directories(dir);
  for (const char* f : {"matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz"})
    fs::create_symlink(fs::absolute(src / f), dir / f);
  // Barcodes (one per line) -> obs.tsv with cell_id and time.
  const auto barcodes = pg::io::read_maybe_gzip_bytes((src / "barcodes.tsv.gz").string());
  std::ofstream obs(dir / "obs.tsv");
  obs << "cell_id\ttime\n";
  std::istringstream lines{std::string(barcodes.view())};
  static const char* kLabel[4] = {"t0", "t0", "t1", "t2"};
  size_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) obs << line << "\t" << kLabel[i % 4] << "\n";
  obs.close();
  run_child({a.perturbgen, "convert", dir.string(), h5ad.string()}, a.work);
  return h5ad;
}

fs::path prepare_synthetic(const Args& a) {
  const fs::path h5ad = fs::path(a.work) / ("synthetic_" + std::to_string(a.cells) + ".h5ad");
  if (fs::exists(h5ad)) return h5ad;
  const Child c =
      run_child({a.python, (fs::path(a.source_dir) / "tests" / "python" / "make_corpus.py").string(),
                 h5ad.string(), "--cells", std::to_string(a.cells), "--dictionary",
                 (fs::path(a.shared) / "data" / "geneformer_gc95M" / "token_dictionary.tsv").string()},
                a.work);
  std::cerr << c.out;
  return h5ad;
}

struct Dataset {
  std::string name;
  fs::path h5ad;
  long long cells;
  int n_hvg;
  long long peer_cells;  // < cells: the peer runs on this prefix, extrapolated
  int peer_reps;
};

struct Row {
  std::string tool;
  int runs;
  double seconds, cells_per_s, rss_mib;
  double mean_length;  // sentence length incl. <cls>/<eos>: both tools did the same work
  std::string note;
};

std::string with_commas(long long v) {
  std::string s = std::to_string(v);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

std::pair<Row, Row> bench_dataset(const Args& a, const Dataset& d, int threads, int nproc) {
  const fs::path store = fs::path(a.work) / "store_ours";
  const std::string genes = a.genes;
  std::vector<std::string> ours_cmd = {a.perturbgen, "tokenise",     d.h5ad.string(),
                                       "-o",         store.string(), "--time-key",
                                       "time",       "--time-order", "t0,t1,t2",
                                       "--source",   "t0",           "--genes",
                                       genes,        "--n-hvg",      std::to_string(d.n_hvg),
                                       "--pairing",  "random",       "--seed",
                                       "42",         "--threads",    std::to_string(threads)};
  std::vector<double> secs, rss;
  for (int r = 0; r < a.reps; ++r) {
    fs::remove_all(store);
    const Child c = run_child(ours_cmd, a.work);
    secs.push_back(c.seconds);
    rss.push_back(c.rss_mib);
    if (r == 0) std::cerr << "[bench_tokenise] " << d.name << " ours: " << tail(c.out, 600) << "\n";
  }
  const auto meta = nlohmann::json::parse(slurp(store / "meta.json"));
  fs::remove_all(store);
  Row ours{"perturbgen tokenise (C++)",
           a.reps,
           median(secs),
           0,
           *std::max_element(rss.begin(), rss.end()),
           meta["sentences"]["mean_length"].get<double>(),
           ""};
  ours.cells_per_s = static_cast<double>(d.cells) / ours.seconds;

  std::vector<std::string> peer_cmd = {a.python,
                                       (fs::path(a.source_dir) / "bench" / "peer_tokenise.py").string(),
                                       d.h5ad.string(),
                                       "--dictionary-dir",
                                       (fs::path(a.shared) / "data" / "geneformer_gc95M").string(),
                                       "--out",
                                       (fs::path(a.work) / "peer_out").string(),
                                       "--time-key",
                                       "time",
                                       "--time-order",
                                       "t0,t1,t2",
                                       "--source",
                                       "t0",
                                       "--genes",
                                       genes,
                                       "--n-hvg",
                                       std::to_string(d.n_hvg),
                                       "--nproc",
                                       std::to_string(nproc)};
  const bool extrapolated = d.peer_cells < d.cells;
  if (extrapolated) {
    peer_cmd.push_back("--max-cells");
    peer_cmd.push_back(std::to_string(d.peer_cells));
  }
  std::vector<double> psecs, prss;
  double peer_length = 0;
  for (int r = 0; r < d.peer_reps; ++r) {
    const Child c = run_child(peer_cmd, a.work);
    const auto j = last_json_line(c.out);
    psecs.push_back(j["seconds"].get<double>());
    prss.push_back(std::max(c.rss_mib, j["peak_rss_children_mib"].get<double>()));
    peer_length = j["mean_length"].get<double>();
    if (r == 0) std::cerr << "[bench_tokenise] " << d.name << " peer: " << j.dump() << "\n";
  }
  Row peer{"Python peer (anndata+scanpy+datasets)",
           d.peer_reps,
           median(psecs),
           0,
           *std::max_element(prss.begin(), prss.end()),
           peer_length,
           ""};
  const long long peer_ran = extrapolated ? d.peer_cells : d.cells;
  peer.cells_per_s = static_cast<double>(peer_ran) / peer.seconds;
  if (extrapolated) {
    peer.seconds *= static_cast<double>(d.cells) / static_cast<double>(d.peer_cells);
    peer.note = "EXTRAPOLATED: ran on the first " + with_commas(d.peer_cells) +
                " cells, seconds scaled linearly; RSS and length as measured there";
  }
  return {ours, peer};
}

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::runtime_error("missing value after " + k);
    const std::string v = argv[++i];
    if (k == "--perturbgen")
      a.perturbgen = v;
    else if (k == "--python")
      a.python = v;
    else if (k == "--shared")
      a.shared = v;
    else if (k == "--work")
      a.work = v;
    else if (k == "--source-dir")
      a.source_dir = v;
    else if (k == "--reps")
      a.reps = std::stoi(v);
    else if (k == "--peer-reps")
      a.peer_reps = std::stoi(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--cells")
      a.cells = std::stoll(v);
    else if (k == "--peer-cells")
      a.peer_cells = std::stoll(v);
    else if (k == "--datasets")
      a.datasets = v;
    else if (k == "--genes")
      a.genes = v;
    else
      throw std::runtime_error("unknown option " + k);
  }
  if (a.perturbgen.empty() || a.python.empty() || a.shared.empty() || a.work.empty())
    throw std::runtime_error("--perturbgen, --python, --shared and --work are required");
  if (a.reps < 1 || a.cells < 1 || a.peer_cells < 0) throw std::runtime_error("counts must be positive");
  a.perturbgen = fs::absolute(a.perturbgen).string();
  return a;
}

}  // namespace

int main(int argc, char** argv) {
  pg::configure_process();
  try {
    const Args a = parse(argc, argv);
    fs::create_directories(a.work);
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    const int threads = a.threads > 0 ? a.threads : hw;
    const int nproc = std::min(threads, 4);  // the reference maps with 4 processes

    std::vector<Dataset> sets;
    if (a.datasets.find("pbmc3k") != std::string::npos)
      sets.push_back({"pbmc3k", prepare_pbmc3k(a), 2700, 2000, 2700, a.reps});
    if (a.datasets.find("synthetic") != std::string::npos) {
      const long long pc = a.peer_cells > 0 && a.peer_cells < a.cells ? a.peer_cells : a.cells;
      // About 10 minutes per peer run at 1M cells on 2 cores: one run unless asked.
      const int peer_reps = a.peer_reps > 0 ? a.peer_reps : (pc >= 200000 ? 1 : a.reps);
      sets.push_back({"synthetic", prepare_synthetic(a), a.cells, 1000, pc, peer_reps});
    }

    std::vector<std::pair<Dataset, std::pair<Row, Row>>> results;
    for (const auto& d : sets) results.push_back({d, bench_dataset(a, d, threads, nproc)});

    std::printf(
        "tokenise, random pairing, --genes %s, %d threads (peer: %d datasets.map processes); medians; "
        "peer seconds are its own perf_counter total (no Python start-up or imports); RSS: max over runs\n",
        a.genes.c_str(), threads, nproc);
    std::printf(
        "| dataset | cells | tool | runs | median s | cells/s | peak RSS MiB | mean sentence length | "
        "ours/peer "
        "cells/s | note |\n");
    std::printf("|---|---:|---|---:|---:|---:|---:|---:|---:|---|\n");
    std::string headline = "headline: tokenise cells/s vs the Python peer:";
    for (const auto& [d, rows] : results) {
      const auto& [ours, peer] = rows;
      const double ratio = ours.cells_per_s / peer.cells_per_s;
      const std::string label = d.name + (a.genes == "hvg" ? " (HVG " + std::to_string(d.n_hvg) + ")" : "");
      for (const Row* r : {&ours, &peer}) {
        char ratio_cell[32] = "";
        if (r == &ours) std::snprintf(ratio_cell, sizeof ratio_cell, "%.1fx", ratio);
        std::printf("| %s | %s | %s | %d | %.2f | %.0f | %.0f | %.3f | %s | %s |\n", label.c_str(),
                    with_commas(d.cells).c_str(), r->tool.c_str(), r->runs, r->seconds, r->cells_per_s,
                    r->rss_mib, r->mean_length, ratio_cell, r->note.c_str());
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, " %s %s cells %.1fx%s,", d.name.c_str(), with_commas(d.cells).c_str(),
                    ratio, d.peer_cells < d.cells ? " (peer EXTRAPOLATED)" : "");
      headline += buf;
    }
    headline.pop_back();
    std::printf("%s\n", headline.c_str());
  } catch (const std::exception& e) {
    std::cerr << "bench_tokenise: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
