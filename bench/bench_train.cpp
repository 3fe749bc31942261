// Training throughput and peak memory of the mask stage at the reference's
// real dimensions (encoder d 768 / 12 blocks / 19,000 genes, frozen; decoder
// d 768, 6 blocks, d_ff 32, 2,054 ids; 200-token targets) against a PyTorch
// peer doing the same step in the same run (bench/peer_train.py: the
// reference's training step written from the spec: all 12 encoder blocks on
// the embedding plus the unused MLM logits, two context passes, the masked
// main pass with logits at every position, cross-entropy, backward, Adam with
// coupled L2 decay). One step = target time 3 (two context passes), MaskGIT
// `pow` masking, batch of `--batch` cells.
//
// Lengths: `full` (every cell 200 tokens: no padding anywhere, the most
// conservative comparison) and `variable` (4 batches of cells spread evenly
// over [50, 200] tokens: the peer pads to 200 as the reference pads to the
// dataset's longest cell; ours buckets by length and trims each batch, as the
// trainer does). Each configuration runs in a fresh child of each tool:
// median seconds per pass over the cells after one warm-up pass, and the
// child's peak RSS.
//
//   bench_train --python PY [--reps 3] [--thread-list 1,2] [--lengths full,variable] [--d-ff-list 32]
//               [--omp-wait-policy default|PASSIVE|ACTIVE]
//   bench_train --worker --tokens L --batch B --threads N --d-ff D [--reps 3] [--variable]
// The last line is the headline ratio (target >= 1.5x).
#include <torch/torch.h>

#include <cstdio>
#include <iostream>

#include "bench_child.h"
#include "bench_shapes.h"
#include "core/process.h"
#include "model/batching.h"
#include "model/perturbgen_model.h"
#include "train/masking.h"
#include "train/objectives.h"
#include "train/optimizer.h"

namespace {

using namespace pg::bench;
using namespace pg::model;

struct Args {
  std::string python, threads_list = "1,2", lengths = "full,variable", d_ff_list = "32", omp_wait = "default";
  int64_t tokens = 200, batch = 8, d_ff = 32;
  int threads = 1, reps = 3;
  bool worker = false, variable = false;
};

int run_worker(const Args& a) {
  pg::configure_process();
  torch::set_num_threads(a.threads);
  torch::manual_seed(0);
  const auto config = real_config(a.tokens, a.d_ff);
  auto model = std::make_shared<PerturbGenModelImpl>(config);
  model->train();
  model->encoder->eval();
  for (auto& p : model->encoder->parameters()) p.set_requires_grad(false);
  std::map<std::string, torch::Tensor> params;
  for (auto& item : model->decoder->named_parameters()) params.emplace(item.key(), item.value());
  pg::train::OptimizerOptions o;
  o.lr = 1e-4;
  o.weight_decay = 1e-4;
  pg::train::Adam adam(params, o);

  const int64_t n = a.variable ? 4 * a.batch : a.batch;
  ModelBatch b;
  b.src_ids = make_ids(n, a.tokens, 0, 4, 19000, a.variable, true);
  for (int64_t t = 1; t <= 3; ++t) b.tgt_ids[t] = make_ids(n, a.tokens, t, 4, 2054, a.variable, false);
  const auto buckets = length_buckets(batch_lengths(b), a.batch);
  int64_t step = 0;
  auto pass = [&] {
    for (const auto& rows : buckets) {
      pg::train::TrainBatch tb;
      tb.model = select_rows(b, rows);
      tb.rows.assign(rows.data_ptr<int64_t>(), rows.data_ptr<int64_t>() + rows.numel());
      adam.zero_grad();
      auto terms = pg::train::mask_loss(*model, tb, 3, 42, step++, pg::train::MaskSchedule::pow);
      (terms.sum / terms.count).backward();
      adam.step(o.lr);
    }
  };
  report_timing(pass, a.reps, 60, n);
  return 0;
}

int run_driver(const Args& a, const std::string& self) {
  // libgomp's default wait policy (what users run) unless asked otherwise;
  // PASSIVE (threads sleep between parallel regions) costs both tools, ours more.
  if (a.omp_wait != "default") setenv("OMP_WAIT_POLICY", a.omp_wait.c_str(), 1);
  const std::string peer = (fs::path(PG_SOURCE_DIR) / "bench" / "peer_train.py").string();
  std::printf(
      "| decoder d_ff | tokens | lengths | cells (batch) | threads | perturbgen s | cells/s | peak RSS MiB | "
      "peer s | cells/s | peak RSS MiB | speed-up |\n"
      "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::vector<std::string> headline;
  for (const auto& lengths : split(a.lengths))
    for (const auto& d_ff : split(a.d_ff_list))
      for (const auto& th : split(a.threads_list)) {
        setenv("OMP_NUM_THREADS", th.c_str(), 1);
        std::vector<std::string> common = {"--tokens",  std::to_string(a.tokens),
                                           "--batch",   std::to_string(a.batch),
                                           "--threads", th,
                                           "--d-ff",    d_ff,
                                           "--reps",    std::to_string(a.reps)};
        if (lengths == "variable") common.push_back("--variable");
        std::vector<std::string> ours = {self, "--worker"};
        ours.insert(ours.end(), common.begin(), common.end());
        std::vector<std::string> theirs = {a.python, peer};
        theirs.insert(theirs.end(), common.begin(), common.end());
        const Child oc = run_child(ours, fs::temp_directory_path()),
                    pc = run_child(theirs, fs::temp_directory_path());
        const auto oj = last_json_line(oc.out), pj = last_json_line(pc.out);
        const double ratio = oj["cells_per_s"].get<double>() / pj["cells_per_s"].get<double>();
        const long long cells = lengths == "variable" ? 4 * a.batch : a.batch;
        std::printf(
            "| %s | %lld | %s | %lld (%lld) | %s | %.3f | %.2f | %.0f | %.3f | %.2f | %.0f | **%.2fx** |\n",
            d_ff.c_str(), static_cast<long long>(a.tokens), lengths.c_str(), cells,
            static_cast<long long>(a.batch), th.c_str(), oj["median"].get<double>(),
            oj["cells_per_s"].get<double>(), oc.rss_mib, pj["median"].get<double>(),
            pj["cells_per_s"].get<double>(), pc.rss_mib, ratio);
        std::fflush(stdout);
        char buf[96];
        std::snprintf(buf, sizeof buf, "d_ff %s %s %s threads %.2fx;", d_ff.c_str(), lengths.c_str(),
                      th.c_str(), ratio);
        headline.emplace_back(buf);
      }
  std::printf("\nheadline (training cells/s ratio, fp32, OMP_WAIT_POLICY %s):", a.omp_wait.c_str());
  for (const auto& h : headline) std::printf(" %s", h.c_str());
  std::printf(" target >= 1.5x\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const OptionSetters options = {{"--python", [&](const std::string& v) { a.python = v; }},
                                 {"--tokens", [&](const std::string& v) { a.tokens = std::stoll(v); }},
                                 {"--batch", [&](const std::string& v) { a.batch = std::stoll(v); }},
                                 {"--threads", [&](const std::string& v) { a.threads = std::stoi(v); }},
                                 {"--d-ff", [&](const std::string& v) { a.d_ff = std::stoll(v); }},
                                 {"--reps", [&](const std::string& v) { a.reps = std::stoi(v); }},
                                 {"--thread-list", [&](const std::string& v) { a.threads_list = v; }},
                                 {"--lengths", [&](const std::string& v) { a.lengths = v; }},
                                 {"--d-ff-list", [&](const std::string& v) { a.d_ff_list = v; }},
                                 {"--omp-wait-policy", [&](const std::string& v) { a.omp_wait = v; }}};
  try {
    parse_arguments(argc, argv, options, {{"--variable", &a.variable}, {"--worker", &a.worker}});
    if (a.worker) return run_worker(a);
    if (a.python.empty()) throw std::runtime_error("--python is required");
    return run_driver(a, fs::canonical("/proc/self/exe").string());
  } catch (const std::exception& e) {
    std::cerr << "bench_train: " << e.what() << "\n";
    return 1;
  }
}
