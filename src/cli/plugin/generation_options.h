// The generation options every command that runs MaskGIT decoding shares
// (generate, perturb, atlas): registered once, parsed once.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "generate/generator.h"
#include "model/model_dir.h"
#include "store/token_store.h"

namespace pg::cli {

struct GenerationArgs {
  std::vector<std::string> time_points;
  std::string demasking = "maskgit", scoring = "topk-margin", schedule = "pow";
  std::string length = "sampled", context = "generated", library = "median", counts = "mean", split = "all";
  pg::generate::GenerateOptions options;
};

// --time-points --iterations --seed --temperature --topk-filter-thres --scoring
// --schedule --demasking --length --fixed-length --max-length --context
// --library --counts --split --batch-size --bf16.
void add_generation_options(CLI::App& cmd, GenerationArgs& a);

// The options with the strings parsed, the time points resolved against the
// store and the split's rows read from the model's training run.
pg::generate::GenerateOptions generation_options(const GenerationArgs& a, const pg::store::TokenStore& store,
                                                 const pg::model::ModelMeta& meta,
                                                 const std::string& model_dir);

// Every setting, for the outputs' uns.
nlohmann::json generation_settings(const GenerationArgs& a, const pg::generate::GenerateOptions& o);

// An output .h5ad that may be written: pg::Error if it exists without
// `overwrite` or does not end in .h5ad.
void check_h5ad_output(const std::string& output, bool overwrite);

// Time points by label (a pairing column of the store) or by number 1..T.
std::vector<int64_t> parse_times(const std::vector<std::string>& given,
                                 const std::vector<std::string>& labels, const std::string& store);

}  // namespace pg::cli
