// MaskGIT decoding against the reference: the three golden generation traces
// (tiny_generation.safetensors, golden §7) fed the reference's own noise, the
// per-iteration masked counts of schedules.json (golden §8), and the
// properties of our `maskgit` rule (no duplicate genes, no special tokens,
// ⌊L·γ(r_i)⌋ masks, determinism per cell).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "generate/maskgit.h"
#include "golden_support.h"
#include "model/perturbgen_model.h"
#include "test_support.h"

namespace {

using namespace pg::generate;
using pg::model::NamedTensors;

struct Golden {
  nlohmann::json config;
  NamedTensors model, io, gen;
};

const Golden& golden() {
  static const Golden g = [] {
    Golden r;
    r.config = pg::test::golden_json("tiny_config.json");
    r.model = pg::test::golden_tensors("tiny_model.safetensors");
    r.io = pg::test::golden_tensors("tiny_io.safetensors");
    r.gen = pg::test::golden_tensors("tiny_generation.safetensors");
    return r;
  }();
  return g;
}

const torch::Tensor& tensor(const NamedTensors& m, const std::string& name) {
  return pg::test::golden_at(m, name);
}

void expect_close(const std::string& name, const torch::Tensor& a, const torch::Tensor& e,
                  double tol = 1e-4) {
  pg::test::expect_close(name, a, e, tol, tol);
}

pg::model::PerturbGenModel tiny_model() {
  auto config = pg::model::model_config_from_json(golden().config, "tiny_config.json");
  pg::model::PerturbGenModel model(config);
  model->load_reference_weights(golden().model, "tiny_model.safetensors");
  return model;
}

class GoldenTrace : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTrace, ReproducesEveryIdOfTheReference) {
  const std::string X = GetParam();
  const auto& settings = golden().config["generation_traces"][X];
  MaskGitOptions o;
  o.iterations = settings["iterations"].get<int64_t>();
  o.temperature = settings["temperature"].get<double>();
  o.schedule = pg::train::parse_mask_schedule(settings["schedule"].get<std::string>());
  o.demasking = Demasking::reference;
  const int64_t ell = settings["sequence_length"].is_null() ? 0 : settings["sequence_length"].get<int64_t>();

  auto model = tiny_model();
  const auto& src = tensor(golden().io, "src_input_ids");
  std::map<int64_t, torch::Tensor> true_ids;
  for (int64_t t = 1; t <= 3; ++t) true_ids[t] = tensor(golden().io, "tgt_input_ids_t" + std::to_string(t));
  const auto h_src = model->encode(src);
  for (int64_t t = 1; t <= 3; ++t) {
    const std::string sfx = "_t" + std::to_string(t);
    const auto& U = tensor(golden().gen, "gen." + X + ".uniform_noise" + sfx);
    UniformNoise noise = [&](int64_t i, int64_t, int64_t) { return U[i]; };
    auto built = model->decoder->build_context(h_src, src.eq(0), true_ids, t);
    const auto start = reference_start(true_ids[t], ell, 0);
    const auto r = generate_time_point(*model->decoder, built.context, t, start, o, noise, /*trace=*/true);

    const auto& inputs = tensor(golden().gen, "gen." + X + ".decoder_input_ids" + sfx);
    const auto& raw_logits = tensor(golden().gen, "gen." + X + ".raw_logits" + sfx);
    const auto& expected_ids = tensor(golden().gen, "gen." + X + ".generated_ids" + sfx);
    ASSERT_LE(r.decoder_calls, o.iterations);
    for (int64_t i = 0; i < o.iterations; ++i) {
      // After the early stop the reference keeps feeding the finished sentence.
      const auto ours = i < r.decoder_calls ? r.trace_inputs[static_cast<size_t>(i)] : r.ids;
      EXPECT_TRUE(torch::equal(ours, inputs[i])) << X << sfx << " decoder input of iteration " << i;
      if (i < r.decoder_calls)
        expect_close(X + sfx + " raw logits " + std::to_string(i), r.trace_logits[static_cast<size_t>(i)],
                     raw_logits[i]);
    }
    EXPECT_TRUE(torch::equal(r.ids, expected_ids)) << X << sfx << "\n" << r.ids << "\n" << expected_ids;
    expect_close(X + sfx + " final hidden", r.hidden,
                 tensor(golden().gen, "gen." + X + ".final_hidden" + sfx));
    const auto mean = pg::model::PerturbGenDecoderImpl::mean_embedding(r.hidden, r.last_input);
    expect_close(X + sfx + " mean embedding", mean,
                 tensor(golden().gen, "gen." + X + ".final_mean_embedding" + sfx));
    const auto counts =
        model->count_head->forward(mean, torch::zeros({3}, torch::kLong), torch::ones({3}) * 100);
    expect_close(X + sfx + " rho", counts.rho, tensor(golden().gen, "gen." + X + ".final_rho" + sfx), 1e-6);
    expect_close(X + sfx + " pi logits", counts.pi_logits,
                 tensor(golden().gen, "gen." + X + ".final_pi_logits" + sfx));
    std::printf("  trace %s t%ld: %ld of %ld decoder calls (early stop)\n", X.c_str(), static_cast<long>(t),
                static_cast<long>(r.decoder_calls), static_cast<long>(o.iterations));
  }
}

INSTANTIATE_TEST_SUITE_P(Traces, GoldenTrace, ::testing::Values("A", "B", "C"));

// A one-block decoder with random weights whose special ids are never
// proposed (the dummy decoder of golden §8).
pg::model::PerturbGenDecoder dummy_decoder(int64_t vocab, int64_t max_len) {
  pg::model::DecoderConfig c;
  c.vocab_size = vocab;
  c.d_model = 8;
  c.num_heads = 2;
  c.head_dim = 4;
  c.num_layers = 1;
  c.ffn_hidden = 8;
  c.max_seq_length = max_len;
  c.n_total_tps = 1;
  c.pred_tps = {1};
  c.context_mode = false;
  torch::manual_seed(3);
  pg::model::PerturbGenDecoder dec(c);
  torch::NoGradGuard g;
  dec->decoder_fc->bias.narrow(0, 0, 4).fill_(-1e9);
  return dec;
}

pg::model::DecoderContext dummy_context(pg::model::PerturbGenDecoderImpl& dec, int64_t B) {
  pg::model::DecoderContext ctx{torch::randn({B, 3, 8}), torch::zeros({B, 3}, torch::kBool), {}, {}};
  dec.prepare(ctx);
  return ctx;
}

TEST(Schedules, ReferenceLoopReproducesTheReferenceCounts) {
  const auto j = pg::test::golden_json("schedules.json");
  auto dec = dummy_decoder(300, 256);
  int checked_loop = 0;
  for (const auto& e : j["entries"]) {
    const auto s = pg::train::parse_mask_schedule(e["schedule"].get<std::string>());
    const auto L = e["L"].get<int64_t>(), N = e["iterations"].get<int64_t>();
    const auto total = e["total_tokens"].get<int64_t>();
    const auto sel = e["n_selected"].get<std::vector<int64_t>>();
    const auto fed = e["n_mask_input"].get<std::vector<int64_t>>();
    const std::string what = e["schedule"].get<std::string>() + " L=" + std::to_string(L) +
                             " N=" + std::to_string(N) + " total=" + std::to_string(total);
    EXPECT_EQ(reference_mask_counts(s, L, N, total), sel) << what;
    // The float32 ratios, bit for bit.
    const auto ratios = schedule_ratios(s, N, torch::full({1}, total, torch::kLong));
    const auto hex = e["ratio_float32_hex"].get<std::vector<int64_t>>();
    for (int64_t i = 0; i < N; ++i) {
      const float f = ratios[i][0].item<float>();
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      EXPECT_EQ(bits, static_cast<uint32_t>(hex[static_cast<size_t>(i)])) << what << " ratio " << i;
    }
    if (total != L) continue;  // the loop's initial masks are the total (see golden §8)
    MaskGitOptions o;
    o.iterations = N;
    o.schedule = s;
    o.demasking = Demasking::reference;
    auto ctx = dummy_context(*dec, 1);
    const auto start = length_start(torch::full({1}, L, torch::kLong), {});
    const auto r = generate_time_point(*dec, ctx, 1, start, o, keyed_noise(1, 1, {0}));
    for (int64_t i = 0; i < N; ++i)
      EXPECT_EQ(i < r.decoder_calls ? r.masked[static_cast<size_t>(i)] : 0, fed[static_cast<size_t>(i)])
          << what << " iteration " << i;
    ++checked_loop;
  }
  EXPECT_GE(checked_loop, 40);
}

TEST(MaskGit, CountsAreLTimesGammaAndCellsHaveNoDuplicatesOrSpecials) {
  EXPECT_EQ(
      maskgit_mask_counts(pg::train::MaskSchedule::pow, 200, 20),
      (std::vector<int64_t>{
          200, 199, 197, 195, 191, 186, 180, 172, 164, 155,
          144, 132, 120, 106, 91,  75,  58,  39,  20,  0}));  // torch: int(200 * (1 - linspace(0, 1, 20)**2))
  // A small vocabulary (40 genes) makes clashes between positions frequent.
  auto dec = dummy_decoder(44 + 10, 64);
  MaskGitOptions o;
  o.iterations = 8;
  o.temperature = 2.0;
  o.topk_filter_thres = 0.5;
  o.gene_id_end = 44;
  const auto lengths = torch::tensor({30L, 40L, 5L, 1L});
  auto ctx = dummy_context(*dec, 4);
  const auto start = length_start(lengths, {});
  const auto r = generate_time_point(*dec, ctx, 1, start, o, keyed_noise(9, 1, {10, 11, 12, 13}));
  for (int64_t b = 0; b < 4; ++b) {
    std::set<int64_t> genes;
    for (int64_t j = 0; j < r.ids.size(1); ++j) {
      const auto id = r.ids[b][j].item<int64_t>();
      if (j >= lengths[b].item<int64_t>()) {
        EXPECT_EQ(id, 0) << "row " << b << " pos " << j;
        continue;
      }
      EXPECT_GE(id, 4);
      EXPECT_LT(id, 44);
      EXPECT_TRUE(genes.insert(id).second) << "row " << b << " repeats gene " << id;
    }
  }
  // The same cells, alone or in another batch, get the same genes.
  auto ctx1 = dummy_context(*dec, 1);
  torch::manual_seed(0);
  ctx1.tensor = ctx.tensor.narrow(0, 2, 1);
  ctx1.kv.clear();
  const auto r1 = generate_time_point(*dec, ctx1, 1, length_start(lengths.narrow(0, 2, 1), {}), o,
                                      keyed_noise(9, 1, {12}));
  EXPECT_TRUE(torch::equal(r1.ids.narrow(1, 0, 5), r.ids.narrow(0, 2, 1).narrow(1, 0, 5)));
  // Early stop: the schedule reaches 0 masks before the last iteration.
  EXPECT_LE(r.decoder_calls, o.iterations);
}

}  // namespace
