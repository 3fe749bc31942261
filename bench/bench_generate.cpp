// Generation throughput and peak memory of MaskGIT decoding of one time point
// at the reference's real dimensions (decoder d 768, 6 blocks, d_ff 32,
// 2,054 ids = 4 specials + 2,000 genes + 50 spare; 200 generated tokens, 20
// iterations, schedule pow, T0 1, top-k 0.9; three context times) against a
// PyTorch peer of the reference's generation loop in the same run
// (bench/peer_generate.py: `generate_sequence` as it executes, spec §5.1 and
// golden §7, on the decoder of peer_model.py: the three context passes once
// (the reference's context cache), then all 20 iterations, each a full
// decoder pass that projects the whole context's cross-attention keys/values
// again, logits over every position and the whole vocabulary, the in-place
// suppression, top-k by scatter into a -inf tensor, Gumbel noise over
// (B, L, V) and the top-2 margin scores).
//
// Ours: generate::generate_time_point with `maskgit` de-masking (the
// default; `--demasking reference` runs the reference's rule instead) on a
// context from PerturbGenDecoder::build_context. Target time 4; its context
// is the true ids of times 1..3 (random ids), after the source encoding.
// One timed call = the context build + the generation of the batch. The
// source encoding is excluded for both: each gets the same kind of random
// (B, 200, 768) encoder output, as bench_model's decoder benchmark (the
// encoder's own speed is bench_model's). Every cell is full length (no
// padding anywhere). Each configuration runs in a fresh child of each tool:
// median seconds per batch over the timed calls after one warm-up, and the
// child's peak RSS (wait4). The table also gives the decoder calls of the
// generation loop (both also run 3 context passes): ours stops once nothing
// is left to re-mask.
//
//   bench_generate --python PY [--reps 3] [--thread-list 1,2] [--batch 8] [--d-ff 32] [--iterations 20]
//                  [--demasking maskgit|reference] [--omp-wait-policy default|PASSIVE|ACTIVE]
//                  [--dtypes fp32,bf16] [--padded-peer 2002 [--padded-batch 2]]
// --padded-peer P adds a row where the peer pads every tensor to P as the
// reference pads to the dataset's longest cell (2,002 on the LPS tutorial
// data); ours generates the same 200-gene cells unpadded.
//   bench_generate --worker --tokens L --batch B --threads N --d-ff D [--reps 3] [--iterations 20]
//                  [--demasking maskgit|reference] [--dtype fp32|bf16]
// bf16: ours under bf16 autocast (generate --bf16), the peer with its decoder
// in bfloat16; both sample and score in float32.
// The last line is the headline ratio (target >= 5x).
#include <torch/torch.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <numeric>

#include "bench_child.h"
#include "bench_shapes.h"
#include "core/process.h"
#include "generate/maskgit.h"
#include "model/autocast.h"
#include "model/perturbgen_model.h"

namespace {

using namespace pg::bench;
using namespace pg::model;

constexpr int64_t kGenerated = 4;  // the generated time; times 1..3 are its context
constexpr int64_t kGenes = 2000;   // ids 4..2003; 2004..2053 are the vocabulary's spare margin

struct Args {
  std::string python, threads_list = "1,2", omp_wait = "default", demasking = "maskgit", dtype = "fp32",
                      dtypes = "fp32,bf16";
  int64_t tokens = 200, batch = 8, d_ff = 32, iterations = 20, padded_peer = 0, padded_batch = 2;
  int threads = 1, reps = 3;
  bool worker = false;
};

// real_config with a fourth time (the generated one); the unused encoder is
// kept small, as in bench_model's decoder benchmark.
ModelConfig generation_config(int64_t tokens, int64_t d_ff) {
  auto c = real_config(tokens, d_ff);
  c.decoder.n_total_tps = 4;
  c.decoder.pred_tps = {1, 2, 3, 4};
  c.encoder.vocab_size = 40;
  c.encoder.embedding_rows = 43;
  c.encoder.num_layers = 1;
  c.encoder.max_seq_length = tokens;
  return c;
}

int run_worker(const Args& a) {
  pg::configure_process();
  torch::set_num_threads(a.threads);
  torch::manual_seed(0);
  torch::NoGradGuard ng;
  auto model = std::make_shared<PerturbGenModelImpl>(generation_config(a.tokens, a.d_ff));
  model->eval();
  const int64_t n = a.batch;
  const auto h_src = torch::randn({n, a.tokens, 768});
  const auto src_pad = make_ids(n, a.tokens, 0, 4, 40, false, true).eq(0);
  std::map<int64_t, torch::Tensor> true_ids;
  for (int64_t c = 1; c < kGenerated; ++c) true_ids[c] = make_ids(n, a.tokens, c, 4, 2054, false, false);
  const auto lengths = torch::full({n}, a.tokens, torch::kLong);
  std::vector<int64_t> keys(static_cast<size_t>(n));
  std::iota(keys.begin(), keys.end(), 0);

  pg::generate::MaskGitOptions o;
  o.iterations = a.iterations;
  o.temperature = 1.0;
  o.topk_filter_thres = 0.9;
  o.schedule = pg::train::MaskSchedule::pow;
  o.demasking =
      a.demasking == "reference" ? pg::generate::Demasking::reference : pg::generate::Demasking::maskgit;
  o.gene_id_end = 4 + kGenes;
  int64_t calls = 0, context_passes = 0;
  auto call = [&] {
    pg::model::Bf16Autocast autocast(a.dtype == "bf16", torch::kCPU);
    auto built = model->decoder->build_context(h_src, src_pad, true_ids, kGenerated);
    const auto r = pg::generate::generate_time_point(*model->decoder, built.context, kGenerated,
                                                     pg::generate::length_start(lengths, {}), o,
                                                     pg::generate::keyed_noise(42, kGenerated, keys));
    calls = r.decoder_calls;
    context_passes = static_cast<int64_t>(built.passes.size());
  };
  report_timing(call, a.reps, 60, n);
  std::printf("%s\n",
              nlohmann::json({{"decoder_calls", calls}, {"context_passes", context_passes}}).dump().c_str());
  return 0;
}

// Every JSON object line of a child's stdout, merged (the timing line and the
// decoder-call line).
nlohmann::json merged_json(const std::string& out) {
  nlohmann::json j = nlohmann::json::object();
  std::stringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty() && line.front() == '{') j.update(nlohmann::json::parse(line));
  if (!j.contains("median") || !j.contains("decoder_calls"))
    throw std::runtime_error("child printed no result:\n" + tail(out));
  return j;
}

int run_driver(const Args& a, const std::string& self) {
  // libgomp's default wait policy (what users run) unless asked otherwise, as bench_train.
  if (a.omp_wait != "default") setenv("OMP_WAIT_POLICY", a.omp_wait.c_str(), 1);
  const std::string peer = (fs::path(PG_SOURCE_DIR) / "bench" / "peer_generate.py").string();
  std::printf(
      "| dtype | tokens | cells | iterations | threads | perturbgen (%s) s | cells/s | peak RSS MiB | "
      "decoder calls "
      "| "
      "peer s | cells/s | peak RSS MiB | decoder calls | speed-up |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
      a.demasking.c_str());
  std::vector<std::string> headline;
  std::map<std::string, double> ours_rate, peer_rate;  // by "dtype threads"
  // One row: ours and the peer in fresh children; `peer_extra` / `peer_batch`
  // change only the peer's run (the padded case).
  auto row = [&](const std::string& dt, const std::string& th, const std::vector<std::string>& peer_extra,
                 int64_t peer_batch, const std::string& label) {
    setenv("OMP_NUM_THREADS", th.c_str(), 1);
    auto common = [&](int64_t batch) {
      return std::vector<std::string>{"--tokens",     std::to_string(a.tokens),
                                      "--batch",      std::to_string(batch),
                                      "--threads",    th,
                                      "--d-ff",       std::to_string(a.d_ff),
                                      "--reps",       std::to_string(a.reps),
                                      "--iterations", std::to_string(a.iterations),
                                      "--dtype",      dt};
    };
    std::vector<std::string> ours = {self, "--worker", "--demasking", a.demasking};
    const auto oc_args = common(a.batch);
    ours.insert(ours.end(), oc_args.begin(), oc_args.end());
    std::vector<std::string> theirs = {a.python, peer};
    const auto pc_args = common(peer_batch);
    theirs.insert(theirs.end(), pc_args.begin(), pc_args.end());
    theirs.insert(theirs.end(), peer_extra.begin(), peer_extra.end());
    const Child oc = run_child(ours, fs::temp_directory_path()),
                pc = run_child(theirs, fs::temp_directory_path());
    const auto oj = merged_json(oc.out), pj = merged_json(pc.out);
    const double ratio = oj["cells_per_s"].get<double>() / pj["cells_per_s"].get<double>();
    std::printf(
        "| %s | %lld | %lld | %lld | %s | %.3f | %.2f | %.0f | %lld | %.3f | %.2f | %.0f | %lld | **%.2fx** "
        "|\n",
        label.c_str(), static_cast<long long>(a.tokens), static_cast<long long>(a.batch),
        static_cast<long long>(a.iterations), th.c_str(), oj["median"].get<double>(),
        oj["cells_per_s"].get<double>(), oc.rss_mib, oj["decoder_calls"].get<long long>(),
        pj["median"].get<double>(), pj["cells_per_s"].get<double>(), pc.rss_mib,
        pj["decoder_calls"].get<long long>(), ratio);
    std::fflush(stdout);
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s %s threads %.2fx;", label.c_str(), th.c_str(), ratio);
    headline.emplace_back(buf);
    ours_rate[dt + " " + th] = oj["cells_per_s"].get<double>();
    if (peer_extra.empty()) peer_rate[dt + " " + th] = pj["cells_per_s"].get<double>();
  };
  for (const auto& dt : split(a.dtypes))
    for (const auto& th : split(a.threads_list)) row(dt, th, {}, a.batch, dt);
  // Ours in bf16 against the peer as the reference runs (fp32).
  for (const auto& th : split(a.threads_list))
    if (ours_rate.count("bf16 " + th) && peer_rate.count("fp32 " + th)) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "ours bf16 vs peer fp32 %s threads %.2fx;", th.c_str(),
                    ours_rate["bf16 " + th] / peer_rate["fp32 " + th]);
      headline.emplace_back(buf);
    }
  // The reference on real data pads every tensor to the dataset's longest cell.
  if (a.padded_peer > 0) {
    const auto th = split(a.threads_list).back();
    row("fp32", th, {"--pad-to", std::to_string(a.padded_peer)}, a.padded_batch,
        "fp32, peer padded to " + std::to_string(a.padded_peer) + " (batch " +
            std::to_string(a.padded_batch) + ")");
  }
  std::printf(
      "\nheadline (generation cells/s ratio, each dtype against the peer in the same dtype, %s de-masking, "
      "OMP_WAIT_POLICY %s):",
      a.demasking.c_str(), a.omp_wait.c_str());
  for (const auto& h : headline) std::printf(" %s", h.c_str());
  std::printf(" target >= 5x\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  const OptionSetters options = {
      {"--python", [&](const std::string& v) { a.python = v; }},
      {"--tokens", [&](const std::string& v) { a.tokens = std::stoll(v); }},
      {"--batch", [&](const std::string& v) { a.batch = std::stoll(v); }},
      {"--threads", [&](const std::string& v) { a.threads = std::stoi(v); }},
      {"--d-ff", [&](const std::string& v) { a.d_ff = std::stoll(v); }},
      {"--reps", [&](const std::string& v) { a.reps = std::stoi(v); }},
      {"--iterations", [&](const std::string& v) { a.iterations = std::stoll(v); }},
      {"--demasking", [&](const std::string& v) { a.demasking = v; }},
      {"--thread-list", [&](const std::string& v) { a.threads_list = v; }},
      {"--omp-wait-policy", [&](const std::string& v) { a.omp_wait = v; }},
      {"--dtype", [&](const std::string& v) { a.dtype = v; }},
      {"--padded-peer", [&](const std::string& v) { a.padded_peer = std::stoll(v); }},
      {"--padded-batch", [&](const std::string& v) { a.padded_batch = std::stoll(v); }},
      {"--dtypes", [&](const std::string& v) { a.dtypes = v; }}};
  try {
    parse_arguments(argc, argv, options, {{"--worker", &a.worker}});
    if (a.demasking != "maskgit" && a.demasking != "reference")
      throw std::runtime_error("--demasking is maskgit or reference");
    if (a.worker) return run_worker(a);
    if (a.python.empty()) throw std::runtime_error("--python is required");
    return run_driver(a, fs::canonical("/proc/self/exe").string());
  } catch (const std::exception& e) {
    std::cerr << "bench_generate: " << e.what() << "\n";
    return 1;
  }
}
