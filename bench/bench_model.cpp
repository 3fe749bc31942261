// Forward speed and peak memory of the model at the reference's real
// dimensions, against a Python peer (bench/peer_model.py: the spec's
// equations in PyTorch, computed the way the reference computes them) in the
// same run, with random weights of the same shapes:
//   * encoder: d 768, 8 x 96 heads, 12 blocks, vocabulary 19,000, inputs of
//     2,048 and 4,096 tokens (ours: `reference` mode, i.e. only the block
//     whose output the reference keeps, no MLM logits; the peer: all 12
//     blocks on the embedding and the logits, as the reference runs them);
//   * decoder teacher-forced pass over 3 target times with context: d 768,
//     6 blocks, d_ff 32 and 64, vocabulary 2,054, 200 tokens, logits and
//     cell embeddings (ours shares the context passes and the projected
//     context keys/values between the times; the peer recomputes them).
// Each configuration (fp32/bf16, 1/2 threads) runs in a fresh child process
// of each tool: median seconds per batch over the timed calls after one
// warm-up, and the child's peak RSS (wait4). Both get OMP_WAIT_POLICY=PASSIVE.
//
// Lengths: `full` gives every cell the full length (no padding anywhere: the
// most conservative comparison); `variable` spreads 4 batches of cells evenly
// over [L/4, L] tokens: the peer pads every batch to L as the reference pads
// to the dataset's longest cell, ours groups cells by length and trims each
// batch to its own longest (model/batching.h).
//
//   bench_model --python PY [--reps 3] [--parts enc,dec] [--dtypes fp32,bf16] [--thread-list 1,2]
//               [--lengths full,variable]
//   bench_model --worker enc|dec --tokens L --batch B --threads N --dtype fp32|bf16 [--d-ff 32] [--reps 3]
// The last line is the headline ratio.
#include <torch/torch.h>

#include <cstdio>
#include <iostream>

#include "bench_child.h"
#include "bench_shapes.h"
#include "core/process.h"
#include "model/batching.h"
#include "model/perturbgen_model.h"

namespace {

using namespace pg::bench;
using namespace pg::model;

struct Args {
  std::string python, part, dtype = "fp32", parts = "enc,dec", dtypes = "fp32,bf16", threads_list = "1,2",
                            lengths = "full,variable";
  int64_t tokens = 200, batch = 8, d_ff = 32;
  int threads = 1, reps = 3;
  bool worker = false, variable = false;
};

// One configuration in this process; prints the peer's JSON format.
int run_worker(const Args& a) {
  pg::configure_process();  // the CLI's allocator policy: freed large buffers are reused, not unmapped
  torch::set_num_threads(a.threads);
  torch::manual_seed(0);
  const auto dtype = a.dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  auto config = real_config(a.tokens, a.d_ff);
  std::function<void()> call;
  torch::NoGradGuard ng;
  // Variable lengths: N = 4 batches of cells, grouped by length and
  // trimmed per batch (length_buckets); full length: one batch.
  const int64_t n = a.variable ? 4 * a.batch : a.batch;
  if (a.part == "enc") {
    auto enc = std::make_shared<SourceEncoderImpl>(config.encoder, torch::kCPU, dtype);
    auto src = make_ids(n, a.tokens, 0, 4, 19000, a.variable, true);
    const auto buckets = length_buckets(sequence_lengths(src), a.batch);
    call = [enc, src, buckets] {
      for (const auto& rows : buckets) enc->forward(trim_padding(src.index_select(0, rows)));
    };
  } else {
    config.encoder.vocab_size = 40;  // the decoder gets a ready encoding; keep the unused encoder small
    config.encoder.embedding_rows = 43;
    config.encoder.num_layers = 1;
    config.encoder.max_seq_length = a.tokens;
    auto model = std::make_shared<PerturbGenModelImpl>(config, torch::kCPU, dtype);
    ModelBatch b;
    b.src_ids = make_ids(n, a.tokens, 0, 4, 40, a.variable, true);
    for (int64_t t = 1; t <= 3; ++t) b.tgt_ids[t] = make_ids(n, a.tokens, t, 4, 2054, a.variable, false);
    auto h_src = torch::randn({n, a.tokens, 768}).to(dtype);
    const auto buckets = length_buckets(batch_lengths(b), a.batch);
    call = [model, b, h_src, buckets] {
      for (const auto& rows : buckets) {
        const ModelBatch sub = select_rows(b, rows);
        model->forward_encoded(sub, h_src.index_select(0, rows).slice(1, 0, sub.src_ids.size(1)));
      }
    };
  }
  report_timing(call, a.reps, 30, n);
  return 0;
}

struct Measure {
  double median = 0, cells_per_s = 0, rss_mib = 0;
  int runs = 0;
};

Measure measure(const std::vector<std::string>& argv) {
  const Child c = run_child(argv, fs::temp_directory_path());
  const auto j = last_json_line(c.out);
  return {j["median"].get<double>(), j["cells_per_s"].get<double>(), c.rss_mib,
          static_cast<int>(j["seconds"].size())};
}

int run_driver(const Args& a, const std::string& self) {
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  const std::string peer = (fs::path(PG_SOURCE_DIR) / "bench" / "peer_model.py").string();
  std::printf(
      "| part | tokens | lengths | cells (batch) | dtype | threads | perturbgen s | cells/s | peak RSS MiB | "
      "peer s | cells/s | peak RSS MiB | speed-up |\n"
      "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  std::map<std::string, double> headline;
  for (const auto& part : split(a.parts)) {
    // (tokens, batch, d_ff) per configuration.
    std::vector<std::tuple<int64_t, int64_t, int64_t>> shapes =
        part == "enc" ? std::vector<std::tuple<int64_t, int64_t, int64_t>>{{2048, 4, 32}, {4096, 2, 32}}
                      : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{200, 8, 32}, {200, 8, 64}};
    for (const auto& lengths : split(a.lengths))
      for (const auto& [tokens, batch, d_ff] : shapes)
        for (const auto& dtype : split(a.dtypes))
          for (const auto& th : split(a.threads_list)) {
            setenv("OMP_NUM_THREADS", th.c_str(), 1);
            std::vector<std::string> common = {"--tokens",  std::to_string(tokens),
                                               "--batch",   std::to_string(batch),
                                               "--threads", th,
                                               "--dtype",   dtype,
                                               "--d-ff",    std::to_string(d_ff),
                                               "--reps",    std::to_string(a.reps)};
            if (lengths == "variable") common.push_back("--variable");
            std::vector<std::string> ours = {self, "--worker", part};
            ours.insert(ours.end(), common.begin(), common.end());
            std::vector<std::string> theirs = {a.python, peer, part};
            theirs.insert(theirs.end(), common.begin(), common.end());
            const Measure o = measure(ours), p = measure(theirs);
            const double ratio = o.cells_per_s / p.cells_per_s;
            const std::string label = part == "enc" ? "encoder" : "decoder d_ff " + std::to_string(d_ff);
            const long long cells = lengths == "variable" ? 4 * batch : batch;
            std::printf(
                "| %s | %lld | %s | %lld (%lld) | %s | %s | %.3f | %.2f | %.0f | %.3f | %.2f | %.0f | "
                "**%.1fx** |\n",
                label.c_str(), static_cast<long long>(tokens), lengths.c_str(), cells,
                static_cast<long long>(batch), dtype.c_str(), th.c_str(), o.median, o.cells_per_s, o.rss_mib,
                p.median, p.cells_per_s, p.rss_mib, ratio);
            std::fflush(stdout);
            if (dtype == "fp32" && th == "2")
              headline[label + " " + std::to_string(tokens) + " " + lengths] = ratio;
          }
  }
  std::printf("\nheadline (fp32, 2 threads):");
  for (const auto& [k, v] : headline) std::printf(" %s %.1fx;", k.c_str(), v);
  std::printf(" targets: encoder >= 10x, decoder >= 1.5x\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const OptionSetters options = {{"--worker", [&](const std::string& v) { a.worker = true, a.part = v; }},
                                 {"--python", [&](const std::string& v) { a.python = v; }},
                                 {"--tokens", [&](const std::string& v) { a.tokens = std::stoll(v); }},
                                 {"--batch", [&](const std::string& v) { a.batch = std::stoll(v); }},
                                 {"--threads", [&](const std::string& v) { a.threads = std::stoi(v); }},
                                 {"--dtype", [&](const std::string& v) { a.dtype = v; }},
                                 {"--d-ff", [&](const std::string& v) { a.d_ff = std::stoll(v); }},
                                 {"--reps", [&](const std::string& v) { a.reps = std::stoi(v); }},
                                 {"--parts", [&](const std::string& v) { a.parts = v; }},
                                 {"--dtypes", [&](const std::string& v) { a.dtypes = v; }},
                                 {"--thread-list", [&](const std::string& v) { a.threads_list = v; }},
                                 {"--lengths", [&](const std::string& v) { a.lengths = v; }}};
  try {
    parse_arguments(argc, argv, options, {{"--variable", &a.variable}});
    if (a.worker) return run_worker(a);
    if (a.python.empty()) throw std::runtime_error("--python is required");
    return run_driver(a, fs::canonical("/proc/self/exe").string());
  } catch (const std::exception& e) {
    std::cerr << "bench_model: " << e.what() << "\n";
    return 1;
  }
}
