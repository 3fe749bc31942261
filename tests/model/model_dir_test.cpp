// The whole model (encoder + decoder + count head) against the golden dumps,
// checkpoint import against the golden Lightning checkpoints (bit-exact), and
// model directories: round trip, refusals and one-line errors, the CLI.
#include <gtest/gtest.h>

#include <fstream>

#include "io/safetensors.h"
#include "model/batching.h"
#include "model/checkpoint_import.h"
#include "model/model_dir.h"
#include "model/perturbgen_model.h"
#include "store/store_fixture.h"
#include "test_support.h"

namespace {

using namespace pg::model;
using pg::test::error_of;
namespace fs = std::filesystem;

std::string golden_path(const std::string& name) {
  return (pg::test::shared_dir() / "golden" / name).string();
}

const NamedTensors& tensors(const std::string& file) {
  static std::map<std::string, NamedTensors> cache;
  auto it = cache.find(file);
  if (it == cache.end())
    it = cache.emplace(file, to_torch(pg::io::SafeTensors::read(golden_path(file)))).first;
  return it->second;
}
const torch::Tensor& io(const std::string& name) {
  return tensors("tiny_io.safetensors").at(name);
}

ModelConfig tiny_config() {
  std::ifstream in(golden_path("tiny_config.json"));
  return model_config_from_json(nlohmann::json::parse(in), "tiny_config.json");
}

void expect_close(const std::string& name, const torch::Tensor& a, const torch::Tensor& e, double atol = 1e-4,
                  double rtol = 1e-4) {
  ASSERT_EQ(a.sizes(), e.sizes()) << name;
  auto ad = a.detach().cpu().to(torch::kFloat64), ed = e.to(torch::kFloat64);
  EXPECT_TRUE(((ad - ed).abs() <= atol + rtol * ed.abs()).all().item<bool>())
      << name << ": max abs difference " << (ad - ed).abs().max().item<double>();
}

ModelBatch tiny_batch() {
  ModelBatch b;
  b.src_ids = io("src_input_ids");
  for (int64_t t = 1; t <= 3; ++t) {
    b.tgt_ids[t] = io("tgt_input_ids_t" + std::to_string(t));
    b.library[t] = io("tgt_size_factor_t" + std::to_string(t));
  }
  b.condition = io("combined_batch");
  return b;
}

PerturbGenModel tiny_model() {
  PerturbGenModel m(tiny_config());
  m->load_reference_weights(tensors("tiny_model.safetensors"), "tiny_model.safetensors");
  return m;
}

TEST(WholeModel, TeacherForcedPassReproducesDecoderAndCountHead) {
  torch::NoGradGuard ng;
  auto m = tiny_model();
  auto out = m->forward(tiny_batch());
  ASSERT_EQ(out.size(), 3u);
  double total = 0;
  for (int64_t t = 1; t <= 3; ++t) {
    const std::string d = "dec.t" + std::to_string(t) + ".", c = "count.t" + std::to_string(t) + ".";
    const auto& r = out.at(t);
    expect_close(d + "context", r.context.context.tensor, io(d + "context"));
    expect_close(d + "hidden", r.pass.hidden, io(d + "hidden"));
    expect_close(d + "logits", r.logits, io(d + "logits"));
    expect_close(d + "mean_embedding", r.mean_embedding, io(d + "mean_embedding"));
    ASSERT_TRUE(r.counts.has_value());
    expect_close(c + "rho", r.counts->rho, io(c + "rho"), 1e-6, 1e-4);
    expect_close(c + "pi_logits", r.counts->pi_logits, io(c + "pi_logits"));
    expect_close(c + "mu", r.counts->mu, io(c + "mu"));
    auto nll = m->count_head->loss(*r.counts, io("tgt_counts_t" + std::to_string(t)));
    expect_close(c + "zinb_nll", nll, io(c + "zinb_nll"), 1e-3, 1e-5);
    total += nll.item<double>();
  }
  EXPECT_NEAR(total, io("count.loss_zinb_total").item<double>(), 1e-3);
}

// With gradients on (training), the shared context must not cut the
// gradient of the main pass's cross-attention keys/values; the encoder and
// the context passes stay frozen, as in the reference.
TEST(WholeModel, GradientsReachCrossAttentionButNotTheEncoder) {
  auto m = tiny_model();
  auto out = m->forward(tiny_batch(), {2});
  out.at(2).logits.sum().backward();
  auto& block = *m->decoder->decoder_block->ptr<DecoderBlockImpl>(0);
  ASSERT_TRUE(block.cross_attn->to_k->weight.grad().defined());
  EXPECT_GT(block.cross_attn->to_k->weight.grad().abs().sum().item<double>(), 0.0);
  EXPECT_GT(block.self_attn->to_q->weight.grad().abs().sum().item<double>(), 0.0);
  for (const auto& p : m->encoder->parameters()) EXPECT_FALSE(p.grad().defined());
  // The same numbers as without gradients.
  torch::NoGradGuard ng;
  expect_close("dec.t2.logits (grad mode)", out.at(2).logits, io("dec.t2.logits"));
}

// Length buckets: the cells sorted by length, in batches trimmed to their own
// longest sequence, give every cell the same embedding and counts.
TEST(WholeModel, LengthBucketsGiveTheSameCells) {
  torch::NoGradGuard ng;
  auto m = tiny_model();
  const ModelBatch b = tiny_batch();
  const auto lengths = batch_lengths(b);
  EXPECT_TRUE(torch::equal(lengths, torch::tensor({16, 11, 13}, torch::kLong)));  // max of src and targets
  const auto buckets = length_buckets(lengths, 2);
  ASSERT_EQ(buckets.size(), 2u);
  EXPECT_TRUE(torch::equal(buckets[0], torch::tensor({0, 2}, torch::kLong)));
  EXPECT_TRUE(torch::equal(buckets[1], torch::tensor({1}, torch::kLong)));
  const auto sub = select_rows(b, buckets[1]);
  EXPECT_EQ(sub.src_ids.size(1), 11);  // trimmed to its own longest sequence
  EXPECT_EQ(sub.tgt_ids.at(1).size(1), 9);
  for (const auto& rows : buckets) {
    auto out = m->forward(select_rows(b, rows));
    for (int64_t t = 1; t <= 3; ++t) {
      const std::string p = "t" + std::to_string(t) + " rows " + std::to_string(rows[0].item<int64_t>());
      expect_close("mean_embedding " + p, out.at(t).mean_embedding,
                   io("dec.t" + std::to_string(t) + ".mean_embedding").index_select(0, rows));
      expect_close("rho " + p, out.at(t).counts->rho,
                   io("count.t" + std::to_string(t) + ".rho").index_select(0, rows), 1e-6, 1e-4);
    }
  }
  EXPECT_EQ(trim_padding(torch::zeros({2, 3}, torch::kLong)).size(1), 0);
}

TEST(WholeModel, ConditionTokensReproduceTinyCond) {
  torch::NoGradGuard ng;
  const auto& cond = tensors("tiny_cond.safetensors");
  auto m = tiny_model();
  ModelBatch b = tiny_batch();
  b.src_ids = cond.at("cond.src_input_ids");
  for (int64_t t = 1; t <= 3; ++t) b.tgt_ids[t] = cond.at("cond.tgt_input_ids_t" + std::to_string(t));
  // The condition tokens {ctrl: 34, stim: 35} leave the mean embedding.
  auto out = m->forward(b, {}, {34, 35});
  for (int64_t t = 1; t <= 3; ++t) {
    const std::string p = "cond.t" + std::to_string(t) + ".";
    const auto& r = out.at(t);
    expect_close(p + "context", r.context.context.tensor, cond.at(p + "context"));
    EXPECT_TRUE(torch::equal(r.context.context.pad, cond.at(p + "context_pad_mask"))) << p;
    expect_close(p + "hidden", r.pass.hidden, cond.at(p + "hidden"));
    expect_close(p + "logits", r.logits, cond.at(p + "logits"));
    expect_close(p + "mean_embedding", r.mean_embedding, cond.at(p + "mean_embedding"));
    expect_close(p + "rho", r.counts->rho, cond.at(p + "rho"), 1e-6, 1e-4);
    expect_close(p + "pi_logits", r.counts->pi_logits, cond.at(p + "pi_logits"));
  }
}

TEST(WholeModel, ReferenceWeightsRoundTripAndUnknownKeysAreErrors) {
  auto m = tiny_model();
  const auto w = m->reference_weights();
  // Everything the model holds, i.e. every golden key but the two encoder
  // blocks a reference-mode encoder never runs.
  for (const auto& [k, t] : tensors("tiny_model.safetensors")) {
    const bool unused = k.rfind("transformer.encoder_layers.model.decoder_block.0.", 0) == 0 ||
                        k.rfind("transformer.encoder_layers.model.decoder_block.1.", 0) == 0;
    ASSERT_EQ(w.count(k), unused ? 0u : 1u) << k;
    if (!unused) {
      EXPECT_TRUE(torch::equal(w.at(k), t)) << k;
    }
  }
  NamedTensors extra = w;
  extra.emplace("transformer.rogue.weight", torch::zeros({2}));
  EXPECT_NE(
      error_of([&] {
        tiny_model()->load_reference_weights(extra, "m.safetensors");
      }).find("m.safetensors: *: 1 unexpected tensor(s) the model does not have: transformer.rogue.weight"),
      std::string::npos);
  NamedTensors nan = w;
  nan.at("theta") = nan.at("theta").clone();
  nan.at("theta")[0][0] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(error_of([&] { tiny_model()->load_reference_weights(nan, "m.safetensors"); }),
            "m.safetensors: theta: holds NaN or infinite values");
  auto no_head = tiny_config();
  no_head.count_head.reset();
  PerturbGenModel masking(no_head);
  EXPECT_NE(error_of([&] {
              masking->load_reference_weights(w, "m.safetensors");
            }).find("is a count-head weight, but the model config has no count head"),
            std::string::npos);
}

TEST(ImportCkpt, CountCheckpointReproducesTinyModelBitExactly) {
  ImportReport r;
  const auto c = import_lightning_checkpoint(golden_path("tiny_count.ckpt"), {}, &r);
  EXPECT_EQ(r.stage, "count");
  EXPECT_EQ(r.tensors_read, 191);
  EXPECT_EQ(r.duplicates_dropped, 91);
  EXPECT_EQ(r.unused_dropped, 2 * 13);  // encoder blocks 0 and 1, 13 tensors each
  EXPECT_EQ(model_config_to_json(c.config), model_config_to_json(tiny_config()));
  const auto& golden = tensors("tiny_model.safetensors");
  for (const auto& [k, t] : c.weights) {
    ASSERT_TRUE(golden.count(k)) << k;
    EXPECT_TRUE(torch::equal(t, golden.at(k))) << k << " is not bit-identical";
  }
  EXPECT_EQ(c.weights.size(), golden.size() - 26);
  EXPECT_EQ(c.meta.provenance["stage"], "count");
  EXPECT_EQ(c.meta.provenance["lightning_version"], "2.4.0");
  EXPECT_EQ(c.meta.provenance["hyper_parameters"]["n_genes"], 30);
  EXPECT_EQ(c.meta.provenance["sha256"].get<std::string>().substr(0, 16), "a28cf57c8af698e4");
}

TEST(ImportCkpt, MaskingCheckpointHasNoCountHead) {
  ImportReport r;
  const auto c = import_lightning_checkpoint(golden_path("tiny_masking.ckpt"), {}, &r);
  EXPECT_EQ(r.stage, "masking");
  EXPECT_EQ(r.tensors_read, 91);
  EXPECT_FALSE(c.config.count_head.has_value());
  const auto& golden = tensors("tiny_model.safetensors");
  for (const auto& [k, t] : c.weights) EXPECT_TRUE(torch::equal(t, golden.at(k))) << k;
  EXPECT_EQ(c.weights.size(), 91u - 26u);
  // Gene names must fit the count head.
  ImportOptions o;
  o.genes = {"A", "B"};
  EXPECT_NE(error_of([&] {
              import_lightning_checkpoint(golden_path("tiny_count.ckpt"), o);
            }).find("2 gene names given for a count head of 30 genes"),
            std::string::npos);
}

// A standalone encoder checkpoint (the published weights' layout: scmoscf
// under `transformer.`) is named as such, not reported as a missing key.
TEST(ImportCkpt, StandaloneEncoderCheckpointIsNamed) {
  const auto dir = pg::test::temp_dir();
  const std::string script = (dir / "enc.py").string();
  std::ofstream(script)
      << "import sys, torch\n"
         "c = torch.load(sys.argv[1], weights_only=False)\n"
         "p = 'transformer.encoder_layers.model.'\n"
         "sd = {'transformer.' + k[len(p):]: v for k, v in c['state_dict'].items() if k.startswith(p)}\n"
         "torch.save({'state_dict': sd, 'epoch': 0, 'hyper_parameters': {}}, sys.argv[2])\n";
  const std::string out = (dir / "encoder.ckpt").string();
  auto r = pg::test::run_command(pg::test::python() + " " + script + " " + golden_path("tiny_masking.ckpt") +
                                 " " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(error_of([&] {
              import_lightning_checkpoint(out);
            }).find("state_dict: is a standalone source-encoder (scmaskgit) checkpoint"),
            std::string::npos);
}

TEST(ModelDir, RoundTripGivesTheSameModelAndRefusesToClobber) {
  const auto dir = pg::test::temp_dir();
  ModelDirContents c = import_lightning_checkpoint(golden_path("tiny_count.ckpt"));
  for (int i = 0; i < 30; ++i) c.meta.genes.push_back("G" + std::to_string(i + 4));
  c.meta.time_points = {"src", "t1", "t2", "t3"};
  write_model_dir(dir / "m", c, false);
  ASSERT_TRUE(fs::exists(dir / "m" / "config.json"));
  auto loaded = load_model(dir / "m");
  EXPECT_EQ(loaded.contents.meta.genes, c.meta.genes);
  EXPECT_EQ(loaded.contents.meta.time_points, c.meta.time_points);
  torch::NoGradGuard ng;
  auto a = loaded.model->forward(tiny_batch());
  expect_close("dec.t2.hidden via model dir", a.at(2).pass.hidden, io("dec.t2.hidden"));
  // No leftovers beside it (hidden temporaries are renamed away).
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir)) entries += e.path().filename() != "m";
  EXPECT_EQ(entries, 0);

  EXPECT_NE(error_of([&] { write_model_dir(dir / "m", c, false); }).find("already exists; pass --overwrite"),
            std::string::npos);
  write_model_dir(dir / "m", c, true);
  fs::create_directories(dir / "notes");
  std::ofstream(dir / "notes" / "keep.txt") << "mine";
  EXPECT_NE(error_of([&] { write_model_dir(dir / "notes", c, true); }).find("is not a model directory"),
            std::string::npos);
  EXPECT_TRUE(fs::exists(dir / "notes" / "keep.txt"));
}

TEST(ModelDir, DamagedDirectoriesAreOneLineErrors) {
  const auto dir = pg::test::temp_dir();
  const auto c = import_lightning_checkpoint(golden_path("tiny_count.ckpt"));
  write_model_dir(dir / "m", c, false);
  const auto cfg = (dir / "m" / "config.json").string();
  const std::string original = pg::test::read_text(cfg);

  EXPECT_NE(error_of([&] { load_model(dir / "none"); }).find("is not a directory"), std::string::npos);
  std::ofstream(cfg) << "{ not json";
  EXPECT_NE(error_of([&] { load_model(dir / "m"); }).find("config.json: is not valid JSON"),
            std::string::npos);
  auto j = nlohmann::json::parse(original);
  j["format_version"] = 9;
  std::ofstream(cfg) << j.dump();
  EXPECT_NE(error_of([&] { load_model(dir / "m"); }).find("format_version: 9 is not supported"),
            std::string::npos);
  j = nlohmann::json::parse(original);
  j["model"]["decoder_perturbgen"]["num_layers"] = 3;  // the weights have 2 blocks
  std::ofstream(cfg) << j.dump();
  EXPECT_NE(error_of([&] {
              load_model(dir / "m");
            }).find("model.safetensors: transformer.decoder_block.2.norm1.weight: missing"),
            std::string::npos);
  j = nlohmann::json::parse(original);
  j["model"]["count_head"]["n_genes"] = 31;
  std::ofstream(cfg) << j.dump();
  EXPECT_NE(error_of([&] {
              load_model(dir / "m");
            }).find("model.safetensors: theta: has shape (30, 1), the model expects (31, 1)"),
            std::string::npos);
  std::ofstream(cfg) << original;
  // A truncated weights file.
  const auto weights = dir / "m" / "model.safetensors";
  fs::resize_file(weights, fs::file_size(weights) - 100);
  EXPECT_NE(error_of([&] { load_model(dir / "m"); }).find("model.safetensors"), std::string::npos);
}

// The CLI end to end: import, model-info (text and JSON), a hostile
// checkpoint refused with one line and no output directory.
TEST(ModelCli, ImportCkptAndModelInfo) {
  const auto dir = pg::test::temp_dir();
  const std::string out = (dir / "tiny").string();
  auto r =
      pg::test::run_command(pg::test::cli() + " import-ckpt " + golden_path("tiny_count.ckpt") + " " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("imported count-stage checkpoint"), std::string::npos) << r.output;
  r = pg::test::run_command(pg::test::cli() + " model-info " + out + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  // Parameter counts from the shapes: decoder 2 blocks of (3 + 3) * 32 * 64 (q, k, v) +
  // 2 * (64 * 32 + 64) (to_out) + 3 * 128 (norms) + 2 * (64 * 64 + 64) (MLP), embedding 50 * 64,
  // output 50 * 64 + 50, learnt nothing else (sinusoid tables are buffers).
  const int64_t block = 6 * 32 * 64 + 2 * (64 * 32 + 64) + 3 * 128 + 2 * (64 * 64 + 64);
  EXPECT_EQ(j["parameters"]["decoder"], 2 * block + 50 * 64 + 50 * 64 + 50);
  EXPECT_EQ(j["parameters"]["count_head"], 2 * (64 * 64 + 64) + 2 * (30 * 64 + 30) + 30);
  r = pg::test::run_command(pg::test::cli() + " model-info " + out + " --check-forward --device cpu");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("check-forward on cpu"), std::string::npos) << r.output;
  r = pg::test::run_command(pg::test::cli() + " model-info " + out + " --check-forward --device tpu");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("'tpu' is not a device name"), std::string::npos) << r.output;
  r = pg::test::run_command(pg::test::cli() + " import-ckpt " + golden_path("tiny_count.ckpt") + " " + out);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already exists; pass --overwrite"), std::string::npos) << r.output;

  // A real Lightning checkpoint with a builtins.eval REDUCE in its hyper-parameters.
  const std::string evil = (dir / "evil.ckpt").string();
  std::ofstream(dir / "make_evil.py")
      << "import sys, torch\n"
         "class E:\n"
         "    def __reduce__(self):\n"
         "        return (eval, ('__import__(\"os\").system(\"touch ' + sys.argv[3] + '\")',))\n"
         "c = torch.load(sys.argv[1], weights_only=False)\n"
         "c['hyper_parameters']['x'] = E()\n"
         "torch.save(c, sys.argv[2])\n";
  r = pg::test::run_command(pg::test::python() + " " + (dir / "make_evil.py").string() + " " +
                            golden_path("tiny_masking.ckpt") + " " + evil + " " + (dir / "pwned").string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = pg::test::run_command(pg::test::cli() + " import-ckpt " + evil + " " + (dir / "evil_out").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("refusing to unpickle global"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(".eval'"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(dir / "evil_out"));
  EXPECT_FALSE(fs::exists(dir / "pwned"));
}

// --store ties an imported model to a token store: its vocabulary hash,
// genes and states are recorded, and a store that does not fit is refused.
TEST(ModelCli, ImportCkptWithATokenStore) {
  namespace st = pg::store;
  const auto dir = pg::test::temp_dir();
  auto make_store = [&](const std::string& name, int64_t vocab, int64_t genes) {
    auto schema = st::test::make_schema(vocab, genes, 16);
    st::StoreWriter w(dir / name, schema, st::test::make_genes(genes));
    st::test::append_cells(w, st::test::random_cells(8, schema, 1), 4);
    w.finish();
    return (dir / name).string();
  };
  const std::string ckpt = golden_path("tiny_count.ckpt");
  auto r = pg::test::run_command(pg::test::cli() + " import-ckpt " + ckpt + " " + (dir / "m").string() +
                                 " --store " + make_store("fits", 43, 30));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m = read_model_dir(dir / "m");
  EXPECT_EQ(m.meta.source_vocab_name, "test-vocab");
  EXPECT_EQ(m.meta.source_vocab_sha256, "sha256:0123abcd");
  ASSERT_EQ(m.meta.genes.size(), 30u);
  EXPECT_EQ(m.meta.genes[29], "GENE29");
  EXPECT_EQ(m.meta.time_points, (std::vector<std::string>{"day0", "day2", "day4"}));

  r = pg::test::run_command(pg::test::cli() + " import-ckpt " + ckpt + " " + (dir / "m2").string() +
                            " --store " + make_store("big_vocab", 100, 30));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the store's tokens go up to 99 but the encoder has 43 embedding rows"),
            std::string::npos)
      << r.output;
  r = pg::test::run_command(pg::test::cli() + " import-ckpt " + ckpt + " " + (dir / "m3").string() +
                            " --store " + make_store("few_genes", 43, 29));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("genes.tsv: 29 genes, but the checkpoint's count head has 30"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(dir / "m2"));
  EXPECT_FALSE(fs::exists(dir / "m3"));
}

}  // namespace

namespace {

// --source-summary (not in the reference): a decoder with the summary path
// starts exactly as the reference decoder (the projection is zero), reads the
// source through it once the projection is not, and its config round-trips
// (an older config without the key is the reference decoder).
TEST(SourceSummary, StartsAsTheReferenceDecoderThenReadsTheSource) {
  auto cfg = tiny_config();
  cfg.decoder.source_summary = true;
  PerturbGenModel m(cfg);
  auto reference = tiny_model();
  torch::NoGradGuard ng;
  const auto from = reference->named_parameters(true);
  for (auto& p : m->named_parameters(true))
    if (from.contains(p.key())) p.value().copy_(from[p.key()]);
  ASSERT_TRUE(m->decoder->source_summary);
  expect_close("dec.t2.hidden, summary at zero", m->forward(tiny_batch()).at(2).pass.hidden,
               io("dec.t2.hidden"));

  m->decoder->source_summary->weight.normal_(0, 0.5, std::nullopt);
  const auto with_summary = m->forward(tiny_batch()).at(2).pass.hidden;
  EXPECT_GT((with_summary - io("dec.t2.hidden")).abs().max().item<double>(), 1e-3);
  // Another row's source moves the output more with the summary than through
  // cross-attention alone.
  auto swapped = tiny_batch();
  swapped.src_ids = swapped.src_ids.flip(0);
  const double with = (m->forward(swapped).at(2).pass.hidden - with_summary).abs().max().item<double>();
  const double without =
      (reference->forward(swapped).at(2).pass.hidden - io("dec.t2.hidden")).abs().max().item<double>();
  EXPECT_GT(with, without + 1e-3) << with << " vs " << without;

  const auto json = model_config_to_json(cfg);
  EXPECT_TRUE(model_config_from_json(json, "x").decoder.source_summary);
  EXPECT_FALSE(tiny_config().decoder.source_summary);
}

}  // namespace
