// Importing the published encoder checkpoint: time and memory at the real
// size. A structurally identical 574 MB checkpoint (random weights) is built
// from golden/published_encoder_manifest.json with the venv's torch
// (tests/python/make_encoder_ckpt.py), then `perturbgen import-ckpt` runs on
// it as a child process, and on the tiny golden encoder checkpoint for the
// process's own baseline (libtorch loaded, nothing read). Reports medians of
// wall time and peak RSS (wait4) and the ratio
//   (peak RSS full - peak RSS tiny) / bytes of the tensors kept,
// whose target is <= 1.5, and the time, whose target is <= 5 s.
//
// Also, as the peer: the way a Python user loads the same file,
// torch.load(map_location="cpu") (the whole checkpoint in memory).
//
// Usage: bench_import --cli PERTURBGEN --python VENV_PYTHON [--reps 5] [--work DIR]
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "bench_child.h"

namespace fs = std::filesystem;
using pg::bench::Child;
using pg::bench::median;
using pg::bench::run_child;

int main(int argc, char** argv) {
  std::string cli, python, work = (fs::temp_directory_path() / "pg_bench_import").string();
  int reps = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--cli")
      cli = v;
    else if (k == "--python")
      python = v;
    else if (k == "--reps")
      reps = std::stoi(v);
    else if (k == "--work")
      work = v;
  }
  if (cli.empty() || python.empty()) {
    std::cerr << "usage: bench_import --cli PERTURBGEN --python VENV_PYTHON [--reps N] [--work DIR]\n";
    return 2;
  }
  const fs::path shared = fs::path(PG_SOURCE_DIR) / ".." / "shared" / "golden";
  const fs::path dir(work);
  fs::create_directories(dir);
  const fs::path full = dir / "published_layout.ckpt";
  if (!fs::exists(full)) {
    std::cerr << "building the full-size checkpoint from the manifest (once)...\n";
    const Child made = run_child(
        {python, (fs::path(PG_SOURCE_DIR) / "tests/python/make_encoder_ckpt.py").string(),
         (shared / "published_encoder_manifest.json").string(), full.string(), "--location", "cuda:0"},
        dir);
    if (!fs::exists(full)) {
      std::cerr << "could not build the checkpoint: " << pg::bench::slurp(dir / "child.stderr") << "\n";
      return 1;
    }
    (void)made;
  }
  auto import = [&](const fs::path& ckpt) {
    const fs::path out = dir / "encoder_out";
    fs::remove_all(out);
    Child c = run_child({cli, "import-ckpt", ckpt.string(), out.string()}, dir);
    if (!fs::exists(out / "model.safetensors")) {
      std::cerr << "import failed: " << pg::bench::slurp(dir / "child.stderr") << "\n";
      std::exit(1);
    }
    return c;
  };
  std::vector<double> t_full, r_full, t_tiny, r_tiny, t_peer, r_peer;
  std::string report;
  for (int i = 0; i < reps; ++i) {
    Child tiny = import(shared / "tiny_encoder.ckpt");
    t_tiny.push_back(tiny.seconds);
    r_tiny.push_back(tiny.rss_mib);
    Child f = import(full);
    t_full.push_back(f.seconds);
    r_full.push_back(f.rss_mib);
    report = f.out;
  }
  for (int i = 0; i < std::min(reps, 3); ++i) {
    Child p = run_child(
        {python, "-c", "import sys, torch; torch.load(sys.argv[1], map_location='cpu', weights_only=False)",
         full.string()},
        dir);
    t_peer.push_back(p.seconds);
    r_peer.push_back(p.rss_mib);
  }
  // Bytes kept, from the import report's "kept:" lines ("..., 58.4 MB (").
  double kept_mb = 0;
  for (size_t p = report.find("kept:"); p != std::string::npos; p = report.find("kept:", p + 1)) {
    const size_t comma = report.find("tensors, ", p);
    kept_mb += std::stod(report.substr(comma + 9));
  }
  const double kept_mib = kept_mb * 1e6 / (1024.0 * 1024.0);
  const double ratio = (median(r_full) - median(r_tiny)) / kept_mib;
  std::printf("checkpoint: %s (%.1f MB), tensors kept %.1f MB; %d runs each, medians\n\n",
              full.filename().c_str(), static_cast<double>(fs::file_size(full)) / 1e6, kept_mb, reps);
  std::printf("| run | wall s | peak RSS MiB |\n|---|---:|---:|\n");
  std::printf("| perturbgen import-ckpt, tiny fixture (baseline) | %.2f | %.0f |\n", median(t_tiny),
              median(r_tiny));
  std::printf("| perturbgen import-ckpt, full size | %.2f | %.0f |\n", median(t_full), median(r_full));
  std::printf("| peer: torch.load(map_location='cpu') | %.2f | %.0f |\n\n", median(t_peer), median(r_peer));
  std::printf(
      "peak RSS above baseline / kept bytes: %.2f (target <= 1.5); import time %.2f s (target <= 5 s)\n",
      ratio, median(t_full));
  return 0;
}
