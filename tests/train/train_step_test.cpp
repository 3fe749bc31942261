// One optimiser step of each training stage against the reference
// (shared/golden): the masking stage's step of tiny_train_step (masking
// pattern, logits, loss, gradients, Adam moments, updated weights; golden
// README §5) and the count stage's step recorded in tiny_count.ckpt (its Adam
// moments give the reference's gradients, from which the pre-step weights
// follow; README §6). Also the optimiser against libtorch's own Adam/AdamW.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "golden_support.h"
#include "io/torch_checkpoint.h"
#include "model/losses.h"
#include "model/perturbgen_model.h"
#include "model/weights.h"
#include "test_support.h"
#include "train/masking.h"
#include "train/objectives.h"
#include "train/optimizer.h"

namespace {

using namespace pg::model;
using namespace pg::train;
using pg::test::shared_dir;

struct Golden {
  nlohmann::json config;
  NamedTensors model, io, step;
};

const Golden& golden() {
  static const Golden g = [] {
    Golden r;
    r.config = pg::test::golden_json("tiny_config.json");
    r.model = pg::test::golden_tensors("tiny_model.safetensors");
    r.io = pg::test::golden_tensors("tiny_io.safetensors");
    r.step = pg::test::golden_tensors("tiny_train_step.safetensors");
    return r;
  }();
  return g;
}

const torch::Tensor& at(const NamedTensors& m, const std::string& name) {
  return pg::test::golden_at(m, name);
}
using pg::test::expect_close;

// The tiny model with `decoder_weights` (reference keys) in its decoder.
PerturbGenModel tiny_model(const NamedTensors& decoder_weights, bool count_head = false) {
  auto config = model_config_from_json(golden().config, "tiny_config.json");
  if (!count_head) config.count_head.reset();
  PerturbGenModel m(config);
  load_parameters(*m->encoder, golden().model, kEncoderPrefix, "tiny_model",
                  m->encoder->unused_block_prefixes(kEncoderPrefix));
  load_parameters(*m->decoder, decoder_weights, kDecoderPrefix, "weights", {kEncoderPrefix});
  return m;
}

TrainBatch tiny_batch(const NamedTensors& src) {
  TrainBatch b;
  b.model.src_ids = at(src, "step.src_input_ids");
  for (int64_t t = 1; t <= 3; ++t) b.model.tgt_ids[t] = at(src, "step.tgt_input_ids_t" + std::to_string(t));
  b.rows = {0, 1, 2};
  return b;
}

std::map<std::string, torch::Tensor> decoder_parameters(PerturbGenModelImpl& m) {
  std::map<std::string, torch::Tensor> out;
  for (auto& item : m.decoder->named_parameters()) out.emplace(kDecoderPrefix + item.key(), item.value());
  return out;
}

TEST(TrainStep, MaskingRuleReproducesTheReferencePattern) {
  const auto& s = golden().step;
  const auto mask = maskgit_mask(at(s, "step.tgt_input_ids_t3"), at(s, "step.rand_time"),
                                 at(s, "step.rand_int"), MaskSchedule::pow);
  EXPECT_TRUE(torch::equal(mask, at(s, "step.mask").to(torch::kBool)));
  EXPECT_TRUE(torch::equal(mask.sum(1), at(s, "step.num_token_masked").to(torch::kLong)));
  EXPECT_TRUE(torch::equal(mask_input_ids(at(s, "step.tgt_input_ids_t3"), mask), at(s, "step.masked_ids")));
  // libtorch's CPU generator gives the reference's draws from the same seed.
  torch::manual_seed(5);
  auto u = torch::rand({3});
  auto r = torch::rand({3, 16});
  EXPECT_TRUE(torch::equal(u, at(s, "step.rand_time")));
  EXPECT_TRUE(torch::equal(r, at(s, "step.rand_int")));
}

TEST(TrainStep, MaskingStageStepMatchesReference) {
  const auto& s = golden().step;
  NamedTensors pre = golden().model;  // the buffers (position tables)
  for (const auto& [k, v] : s)
    if (k.rfind("pre.", 0) == 0) pre[k.substr(4)] = v;
  auto model = tiny_model(pre);
  model->train();
  model->encoder->eval();
  auto params = decoder_parameters(*model);
  ASSERT_EQ(params.size(), 43u);
  ASSERT_EQ(at(s, "step.selected_time").item<int64_t>(), 3);

  auto batch = tiny_batch(s);
  auto terms = masked_pass_loss(*model, batch, 3, at(s, "step.mask").to(torch::kBool));
  EXPECT_TRUE(torch::equal(terms.labels, at(s, "step.labels")));
  const auto loss = terms.sum / terms.count;
  EXPECT_NEAR(loss.item<double>(), at(s, "step.loss").item<double>(), 1e-5);
  loss.backward();
  for (auto& [name, p] : params) {
    ASSERT_TRUE(p.grad().defined()) << name;
    expect_close("grad." + name, p.grad(), at(s, "grad." + name), 1e-5, 1e-3);
  }
  OptimizerOptions o;
  o.lr = 1e-4;
  o.weight_decay = 1e-4;
  Adam adam(params, o);
  adam.step(o.lr);
  const auto state = adam.state();
  for (auto& [name, p] : params) {
    expect_close("exp_avg." + name, state.at("exp_avg." + name), at(s, "adam_exp_avg." + name), 1e-6, 1e-3);
    expect_close("exp_avg_sq." + name, state.at("exp_avg_sq." + name), at(s, "adam_exp_avg_sq." + name), 1e-9,
                 1e-3);
    expect_close("post." + name, p, at(s, "post." + name), 1e-6, 1e-5);
  }
}

// Index -> name of the count checkpoint's optimizer, and its Adam moments.
struct CountStep {
  std::map<std::string, torch::Tensor> exp_avg, exp_avg_sq;
  NamedTensors post;
};

CountStep read_count_step() {
  const auto path = (shared_dir() / "golden" / "tiny_count.ckpt").string();
  const auto ckpt = pg::io::TorchCheckpoint::read(path);
  const auto& order = golden().config["optimizer_param_order"]["tiny_count.ckpt"];
  CountStep out;
  const auto& state = *ckpt.root()->get("optimizer_states")->items.at(0)->get("state");
  auto tensor = [&](const pg::io::PickleNode& node, const std::string& name) {
    const auto t = ckpt.tensor(node);
    return tensor_from_bytes(t.dtype, t.shape, t.bytes, path, name);
  };
  for (const auto& [k, v] : state.entries) {
    std::string name = order.at(static_cast<size_t>(k->integer)).get<std::string>();
    name = name.substr(name.find("count_decoder.") + std::strlen("count_decoder."));
    out.exp_avg.emplace(name, tensor(*v->get("exp_avg"), name));
    out.exp_avg_sq.emplace(name, tensor(*v->get("exp_avg_sq"), name));
  }
  for (const auto& [name, t] : ckpt.state_dict())
    out.post.emplace(name, tensor_from_bytes(t.dtype, t.shape, t.bytes, path, name));
  return out;
}

TEST(TrainStep, CountStageStepMatchesReference) {
  const auto step = read_count_step();
  ASSERT_EQ(step.exp_avg.size(), 8u);  // the count head only: theta is never trained (reference bug)
  const double lr = golden().config["training"]["count"]["lr"],
               wd = golden().config["training"]["count"]["weight_decay"];
  // After Adam's first step m = (1 − β1)·g and p_post = p_pre − lr·g/(|g| + eps)
  // (bias-corrected), so the moments give the gradient g (L2 term included)
  // and the weights before the step.
  NamedTensors pre;
  std::map<std::string, torch::Tensor> g_ref;
  for (const auto& [name, m] : step.exp_avg) {
    auto g = m.to(torch::kFloat64) / 0.1;
    auto post = step.post.at("decoder.count_decoder." + name).to(torch::kFloat64);
    auto v_hat = step.exp_avg_sq.at(name).to(torch::kFloat64) / (1 - 0.999);
    pre.emplace(name, (post + lr * g / (v_hat.sqrt() + 1e-8)).to(torch::kFloat32));
    g_ref.emplace(name, g);
  }
  pre.emplace("theta", step.post.at("theta"));
  auto model = tiny_model(golden().model, /*count_head=*/true);
  model->count_head->load_weights(pre, "tiny_count.ckpt (pre-step)");
  std::map<std::string, torch::Tensor> params;
  for (auto& item : model->count_head->named_parameters())
    if (item.key() != "theta") params.emplace(item.key(), item.value());
  for (auto& p : model->decoder->parameters()) p.set_requires_grad(false);
  model->count_head->named_parameters()["theta"].set_requires_grad(false);

  TrainBatch batch = tiny_batch(golden().step);
  for (int64_t t = 1; t <= 3; ++t) {
    batch.counts[t] = at(golden().io, "tgt_counts_t" + std::to_string(t));
    batch.model.library[t] = at(golden().io, "tgt_size_factor_t" + std::to_string(t));
  }
  batch.model.condition = at(golden().io, "combined_batch");
  auto terms = count_loss(*model, batch, {1, 2, 3}, {});
  (terms.sum / terms.count).backward();
  for (auto& [name, p] : params) {
    auto g = p.grad().to(torch::kFloat64) + wd * p.detach().to(torch::kFloat64);
    expect_close("grad." + name, g, g_ref.at(name), 1e-5, 1e-3);
  }
  OptimizerOptions o;
  o.lr = lr;
  o.weight_decay = wd;
  Adam adam(params, o);
  adam.step(lr);
  for (auto& [name, p] : params)
    expect_close("post." + name, p, step.post.at("decoder.count_decoder." + name), 1e-6, 1e-5);
}

// Our Adam and AdamW against libtorch's torch::optim over several steps,
// with a warm-up + cosine learning rate.
TEST(Optimizer, MatchesLibtorchAdamAndAdamW) {
  for (const std::string kind : {"adam", "adamw"}) {
    torch::manual_seed(1);
    auto w0 = torch::randn({5, 3});
    auto a = w0.clone().requires_grad_(true), b = w0.clone().requires_grad_(true);
    OptimizerOptions o;
    o.kind = kind;
    o.lr = 1e-2;
    o.weight_decay = 0.1;
    Adam ours({{"w", a}}, o);
    std::unique_ptr<torch::optim::Optimizer> theirs;
    if (kind == "adam")
      theirs = std::make_unique<torch::optim::Adam>(
          std::vector<torch::Tensor>{b}, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay));
    else
      theirs = std::make_unique<torch::optim::AdamW>(
          std::vector<torch::Tensor>{b}, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
    for (int step = 0; step < 5; ++step) {
      auto x = torch::randn({4, 5});
      ours.zero_grad();
      theirs->zero_grad();
      x.matmul(a).pow(2).sum().backward();
      x.matmul(b).pow(2).sum().backward();
      ours.step(o.lr);
      theirs->step();
    }
    expect_close(kind, a, b, 1e-6, 1e-5);
  }
  OptimizerOptions s;
  s.lr = 1.0;
  s.warmup_steps = 4;
  s.cosine = true;
  s.total_steps = 14;
  s.min_lr_ratio = 0.1;
  EXPECT_DOUBLE_EQ(learning_rate(s, 0), 0.25);
  EXPECT_DOUBLE_EQ(learning_rate(s, 3), 1.0);
  EXPECT_NEAR(learning_rate(s, 9), 0.1 + 0.9 * 0.5 * (1 + std::cos(M_PI * 0.5)), 1e-12);
  EXPECT_NEAR(learning_rate(s, 14), 0.1, 1e-12);
}

}  // namespace
