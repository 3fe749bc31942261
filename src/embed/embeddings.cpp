#include "embed/embeddings.h"

#include "core/error.h"
#include "generate/output.h"
#include "model/autocast.h"

namespace pg::embed {

namespace {
constexpr int64_t kFirstGene = 4;
}

Embeddings embed(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                 const pg::store::TokenStore& store, const EmbedOptions& options) {
  torch::NoGradGuard no_grad;
  auto data_options = options.data;
  data_options.context = pg::generate::ContextMode::truth;
  pg::generate::BatchGenerator gen(model, meta, store, data_options, /*load_truth=*/true);
  const auto& data = gen.data();
  const auto& times = gen.times();
  const auto& labels = store.pairing().columns;
  const auto G = static_cast<int64_t>(store.genes().size());
  const int64_t d = model.config().decoder.d_model;

  // Condition values: the time labels, or the column's categories then "NA".
  std::vector<std::string> values;
  size_t column = 0;
  if (options.condition.empty()) {
    for (int64_t t : times) values.push_back(labels[static_cast<size_t>(t)]);
  } else {
    column = store.obs_column(options.condition);
    const auto& spec = store.schema().obs[column];
    if (spec.kind != pg::store::ObsColumnSpec::Kind::Categorical)
      throw pg::Error(store.dir().string(), "obs column '" + options.condition + "'",
                      "is numeric: gene embeddings are averaged per value of a categorical column");
    values = spec.categories;
    values.push_back("NA");
  }
  const auto n_values = static_cast<int64_t>(values.size());
  auto sums = torch::zeros({n_values * G, d}, torch::kFloat64);
  auto cells = torch::zeros({n_values * G}, torch::kFloat64);

  Embeddings e;
  const auto n = static_cast<int64_t>(gen.examples().size());
  for (int64_t ex : gen.examples()) {
    e.rows.push_back(data.row(ex));
    e.source_cells.push_back(data.cell(ex, 0));
  }
  for (int64_t t : times) {
    e.cell_embedding[t] = torch::zeros({n, d});
    e.counts[t] = torch::zeros({n, G});
    for (int64_t ex : gen.examples()) e.target_cells[t].push_back(data.cell(ex, t));
  }
  const auto device = model.device();
  pg::model::Bf16Autocast autocast(options.data.bf16, device);
  for (const auto& pos : gen.batches()) {
    std::vector<int64_t> ex;
    for (int64_t p : pos) ex.push_back(gen.examples()[static_cast<size_t>(p)]);
    auto batch = data.batch(ex);
    const auto index = torch::tensor(pos, torch::kLong);
    for (auto& [t, r] : model.forward(batch.model, times)) {
      e.cell_embedding[t].index_copy_(0, index, r.mean_embedding.to(torch::kCPU, torch::kFloat32));
      if (batch.counts.count(t)) e.counts[t].index_copy_(0, index, batch.counts.at(t).to(torch::kFloat32));
      // Every (cell, gene) position into its condition's sum.
      const auto ids = batch.model.tgt_ids.at(t);
      const auto B = ids.size(0);
      std::vector<int64_t> value(static_cast<size_t>(B));
      for (int64_t b = 0; b < B; ++b) {
        if (options.condition.empty()) {
          value[static_cast<size_t>(b)] = std::find(times.begin(), times.end(), t) - times.begin();
        } else {
          const int32_t code = store.obs_code(data.cell(ex[static_cast<size_t>(b)], t), column);
          value[static_cast<size_t>(b)] = code < 0 ? n_values - 1 : code;
        }
      }
      const auto gene = ids - kFirstGene;
      const auto is_gene = gene.ge(0).logical_and(gene.lt(G));
      const auto v = torch::tensor(value, torch::kLong).unsqueeze(1).expand_as(ids);
      const auto flat = (v * G + gene).masked_select(is_gene);
      const auto hidden = r.pass.hidden.to(torch::kCPU, torch::kFloat64);
      const auto rows = hidden.masked_select(is_gene.unsqueeze(-1)).view({-1, d});
      sums.index_add_(0, flat, rows);
      cells.index_add_(0, flat, torch::ones({flat.size(0)}, torch::kFloat64));
    }
  }
  // Conditions never seen are dropped; the rest keep their order.
  const auto per_value = cells.view({n_values, G}).sum(1);
  std::vector<int64_t> keep;
  for (int64_t c = 0; c < n_values; ++c)
    if (per_value[c].item<double>() > 0) {
      keep.push_back(c);
      e.conditions.push_back(values[static_cast<size_t>(c)]);
    }
  const auto k = torch::tensor(keep, torch::kLong);
  const auto s = sums.view({n_values, G, d}).index_select(0, k);
  const auto c = cells.view({n_values, G}).index_select(0, k);
  e.gene_embedding = (s / c.clamp_min(1).unsqueeze(-1)).to(torch::kFloat32);
  e.gene_cells = c;
  return e;
}

pg::io::CellMatrix embedding_cells(const Embeddings& e, const pg::store::TokenStore& store,
                                   const pg::model::ModelConfig& config, const nlohmann::json& settings) {
  pg::io::CellMatrix m;
  m.var = pg::generate::gene_table(store);
  m.obs = pg::generate::paired_cell_table(store, e.rows, e.source_cells, e.target_cells);
  std::vector<torch::Tensor> emb, counts;
  for (const auto& [t, x] : e.cell_embedding) emb.push_back(x);
  for (const auto& [t, x] : e.counts) counts.push_back(x);
  pg::generate::append_rows(m.X, torch::cat(counts));
  const auto all = torch::cat(emb).to(torch::kFloat64).contiguous();
  m.obsm["X_perturbgen"] = {all.size(0), all.size(1),
                            std::vector<double>(all.data_ptr<double>(), all.data_ptr<double>() + all.numel()),
                            "float32"};
  const auto G = e.gene_embedding.size(1), d = e.gene_embedding.size(2);
  std::vector<std::string> keys;
  for (size_t c = 0; c < e.conditions.size(); ++c) {
    std::string key = e.conditions[c];
    if (key == "n_cells") key += "_";
    keys.push_back(key);
    const auto x = e.gene_embedding[static_cast<int64_t>(c)].to(torch::kFloat64).contiguous();
    m.varm[key] = {G, d, std::vector<double>(x.data_ptr<double>(), x.data_ptr<double>() + x.numel()),
                   "float32"};
  }
  const auto nc = e.gene_cells.t().contiguous();
  m.varm["n_cells"] = {G, static_cast<int64_t>(e.conditions.size()),
                       std::vector<double>(nc.data_ptr<double>(), nc.data_ptr<double>() + nc.numel()),
                       "int64"};
  auto info = pg::generate::time_info(store, config);
  info["method"] = "perturbgen";
  info["gene_embedding_keys"] = keys;
  info["settings"] = settings;
  m.uns["perturbgen"] = info;
  return m;
}

}  // namespace pg::embed
