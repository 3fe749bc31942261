#include "train/trainer.h"

#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <future>
#include <iostream>
#include <limits>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/random.h"
#include "io/safetensors.h"
#include "model/autocast.h"
#include "model/model_dir.h"
#include "train/checkpoint.h"
#include "train/distributed.h"
#include "train/evaluation.h"
#include "train/objectives.h"
#include "train/progress.h"
#include "train/run.h"
#include "train/stage_model.h"

namespace fs = std::filesystem;

namespace pg::train {

using detail::LocalBatch;
using detail::Run;

namespace {

using Clock = std::chrono::steady_clock;

LocalBatch load_batch(const Run& r, std::vector<int64_t> rows) {
  LocalBatch b;
  b.rows = std::move(rows);
  if (b.rows.empty()) return b;
  if (r.paired)
    b.paired = r.paired->batch(b.rows);
  else
    b.cells = r.cells->batch(b.rows);
  return b;
}

int64_t step_time(const Run& r, int64_t step) {
  uint64_t s = r.c.seed ^ 0x7a11;
  s = splitmix64(s) ^ static_cast<uint64_t>(step);
  return r.train_times[splitmix64(s) % r.train_times.size()];
}

struct StepResult {
  double loss = 0, count = 0, lr = 0, padding = 0;
  double tokens = 0, slots = 0, rows = 0;  // of the padded inputs, over all ranks
};

// The rows of a batch in pieces of at most `max_tokens` padded tokens (rows x
// longest sentence of the piece), longest first. Every random draw is keyed
// by row and the loss is a sum, so the pieces' gradients add up to the whole
// batch's: the step is the same, only its memory is bounded by the budget
// instead of the batch (4,096-token sentences of the published encoder).
std::vector<std::vector<int64_t>> micro_batches(const Run& r, std::vector<int64_t> rows) {
  if (rows.empty()) return {};
  if (r.c.max_tokens <= 0) return {rows};
  std::stable_sort(rows.begin(), rows.end(), [&](int64_t a, int64_t b) { return r.length(a) > r.length(b); });
  std::vector<std::vector<int64_t>> out;
  for (int64_t row : rows) {
    // Sorted longest first, so a piece's first row is its longest.
    if (out.empty() ||
        static_cast<int64_t>(out.back().size() + 1) * r.length(out.back().front()) > r.c.max_tokens)
      out.emplace_back();
    out.back().push_back(row);
  }
  return out;
}

// Rows per evaluation batch: the batch size, capped so that rows x the
// longest sentence of the data stays within --max-tokens.
int64_t rows_within_budget(const Run& r, int64_t batch) {
  if (r.c.max_tokens <= 0) return batch;
  int64_t longest = 1;
  for (int64_t i = 0; i < r.n_examples(); ++i) longest = std::max(longest, r.length(i));
  return std::clamp<int64_t>(r.c.max_tokens / longest, 1, batch);
}

StepResult train_step(Run& r, const LocalBatch& b) {
  const int64_t step = r.state.step;
  for (auto& [k, p] : r.sm.trainable) p.mutable_grad() = torch::Tensor();
  double loss_sum = 0, loss_count = 0, n_tokens = 0, n_slots = 0, n_rows = 0;
  const auto pieces = micro_batches(r, b.rows);
  for (const auto& piece : pieces) {
    const LocalBatch mb = pieces.size() == 1 ? b : load_batch(r, piece);
    LossTerms terms;
    torch::Tensor padded;  // the piece's padded input (pretrain: cells; mask: time t)
    {
      pg::model::Bf16Autocast autocast(r.c.bf16, r.device);
      if (r.c.stage == Stage::pretrain) {
        terms = pretrain_loss(*r.sm.encoder, mb.cells, mb.rows, r.c.seed, step, r.schedule);
        padded = mb.cells;
      } else if (r.c.stage == Stage::mask) {
        const int64_t t = step_time(r, step);
        terms = mask_loss(*r.sm.model, mb.paired, t, r.c.seed, step, r.schedule);
        padded = mb.paired.model.tgt_ids.at(t);
      } else {
        const auto cached =
            r.embeddings.enabled() ? r.embeddings.gather(mb.rows) : std::map<int64_t, torch::Tensor>{};
        terms = count_loss(*r.sm.model, mb.paired, r.train_times, r.sm.excluded_ids,
                           r.embeddings.enabled() ? &cached : nullptr);
      }
    }
    if (terms.sum.defined() && terms.count > 0) terms.sum.backward();  // gradients add up over pieces
    loss_sum += terms.sum.defined() ? terms.sum.item<double>() : 0.0;
    loss_count += terms.count;
    if (padded.defined()) {
      n_tokens += padded.ne(0).sum().item<double>();
      n_slots += static_cast<double>(padded.numel());
      n_rows += static_cast<double>(padded.size(0));
    }
  }
  // One collective for the gradients, the loss and its count.
  std::vector<torch::Tensor> bufs;
  for (auto& [k, p] : r.sm.trainable) {
    if (!p.grad().defined() && r.dist->world() > 1) p.mutable_grad() = torch::zeros_like(p);
    if (p.grad().defined()) bufs.push_back(p.mutable_grad());
  }
  auto totals = torch::tensor({loss_sum, loss_count, n_tokens, n_slots, n_rows}, torch::kFloat64);
  bufs.push_back(totals);
  r.dist->all_reduce_sum(bufs);
  StepResult out;
  const double count = totals[1].item<double>();
  out.loss = totals[0].item<double>() / std::max(count, 1.0);
  out.count = count;
  out.tokens = totals[2].item<double>();
  out.slots = totals[3].item<double>();
  out.rows = totals[4].item<double>();
  out.padding = out.slots > 0 ? 1.0 - out.tokens / out.slots : 0.0;
  if (!std::isfinite(out.loss)) {
    const auto last = latest_checkpoint(r.run_dir);
    throw pg::Error("training", "step " + std::to_string(step + 1),
                    "the loss is " + std::string(std::isnan(out.loss) ? "NaN" : "infinite") +
                        "; stopped before applying it. Last good checkpoint: " +
                        (last ? last->string() : std::string("none")) +
                        " (lower the learning rate or clip gradients)");
  }
  {
    torch::NoGradGuard no_grad;
    for (auto& [k, p] : r.sm.trainable)
      if (p.grad().defined()) p.mutable_grad().div_(std::max(count, 1.0));
  }
  out.lr = learning_rate(r.opt->options(), step);
  r.opt->step(out.lr);
  ++r.state.step;
  return out;
}

nlohmann::json evaluate(Run& r, const std::string& kind, bool other_source = false) {
  auto rows = rank_share(
      r.split.val, [&](int64_t i) { return r.length(i); }, r.dist->rank(), r.dist->world());
  EvalSums s;
  const int64_t bs = rows_within_budget(r, std::max<int64_t>(1, r.c.sampler.batch_size / r.dist->world()));
  if (r.c.stage == Stage::pretrain)
    s = evaluate_pretrain(*r.sm.encoder, *r.cells, rows, r.c.seed, r.schedule, r.unigram, bs);
  else if (r.c.stage == Stage::mask)
    s = evaluate_mask(*r.sm.model, *r.paired, rows, r.eval_times, r.c.seed, r.schedule, r.unigram,
                      std::max<int64_t>(2, bs), other_source);
  else
    s = evaluate_count(*r.sm.model, *r.paired, rows, r.eval_times, r.sm.excluded_ids, r.baseline, bs,
                       r.embeddings.enabled() ? &r.embeddings : nullptr);
  std::vector<torch::Tensor> t{torch::tensor({s.sum, s.count, s.baseline_sum}, torch::kFloat64)};
  r.dist->all_reduce_sum(t);
  const double sum = t[0][0].item<double>(), count = std::max(1.0, t[0][1].item<double>());
  const double base = t[0][2].item<double>();
  nlohmann::json rec = {{"kind", kind}, {"step", r.state.step}, {"epoch", r.state.epoch}};
  if (r.c.stage == Stage::count) {
    rec["nll"] = sum / count;
    rec["baseline_nll"] = base / count;
    rec["metric"] = sum / count;
  } else {
    rec["loss"] = sum / count;
    rec["perplexity"] = std::exp(sum / count);
    rec["unigram_perplexity"] = std::exp(base / count);
    rec["metric"] = std::exp(sum / count);
  }
  return rec;
}

pg::model::NamedTensors trainable_values(const Run& r) {
  pg::model::NamedTensors out;
  for (const auto& [k, p] : r.sm.trainable) out.emplace(k, p.detach().cpu().clone());
  return out;
}

void load_trainable(Run& r, const pg::model::NamedTensors& values, const std::string& file) {
  torch::NoGradGuard no_grad;
  for (auto& [k, p] : r.sm.trainable) {
    auto it = values.find(k);
    if (it == values.end()) throw pg::Error(file, k, "missing (a checkpoint of another model?)");
    if (it->second.sizes() != p.sizes()) throw pg::Error(file, k, "has the wrong shape for this model");
    p.copy_(it->second);
  }
}

void save_checkpoint(Run& r) {
  if (r.main())
    write_checkpoint(r.run_dir, r.state, trainable_values(r), r.opt->state(), r.c.keep_checkpoints);
}

// Evaluates, updates early stopping; true when the run should stop.
bool evaluate_and_check(Run& r) {
  auto rec = evaluate(r, "val");
  const double metric = rec["metric"].get<double>();
  if (metric < r.state.best_metric) {
    r.state.best_metric = metric;
    r.state.evals_since_best = 0;
    if (r.main())
      write_atomically(r.run_dir / "best.safetensors", [&](const fs::path& tmp) {
        pg::model::save_safetensors(tmp, trainable_values(r));
        sync_to_disk(tmp);
      });
  } else {
    ++r.state.evals_since_best;
  }
  rec["best"] = r.state.best_metric;
  r.progress->event(rec);
  return r.c.patience > 0 && r.state.evals_since_best >= r.c.patience;
}

}  // namespace

nlohmann::json run_training(TrainConfig config) {
  Run r;
  r.c = std::move(config);
  auto& c = r.c;
  r.dist = Distributed::from_environment();
  r.device = torch::Device(c.device);
  if (r.device.is_cuda() && !torch::cuda::is_available())
    throw pg::Error("<arguments>", "--device", "cuda was asked for, but libtorch sees no CUDA device");
  if (c.sampler.batch_size < r.dist->world())
    throw pg::Error("<arguments>", "--batch-size",
                    "the global batch (" + std::to_string(c.sampler.batch_size) + ") is smaller than the " +
                        std::to_string(r.dist->world()) + " processes");
  detail::prepare_outputs(r);
  detail::setup_data(r);
  double log_lib = 0;
  if (c.stage == Stage::count && c.size_factor == "predicted")
    log_lib = mean_log_library(*r.paired, r.split.train, r.train_times);
  r.sm =
      build_stage_model(c, *r.store, r.paired.get(), r.cells ? r.cells->max_length() : 0, r.device, log_lib);
  if (c.stage == Stage::count) {
    r.baseline = fit_gene_mean_baseline(*r.paired, r.split.train, r.train_times);
    start_from_baseline(*r.sm.model->count_head, r.baseline, c.train_dispersion);
    // Every time a step or an evaluation reads, for every example.
    std::vector<int64_t> times = r.train_times;
    for (int64_t t : r.eval_times)
      if (std::find(times.begin(), times.end(), t) == times.end()) times.push_back(t);
    r.embeddings =
        EmbeddingCache(*r.sm.model, *r.paired, times, r.sm.excluded_ids,
                       rows_within_budget(r, std::max<int64_t>(1, c.sampler.batch_size)), int64_t{2} << 30);
  }
  if (r.sm.model) r.sm.model->train();
  if (r.sm.encoder) r.sm.encoder->train();
  // The frozen encoder stays in inference mode in every stage (spec §4.2).
  if (r.sm.model) r.sm.model->encoder->eval();
  detail::open_run_dir(r);
  if (r.main()) detail::check_free_space(r);

  // Every rank starts from rank 0's weights.
  {
    torch::NoGradGuard no_grad;
    std::vector<torch::Tensor> ps;
    for (auto& [k, p] : r.sm.trainable) ps.push_back(p);
    r.dist->broadcast(ps);
  }
  r.steps_per_epoch = static_cast<int64_t>(
      epoch_batches(
          r.split.train, [&](int64_t i) { return r.length(i); }, r.weights, c.sampler, c.seed, 0)
          .size());
  r.total_steps = c.max_steps > 0 ? c.max_steps : c.epochs * r.steps_per_epoch;
  if (c.optimizer.total_steps == 0) c.optimizer.total_steps = r.total_steps;
  r.opt = std::make_unique<Adam>(r.sm.trainable, c.optimizer);

  // run.json: written by a new run, compared by a resumed one.
  auto resolved = to_json(c);
  const fs::path run_json = r.run_dir / "run.json";
  bool resumed = false;
  if (c.resume) {
    std::ifstream in(run_json);
    if (!in) throw pg::Error(run_json.string(), "", "missing: nothing to resume in " + r.run_dir.string());
    auto stored = nlohmann::json::parse(in, nullptr, false);
    for (const char* k : {"stage", "store", "seed", "batch_size", "model", "count", "split", "optimizer"}) {
      auto a = stored.value(k, nlohmann::json()), b = resolved.value(k, nlohmann::json());
      if (a.is_object()) a.erase("total_steps"), b.erase("total_steps");
      if (a != b)
        throw pg::Error(run_json.string(), k,
                        "differs from this command's (" + a.dump() + " vs " + b.dump() +
                            "); resume with the same settings or start a new run");
    }
    if (auto last = latest_checkpoint(r.run_dir)) {
      auto ck = read_checkpoint(*last);
      load_trainable(r, ck.model, (*last / "model.safetensors").string());
      r.opt->load_state(ck.optimizer, ck.state.step, (*last / "optimizer.safetensors").string());
      r.state = ck.state;
      r.state.finished = false;
      resumed = true;
    }
  }
  if (r.main() && !resumed)
    write_atomically(run_json, [&](const fs::path& tmp) { std::ofstream(tmp) << resolved.dump(2) << "\n"; });
  // split.json: the pairing rows of each split, so later commands (generate
  // --split validation) can reproduce a held-out evaluation exactly.
  if (r.main() && r.paired) {
    auto rows = [&](const std::vector<int64_t>& examples) {
      std::vector<int64_t> out;
      for (int64_t e : examples) out.push_back(r.paired->row(e));
      std::sort(out.begin(), out.end());
      return out;
    };
    const nlohmann::json split = {
        {"train", rows(r.split.train)}, {"validation", rows(r.split.val)}, {"test", rows(r.split.test)}};
    write_atomically(r.run_dir / "split.json",
                     [&](const fs::path& tmp) { std::ofstream(tmp) << split.dump() << "\n"; });
  }

  r.progress = std::make_unique<Progress>(c.progress, r.main() ? r.run_dir / "metrics.jsonl" : fs::path(),
                                          r.total_steps, resumed);
  if (!r.main()) r.progress = std::make_unique<Progress>("none", fs::path(), r.total_steps, false);
  if (r.paired && c.stage == Stage::mask)
    r.unigram =
        unigram_log_probs(*r.paired, r.split.train, r.train_times, r.sm.model->config().decoder.vocab_size);
  if (r.cells) r.unigram = unigram_log_probs(*r.cells, r.split.train, r.sm.encoder->config().vocab_size);
  r.progress->event(
      {{"kind", "start"},
       {"message",
        to_string(c.stage) + " stage: " + std::to_string(r.split.train.size()) + " training / " +
            std::to_string(r.split.val.size()) + " validation examples, " +
            std::to_string(r.steps_per_epoch) + " steps per epoch, " + std::to_string(r.dist->world()) +
            " process(es)" + (resumed ? ", resumed at step " + std::to_string(r.state.step) : "") +
            (r.paired && r.paired->skipped_rows() > 0 ? "; " + std::to_string(r.paired->skipped_rows()) +
                                                            " pairing rows skipped (a needed cell is missing)"
                                                      : "")}});
  if (!resumed) {
    auto initial = evaluate(r, "initial");
    r.summary["untrained"] = initial;
    r.progress->event(initial);
  }

  // The loop. Batches are a function of (seed, epoch); rank r takes its
  // share of each global batch; the next share loads in the background.
  const auto t0 = Clock::now();
  const int64_t start_step = r.state.step;
  double cells_done = 0, tokens_seen = 0, slots_seen = 0, rows_seen = 0;
  bool stop = r.state.step >= r.total_steps;
  const int64_t max_epochs = c.max_steps > 0 ? std::numeric_limits<int64_t>::max() : c.epochs;
  auto length = [&](int64_t i) { return r.length(i); };
  while (!stop && r.state.epoch < max_epochs) {
    const auto batches = epoch_batches(r.split.train, length, r.weights, c.sampler, c.seed, r.state.epoch);
    auto share = [&](size_t k) { return rank_share(batches[k], length, r.dist->rank(), r.dist->world()); };
    std::future<LocalBatch> next;
    if (static_cast<size_t>(r.state.batch_in_epoch) < batches.size())
      next = std::async(std::launch::async, load_batch, std::cref(r),
                        share(static_cast<size_t>(r.state.batch_in_epoch)));
    for (size_t k = static_cast<size_t>(r.state.batch_in_epoch); k < batches.size() && !stop; ++k) {
      LocalBatch b = next.get();
      if (k + 1 < batches.size())
        next = std::async(std::launch::async, load_batch, std::cref(r), share(k + 1));
      auto res = train_step(r, b);
      ++r.state.batch_in_epoch;
      cells_done += static_cast<double>(batches[k].size());
      tokens_seen += res.tokens, slots_seen += res.slots, rows_seen += res.rows;
      const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      const double per_step = elapsed / static_cast<double>(r.state.step - start_step);
      nlohmann::json rec = {
          {"kind", "train"},        {"step", r.state.step},
          {"epoch", r.state.epoch}, {"loss", res.loss},
          {"lr", res.lr},           {"cells_per_s", cells_done / elapsed},
          {"padding", res.padding}, {"eta_s", per_step * static_cast<double>(r.total_steps - r.state.step)}};
      if (c.stage != Stage::count) rec["perplexity"] = std::exp(res.loss);
      r.progress->step(rec, r.state.step % std::max<int64_t>(1, c.log_every) == 0);
      if (c.eval_every > 0 && r.state.step % c.eval_every == 0) stop = evaluate_and_check(r);
      if (c.checkpoint_every > 0 && r.state.step % c.checkpoint_every == 0) save_checkpoint(r);
      if (r.state.step >= r.total_steps) stop = true;
    }
    if (next.valid()) next.wait();
    if (r.state.batch_in_epoch >= static_cast<int64_t>(batches.size())) {
      ++r.state.epoch;
      r.state.batch_in_epoch = 0;
      if (c.eval_every == 0) stop = evaluate_and_check(r) || stop;
      if (c.checkpoint_every == 0) save_checkpoint(r);
    }
  }
  r.state.finished = true;
  save_checkpoint(r);
  r.progress->finish();
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();

  // The output model: the best validated weights (every rank loads them
  // for the final evaluation, a collective).
  r.dist->barrier();
  const auto best = r.run_dir / "best.safetensors";
  if (fs::exists(best))
    load_trainable(r, pg::model::to_torch(pg::io::SafeTensors::read(best.string())), best.string());
  auto final_eval = evaluate(r, "final");
  nlohmann::json dependence;
  if (c.stage == Stage::mask) {
    // The same validation pairs with each target given another row's source.
    const auto other = evaluate(r, "other_source", /*other_source=*/true);
    const double a = final_eval["loss"].get<double>(), b = other["loss"].get<double>();
    dependence = {{"loss", a},
                  {"loss_other_source", b},
                  {"nats_per_token", b - a},
                  {"relative", a > 0 ? (b - a) / a : 0.0}};
  }
  if (r.main()) {
    if (!dependence.is_null()) {
      r.summary["source_dependence"] = dependence;
      std::ostringstream msg;
      msg.precision(4);
      msg << "source dependence: validation loss " << dependence["loss"].get<double>() << " -> "
          << dependence["loss_other_source"].get<double>() << " nats/token with another cell's source (+"
          << 100 * dependence["relative"].get<double>() << " %)";
      r.progress->event({{"kind", "note"}, {"message", msg.str()}});
    }
    r.summary["stage"] = to_string(c.stage);
    r.summary["steps"] = r.state.step;
    r.summary["epochs_done"] = r.state.epoch;
    r.summary["best_metric"] = r.state.best_metric;
    r.summary["processes"] = r.dist->world();
    r.summary["cells_per_s"] = elapsed > 0 ? cells_done / elapsed : 0.0;
    // Padding of the masked inputs, and what padding every batch to the
    // longest sentence of the data (as the reference does) would have cost.
    const double width =
        static_cast<double>(r.paired ? r.paired->max_target_length() : r.cells->max_length());
    if (slots_seen > 0) {
      r.summary["padding_fraction"] = 1.0 - tokens_seen / slots_seen;
      r.summary["padding_fraction_reference"] = 1.0 - tokens_seen / (rows_seen * width);
    }
    r.summary["final"] = final_eval;
    write_stage_output(c, r.sm,
                       {{"stage", to_string(c.stage)},
                        {"store", c.store},
                        {"steps", r.state.step},
                        {"seed", c.seed},
                        {"run_dir", r.run_dir.string()}});
    write_atomically(r.run_dir / "summary.json",
                     [&](const fs::path& tmp) { std::ofstream(tmp) << r.summary.dump(2) << "\n"; });
    r.progress->event({{"kind", "done"}, {"message", "wrote " + c.output}});
  }
  r.dist->barrier();
  return r.summary;
}

}  // namespace pg::train
