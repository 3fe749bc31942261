// Read speed of the I/O layer against the Python peers, in the same run:
// pbmc3k_raw as a 10x MatrixMarket folder (vs scipy.io.mmread) and as an h5ad
// written by anndata (vs anndata.read_h5ad). Prints a table; the last line is
// the headline ratio. Usage:
//   bench_io SHARED_DATA_DIR PYTHON [REPS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/process.h"
#include "io/formats.h"

namespace fs = std::filesystem;

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<double> timed(const std::function<void()>& fn, int reps) {
  std::vector<double> out;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    out.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return out;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) throw std::runtime_error("cannot run " + cmd);
  char buf[4096];
  size_t n = 0;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) throw std::runtime_error("peer failed: " + cmd + "\n" + out);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  pg::configure_process();
  if (argc < 3) {
    std::cerr << "usage: bench_io SHARED_DATA_DIR PYTHON [REPS]\n";
    return 2;
  }
  const fs::path data = argv[1];
  const std::string python = argv[2];
  const int reps = argc > 3 ? std::stoi(argv[3]) : 5;
  const fs::path mtx_dir = data / "pbmc3k_raw";
  const fs::path bench_dir = fs::path(PG_SOURCE_DIR) / "bench";
  const fs::path tmp = fs::temp_directory_path() / "perturbgen_bench_io";
  fs::create_directories(tmp);
  const fs::path h5ad = tmp / "pbmc3k_raw.h5ad";
  try {
    run(python + " " + (bench_dir / "peer_io.py").string() + " --write-h5ad " + h5ad.string() +
        " --from-mtx-dir " + mtx_dir.string());

    int64_t nnz = 0;
    const auto ours_mtx = timed([&] { nnz = pg::io::read_10x_mtx(mtx_dir.string()).X.nnz(); }, reps);
    const auto ours_h5ad = timed([&] { nnz = pg::io::read_h5ad(h5ad.string()).X.nnz(); }, reps);
    const auto peer =
        nlohmann::json::parse(run(python + " " + (bench_dir / "peer_io.py").string() + " --mtx " +
                                  (mtx_dir / "matrix.mtx.gz").string() + " --h5ad " + h5ad.string() +
                                  " --reps " + std::to_string(reps)));
    const double m_ours = median(ours_mtx), m_scipy = median(peer["scipy_mmread"].get<std::vector<double>>());
    const double h_ours = median(ours_h5ad),
                 h_peer = median(peer["anndata_read_h5ad"].get<std::vector<double>>());

    std::printf("pbmc3k_raw: 2,700 cells x 32,738 genes, %lld stored values; median of %d runs\n",
                static_cast<long long>(nnz), reps);
    std::printf("| read | perturbgen (s) | peer | peer (s) | speed-up | target |\n");
    std::printf("|---|---:|---|---:|---:|---:|\n");
    std::printf("| 10x MatrixMarket (gz) | %.3f | scipy.io.mmread | %.3f | %.1fx | 5x |\n", m_ours, m_scipy,
                m_scipy / m_ours);
    std::printf("| h5ad (anndata-written) | %.3f | anndata.read_h5ad | %.3f | %.1fx | 2x |\n", h_ours, h_peer,
                h_peer / h_ours);
    std::printf("headline: MatrixMarket %.1fx scipy, h5ad %.1fx anndata\n", m_scipy / m_ours,
                h_peer / h_ours);
  } catch (const std::exception& e) {
    std::cerr << "bench_io: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
