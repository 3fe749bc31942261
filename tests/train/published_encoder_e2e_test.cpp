// The published encoder's path end to end, as a user runs it, with a
// checkpoint in the published layout at tiny width (d 32, but the published
// vocabulary of 19,000 genes and 4,096 positions): tokenise a real human time
// course with gc95M at the published input size -> import-ckpt -> mask stage
// -> count stage -> generate -> perturb; plus continued pretraining of the
// imported encoder and the store/encoder mismatches.
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "golden_support.h"
#include "io/cell_matrix.h"
#include "io/formats.h"
#include "model/model_dir.h"
#include "model/perturbgen_model.h"

namespace {

namespace fs = std::filesystem;
using pg::test::quote;
using pg::test::run_cli;

fs::path make_ckpt(const fs::path& out, const std::string& args) {
  const auto r = pg::test::run_command(
      pg::test::python() + " " + quote(pg::test::source_dir() / "tests/python/make_encoder_ckpt.py") + " " +
      quote(pg::test::shared_dir() / "golden" / "published_encoder_manifest.json") + " " + quote(out) + " " +
      args + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

// perturbgen tokenise on the HSMM time course (gc95M unless `extra` says otherwise).
void tokenise_hsmm(const fs::path& store, const std::string& extra) {
  const auto r =
      run_cli("tokenise " + quote(pg::test::dataset("hsmm_myoblast_timecourse")) + " -o " + quote(store) +
              " --time-key Hours --time-order 0,24,48,72 --allow-non-integer --seed 3 " + extra);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

const std::string kTiny =
    "--d-model 32 --layers 3 --heads 4 --head-dim 8";  // vocabulary and positions as published

TEST(PublishedEncoder, TokeniseImportTrainGeneratePerturbOnHsmm) {
  const auto dir = pg::test::temp_dir();
  const auto store = dir / "store";
  tokenise_hsmm(store, "--vocab gc95M --model-input-size 4096 --genes all");

  const auto ckpt = make_ckpt(dir / "published_layout.ckpt", kTiny);
  auto r = run_cli("import-ckpt " + quote(ckpt) + " " + quote(dir / "encoder"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("vocabulary recorded: gc95M"), std::string::npos) << r.output;
  const auto imported = pg::model::read_encoder_dir(dir / "encoder");
  EXPECT_EQ(imported.config.max_seq_length, 4096);
  EXPECT_EQ(imported.config.embedding_rows, 19003);

  r = run_cli("train --stage mask --store " + quote(store) + " --encoder " + quote(dir / "encoder") + " -o " +
              quote(dir / "mask") +
              " --layers 1 --heads 2 --head-dim 8 --max-length 64 --batch-size 8 --max-steps 6 --lr 1e-3 "
              "--max-tokens 8192 --progress none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("train --stage count --store " + quote(store) + " --from " + quote(dir / "mask") + " -o " +
              quote(dir / "model") + " --batch-size 8 --max-steps 4 --lr 1e-3 --progress none");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  // The trained model carries the imported encoder unchanged (frozen, bit for bit).
  const auto model = pg::model::read_model_dir(dir / "model");
  EXPECT_EQ(model.config.encoder.d_model, 32);
  EXPECT_EQ(model.config.decoder.d_model, 32);
  EXPECT_FALSE(model.config.encoder.mlm_head);
  EXPECT_EQ(model.meta.source_vocab_name, "gc95M");
  for (const auto& [key, t] : imported.weights) {
    auto it = model.weights.find(key);
    ASSERT_NE(it, model.weights.end()) << key;
    EXPECT_TRUE(torch::equal(it->second, t)) << key;
  }
  // Full-length sentences (the published input size) went through the encoder.
  const auto info = run_cli("store-info " + quote(store) + " --json");
  const auto sentences = nlohmann::json::parse(info.output)["sentences"];
  EXPECT_EQ(sentences["model_input_size"], 4096);
  EXPECT_GT(sentences["mean_length"].get<double>(), 4000.0);  // most cells fill all 4,096 positions
  // Six steps lower the held-out perplexity from the untrained decoder's.
  const auto summary = nlohmann::json::parse(pg::test::read_text(dir / "mask.run" / "summary.json"));
  const double untrained = summary["untrained"]["perplexity"].get<double>();
  const double trained = summary["final"]["perplexity"].get<double>();
  EXPECT_TRUE(std::isfinite(trained)) << summary.dump();
  EXPECT_LT(trained, untrained) << summary.dump();

  r = run_cli("generate --model " + quote(dir / "model") + " --store " + quote(store) + " -o " +
              quote(dir / "gen.h5ad") + " --iterations 4 --seed 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto gen = pg::io::read_h5ad((dir / "gen.h5ad").string());
  const auto genes = pg::test::read_text(store / "genes.tsv");
  EXPECT_EQ(gen.n_genes(), static_cast<int64_t>(std::count(genes.begin(), genes.end(), '\n')) - 1);
  EXPECT_GT(gen.n_cells(), 0);
  double total = 0;
  for (float v : gen.X.data) {
    ASSERT_TRUE(std::isfinite(v));
    ASSERT_GE(v, 0.0f);
    total += v;
  }
  EXPECT_GT(total, 0.0);

  r = run_cli("perturb --model " + quote(dir / "model") + " --store " + quote(store) +
              " --genes MYF5 --mode delete --iterations 4 --bootstrap 50 -o " + quote(dir / "ko"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto table = pg::test::read_text(dir / "ko" / "summary.tsv");
  EXPECT_NE(table.find("MYF5"), std::string::npos) << table;
  bool any = false;
  for (const auto& e : fs::directory_iterator(dir / "ko"))
    if (e.path().extension() == ".h5ad") {
      const auto m = pg::io::read_h5ad(e.path().string());
      EXPECT_GT(m.n_cells(), 0);
      any = true;
    }
  EXPECT_TRUE(any);
}

TEST(PublishedEncoder, PretrainingContinuesFromTheImportedEncoder) {
  const auto dir = pg::test::temp_dir();
  const auto store = dir / "store";
  tokenise_hsmm(store, "--vocab gc95M --genes hvg --n-hvg 200");
  const auto ckpt = make_ckpt(dir / "enc.ckpt", kTiny);
  ASSERT_EQ(run_cli("import-ckpt " + quote(ckpt) + " " + quote(dir / "encoder")).exit_code, 0);
  auto r = run_cli("pretrain --store " + quote(store) + " --encoder " + quote(dir / "encoder") + " -o " +
                   quote(dir / "continued") +
                   " --max-steps 2 --batch-size 4 --max-length 512 --lr 1e-3 --progress none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto before = pg::model::read_encoder_dir(dir / "encoder");
  const auto after = pg::model::read_encoder_dir(dir / "continued");
  // Same dimensions and mode, now with an MLM head; the trained tensors moved, the tables did not.
  EXPECT_EQ(after.config.d_model, before.config.d_model);
  EXPECT_EQ(after.config.num_layers, 3);
  EXPECT_EQ(after.config.mode, pg::model::EncoderMode::Reference);
  EXPECT_TRUE(after.config.mlm_head);
  const std::string p = pg::model::kEncoderPrefix;
  EXPECT_FALSE(torch::equal(after.weights.at(p + "token_embedding.weight"),
                            before.weights.at(p + "token_embedding.weight")));
  EXPECT_FALSE(torch::equal(after.weights.at(p + "decoder_block.2.feed_forward.fc1.weight"),
                            before.weights.at(p + "decoder_block.2.feed_forward.fc1.weight")));
  EXPECT_TRUE(torch::equal(after.weights.at(p + "pos_embedding.pos_pe"),
                           before.weights.at(p + "pos_embedding.pos_pe")));
  EXPECT_EQ(after.meta.source_vocab_name, "gc95M");
  // Its output loads the same way as the import: the mask stage takes it.
  r = run_cli("train --stage mask --store " + quote(store) + " --encoder " + quote(dir / "continued") +
              " -o " + quote(dir / "mask") +
              " --layers 1 --heads 2 --head-dim 8 --max-length 32 --batch-size 8 --max-steps 1 "
              "--progress none");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(PublishedEncoder, StoreAndEncoderMismatchesNameBothSides) {
  const auto dir = pg::test::temp_dir();
  // A store of another vocabulary (the dataset's own genes).
  tokenise_hsmm(dir / "dataset_store", "--vocab dataset --genes hvg --n-hvg 100");
  ASSERT_EQ(run_cli("import-ckpt " + quote(make_ckpt(dir / "enc.ckpt", kTiny)) + " " + quote(dir / "encoder"))
                .exit_code,
            0);
  const std::string train = " --layers 1 --heads 2 --head-dim 8 --max-steps 1 --progress none";
  auto r = run_cli("train --stage mask --store " + quote(dir / "dataset_store") + " --encoder " +
                   quote(dir / "encoder") + " -o " + quote(dir / "m1") + train);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the store was tokenised with vocabulary 'dataset'"), std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("(vocabulary 'gc95M')"), std::string::npos) << r.output;
  // A gc95M store whose sentences exceed an encoder of 256 positions.
  tokenise_hsmm(dir / "gc_store", "--vocab gc95M --genes all");
  ASSERT_EQ(run_cli("import-ckpt " + quote(make_ckpt(dir / "short.ckpt", kTiny + " --max-seq 256")) + " " +
                    quote(dir / "short") + " --vocab gc95M")
                .exit_code,
            0);
  r = run_cli("train --stage mask --store " + quote(dir / "gc_store") + " --encoder " + quote(dir / "short") +
              " -o " + quote(dir / "m2") + train);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("source sentences: up to"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("the position table of encoder " + (dir / "short").string() + " has 256 rows"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(dir / "m2"));
}

}  // namespace
