// Parity of the libtorch forward model (source encoder, decoder, context
// conditioning, positional modes) with the reference's golden dumps
// (shared/golden tiny_model / tiny_io / tiny_posenc, README §3, §4, §14).
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

#include "golden_support.h"
#include "model/config.h"
#include "model/decoder.h"
#include "model/encoder.h"
#include "model/positional.h"
#include "model/weights.h"
#include "test_support.h"

namespace {

using namespace pg::model;
using pg::test::error_of;
using torch::indexing::Slice;

const std::string kEnc = "transformer.encoder_layers.model.";

struct Golden {
  ModelConfig config;
  nlohmann::json raw_config;
  NamedTensors model, io, posenc;
};

const Golden& golden() {
  static const Golden g = [] {
    Golden r;
    r.raw_config = pg::test::golden_json("tiny_config.json");
    r.config = model_config_from_json(r.raw_config, "tiny_config.json");
    r.model = pg::test::golden_tensors("tiny_model.safetensors");
    r.io = pg::test::golden_tensors("tiny_io.safetensors");
    r.posenc = pg::test::golden_tensors("tiny_posenc.safetensors");
    return r;
  }();
  return g;
}

const torch::Tensor& io(const std::string& name) {
  auto it = golden().io.find(name);
  if (it == golden().io.end()) throw std::runtime_error("tiny_io has no " + name);
  return it->second;
}

// Prints the max abs difference and checks |a - e| <= atol + rtol |e|.
void expect_close(const std::string& name, const torch::Tensor& actual, const torch::Tensor& expected,
                  double atol = 1e-4, double rtol = 1e-4) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << name;
  auto a = actual.detach().cpu().to(torch::kFloat64), e = expected.to(torch::kFloat64);
  const double max_abs = (a - e).abs().max().item<double>();
  std::printf("  %-40s max|diff| = %.3g\n", name.c_str(), max_abs);
  const bool ok = ((a - e).abs() <= atol + rtol * e.abs()).all().item<bool>();
  EXPECT_TRUE(ok) << name << ": max abs difference " << max_abs;
}

SourceEncoder make_encoder(EncoderMode mode = EncoderMode::Reference) {
  auto c = golden().config.encoder;
  c.mode = mode;
  SourceEncoder enc(c);
  load_parameters(*enc, golden().model, kEnc, "tiny_model.safetensors", enc->unused_block_prefixes(kEnc));
  return enc;
}

PerturbGenDecoder make_decoder(const NamedTensors& tensors,
                               PositionalMode mode = PositionalMode::TimePosSin) {
  auto c = golden().config.decoder;
  c.positional = mode;
  PerturbGenDecoder dec(c);
  load_parameters(*dec, tensors, "transformer.", "tiny_model.safetensors", {"transformer.encoder_layers."});
  return dec;
}

std::map<int64_t, torch::Tensor> true_targets() {
  std::map<int64_t, torch::Tensor> m;
  for (int64_t t = 1; t <= 3; ++t) m[t] = io("tgt_input_ids_t" + std::to_string(t));
  return m;
}

TEST(ModelConfig, ReadsTinyConfigAndRoundTrips) {
  const auto& c = golden().config;
  EXPECT_EQ(c.encoder.embedding_rows, 43);
  EXPECT_EQ(c.encoder.inner_dim(), 64);
  EXPECT_EQ(c.encoder.time_row, 1);
  EXPECT_EQ(c.decoder.vocab_size, 50);
  EXPECT_EQ(c.decoder.head_dim, 4);
  EXPECT_EQ(c.decoder.inner_dim(), 32);
  EXPECT_EQ(c.decoder.time_table_rows(), 5);
  EXPECT_EQ(c.decoder.max_seq_length, 116);
  EXPECT_EQ(c.decoder.pred_tps, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_FALSE(c.decoder.context_tps.has_value());
  EXPECT_TRUE(c.decoder.context_mode);
  EXPECT_EQ(c.decoder.positional, PositionalMode::TimePosSin);
  ASSERT_TRUE(c.count_head.has_value());
  EXPECT_EQ(c.count_head->n_genes, 30);
  EXPECT_EQ(c.count_head->size_factor, SizeFactorMode::observed);
  auto back = model_config_from_json(model_config_to_json(c));
  EXPECT_EQ(model_config_to_json(back), model_config_to_json(c));

  auto bad = golden().raw_config;
  bad["decoder_perturbgen"]["pos_encoding_mode"] = "rotary";
  EXPECT_NE(error_of([&] { model_config_from_json(bad, "x.json"); }).find("rotary"), std::string::npos);
  bad = golden().raw_config;
  bad["encoder_scmoscf"].erase("d_model");
  EXPECT_NE(error_of([&] { model_config_from_json(bad, "x.json"); }).find("encoder_scmoscf.d_model"),
            std::string::npos);
}

TEST(Positional, SinusoidTablesMatchStoredTables) {
  const auto& m = golden().model;
  expect_close("enc pos_pe", sinusoid_table(64, 64), m.at(kEnc + "pos_embedding.pos_pe")[0], 4e-6, 0);
  expect_close("enc time_pe", sinusoid_table(3, 64), m.at(kEnc + "pos_embedding.time_pe")[0], 1e-6, 0);
  expect_close("dec pos_pe", sinusoid_table(116, 64), m.at("transformer.pos_embedding.pos_pe")[0], 8e-6, 0);
  expect_close("dec time_pe", sinusoid_table(5, 64), m.at("transformer.pos_embedding.time_pe")[0], 1e-6, 0);
  // float32 exp/sin differ by an ulp between torch builds, and the argument
  // p * div carries that ulp: the gap grows with the row (about 2 ulp of p).
  // Stored tables are loaded with the weights, so only this bound matters.
  expect_close("comb_sin pe", sinusoid_table(580, 64),
               golden().posenc.at("comb_sin.transformer.pos_embedding.pe")[0], 6e-5, 0);
  // The module's own buffers, as constructed (before any loading).
  PositionalEncoding learnt(PositionalMode::SinLearnt, 5, 116, 64);
  expect_close("sin_learnt pe (= time table)", learnt->pe,
               golden().posenc.at("sin_learnt.transformer.pos_embedding.pe"), 1e-6, 0);
  EXPECT_TRUE(
      torch::equal(learnt->pos_ids, golden().posenc.at("sin_learnt.transformer.pos_embedding.pos_ids")));
}

TEST(Encoder, MatchesReferenceActivations) {
  torch::NoGradGuard ng;
  auto enc = make_encoder();
  const auto& src = io("src_input_ids");
  expect_close("enc.x0", enc->embed(src), io("enc.x0"));
  // Reference mode holds only the last block; every block on x0 needs them all.
  EXPECT_EQ(enc->decoder_block->size(), 1u);
  EXPECT_EQ(enc->unused_block_prefixes("e."),
            (std::vector<std::string>{"e.decoder_block.0.", "e.decoder_block.1."}));
  auto blocks = make_encoder(EncoderMode::Stacked)->block_outputs_reference(src);
  ASSERT_EQ(blocks.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    expect_close("enc.block" + std::to_string(i) + "_out", blocks[i],
                 io("enc.block" + std::to_string(i) + "_out"));
  auto h = enc->forward(src);
  expect_close("enc.output", h, io("enc.output"));
  expect_close("enc.decoder_fc_logits", enc->mlm_logits(h), io("enc.decoder_fc_logits"));

  // Stacked blocks are a different function: the reference run measured the gap.
  auto stacked = make_encoder(EncoderMode::Stacked);
  const double gap = (stacked->forward(src) - io("enc.output")).abs().max().item<double>();
  std::printf("  stacked vs reference encoder max|diff| = %.6f\n", gap);
  EXPECT_NEAR(gap, golden().raw_config["observed"]["enc_sequential_vs_ref_maxabs"].get<double>(), 1e-4);
}

TEST(Decoder, TeacherForcedPassesMatchEveryRecordedActivation) {
  torch::NoGradGuard ng;
  auto enc = make_encoder();
  auto dec = make_decoder(golden().model);
  const auto& src = io("src_input_ids");
  auto h_src = enc->forward(src);
  auto targets = true_targets();
  for (int64_t t = 1; t <= 3; ++t) {
    const std::string p = "dec.t" + std::to_string(t) + ".";
    auto built = dec->build_context(h_src, src.eq(0), targets, t);
    ASSERT_EQ(built.passes.size(), 2u);
    for (auto& [c, res] : built.passes) {
      const std::string q = p + "ctxpass_t" + std::to_string(c) + ".";
      expect_close(q + "x0", res.x0, io(q + "x0"));
      for (size_t i = 0; i < res.block_outs.size(); ++i)
        expect_close(q + "block" + std::to_string(i) + "_out", res.block_outs[i],
                     io(q + "block" + std::to_string(i) + "_out"));
    }
    expect_close(p + "context", built.context.tensor, io(p + "context"));
    EXPECT_TRUE(torch::equal(built.context.pad, io(p + "context_pad_mask"))) << p << "context_pad_mask";
    auto res = dec->pass(targets[t], t, built.context);
    expect_close(p + "x0", res.x0, io(p + "x0"));
    expect_close(p + "block0_out", res.block_outs[0], io(p + "block0_out"));
    expect_close(p + "block1_out", res.block_outs[1], io(p + "block1_out"));
    expect_close(p + "hidden", res.hidden, io(p + "hidden"));
    expect_close(p + "logits", dec->logits(res.hidden), io(p + "logits"));
    expect_close(p + "mean_embedding", PerturbGenDecoderImpl::mean_embedding(res.hidden, targets[t]),
                 io(p + "mean_embedding"));
  }
}

TEST(Decoder, MaskedInputPassMatchesMlmFixture) {
  torch::NoGradGuard ng;
  auto enc = make_encoder();
  auto dec = make_decoder(golden().model);
  const auto& src = io("src_input_ids");
  const int64_t t = io("mlm.time").item<int64_t>();
  ASSERT_EQ(t, 2);
  auto built = dec->build_context(enc->forward(src), src.eq(0), true_targets(), t);
  const auto& masked = io("mlm.masked_ids");
  auto res = dec->pass(masked, t, built.context);
  expect_close("mlm.hidden", res.hidden, io("mlm.hidden"));
  auto logits = dec->logits(res.hidden);
  expect_close("mlm.logits", logits, io("mlm.logits"));
  // <mask> positions (id 1) are excluded from the mean.
  expect_close("mlm.mean_embedding", PerturbGenDecoderImpl::mean_embedding(res.hidden, masked),
               io("mlm.mean_embedding"));
  auto ce = torch::nn::functional::cross_entropy(logits.view({-1, 50}), io("mlm.labels").view({-1}));
  expect_close("mlm.ce_loss", ce, io("mlm.ce_loss"));
}

TEST(Decoder, CachedCrossAttentionKeysGiveTheSamePass) {
  torch::NoGradGuard ng;
  auto enc = make_encoder();
  auto dec = make_decoder(golden().model);
  const auto& src = io("src_input_ids");
  auto built = dec->build_context(enc->forward(src), src.eq(0), true_targets(), 3);
  dec->prepare(built.context);
  ASSERT_EQ(built.context.kv.size(), 2u);
  const auto k0 = built.context.kv[0].k;
  auto a = dec->pass(io("tgt_input_ids_t3"), 3, built.context).hidden;
  auto b = dec->pass(io("tgt_input_ids_t3"), 3, built.context).hidden;
  EXPECT_TRUE(built.context.kv[0].k.is_same(k0));  // reused, not recomputed
  EXPECT_TRUE(torch::equal(a, b));
  expect_close("dec.t3.hidden (cached kv)", a, io("dec.t3.hidden"));
}

TEST(Attention, FullyMaskedQueryRowsGiveZeroAttentionOutput) {
  torch::NoGradGuard ng;
  torch::manual_seed(0);
  MultiHeadAttention mha(16, 4, 2);
  auto x = torch::randn({2, 5, 16});
  auto pad = torch::zeros({2, 5}, torch::kBool);
  pad[1].fill_(true);  // batch row 1: every key is padding
  pad[0][3] = true;
  auto out = mha->forward(x, x, pad);
  // A zero attention result leaves only the output bias.
  auto bias = mha->to_out[0]->as<torch::nn::Linear>()->bias;
  EXPECT_TRUE(torch::allclose(out[1], bias.expand({5, 16})));
  EXPECT_FALSE(out.isnan().any().item<bool>());
  // Independent check of row 0: softmax over the 4 unmasked keys, by hand.
  auto q = mha->to_q(x[0]).view({5, 4, 2}).transpose(0, 1);
  auto k = mha->to_k(x[0]).view({5, 4, 2}).transpose(0, 1);
  auto v = mha->to_v(x[0]).view({5, 4, 2}).transpose(0, 1);
  auto s = torch::matmul(q, k.transpose(1, 2)) / std::sqrt(2.0);
  s.index_put_({Slice(), Slice(), 3}, -1e30);
  auto o = torch::matmul(torch::softmax(s, -1), v).transpose(0, 1).reshape({5, 8});
  EXPECT_TRUE(torch::allclose(out[0], mha->to_out->forward(o), 1e-5, 1e-6));
}

// comb_sin / sin_learnt decoders: tiny_model weights except the positional
// tensors, which come from tiny_posenc (golden §14).
void check_positional_mode(const std::string& mode_name, PositionalMode mode) {
  torch::NoGradGuard ng;
  NamedTensors tensors;
  for (const auto& [k, v] : golden().model)
    if (k.rfind("transformer.pos_embedding.", 0) != 0) tensors.emplace(k, v);
  for (const auto& [k, v] : golden().posenc)
    if (k.rfind(mode_name + ".transformer.", 0) == 0) tensors.emplace(k.substr(mode_name.size() + 1), v);
  auto enc = make_encoder();
  auto dec = make_decoder(tensors, mode);
  const auto& src = io("src_input_ids");
  auto h_src = enc->forward(src);
  auto targets = true_targets();
  for (int64_t t = 1; t <= 3; ++t) {
    const std::string p = mode_name + ".t" + std::to_string(t) + ".";
    auto built = dec->build_context(h_src, src.eq(0), targets, t);
    expect_close(p + "context", built.context.tensor, golden().posenc.at(p + "context"));
    auto res = dec->pass(targets[t], t, built.context);
    expect_close(p + "x0", res.x0, golden().posenc.at(p + "x0"));
    expect_close(p + "hidden", res.hidden, golden().posenc.at(p + "hidden"));
    expect_close(p + "logits", dec->logits(res.hidden), golden().posenc.at(p + "logits"));
    expect_close(p + "mean_embedding", PerturbGenDecoderImpl::mean_embedding(res.hidden, targets[t]),
                 golden().posenc.at(p + "mean_embedding"));
  }
}

TEST(Positional, CombSinDecoderMatchesFixture) {
  check_positional_mode("comb_sin", PositionalMode::CombSin);
}
TEST(Positional, SinLearntDecoderMatchesFixture) {
  check_positional_mode("sin_learnt", PositionalMode::SinLearnt);
}

TEST(Weights, MissingMisShapedAndUnexpectedTensorsAreErrors) {
  auto c = golden().config.decoder;
  NamedTensors t = golden().model;
  t.erase("transformer.decoder_block.1.norm2.bias");
  auto msg = error_of([&] {
    PerturbGenDecoder d(c);
    load_parameters(*d, t, "transformer.", "m.safetensors", {"transformer.encoder_layers."});
  });
  EXPECT_NE(msg.find("transformer.decoder_block.1.norm2.bias"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing"), std::string::npos) << msg;

  t = golden().model;
  t["transformer.decoder_block.0.cross_attn.to_q.weight"] = torch::zeros({64, 64});
  msg = error_of([&] {
    PerturbGenDecoder d(c);
    load_parameters(*d, t, "transformer.", "m.safetensors", {"transformer.encoder_layers."});
  });
  EXPECT_NE(msg.find("(64, 64)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("(32, 64)"), std::string::npos) << msg;

  t = golden().model;
  msg = error_of([&] {
    PerturbGenDecoder d(c);
    load_parameters(*d, t, "transformer.", "m.safetensors");  // encoder keys not ignored
  });
  EXPECT_NE(msg.find("unexpected"), std::string::npos) << msg;
  EXPECT_NE(msg.find("transformer.encoder_layers.model."), std::string::npos) << msg;

  // Out-of-vocabulary ids are a pg::Error, not an index crash.
  msg = error_of([&] { make_encoder()->forward(torch::full({1, 4}, 43, torch::kLong)); });
  EXPECT_NE(msg.find("43"), std::string::npos) << msg;
}

}  // namespace
