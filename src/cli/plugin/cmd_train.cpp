// perturbgen pretrain / perturbgen train --stage mask|count: the training
// commands (src/train/). Every option can come from --config FILE (TOML);
// the resolved configuration is written to RUN_DIR/run.json.
#include <iostream>

#include "cli/plugin/launch.h"
#include "cli/plugin/model_cli.h"
#include "core/error.h"
#include "train/trainer.h"

namespace pg::cli {
namespace {

struct TrainArgs {
  pg::train::TrainConfig c;
  std::string config_file;  // read by expand_config before parsing
  std::string stage = "mask";
  int nproc = 1;
  bool reference_dispersion = false, no_context = false, source_summary = false;
  std::vector<int64_t> context_tps;
};

void add_common(CLI::App* cmd, TrainArgs& a) {
  auto& c = a.c;
  cmd->add_option("--store", c.store, "Token store (perturbgen tokenise output)")->required();
  cmd->add_option("-o,--output", c.output, "Output model directory")->required();
  cmd->add_option("--run-dir", c.run_dir, "Checkpoints, metrics and run.json (default: OUTPUT.run)");
  cmd->add_option("--epochs", c.epochs, "Passes over the training examples")->capture_default_str();
  cmd->add_option("--max-steps", c.max_steps, "Stop after this many optimiser steps (0: epochs decide)");
  cmd->add_option("--batch-size", c.sampler.batch_size, "Global batch (split over processes)")
      ->capture_default_str();
  cmd->add_option(
         "--max-tokens", c.max_tokens,
         "Padded tokens (rows x longest sentence) per forward pass; larger batches are split and their "
         "gradients summed, so the step is unchanged and memory follows this cap (0: no cap)")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "Seed of initialisation, splits, batches and masks")
      ->capture_default_str();
  cmd->add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--lr", c.optimizer.lr, "Learning rate (default: the stage's reference value)");
  cmd->add_option("--weight-decay", c.optimizer.weight_decay,
                  "Weight decay (default: the stage's reference value)");
  cmd->add_option("--optimizer", c.optimizer.kind, "adam (coupled L2, the reference) or adamw")
      ->capture_default_str();
  cmd->add_option("--warmup-steps", c.optimizer.warmup_steps, "Linear learning-rate warm-up");
  cmd->add_flag("--cosine", c.optimizer.cosine, "Cosine decay of the learning rate to --min-lr-ratio");
  cmd->add_option("--min-lr-ratio", c.optimizer.min_lr_ratio, "Final lr / lr of the cosine schedule");
  cmd->add_option("--clip-grad-norm", c.optimizer.clip_grad_norm, "Clip the gradient norm (0: off)");
  cmd->add_flag("--bf16", c.bf16, "bf16 autocast of the forward pass");
  cmd->add_option("--split", c.split.mode, "none, random, stratified or condition")->capture_default_str();
  cmd->add_option("--train-fraction", c.split.train, "Training share of the examples")->capture_default_str();
  cmd->add_option("--test-fraction", c.split.test, "Test share (validation: the rest)")
      ->capture_default_str();
  cmd->add_option("--split-obs", c.split_obs, "obs columns of the stratified / condition split");
  cmd->add_option("--held-out", c.split.held_out, "condition split: held-out values (a|b for two columns)");
  cmd->add_option("--sampling-keys", c.sampling_keys, "obs columns of an inverse-frequency weighted sampler");
  cmd->add_option("--bucket-batches", c.sampler.bucket_batches, "Length-bucketing pool, in batches (1: off)")
      ->capture_default_str();
  cmd->add_option("--d-model", c.d_model, "Model width (pretrain; the mask stage takes the encoder's)")
      ->capture_default_str();
  cmd->add_option("--layers", c.num_layers, "Blocks")->capture_default_str();
  cmd->add_option("--heads", c.num_heads, "Attention heads")->capture_default_str();
  cmd->add_option("--head-dim", c.head_dim, "Width per head (the reference's d_ff)")->capture_default_str();
  cmd->add_option("--ffn-hidden", c.ffn_hidden, "MLP width (0: d_model, as the reference)");
  cmd->add_option("--mask-schedule", c.mask_schedule, "pow, cosine, exp, log or uniform")
      ->capture_default_str();
  cmd->add_option("--max-length", c.max_length,
                  "Cap on genes per target sentence (pretrain: per cell); 0: none");
  cmd->add_option("--checkpoint-every", c.checkpoint_every, "Steps between checkpoints (0: each epoch)");
  cmd->add_option("--keep-checkpoints", c.keep_checkpoints, "Newest checkpoints kept (0: all)")
      ->capture_default_str();
  cmd->add_option("--eval-every", c.eval_every, "Steps between validations (0: each epoch)");
  cmd->add_option("--patience", c.patience, "Validations without improvement before stopping (0: never)")
      ->capture_default_str();
  cmd->add_option("--log-every", c.log_every, "Steps between logged records")->capture_default_str();
  cmd->add_option("--progress", c.progress, "auto, bar, lines or none")->capture_default_str();
  cmd->add_flag("--resume", c.resume, "Continue the run in --run-dir from its newest checkpoint");
  cmd->add_flag("--overwrite", c.overwrite, "Replace an existing output model and run");
  cmd->add_option("--config", a.config_file,
                  "TOML file of long options (top level or a [train] / [pretrain] table); flags win");
  cmd->add_option("--nproc", a.nproc, "Data-parallel worker processes on this machine (Gloo)")
      ->capture_default_str();
}

void run(TrainArgs& a, const CLI::App* cmd) {
  auto& c = a.c;
  c.stage = pg::train::parse_stage(a.stage);
  pg::train::apply_stage_defaults(c, cmd->count("--lr") > 0, cmd->count("--weight-decay") > 0);
  if (a.no_context) c.context_mode = false;
  if (a.source_summary) c.source_summary = true;
  if (!a.context_tps.empty()) c.context_tps = a.context_tps;
  if (a.reference_dispersion) c.train_dispersion = false;
  if (a.nproc > 1 && launch_workers(a.nproc)) return;  // the parent only waits for its workers
  configure_worker_threads();
  pg::train::run_training(c);
}

}  // namespace

void add_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd =
      app.add_subcommand("train", "Train the decoder (--stage mask) or the count head (--stage count)");
  add_common(cmd, *a);
  auto& c = a->c;
  cmd->add_option("--stage", a->stage, "mask or count")->required()->check(CLI::IsMember({"mask", "count"}));
  cmd->add_option("--encoder", c.encoder,
                  "mask stage: the encoder directory (perturbgen pretrain output, or import-ckpt of the "
                  "published encoder checkpoint)");
  cmd->add_option("--from", c.from, "count stage: the mask-stage model directory");
  cmd->add_option("--positional", c.positional, "time_pos_sin, comb_sin or sin_learnt")
      ->capture_default_str();
  cmd->add_option("--pred-tps", c.pred_tps, "Target times trained on (default: all)");
  cmd->add_option("--context-tps", a->context_tps, "Times used as context (default: --pred-tps)");
  cmd->add_option("--held-out-tps", c.held_out_tps, "Times left out of training and validated on (spec 8.3)");
  cmd->add_flag("--no-context", a->no_context, "Condition on the source only, not on the other times");
  cmd->add_flag(
      "--source-summary", a->source_summary,
      "Mask stage: add a learned projection of the source cell's mean encoding to every decoder input "
      "(not in the reference)");
  cmd->add_option("--cond-keys", c.cond_keys, "obs columns prepended as condition tokens");
  cmd->add_option("--loss", c.count_loss, "count stage: zinb, nb or mse")->capture_default_str();
  cmd->add_option("--size-factor", c.size_factor, "count stage: observed, predicted or none")
      ->capture_default_str();
  cmd->add_option("--dropout", c.count_dropout, "count stage: count-head dropout");
  cmd->add_option("--dispersion-keys", c.dispersion_keys,
                  "count stage: obs columns of the dispersion groups");
  cmd->add_flag("--reference-dispersion", a->reference_dispersion,
                "count stage: keep the dispersion at its random initial value (the reference's bug)");
  cmd->callback(guarded([a, cmd] { run(*a, cmd); }));

  auto p = std::make_shared<TrainArgs>();
  CLI::App* pre =
      app.add_subcommand("pretrain", "Masked-token pretraining of the source encoder on a token store");
  add_common(pre, *p);
  p->stage = "pretrain";
  pre->add_option(
      "--encoder", p->c.encoder,
      "Continue pretraining this encoder directory (e.g. the imported published encoder) instead of "
      "starting from random weights; its dimensions and mode are kept");
  pre->callback(guarded([p, pre] { run(*p, pre); }));
}

}  // namespace pg::cli
