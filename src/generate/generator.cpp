#include "generate/generator.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cstdlib>
#include <limits>
#include <set>

#include "core/error.h"
#include "core/random.h"
#include "model/autocast.h"
#include "train/paired_data.h"

namespace pg::generate {

namespace {

constexpr int64_t kFirstGene = 4;

template <typename E>
E parse_choice(const std::string& s, const char* what,
               std::initializer_list<std::pair<const char*, E>> choices) {
  std::string names;
  for (const auto& [name, value] : choices) {
    if (s == name) return value;
    names += names.empty() ? name : std::string(", ") + name;
  }
  throw pg::Error("<options>", what, "'" + s + "' is not one of " + names);
}

uint64_t cell_key(uint64_t seed, int64_t t, int64_t row, uint64_t purpose) {
  uint64_t s = seed ^ purpose;
  uint64_t k = splitmix64(s) ^ (static_cast<uint64_t>(t) * 0x9e3779b97f4a7c15ULL);
  k = splitmix64(k) ^ static_cast<uint64_t>(row);
  return splitmix64(k);
}

// Target cells whose lengths and library sizes stand for time t: the cells of
// column t when the model trained on t, else those of its nearest trained
// times (both neighbours on a tie) — a held-out time point has no training cells.
std::vector<int64_t> reference_cells(const pg::store::TokenStore& store, const std::vector<int64_t>& trained,
                                     int64_t t) {
  std::vector<int64_t> columns;
  if (std::find(trained.begin(), trained.end(), t) != trained.end()) {
    columns = {t};
  } else {
    int64_t best = std::numeric_limits<int64_t>::max();
    for (int64_t c : trained) best = std::min(best, std::abs(c - t));
    for (int64_t c : trained)
      if (std::abs(c - t) == best) columns.push_back(c);
  }
  const auto& p = store.pairing();
  std::set<int64_t> cells;
  for (int64_t c : columns)
    for (int64_t r = 0; r < p.n_rows; ++r)
      if (p.at(r, static_cast<size_t>(c)) >= 0) cells.insert(p.at(r, static_cast<size_t>(c)));
  return {cells.begin(), cells.end()};
}

struct TimeStatistics {
  std::vector<int64_t> lengths;  // sorted gene counts of the reference cells
  double median_library = 0;
};

TimeStatistics time_statistics(const pg::store::TokenStore& store, const std::vector<int64_t>& cells,
                               int64_t cap) {
  TimeStatistics s;
  std::vector<uint32_t> tokens, genes;
  std::vector<float> values;
  std::vector<double> libraries;
  for (int64_t c : cells) {
    store.tokens(c, tokens);
    const auto n = std::count_if(tokens.begin(), tokens.end(), [](uint32_t x) { return x >= kFirstGene; });
    s.lengths.push_back(std::min<int64_t>(n, cap));
    store.counts(c, genes, values);
    double sum = 0;
    for (float v : values) sum += v;
    libraries.push_back(sum);
  }
  if (s.lengths.empty())
    throw pg::Error(store.dir().string(), "pairing", "no target cell to take lengths from");
  std::sort(s.lengths.begin(), s.lengths.end());
  std::sort(libraries.begin(), libraries.end());
  const size_t m = libraries.size();
  s.median_library = m % 2 ? libraries[m / 2] : 0.5 * (libraries[m / 2 - 1] + libraries[m / 2]);
  return s;
}

}  // namespace

// Predicted counts of one batch from the count head's output.
torch::Tensor predicted_counts(const pg::model::CountHeadOutput& h, pg::model::CountLoss loss,
                               CountOutput mode, uint64_t seed, int64_t t, const std::vector<int64_t>& rows) {
  if (loss == pg::model::CountLoss::mse) return torch::expm1(h.count_lognorm).clamp_min(0);
  const bool zinb = loss == pg::model::CountLoss::zinb;
  if (mode == CountOutput::mu) return h.mu;
  if (mode == CountOutput::mean) return zinb ? h.mu * torch::sigmoid(-h.pi_logits) : h.mu;
  // One draw per cell: Gamma-Poisson (NB), zeroed with probability π (ZINB).
  auto out = torch::empty_like(h.mu);
  for (size_t b = 0; b < rows.size(); ++b) {
    const auto i = static_cast<int64_t>(b);
    auto gen = at::detail::createCPUGenerator(cell_key(seed, t, rows[b], 0x5ca1ab1eULL));
    const auto theta = h.dispersion[i].to(torch::kCPU, torch::kFloat64);
    const auto mu = h.mu[i].to(torch::kCPU, torch::kFloat64);
    const auto lambda = at::_standard_gamma(theta, gen) * mu / theta;
    auto x = at::poisson(lambda, gen);
    if (zinb) x = x * at::bernoulli(torch::sigmoid(-h.pi_logits[i]).to(torch::kCPU, torch::kFloat64), gen);
    out[i].copy_(x);
  }
  return out;
}

LengthMode parse_length_mode(const std::string& s) {
  return parse_choice<LengthMode>(
      s, "--length",
      {{"truth", LengthMode::truth}, {"fixed", LengthMode::fixed}, {"sampled", LengthMode::sampled}});
}
ContextMode parse_context_mode(const std::string& s) {
  return parse_choice<ContextMode>(s, "--context",
                                   {{"truth", ContextMode::truth}, {"generated", ContextMode::generated}});
}
LibraryMode parse_library_mode(const std::string& s) {
  return parse_choice<LibraryMode>(s, "--library",
                                   {{"observed", LibraryMode::observed}, {"median", LibraryMode::median}});
}
CountOutput parse_count_output(const std::string& s) {
  return parse_choice<CountOutput>(
      s, "--counts", {{"mean", CountOutput::mean}, {"mu", CountOutput::mu}, {"sample", CountOutput::sample}});
}
Demasking parse_demasking(const std::string& s) {
  return parse_choice<Demasking>(s, "--demasking",
                                 {{"reference", Demasking::reference}, {"maskgit", Demasking::maskgit}});
}
Scoring parse_scoring(const std::string& s) {
  return parse_choice<Scoring>(s, "--scoring",
                               {{"topk-margin", Scoring::topk_margin}, {"topk", Scoring::topk}});
}

struct BatchGenerator::State {
  pg::model::PerturbGenModelImpl& model;
  GenerateOptions o;
  std::vector<int64_t> times, examples;
  std::unique_ptr<pg::train::PairedData> data;
  std::map<int64_t, TimeStatistics> stats;
  std::set<int64_t> cond_ids;
  MaskGitOptions mo;
  int64_t C = 0, cap = 0;
  State(pg::model::PerturbGenModelImpl& m, GenerateOptions options) : model(m), o(std::move(options)) {}
};

BatchGenerator::BatchGenerator(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                               const pg::store::TokenStore& store, const GenerateOptions& options,
                               bool load_truth)
    : s_(std::make_unique<State>(model, options)) {
  const auto& o = s_->o;
  const auto& config = model.config();
  const std::string where = store.dir().string();
  if (!meta.source_vocab_sha256.empty()) store.check_vocabulary(meta.source_vocab_sha256, "the model");
  if (!meta.genes.empty()) {
    const auto& genes = store.genes();
    bool same = genes.size() == meta.genes.size();
    for (size_t g = 0; same && g < genes.size(); ++g) same = genes[g].gene_id == meta.genes[g];
    if (!same)
      throw pg::Error(where, "genes.tsv",
                      "its " + std::to_string(genes.size()) + " count genes differ from the model's " +
                          std::to_string(meta.genes.size()) + " (tokenise with the model's gene list)");
  }
  if (!store.has_pairing())
    throw pg::Error(where, "pairing table", "missing: generation starts from paired source cells");
  const int64_t n_times = static_cast<int64_t>(store.pairing().columns.size()) - 1;
  auto& times = s_->times;
  times = o.times;
  if (times.empty())
    for (int64_t t = 1; t <= n_times; ++t) times.push_back(t);
  std::sort(times.begin(), times.end());
  times.erase(std::unique(times.begin(), times.end()), times.end());
  for (int64_t t : times)
    if (t < 1 || t > std::min(n_times, config.decoder.n_total_tps))
      throw pg::Error(where, "time " + std::to_string(t),
                      "is not a target time of both the store (1.." + std::to_string(n_times) +
                          ") and the model (1.." + std::to_string(config.decoder.n_total_tps) + ")");
  const bool reference = o.maskgit.demasking == Demasking::reference;
  if (o.length == LengthMode::fixed && o.fixed_length < 1)
    throw pg::Error("<options>", "--length fixed", "needs --fixed-length >= 1");

  // The target times whose true cells this mode reads.
  std::set<int64_t> need;
  const bool per_time_truth = o.length == LengthMode::truth || o.library == LibraryMode::observed ||
                              reference || !meta.condition_tokens.empty() || load_truth;
  if (per_time_truth) need.insert(times.begin(), times.end());
  if (o.context == ContextMode::truth && config.decoder.context_mode) {
    for (int64_t c : config.decoder.context_tps.value_or(config.decoder.pred_tps))
      if (c <= n_times) need.insert(c);
  }
  pg::train::PairedDataOptions po;
  po.times.assign(need.begin(), need.end());
  po.source_only = need.empty();
  po.cond_keys = pg::train::condition_keys_in_token_order(meta.condition_tokens);
  po.dispersion_keys = meta.dispersion_keys;
  po.max_source_length = config.encoder.max_seq_length;
  s_->C = static_cast<int64_t>(po.cond_keys.size());
  s_->cap = config.decoder.max_seq_length - s_->C;
  if (o.max_length > 0) s_->cap = std::min(s_->cap, o.max_length);
  po.max_length = s_->cap;
  po.counts = (o.library == LibraryMode::observed || load_truth) && config.count_head.has_value();
  s_->data = std::make_unique<pg::train::PairedData>(store, po);
  const auto& data = *s_->data;

  if (o.rows.empty()) {
    for (int64_t i = 0; i < data.size(); ++i) s_->examples.push_back(i);
  } else {
    const std::set<int64_t> wanted(o.rows.begin(), o.rows.end());
    for (int64_t i = 0; i < data.size(); ++i)
      if (wanted.count(data.row(i))) s_->examples.push_back(i);
    if (s_->examples.empty())
      throw pg::Error(where, "pairing rows", "none of the requested rows can be generated");
  }
  for (int64_t t : times)
    s_->stats[t] = time_statistics(store, reference_cells(store, config.decoder.pred_tps, t), s_->cap);
  for (const auto& [column, values] : meta.condition_tokens)
    for (const auto& [value, id] : values) s_->cond_ids.insert(id);
  s_->mo = o.maskgit;
  if (s_->mo.gene_id_end == 0) s_->mo.gene_id_end = kFirstGene + static_cast<int64_t>(store.genes().size());
}

BatchGenerator::~BatchGenerator() = default;
const pg::train::PairedData& BatchGenerator::data() const {
  return *s_->data;
}
const std::vector<int64_t>& BatchGenerator::examples() const {
  return s_->examples;
}
const std::vector<int64_t>& BatchGenerator::times() const {
  return s_->times;
}

std::vector<std::vector<int64_t>> BatchGenerator::batches() const {
  // Length-bucketed: positions in `examples`, shortest sources first.
  const auto& ex = s_->examples;
  std::vector<int64_t> order(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) order[i] = static_cast<int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return s_->data->length(ex[static_cast<size_t>(a)]) < s_->data->length(ex[static_cast<size_t>(b)]);
  });
  std::vector<std::vector<int64_t>> out;
  const auto n = static_cast<int64_t>(order.size());
  for (int64_t begin = 0; begin < n; begin += s_->o.batch_size)
    out.emplace_back(order.begin() + begin, order.begin() + std::min(n, begin + s_->o.batch_size));
  return out;
}

std::map<int64_t, BatchTime> BatchGenerator::run(const pg::train::TrainBatch& batch,
                                                 const std::vector<int64_t>& rows,
                                                 const torch::Tensor& src_ids,
                                                 const std::vector<int64_t>& banned) {
  torch::NoGradGuard no_grad;
  auto& model = s_->model;
  const auto& o = s_->o;
  const auto& config = model.config();
  pg::model::Bf16Autocast autocast(o.bf16, model.device());
  const bool reference = o.maskgit.demasking == Demasking::reference;
  MaskGitOptions mo = s_->mo;
  mo.banned_ids.insert(mo.banned_ids.end(), banned.begin(), banned.end());
  const int64_t C = s_->C;
  const auto device = model.device();
  const auto B = static_cast<int64_t>(rows.size());
  const auto src = (src_ids.defined() ? src_ids : batch.model.src_ids).to(device);
  const auto h_src = model.encode(src);
  const auto src_pad = src.eq(0);
  pg::model::ContextCache cache;
  std::map<int64_t, torch::Tensor> generated;
  std::map<int64_t, BatchTime> out;
  for (int64_t t : s_->times) {
    const auto truth = batch.model.tgt_ids.find(t);
    torch::Tensor cond;
    if (C > 0) cond = truth->second.narrow(1, 0, C);
    GenerationStart start;
    if (reference) {
      // ℓ = the batch's padded width unless fixed: the reference generates
      // every position up to its (global) padding width.
      const int64_t ell = o.length == LengthMode::fixed ? o.fixed_length + C : truth->second.size(1);
      start = reference_start(truth->second, ell, C);
    } else {
      auto lengths = torch::empty({B}, torch::kLong);
      for (int64_t b = 0; b < B; ++b) {
        int64_t len = o.fixed_length;
        if (o.length == LengthMode::truth) {
          len = truth->second[b].narrow(0, C, truth->second.size(1) - C).ge(kFirstGene).sum().item<int64_t>();
        } else if (o.length == LengthMode::sampled) {
          const auto& pool = s_->stats[t].lengths;
          pg::Rng rng(cell_key(o.seed, t, rows[static_cast<size_t>(b)], 0x1e4647ULL));
          len = pool[static_cast<size_t>(rng.next() % pool.size())];
        }
        lengths[b] = std::clamp<int64_t>(len, 1, s_->cap);
      }
      start = length_start(lengths, cond);
    }
    const auto& ctx_ids = o.context == ContextMode::truth ? batch.model.tgt_ids : generated;
    auto built = model.decoder->build_context(h_src, src_pad, ctx_ids, t, &cache,
                                              /*skip_missing=*/o.context == ContextMode::generated);
    const auto r =
        generate_time_point(*model.decoder, built.context, t, start, mo, keyed_noise(o.seed, t, rows));
    generated[t] = r.ids;
    auto& g = out[t];
    g.ids = r.ids;
    g.hidden = r.hidden;
    // The reference pools over the last call's input genes; a cell whose last
    // input held none (a single iteration) pools over its generated genes.
    auto pooled = r.last_input.clone();
    const auto none = r.last_input.gt(3).logical_and(r.last_input.lt(s_->mo.gene_id_end)).sum(1).eq(0);
    if (none.any().item<bool>()) pooled.index_put_({none}, r.ids.index({none}));
    g.embedding = pg::model::PerturbGenDecoderImpl::mean_embedding(r.hidden, pooled, s_->cond_ids);
    decoder_calls_ += r.decoder_calls;
    if (!config.count_head) continue;
    torch::Tensor library;
    if (config.count_head->size_factor == pg::model::SizeFactorMode::observed)
      library = o.library == LibraryMode::observed
                    ? batch.model.library.at(t).to(device)
                    : torch::full({B}, s_->stats[t].median_library,
                                  torch::TensorOptions(device).dtype(g.embedding.scalar_type()));
    const auto head = model.count_head->forward(g.embedding, batch.model.condition.to(device), library);
    g.counts = predicted_counts(head, config.count_head->loss, o.counts, o.seed, t, rows);
    for (int64_t id : banned)  // a gene never generated has no counts either
      if (id >= kFirstGene && id - kFirstGene < g.counts.size(1)) g.counts.select(1, id - kFirstGene).zero_();
  }
  return out;
}

GenerationOutput generate(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                          const pg::store::TokenStore& store, const GenerateOptions& o) {
  BatchGenerator gen(model, meta, store, o);
  const auto& data = gen.data();
  const auto& examples = gen.examples();
  const auto& config = model.config();
  GenerationOutput out;
  out.skipped_rows =
      data.skipped_rows() + static_cast<int64_t>(data.size() - static_cast<int64_t>(examples.size()));
  const auto n = static_cast<int64_t>(examples.size());
  for (int64_t e : examples) {
    out.rows.push_back(data.row(e));
    out.source_cells.push_back(data.cell(e, 0));
  }
  for (int64_t t : gen.times()) {
    auto& g = out.times[t];
    g.genes.resize(static_cast<size_t>(n));
    g.embedding = torch::zeros({n, config.decoder.d_model}, torch::kFloat32);
    if (config.count_head)
      g.counts = torch::zeros({n, static_cast<int64_t>(store.genes().size())}, torch::kFloat32);
    for (int64_t e : examples) g.target_cells.push_back(data.cell(e, t));
  }
  const int64_t C =
      static_cast<int64_t>(pg::train::condition_keys_in_token_order(meta.condition_tokens).size());
  const int64_t gene_end = o.maskgit.gene_id_end > 0
                               ? o.maskgit.gene_id_end
                               : kFirstGene + static_cast<int64_t>(store.genes().size());
  for (const auto& pos : gen.batches()) {
    std::vector<int64_t> ex, rows;
    for (int64_t p : pos) {
      ex.push_back(examples[static_cast<size_t>(p)]);
      rows.push_back(data.row(ex.back()));
    }
    const auto result = gen.run(data.batch(ex), rows);
    const auto index = torch::tensor(pos, torch::kLong);
    for (const auto& [t, r] : result) {
      auto& g = out.times[t];
      g.embedding.index_copy_(0, index, r.embedding.to(torch::kCPU, torch::kFloat32));
      const auto ids = r.ids.to(torch::kCPU).contiguous();
      const auto acc = ids.accessor<int64_t, 2>();
      for (size_t b = 0; b < pos.size(); ++b) {
        auto& genes = g.genes[static_cast<size_t>(pos[b])];
        for (int64_t j = C; j < ids.size(1); ++j)
          if (acc[static_cast<int64_t>(b)][j] >= kFirstGene && acc[static_cast<int64_t>(b)][j] < gene_end)
            genes.push_back(static_cast<int32_t>(acc[static_cast<int64_t>(b)][j] - kFirstGene));
      }
      if (r.counts.defined()) g.counts.index_copy_(0, index, r.counts.to(torch::kCPU, torch::kFloat32));
    }
  }
  out.decoder_calls = gen.decoder_calls();
  return out;
}

}  // namespace pg::generate
