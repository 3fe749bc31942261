#include "cli/plugin/small_model.h"

#include <iostream>
#include <sstream>

#include "cli/plugin/launch.h"

namespace pg::cli {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string w; std::getline(in, w, ',');)
    if (!w.empty()) out.push_back(w);
  return out;
}

std::vector<std::string> benchmark_tokenise_args(const std::string& input, const std::filesystem::path& out,
                                                 const std::string& time_key, const std::string& time_order,
                                                 const std::string& vocab, const std::string& pairing,
                                                 int64_t seed) {
  return {"tokenise",
          input,
          "-o",
          (out / "store").string(),
          "--overwrite",
          "--time-key",
          time_key,
          "--time-order",
          time_order,
          "--vocab",
          vocab,
          "--pairing",
          pairing,
          "--seed",
          std::to_string(seed)};
}

void add_small_model_options(CLI::App* cmd, SmallModelArgs& a) {
  cmd->add_option("--max-length", a.max_length, "Genes per sentence in training")->capture_default_str();
  cmd->add_option("--d-model", a.d_model, "Model width")->capture_default_str();
  cmd->add_option("--layers", a.layers, "Blocks")->capture_default_str();
  cmd->add_option("--heads", a.heads, "Attention heads")->capture_default_str();
  cmd->add_option("--head-dim", a.head_dim, "Width per head")->capture_default_str();
  cmd->add_option("--pretrain-epochs", a.pretrain_epochs, "Encoder pretraining epochs")
      ->capture_default_str();
  cmd->add_option("--epochs", a.epochs, "Mask-stage epochs")->capture_default_str();
  cmd->add_option("--count-epochs", a.count_epochs, "Count-stage epochs")->capture_default_str();
  cmd->add_option("--batch-size", a.batch_size, "Training batch")->capture_default_str();
  cmd->add_option("--patience", a.patience, "Early stopping: validations without improvement")
      ->capture_default_str();
  cmd->add_option("--lr", a.lr, "Learning rate")->capture_default_str();
  cmd->add_option("--seed", a.seed, "Seed of every step")->capture_default_str();
  cmd->add_flag("--no-context", a.no_context,
                "Decoder conditions on the source cell only, not on the other time points");
  cmd->add_flag("--source-summary", a.source_summary,
                "Decoder inputs get a learned projection of the source cell's mean encoding");
}

std::string train_small_model(const SmallModelArgs& a, const std::filesystem::path& out,
                              const std::vector<std::string>& pred_tps) {
  const std::string store = (out / "store").string();
  const std::vector<std::string> net{
      "--layers",   std::to_string(a.layers),   "--heads",      std::to_string(a.heads),
      "--head-dim", std::to_string(a.head_dim), "--max-length", std::to_string(a.max_length)};
  const std::vector<std::string> run{"--seed",
                                     std::to_string(a.seed),
                                     "--overwrite",
                                     "--progress",
                                     "none",
                                     "--lr",
                                     std::to_string(a.lr),
                                     "--batch-size",
                                     std::to_string(a.batch_size),
                                     "--split",
                                     "random",
                                     "--train-fraction",
                                     "0.9",
                                     "--test-fraction",
                                     "0"};
  const auto with = [](std::vector<std::string> v, const std::vector<std::string>& more) {
    v.insert(v.end(), more.begin(), more.end());
    return v;
  };
  std::vector<std::string> tps;
  if (!pred_tps.empty()) tps = with({"--pred-tps"}, pred_tps);
  std::cout << "== pretrain the source encoder\n" << std::flush;
  run_self(with(with({"pretrain", "--store", store, "-o", (out / "encoder").string(), "--d-model",
                      std::to_string(a.d_model), "--epochs", std::to_string(a.pretrain_epochs)},
                     net),
                run),
           "pretrain");
  std::cout << "== train the decoder (mask stage)\n" << std::flush;
  std::vector<std::string> early{"--patience", std::to_string(a.patience)};
  std::vector<std::string> mask_only = early;
  if (a.no_context) mask_only.push_back("--no-context");
  if (a.source_summary) mask_only.push_back("--source-summary");
  run_self(with(with(with(with({"train", "--stage", "mask", "--store", store, "--encoder",
                                (out / "encoder").string(), "-o", (out / "mask").string(), "--epochs",
                                std::to_string(a.epochs)},
                               tps),
                          net),
                     run),
                mask_only),
           "train --stage mask");
  std::cout << "== train the count head\n" << std::flush;
  run_self(with(with(with({"train", "--stage", "count", "--store", store, "--from", (out / "mask").string(),
                           "-o", (out / "model").string(), "--epochs", std::to_string(a.count_epochs)},
                          tps),
                     run),
                early),
           "train --stage count");
  return (out / "model").string();
}

}  // namespace pg::cli
