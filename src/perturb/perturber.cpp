#include "perturb/perturber.h"

#include <algorithm>
#include <cctype>
#include <fstream>

#include "core/error.h"
#include "model/autocast.h"

namespace pg::perturb {

namespace {

constexpr int64_t kFirstGene = 4;

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string without_version(const std::string& id) {
  const auto dot = id.find('.');
  return lower(id.rfind("ENS", 0) == 0 || id.rfind("ens", 0) == 0 ? id.substr(0, dot) : id);
}

// The rows `keep` of every tensor of a batch.
pg::train::TrainBatch select_rows(const pg::train::TrainBatch& b, const std::vector<int64_t>& keep) {
  const auto idx = torch::tensor(keep, torch::kLong);
  auto pick = [&](const torch::Tensor& x) { return x.defined() ? x.index_select(0, idx.to(x.device())) : x; };
  pg::train::TrainBatch out;
  out.model.src_ids = pick(b.model.src_ids);
  out.model.condition = pick(b.model.condition);
  for (const auto& [t, x] : b.model.tgt_ids) out.model.tgt_ids[t] = pick(x);
  for (const auto& [t, x] : b.model.library) out.model.library[t] = pick(x);
  for (const auto& [t, x] : b.counts) out.counts[t] = pick(x);
  for (int64_t k : keep) out.rows.push_back(b.rows[static_cast<size_t>(k)]);
  return out;
}

std::vector<int64_t> row_of(const torch::Tensor& ids, int64_t b) {
  const auto r = ids[b].to(torch::kCPU).contiguous();
  return {r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()};
}

void append(torch::Tensor& acc, const torch::Tensor& x) {
  if (!x.defined()) return;
  const auto c =
      x.detach().to(torch::kCPU).to(x.scalar_type() == torch::kBool ? torch::kBool : torch::kFloat32);
  acc = acc.defined() ? torch::cat({acc, c}) : c;
}

}  // namespace

Sequence parse_sequence(const std::string& s) {
  if (s == "source" || s == "src") return Sequence::source;
  if (s == "target" || s == "tgt") return Sequence::target;
  throw pg::Error("<options>", "--on", "'" + s + "' is not one of source, target");
}

Validation parse_validation(const std::string& s) {
  if (s == "generate") return Validation::generate;
  if (s == "inference") return Validation::inference;
  throw pg::Error("<options>", "--validation", "'" + s + "' is not one of generate, inference");
}

GeneLookup::GeneLookup(const pg::store::TokenStore& store) {
  const auto& genes = store.genes();
  for (size_t g = 0; g < genes.size(); ++g) {
    by_id_.emplace(without_version(genes[g].gene_id), static_cast<int64_t>(g));
    if (!genes[g].gene_name.empty()) by_name_.emplace(lower(genes[g].gene_name), static_cast<int64_t>(g));
  }
}

int64_t GeneLookup::find(const std::string& name) const {
  if (auto it = by_id_.find(without_version(name)); it != by_id_.end()) return it->second;
  if (auto it = by_name_.find(lower(name)); it != by_name_.end()) return it->second;
  return -1;
}

PerturbedGenes resolve_genes(const pg::store::TokenStore& store, const std::vector<std::string>& names) {
  return resolve_genes(store, GeneLookup(store), names);
}

PerturbedGenes resolve_genes(const pg::store::TokenStore& store, const GeneLookup& lookup,
                             const std::vector<std::string>& names) {
  if (names.empty()) throw pg::Error("<options>", "--genes", "no gene given");
  const auto& genes = store.genes();
  PerturbedGenes out;
  for (const auto& name : names) {
    const int64_t g = lookup.find(name);
    if (g < 0)
      throw pg::Error(store.dir().string(), "gene '" + name + "'",
                      "is not one of the store's " + std::to_string(genes.size()) +
                          " count genes (give a symbol or Ensembl id of a tokenised gene)");
    if (std::find(out.genes.begin(), out.genes.end(), g) != out.genes.end())
      throw pg::Error("<options>", "gene '" + name + "'", "given twice");
    out.names.push_back(name);
    out.genes.push_back(g);
    out.src_tokens.push_back(genes[static_cast<size_t>(g)].source_token);
    out.row_ids.push_back(kFirstGene + g);
  }
  return out;
}

std::vector<std::string> read_gene_list(const std::string& file) {
  std::ifstream in(file);
  if (!in) throw pg::Error(file, "", "cannot be read");
  std::vector<std::string> genes;
  std::string line;
  while (std::getline(in, line)) {
    line = line.substr(0, line.find_first_of("\t ,#\r"));
    if (!line.empty()) genes.push_back(line);
  }
  if (genes.empty()) throw pg::Error(file, "", "lists no gene");
  return genes;
}

torch::Tensor cosine(const torch::Tensor& a, const torch::Tensor& b) {
  const auto na = a.norm(2, -1, true).clamp_min(1e-8), nb = b.norm(2, -1, true).clamp_min(1e-8);
  return ((a / na) * (b / nb)).sum(-1);
}

std::pair<torch::Tensor, torch::Tensor> gene_cosines(const torch::Tensor& control_ids,
                                                     const torch::Tensor& control_hidden,
                                                     const torch::Tensor& perturbed_ids,
                                                     const torch::Tensor& perturbed_hidden, int64_t n_genes) {
  const int64_t B = control_ids.size(0);
  const auto ci = control_ids.to(torch::kCPU).contiguous(), pi = perturbed_ids.to(torch::kCPU).contiguous();
  const auto ca = ci.accessor<int64_t, 2>(), pa = pi.accessor<int64_t, 2>();
  std::vector<int64_t> batch, cpos, ppos, gene;
  std::vector<int64_t> where(static_cast<size_t>(n_genes));
  for (int64_t b = 0; b < B; ++b) {
    std::fill(where.begin(), where.end(), -1);
    for (int64_t j = 0; j < pi.size(1); ++j) {
      const int64_t g = pa[b][j] - kFirstGene;
      if (g >= 0 && g < n_genes && where[static_cast<size_t>(g)] < 0) where[static_cast<size_t>(g)] = j;
    }
    for (int64_t j = 0; j < ci.size(1); ++j) {
      const int64_t g = ca[b][j] - kFirstGene;
      if (g < 0 || g >= n_genes || where[static_cast<size_t>(g)] < 0) continue;
      batch.push_back(b);
      cpos.push_back(j);
      ppos.push_back(where[static_cast<size_t>(g)]);
      gene.push_back(g);
      where[static_cast<size_t>(g)] = -1;  // a gene counts once
    }
  }
  auto cos = torch::zeros({B, n_genes}, torch::kFloat32);
  auto present = torch::zeros({B, n_genes}, torch::kBool);
  if (batch.empty()) return {cos, present};
  const auto dev = control_hidden.device();
  const auto bt = torch::tensor(batch).to(dev), ct = torch::tensor(cpos).to(dev),
             pt = torch::tensor(ppos).to(dev);
  const auto values = cosine(control_hidden.index({bt, ct}).to(torch::kFloat32),
                             perturbed_hidden.index({bt, pt}).to(torch::kFloat32))
                          .to(torch::kCPU);
  const auto flat = torch::tensor(batch) * n_genes + torch::tensor(gene);
  cos.view({-1}).index_put_({flat}, values);
  present.view({-1}).index_put_({flat}, torch::ones({flat.size(0)}, torch::kBool));
  return {cos, present};
}

torch::Tensor edit_rows(const torch::Tensor& ids, const Edit& edit, int64_t prefix, bool has_eos,
                        int64_t max_width) {
  std::vector<std::vector<int64_t>> rows;
  size_t width = 0;
  for (int64_t b = 0; b < ids.size(0); ++b) {
    rows.push_back(edit_row(row_of(ids, b), edit, prefix, has_eos, max_width));
    width = std::max(width, rows.back().size());
  }
  auto out = torch::zeros({ids.size(0), static_cast<int64_t>(width)}, torch::kLong);
  for (size_t b = 0; b < rows.size(); ++b)
    out[static_cast<int64_t>(b)]
        .narrow(0, 0, static_cast<int64_t>(rows[b].size()))
        .copy_(torch::tensor(rows[b]));
  return out.to(ids.device());
}

std::map<int64_t, PassOutput> teacher_forced(pg::model::PerturbGenModelImpl& model,
                                             const pg::model::ModelBatch& batch,
                                             const std::vector<int64_t>& times,
                                             const std::set<int64_t>& excluded,
                                             pg::generate::CountOutput counts, uint64_t seed,
                                             const std::vector<int64_t>& rows) {
  std::map<int64_t, PassOutput> out;
  for (auto& [t, r] : model.forward(batch, times, excluded)) {
    torch::Tensor c;
    if (r.counts)
      c = pg::generate::predicted_counts(*r.counts, model.config().count_head->loss, counts, seed, t, rows);
    out[t] = {batch.tgt_ids.at(t), r.pass.hidden, r.mean_embedding, c};
  }
  return out;
}

void compare_passes(const PassOutput& c, const PassOutput& p, int64_t n_genes, PerturbTime& rt) {
  append(rt.control_embedding, c.embedding);
  append(rt.perturbed_embedding, p.embedding);
  append(rt.cosine, cosine(p.embedding.to(torch::kFloat32), c.embedding.to(torch::kFloat32)));
  auto [gc, present] = gene_cosines(c.ids, c.hidden, p.ids, p.hidden, n_genes);
  append(rt.gene_cosine, gc);
  append(rt.gene_present, present);
  append(rt.control_counts, c.counts);
  append(rt.perturbed_counts, p.counts);
}

struct Perturber::State {
  pg::model::PerturbGenModelImpl& model;
  const pg::store::TokenStore& store;
  PerturbOptions o;
  std::unique_ptr<pg::generate::BatchGenerator> gen;
  std::vector<int64_t> times;  // reported
  int64_t C = 0;
  std::vector<std::map<int64_t, PassOutput>> control_cache;  // per batch (reuse_control)
  State(pg::model::PerturbGenModelImpl& m, const pg::store::TokenStore& s, PerturbOptions options)
      : model(m), store(s), o(std::move(options)) {}
};

Perturber::Perturber(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                     const pg::store::TokenStore& store, PerturbOptions options)
    : s_(std::make_unique<State>(model, store, std::move(options))) {
  auto& o = s_->o;
  if (o.validation == Validation::inference) o.generation.context = pg::generate::ContextMode::truth;
  if (o.on == Sequence::target && o.validation == Validation::generate &&
      o.generation.context != pg::generate::ContextMode::truth)
    throw pg::Error(
        "<options>", "--on target",
        "in generate mode edits the observed cells that serve as context: it needs --context truth");
  s_->gen =
      std::make_unique<pg::generate::BatchGenerator>(model, meta, store, o.generation, /*load_truth=*/true);
  s_->C = static_cast<int64_t>(pg::train::condition_keys_in_token_order(meta.condition_tokens).size());
  for (int64_t t : s_->gen->times()) {
    const bool edited = std::find(o.edit_times.begin(), o.edit_times.end(), t) != o.edit_times.end();
    // A generated time point whose observed cells were edited is not a prediction.
    if (o.on == Sequence::target && o.validation == Validation::generate && edited) continue;
    s_->times.push_back(t);
  }
  if (o.on == Sequence::target && o.edit_times.empty()) o.edit_times = s_->gen->times();
  if (s_->times.empty())
    throw pg::Error("<options>", "--edit-times", "leaves no time point to predict (generate mode)");
}

Perturber::~Perturber() = default;
void Perturber::set_edit(const Edit& edit, bool absent_later) {
  s_->o.edit = edit;
  s_->o.absent_later = absent_later;
}
const std::vector<int64_t>& Perturber::times() const {
  return s_->times;
}

PerturbResult Perturber::run(const PerturbedGenes& genes) {
  torch::NoGradGuard no_grad;
  auto& o = s_->o;
  auto& model = s_->model;
  auto& gen = *s_->gen;
  const auto& data = gen.data();
  const auto G = static_cast<int64_t>(s_->store.genes().size());
  Edit edit = o.edit;
  const bool on_source = o.on == Sequence::source;
  edit.tokens = on_source ? genes.src_tokens : genes.row_ids;
  for (size_t k = 0; k < edit.tokens.size(); ++k)
    if (edit.tokens[k] < 0)
      throw pg::Error(s_->store.dir().string(), "gene '" + genes.names[k] + "'", "has no source token");
  const std::set<int64_t> excluded =
      on_source ? std::set<int64_t>{} : std::set<int64_t>(genes.row_ids.begin(), genes.row_ids.end());
  const auto& config = model.config();
  PerturbResult out;
  std::vector<uint32_t> tokens;
  const bool reuse = o.reuse_control && o.keep_all_rows && o.validation == Validation::generate;
  const auto batches = gen.batches();
  if (reuse && s_->control_cache.size() != batches.size()) s_->control_cache.assign(batches.size(), {});
  std::vector<int64_t> banned;
  if (o.absent_later && on_source) banned = genes.row_ids;
  for (size_t bi = 0; bi < batches.size(); ++bi) {
    const auto& pos = batches[bi];
    std::vector<int64_t> ex;
    for (int64_t p : pos) ex.push_back(gen.examples()[static_cast<size_t>(p)]);
    const auto full = data.batch(ex);
    out.candidates += static_cast<int64_t>(ex.size());
    std::vector<int64_t> keep;
    for (size_t b = 0; b < ex.size(); ++b) {
      bool any = false;
      if (on_source) {
        any = row_is_perturbable(row_of(full.model.src_ids, static_cast<int64_t>(b)), edit);
      } else {
        for (int64_t t : o.edit_times)
          any = any || row_is_perturbable(row_of(full.model.tgt_ids.at(t), static_cast<int64_t>(b)), edit);
      }
      if (any || o.keep_all_rows) {
        keep.push_back(static_cast<int64_t>(b));
      } else if (on_source && edit.mode != EditMode::overexpress) {
        // The whole sentence may hold the gene below the encoder's positions:
        // the model never sees it there, but the user should know why.
        s_->store.tokens(data.cell(ex[b], 0), tokens);
        const std::vector<int64_t> whole(tokens.begin(), tokens.end());
        if (row_is_perturbable(whole, edit)) ++out.beyond_positions;
      }
    }
    out.skipped += static_cast<int64_t>(ex.size() - keep.size());
    if (keep.empty()) continue;
    const auto batch = select_rows(full, keep);
    std::vector<int64_t> rows;
    for (int64_t k : keep) {
      rows.push_back(data.row(ex[static_cast<size_t>(k)]));
      out.rows.push_back(rows.back());
      out.source_cells.push_back(data.cell(ex[static_cast<size_t>(k)], 0));
    }
    auto edited = batch;
    if (on_source) {
      edited.model.src_ids = edit_rows(batch.model.src_ids, edit, 1, true, config.encoder.max_seq_length);
    } else {
      for (int64_t t : o.edit_times)
        edited.model.tgt_ids[t] =
            edit_rows(batch.model.tgt_ids.at(t), edit, s_->C, false, config.decoder.max_seq_length);
    }
    std::map<int64_t, PassOutput> control, perturbed;
    if (o.validation == Validation::generate) {
      if (reuse && !s_->control_cache[bi].empty()) {
        control = s_->control_cache[bi];
      } else {
        for (auto& [t, r] : gen.run(batch, rows)) control[t] = {r.ids, r.hidden, r.embedding, r.counts};
        if (reuse) s_->control_cache[bi] = control;
      }
      const auto res = on_source ? gen.run(batch, rows, edited.model.src_ids, banned) : gen.run(edited, rows);
      for (auto& [t, r] : res) perturbed[t] = {r.ids, r.hidden, r.embedding, r.counts};
    } else {
      pg::model::Bf16Autocast autocast(o.generation.bf16, model.device());
      const auto& g = o.generation;
      control = teacher_forced(model, batch.model, s_->times, {}, g.counts, g.seed, rows);
      perturbed = teacher_forced(model, edited.model, s_->times, excluded, g.counts, g.seed, rows);
    }
    for (int64_t t : s_->times) {
      auto& rt = out.times[t];
      compare_passes(control.at(t), perturbed.at(t), G, rt);
      if (batch.counts.count(t)) append(rt.true_counts, batch.counts.at(t));
      for (int64_t k : keep) rt.target_cells.push_back(data.cell(ex[static_cast<size_t>(k)], t));
    }
  }
  return out;
}

}  // namespace pg::perturb
