#include "train/train_config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace pg::train {

Stage parse_stage(const std::string& name) {
  if (name == "pretrain") return Stage::pretrain;
  if (name == "mask") return Stage::mask;
  if (name == "count") return Stage::count;
  throw pg::Error("<config>", "stage", "'" + name + "' is not pretrain, mask or count");
}

std::string to_string(Stage s) {
  return s == Stage::pretrain ? "pretrain" : s == Stage::mask ? "mask" : "count";
}

void apply_stage_defaults(TrainConfig& c, bool lr_given, bool wd_given) {
  // pretrain: Adam 5e-5, wd 1e-6 (§4.1); mask: the 1e-4 the reference
  // actually trains at (its --cellgen_lr is ignored, §4.4), wd 1e-4;
  // count: --count_lr 5e-5, --count_wd 0.01.
  const double lr = c.stage == Stage::pretrain ? 5e-5 : c.stage == Stage::mask ? 1e-4 : 5e-5;
  const double wd = c.stage == Stage::pretrain ? 1e-6 : c.stage == Stage::mask ? 1e-4 : 0.01;
  if (!lr_given) c.optimizer.lr = lr;
  if (!wd_given) c.optimizer.weight_decay = wd;
}

nlohmann::json to_json(const TrainConfig& c) {
  const auto& o = c.optimizer;
  return {{"stage", to_string(c.stage)},
          {"store", c.store},
          {"output", c.output},
          {"encoder", c.encoder},
          {"from", c.from},
          {"device", c.device},
          {"epochs", c.epochs},
          {"max_steps", c.max_steps},
          {"seed", c.seed},
          {"bf16", c.bf16},
          {"optimizer",
           {{"kind", o.kind},
            {"lr", o.lr},
            {"weight_decay", o.weight_decay},
            {"betas", {o.beta1, o.beta2}},
            {"eps", o.eps},
            {"warmup_steps", o.warmup_steps},
            {"cosine", o.cosine},
            {"total_steps", o.total_steps},
            {"min_lr_ratio", o.min_lr_ratio},
            {"clip_grad_norm", o.clip_grad_norm}}},
          {"batch_size", c.sampler.batch_size},
          {"max_tokens", c.max_tokens},
          {"bucket_batches", c.sampler.bucket_batches},
          {"split",
           {{"mode", c.split.mode},
            {"train", c.split.train},
            {"test", c.split.test},
            {"held_out", c.split.held_out},
            {"obs", c.split_obs}}},
          {"sampling_keys", c.sampling_keys},
          {"model",
           {{"d_model", c.d_model},
            {"num_layers", c.num_layers},
            {"num_heads", c.num_heads},
            {"head_dim", c.head_dim},
            {"ffn_hidden", c.ffn_hidden},
            {"positional", c.positional},
            {"mask_schedule", c.mask_schedule},
            {"pred_tps", c.pred_tps},
            {"context_tps", c.context_tps ? nlohmann::json(*c.context_tps) : nlohmann::json()},
            {"held_out_tps", c.held_out_tps},
            {"context_mode", c.context_mode},
            {"source_summary", c.source_summary},
            {"cond_keys", c.cond_keys},
            {"max_length", c.max_length}}},
          {"count",
           {{"loss", c.count_loss},
            {"size_factor", c.size_factor},
            {"dropout", c.count_dropout},
            {"dispersion_keys", c.dispersion_keys},
            {"train_dispersion", c.train_dispersion}}},
          {"checkpoint_every", c.checkpoint_every},
          {"keep_checkpoints", c.keep_checkpoints},
          {"eval_every", c.eval_every},
          {"patience", c.patience}};
}

}  // namespace pg::train
