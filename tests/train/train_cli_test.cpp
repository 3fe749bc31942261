// The training commands as a user runs them, on the LPS time course:
// resumption reproduces an uninterrupted run bit for bit, two data-parallel
// processes reach the weights of one, a kill -9 in the middle of a
// checkpoint write loses nothing, and bad input stops with one line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "model/weights.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using pg::test::quote;
using pg::test::run_cli;

// A tokenised LPS store (300 HVGs) and a small encoder pretrained on it,
// made once for the whole file.
struct Fixture {
  fs::path dir, store, encoder, other_store;
};

fs::path tokenise(const fs::path& out, int n_hvg) {
  const auto r =
      run_cli("tokenise " + quote(pg::test::dataset("lps_bmdc_timecourse")) + " -o " + quote(out) +
              " --time-key grouping --time-order 'LPS#1h,LPS#2h,LPS#4h,LPS#6h' --vocab dataset --genes hvg"
              " --n-hvg " +
              std::to_string(n_hvg) + " --obs-keys replicate_batch --seed 7");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

const Fixture& fixture() {
  static const Fixture f = [] {
    Fixture x;
    x.dir = pg::test::temp_dir();
    x.store = tokenise(x.dir / "store", 300);
    x.other_store = tokenise(x.dir / "store200", 200);
    x.encoder = x.dir / "encoder";
    const auto r = run_cli("pretrain --store " + quote(x.store) + " -o " + quote(x.encoder) +
                           " --d-model 32 --layers 1 --heads 2 --head-dim 16 --max-length 128 --max-steps 3"
                           " --batch-size 16 --lr 1e-3 --progress none");
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return x;
  }();
  return f;
}

std::string mask_args(const fs::path& out, const std::string& extra = "") {
  const auto& f = fixture();
  return "train --stage mask --store " + quote(f.store) + " --encoder " + quote(f.encoder) + " -o " +
         quote(out) + " --layers 1 --heads 2 --head-dim 8 --max-length 64 --batch-size 8 --progress none " +
         (extra.find("--lr") == std::string::npos ? "--lr 1e-3 " : "") + extra;
}

pg::model::NamedTensors read_tensors(const fs::path& file) {
  return pg::model::to_torch(pg::io::SafeTensors::read(file.string()));
}

fs::path checkpoint(const fs::path& model, int step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%010d", step);
  return fs::path(model.string() + ".run") / "checkpoints" / name;
}

void expect_same_tensors(const fs::path& a, const fs::path& b, double atol) {
  const auto x = read_tensors(a), y = read_tensors(b);
  ASSERT_EQ(x.size(), y.size());
  for (const auto& [k, t] : x) {
    ASSERT_TRUE(y.count(k)) << k;
    if (atol == 0)
      EXPECT_TRUE(torch::equal(t, y.at(k))) << k;
    else
      EXPECT_LE((t - y.at(k)).abs().max().item<double>(), atol) << k;
  }
}

TEST(TrainCli, ResumedRunEqualsUninterruptedRun) {
  const auto dir = pg::test::temp_dir();
  auto r = run_cli(mask_args(dir / "straight", "--max-steps 8 --checkpoint-every 4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(mask_args(dir / "resumed", "--max-steps 4 --checkpoint-every 4"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(mask_args(dir / "resumed", "--max-steps 8 --checkpoint-every 4 --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Weights and Adam moments after 8 steps, bit for bit.
  expect_same_tensors(checkpoint(dir / "straight", 8) / "model.safetensors",
                      checkpoint(dir / "resumed", 8) / "model.safetensors", 0);
  expect_same_tensors(checkpoint(dir / "straight", 8) / "optimizer.safetensors",
                      checkpoint(dir / "resumed", 8) / "optimizer.safetensors", 0);
  // A resume must use the run's settings.
  r = run_cli(mask_args(dir / "resumed", "--max-steps 9 --resume --seed 3"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("run.json: seed: differs"), std::string::npos) << r.output;
}

TEST(TrainCli, CountStageResumesExactly) {
  // The count stage reads the frozen decoder's embeddings from a cache
  // computed before training in fixed batches: a resumed run rebuilds it
  // identically, so its weights equal the uninterrupted run's bit for bit.
  const auto dir = pg::test::temp_dir();
  ASSERT_EQ(run_cli(mask_args(dir / "m", "--max-steps 2")).exit_code, 0);
  auto count = [&](const std::string& name, const std::string& extra) {
    return run_cli("train --stage count --store " + quote(fixture().store) + " --from " + quote(dir / "m") +
                   " -o " + quote(dir / name) +
                   " --batch-size 8 --lr 1e-2 --checkpoint-every 3 --progress none " + extra);
  };
  auto r = count("straight", "--max-steps 6");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  ASSERT_EQ(count("resumed", "--max-steps 3").exit_code, 0);
  r = count("resumed", "--max-steps 6 --resume");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_tensors(checkpoint(dir / "straight", 6) / "model.safetensors",
                      checkpoint(dir / "resumed", 6) / "model.safetensors", 0);
  // The head trained: its weights moved from the resumed run's step 3.
  const auto a = read_tensors(checkpoint(dir / "resumed", 3) / "model.safetensors");
  const auto b = read_tensors(checkpoint(dir / "resumed", 6) / "model.safetensors");
  EXPECT_FALSE(torch::equal(a.at("theta"), b.at("theta")));
}

TEST(TrainCli, TwoProcessesMatchOneWithTheSameGlobalBatch) {
  const auto dir = pg::test::temp_dir();
  auto r = run_cli(mask_args(dir / "one", "--max-steps 3 --checkpoint-every 3"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(mask_args(dir / "two", "--max-steps 3 --checkpoint-every 3 --nproc 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  expect_same_tensors(checkpoint(dir / "one", 3) / "model.safetensors",
                      checkpoint(dir / "two", 3) / "model.safetensors", 2e-5);
  // The validation numbers agree too (every rank scores its share).
  std::ifstream a(dir / "one.run" / "summary.json"), b(dir / "two.run" / "summary.json");
  const auto sa = nlohmann::json::parse(a), sb = nlohmann::json::parse(b);
  EXPECT_EQ(sb["processes"], 2);
  EXPECT_NEAR(sa["final"]["loss"].get<double>(), sb["final"]["loss"].get<double>(), 1e-4);
}

TEST(TrainCli, KillInTheMiddleOfACheckpointWriteLosesNothing) {
  const auto dir = pg::test::temp_dir();
  auto r = run_cli(mask_args(dir / "straight", "--max-steps 6 --checkpoint-every 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // SIGKILL after the weights of step 4's checkpoint are written, before its
  // optimizer state and state.json.
  r = run_cli(mask_args(dir / "killed", "--max-steps 6 --checkpoint-every 2"),
              "PERTURBGEN_FAULT_KILL_IN_CHECKPOINT=4");
  ASSERT_EQ(r.exit_code, 128 + 9) << r.output;
  EXPECT_FALSE(fs::exists(dir / "killed"));  // no half-written model
  EXPECT_TRUE(fs::exists(checkpoint(dir / "killed", 2) / "state.json"));
  EXPECT_FALSE(fs::exists(checkpoint(dir / "killed", 4)));
  r = run_cli(mask_args(dir / "killed", "--max-steps 6 --checkpoint-every 2 --resume"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& e : fs::directory_iterator(dir / "killed.run" / "checkpoints"))
    EXPECT_NE(e.path().filename().string()[0], '.') << "temporary left behind: " << e.path();
  expect_same_tensors(checkpoint(dir / "straight", 6) / "model.safetensors",
                      checkpoint(dir / "killed", 6) / "model.safetensors", 0);
}

TEST(TrainCli, MetricsAndModelDirectory) {
  const auto dir = pg::test::temp_dir();
  auto r = run_cli(mask_args(dir / "m", "--epochs 2 --log-every 1"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir / "m.run" / "metrics.jsonl");
  int train = 0, val = 0;
  for (std::string line; std::getline(in, line);) {
    const auto j = nlohmann::json::parse(line);
    if (j["kind"] == "train") {
      ++train;
      EXPECT_NEAR(j["perplexity"].get<double>(), std::exp(j["loss"].get<double>()),
                  1e-6 * j["perplexity"].get<double>());
      EXPECT_GT(j["cells_per_s"].get<double>(), 0);
    }
    if (j["kind"] == "val") {
      ++val;
      EXPECT_GT(j["unigram_perplexity"].get<double>(), 1.0);
    }
  }
  std::ifstream s(dir / "m.run" / "summary.json");
  const auto summary = nlohmann::json::parse(s);
  EXPECT_EQ(train, summary["steps"].get<int>());
  EXPECT_EQ(val, 2);
  // The count stage on top writes a complete model that model-info loads and runs.
  r = run_cli("train --stage count --store " + quote(fixture().store) + " --from " + quote(dir / "m") +
              " -o " + quote(dir / "c") + " --max-steps 2 --batch-size 8 --lr 1e-3 --progress none");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("model-info " + quote(dir / "c") + " --check-forward");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("count head"), std::string::npos) << r.output;
  // An encoder directory: its own summary, and a finite encoder pass.
  r = run_cli("model-info --json --check-forward " + quote(fixture().encoder));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto info = nlohmann::json::parse(r.output);
  EXPECT_EQ(info["stage"], "encoder");
  EXPECT_EQ(info["model"]["encoder_scmoscf"]["d_model"], 32);
  EXPECT_EQ(info["check_forward"]["finite"], true);
}

TEST(TrainCli, EarlyStoppingHeldOutTimesBf16AndConfigFile) {
  const auto dir = pg::test::temp_dir();
  // lr 0: the validation perplexity never improves after the first
  // evaluation, so patience 2 stops the run after the third.
  auto r = run_cli(mask_args(dir / "stop", "--lr 0 --eval-every 1 --patience 2 --epochs 50"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream s(dir / "stop.run" / "summary.json");
  EXPECT_EQ(nlohmann::json::parse(s)["steps"], 3);
  // Interpolation protocol: train on times 1 and 3, validate on time 2.
  r = run_cli(mask_args(dir / "interp", "--held-out-tps 2 --max-steps 2 --bf16"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream cfg_in(dir / "interp" / "config.json");
  const auto cfg = nlohmann::json::parse(cfg_in);
  EXPECT_EQ(cfg["model"]["decoder_perturbgen"]["pred_tps"], nlohmann::json::parse("[1, 3]"));
  std::ifstream run_in(dir / "interp.run" / "run.json");
  EXPECT_EQ(nlohmann::json::parse(run_in)["bf16"], true);
  // Options from a TOML file; the command line wins.
  std::ofstream(dir / "train.toml") << "[train]\nmax-steps = 2\nweight-decay = 0.5\nlr = 0.01\n";
  r = run_cli(mask_args(dir / "toml", "--config " + quote(dir / "train.toml") + " --lr 0.002"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream toml_run(dir / "toml.run" / "run.json");
  const auto run = nlohmann::json::parse(toml_run);
  EXPECT_EQ(run["max_steps"], 2);
  EXPECT_DOUBLE_EQ(run["optimizer"]["weight_decay"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(run["optimizer"]["lr"].get<double>(), 0.002);
}

TEST(TrainCli, ConditionTokensCarryToTheCountStage) {
  const auto dir = pg::test::temp_dir();
  auto r = run_cli(mask_args(dir / "m", "--cond-keys replicate_batch --max-steps 2"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli("train --stage count --store " + quote(fixture().store) + " --from " + quote(dir / "m") +
              " -o " + quote(dir / "c") +
              " --max-steps 1 --batch-size 8 --progress none --dispersion-keys replicate_batch");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir / "c" / "config.json");
  const auto cfg = nlohmann::json::parse(in);
  // 300 genes -> row ids 4..303; the two replicate batches (+ NA) follow.
  const auto& tokens = cfg["meta"]["condition_tokens"]["replicate_batch"];
  ASSERT_EQ(tokens.size(), 3u) << tokens.dump();
  EXPECT_EQ(tokens["NA"], 306);
  EXPECT_EQ(cfg["model"]["decoder_perturbgen"]["tgt_vocab_size"], 307 + 50);
  // Dispersion groups are the source cells' values: every 1 h cell is in the main batch.
  EXPECT_EQ(cfg["meta"]["dispersion_groups"], nlohmann::json::parse(R"(["main"])"));
  EXPECT_EQ(cfg["model"]["count_head"]["n_conditions_combined"], 1);
  EXPECT_EQ(cfg["meta"]["dispersion_keys"], nlohmann::json::parse(R"(["replicate_batch"])"));
}

TEST(TrainCli, BadInputStopsWithOneLine) {
  const auto dir = pg::test::temp_dir();
  const auto& f = fixture();
  // The encoder was pretrained on another vocabulary: both hashes are named.
  auto r = run_cli("train --stage mask --store " + quote(f.other_store) + " --encoder " + quote(f.encoder) +
                   " -o " + quote(dir / "x") + " --max-steps 1 --progress none");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("vocabulary"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("expects hash"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "x.run"));
  // The output's folder does not exist: refused before training.
  r = run_cli(mask_args(dir / "missing" / "m", "--max-steps 1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("does not exist"), std::string::npos) << r.output;
  // An existing model is not replaced without --overwrite.
  fs::create_directories(dir / "taken");
  r = run_cli(mask_args(dir / "taken", "--max-steps 1"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already exists"), std::string::npos) << r.output;
  // A diverging run stops at the first non-finite loss, before applying it,
  // and keeps its last good checkpoint.
  r = run_cli(mask_args(dir / "nan", "--max-steps 20 --checkpoint-every 1 --lr 1e30"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("the loss is"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("Last good checkpoint"), std::string::npos) << r.output;
  EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
  EXPECT_FALSE(fs::exists(dir / "nan"));
  EXPECT_TRUE(fs::exists(checkpoint(dir / "nan", 1) / "state.json"));
}

}  // namespace
