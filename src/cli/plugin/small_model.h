// The small model the benchmark commands train from scratch on one data set
// (benchmark-timepoints, benchmark-perturbation): its options, registered
// once, and the pretrain -> mask stage -> count stage pipeline, run as the
// user's own commands with their outputs under one folder.
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace pg::cli {

struct SmallModelArgs {
  int64_t max_length = 256, d_model = 64, layers = 2, heads = 4, head_dim = 16;
  int64_t pretrain_epochs = 10, epochs = 30, count_epochs = 30, batch_size = 8, patience = 10;
  int64_t seed = 42;
  double lr = 1e-3;
  bool no_context = false;      // the decoder conditions on the source only (train --no-context)
  bool source_summary = false;  // train --source-summary
};

// "a,b,,c" -> {a, b, c}.
std::vector<std::string> split_list(const std::string& s);

// `tokenise INPUT -o OUT/store --overwrite` for a benchmark: the time course,
// vocabulary, pairing and seed given, the rest appended by the caller.
std::vector<std::string> benchmark_tokenise_args(const std::string& input, const std::filesystem::path& out,
                                                 const std::string& time_key, const std::string& time_order,
                                                 const std::string& vocab, const std::string& pairing,
                                                 int64_t seed);

// --max-length --d-model --layers --heads --head-dim --pretrain-epochs
// --epochs --count-epochs --batch-size --patience --lr --seed --no-context.
void add_small_model_options(CLI::App* cmd, SmallModelArgs& a);

// pretrain -> OUT/encoder, train --stage mask -> OUT/mask, train --stage count
// -> OUT/model on the store OUT/store (validation: a random 10 % of the
// pairs); `pred_tps` restricts the trained time points (empty: all).
// Returns the model folder.
std::string train_small_model(const SmallModelArgs& a, const std::filesystem::path& out,
                              const std::vector<std::string>& pred_tps);

}  // namespace pg::cli
