#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "model/model_dir.h"
#include "train/run.h"

namespace fs = std::filesystem;

namespace pg::train::detail {

namespace {

void check_writable_dir(const fs::path& dir, const std::string& what) {
  if (!fs::is_directory(dir)) throw pg::Error(dir.string(), "", what + " directory does not exist");
  if (::access(dir.c_str(), W_OK) != 0)
    throw pg::Error(dir.string(), "", what + " directory is not writable");
}

}  // namespace

void prepare_outputs(Run& r) {
  auto& c = r.c;
  if (c.output.empty()) throw pg::Error("<arguments>", "-o", "an output model directory is required");
  const fs::path out = fs::absolute(c.output);
  check_writable_dir(out.parent_path(), "the output's parent");
  if (fs::exists(out) && !c.overwrite && !c.resume)
    throw pg::Error(out.string(), "", "already exists; pass --overwrite to replace it");
  r.run_dir = c.run_dir.empty() ? fs::path(out.string() + ".run") : fs::absolute(c.run_dir);
  if (fs::exists(r.run_dir / "run.json") && !c.resume && !c.overwrite)
    throw pg::Error(r.run_dir.string(), "",
                    "holds an earlier run; pass --resume to continue it or --overwrite to start over");
  if (fs::exists(r.run_dir))
    check_writable_dir(r.run_dir, "the run");
  else
    check_writable_dir(r.run_dir.parent_path(), "the run directory's parent");
}

void open_run_dir(const Run& r) {
  if (!r.main()) return;
  if (!r.c.resume && r.c.overwrite) {
    fs::remove_all(r.run_dir / "checkpoints");
    fs::remove(r.run_dir / "best.safetensors");
  }
  fs::create_directories(r.run_dir);
}

void check_free_space(const Run& r) {
  int64_t bytes = 0;
  for (const auto& [k, p] : result_weights(r.sm)) bytes += static_cast<int64_t>(p.nbytes());
  int64_t trainable = 0;
  for (const auto& [k, p] : r.sm.trainable) trainable += static_cast<int64_t>(p.nbytes());
  const int64_t need = bytes + 2 * 3 * trainable;
  struct statvfs fsinfo {};
  if (::statvfs(r.run_dir.c_str(), &fsinfo) != 0) return;
  const auto avail = static_cast<int64_t>(fsinfo.f_bavail) * static_cast<int64_t>(fsinfo.f_frsize);
  if (avail < need)
    throw pg::Error(r.run_dir.string(), "",
                    "has " + std::to_string(avail >> 20) +
                        " MiB free; checkpoints and the model need about " +
                        std::to_string((need >> 20) + 1) + " MiB");
}

void setup_data(Run& r) {
  auto& c = r.c;
  r.store.emplace(pg::store::TokenStore::open(c.store));
  r.schedule = parse_mask_schedule(c.mask_schedule);
  if (c.stage == Stage::pretrain) {
    r.cells = std::make_unique<CellData>(*r.store, c.max_length);
  } else {
    const int64_t n_times = static_cast<int64_t>(r.store->pairing().columns.size()) - 1;
    auto options = paired_data_options(c, n_times);
    // An encoder pretrained here with --max-length N saw only the first N
    // tokens of each cell, and its position table has N rows: sources are
    // cut there, as the tokeniser cuts at the model's input size (spec
    // §2.4). An imported encoder's table is fixed by its checkpoint, so a
    // longer sentence is a mismatch with the store, refused in
    // build_stage_model (re-tokenise with --model-input-size).
    if (c.stage == Stage::mask && !c.encoder.empty() &&
        !pg::model::read_model_meta(c.encoder).provenance.contains("imported_from"))
      options.max_source_length = pg::model::read_encoder_config(c.encoder).max_seq_length;
    if (c.stage == Stage::count && !c.from.empty()) {
      // The mask-stage decoder's position table bounds the targets.
      const auto mc = pg::model::read_model_config(c.from);
      const auto meta = pg::model::read_model_meta(c.from);
      options.max_source_length = mc.encoder.max_seq_length;
      // The condition tokens the decoder was trained with, in id order.
      options.cond_keys = condition_keys_in_token_order(meta.condition_tokens);
      const int64_t cap = mc.decoder.max_seq_length - static_cast<int64_t>(options.cond_keys.size());
      options.max_length = options.max_length > 0 ? std::min(options.max_length, cap) : cap;
      r.paired = std::make_unique<PairedData>(*r.store, options);
      if (r.paired->condition_tokens() != meta.condition_tokens)
        throw pg::Error(
            c.from, "meta.condition_tokens",
            "differ from the ones this store gives (its obs categories changed since the mask stage)");
    }
    if (!r.paired) r.paired = std::make_unique<PairedData>(*r.store, options);
    r.train_times = training_times(c, n_times);
  }
  // Split labels: the source cell's obs values (or the cell's, pretraining).
  std::vector<size_t> split_cols, sample_cols;
  for (const auto& k : c.split_obs) split_cols.push_back(r.store->obs_column(k));
  for (const auto& k : c.sampling_keys) sample_cols.push_back(r.store->obs_column(k));
  auto label = [&r](const std::vector<size_t>& cols) {
    return [&r, cols](int64_t i) {
      const int64_t cell = r.paired ? r.paired->cell(i, 0) : i;
      std::string s;
      for (size_t k = 0; k < cols.size(); ++k) {
        const auto& spec = r.store->schema().obs[cols[k]];
        if (k) s += "|";
        if (spec.kind == pg::store::ObsColumnSpec::Kind::Categorical) {
          const int32_t code = r.store->obs_code(cell, cols[k]);
          s += code < 0 ? std::string("NA") : spec.categories[static_cast<size_t>(code)];
        } else {
          s += std::to_string(r.store->obs_value(cell, cols[k]));
        }
      }
      return s;
    };
  };
  if ((c.split.mode == "stratified" || c.split.mode == "condition") && split_cols.empty())
    throw pg::Error("<arguments>", "--split-obs", "the " + c.split.mode + " split needs obs columns");
  r.split = make_split(r.n_examples(), c.split, c.seed, label(split_cols));
  if (!sample_cols.empty()) r.weights = inverse_frequency_weights(r.split.train, label(sample_cols));
  // Held-out times are validated (interpolation / extrapolation, spec §8.3);
  // otherwise the training times are.
  r.eval_times = c.held_out_tps.empty() ? r.train_times : c.held_out_tps;
}

}  // namespace pg::train::detail
