#include "cli/plugin/generation_options.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "train/masking.h"

namespace pg::cli {

namespace {

// The pairing rows of one split of the model's training run (RUN_DIR/split.json).
std::vector<int64_t> split_rows(const pg::model::ModelMeta& meta, const std::string& model,
                                const std::string& split) {
  const std::string run_dir = meta.provenance.value("run_dir", "");
  if (run_dir.empty())
    throw pg::Error(model, "provenance.run_dir", "missing: --split needs the model's training run directory");
  const auto file = std::filesystem::path(run_dir) / "split.json";
  std::ifstream in(file);
  if (!in) throw pg::Error(file.string(), "", "cannot be read (--split needs the training run's split)");
  const auto j = nlohmann::json::parse(in, nullptr, false);
  if (j.is_discarded() || !j.contains(split) || !j[split].is_array())
    throw pg::Error(file.string(), split, "missing or not a list of pairing rows");
  const auto rows = j[split].get<std::vector<int64_t>>();
  if (rows.empty()) throw pg::Error(file.string(), split, "is empty: the training run had no such examples");
  return rows;
}

}  // namespace

// Time points by label (a pairing column of the store) or by number 1..T.
std::vector<int64_t> parse_times(const std::vector<std::string>& given,
                                 const std::vector<std::string>& labels, const std::string& store) {
  std::vector<int64_t> out;
  for (const auto& s : given) {
    auto it = std::find(labels.begin(), labels.end(), s);
    if (it != labels.end() && it != labels.begin()) {
      out.push_back(it - labels.begin());
      continue;
    }
    char* end = nullptr;
    const long t = std::strtol(s.c_str(), &end, 10);
    if (!s.empty() && *end == '\0' && t >= 1 && t < static_cast<long>(labels.size())) {
      out.push_back(t);
      continue;
    }
    std::string names;
    for (size_t k = 1; k < labels.size(); ++k) names += (k > 1 ? ", " : "") + labels[k];
    throw pg::Error(store, "time point '" + s + "'", "is not a target time of the store (" + names + ")");
  }
  return out;
}

void check_h5ad_output(const std::string& output, bool overwrite) {
  namespace fs = std::filesystem;
  if (fs::exists(output) && !overwrite)
    throw pg::Error(output, "output", "exists (pass --overwrite to replace it)");
  if (fs::path(output).extension() != ".h5ad") throw pg::Error(output, "output", "must end in .h5ad");
}

void add_generation_options(CLI::App& cmd, GenerationArgs& a) {
  auto& o = a.options;
  cmd.add_option("--time-points", a.time_points, "Time points to generate, by label or 1..T (default: all)");
  cmd.add_option("--iterations", o.maskgit.iterations, "MaskGIT iterations")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_option("--seed", o.seed, "Seed of every random draw")->capture_default_str();
  cmd.add_option("--temperature", o.maskgit.temperature, "Initial sampling temperature (decays to 0)")
      ->capture_default_str();
  cmd.add_option("--topk-filter-thres", o.maskgit.topk_filter_thres,
                 "Keep the top (1 - thres) share of logits")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 0.9999));
  cmd.add_option("--scoring", a.scoring, "topk-margin or topk")->capture_default_str();
  cmd.add_option("--schedule", a.schedule, "Mask schedule: pow, cosine, exp, log or uniform")
      ->capture_default_str();
  cmd.add_option("--demasking", a.demasking, "maskgit (k = L*gamma) or reference (its multiplicative count)")
      ->capture_default_str();
  cmd.add_option("--length", a.length, "Generated genes per cell: sampled, truth or fixed")
      ->capture_default_str();
  cmd.add_option("--fixed-length", o.fixed_length, "Genes per cell with --length fixed");
  cmd.add_option("--max-length", o.max_length, "Cap on generated genes (0: the model's position table)");
  cmd.add_option("--context", a.context, "Other time points: generated (in time order) or truth")
      ->capture_default_str();
  cmd.add_option("--library", a.library, "Library size of the counts: median (of training cells) or observed")
      ->capture_default_str();
  cmd.add_option("--counts", a.counts, "Counts: mean, mu (the reference's rho*l) or sample")
      ->capture_default_str();
  cmd.add_option("--split", a.split,
                 "Source cells: all, or the train / validation / test pairs of the model's training run")
      ->capture_default_str()
      ->check(CLI::IsMember({"all", "train", "validation", "test"}));
  cmd.add_option("--batch-size", o.batch_size, "Cells per batch")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd.add_flag("--bf16", o.bf16,
               "bf16 autocast of the model (about 2-3x faster matrix products on CPUs with avx512_bf16)");
}

pg::generate::GenerateOptions generation_options(const GenerationArgs& a, const pg::store::TokenStore& store,
                                                 const pg::model::ModelMeta& meta,
                                                 const std::string& model_dir) {
  auto o = a.options;
  o.maskgit.demasking = pg::generate::parse_demasking(a.demasking);
  o.maskgit.scoring = pg::generate::parse_scoring(a.scoring);
  o.maskgit.schedule = pg::train::parse_mask_schedule(a.schedule, "--schedule");
  o.length = pg::generate::parse_length_mode(a.length);
  o.context = pg::generate::parse_context_mode(a.context);
  o.library = pg::generate::parse_library_mode(a.library);
  o.counts = pg::generate::parse_count_output(a.counts);
  if (!store.has_pairing())
    throw pg::Error(store.dir().string(), "pairing table",
                    "missing: generation starts from paired source cells");
  o.times = parse_times(a.time_points, store.pairing().columns, store.dir().string());
  if (a.split != "all") o.rows = split_rows(meta, model_dir, a.split);
  return o;
}

nlohmann::json generation_settings(const GenerationArgs& a, const pg::generate::GenerateOptions& o) {
  return {{"seed", o.seed},
          {"iterations", o.maskgit.iterations},
          {"temperature", o.maskgit.temperature},
          {"topk_filter_thres", o.maskgit.topk_filter_thres},
          {"scoring", a.scoring},
          {"schedule", a.schedule},
          {"demasking", a.demasking},
          {"length", a.length},
          {"fixed_length", o.fixed_length},
          {"context", a.context},
          {"library", a.library},
          {"counts", a.counts},
          {"bf16", o.bf16},
          {"split", a.split}};
}

}  // namespace pg::cli
