#include "generate/output.h"

#include <set>

namespace pg::generate {

namespace {

pg::io::Column string_column(const std::string& name) {
  pg::io::Column c;
  c.name = name;
  c.type = pg::io::ColumnType::String;
  c.dtype = "str";
  return c;
}

}  // namespace

pg::io::DataFrame gene_table(const pg::store::TokenStore& store) {
  pg::io::DataFrame var;
  var.index_name = "gene_id";
  auto names = string_column("gene_name");
  for (const auto& g : store.genes()) {
    var.index.push_back(g.gene_id);
    names.strings.push_back(g.gene_name);
  }
  var.columns.push_back(std::move(names));
  return var;
}

pg::io::DataFrame paired_cell_table(const pg::store::TokenStore& store, const std::vector<int64_t>& rows,
                                    const std::vector<int64_t>& source_cells,
                                    const std::map<int64_t, std::vector<int64_t>>& target_cells) {
  const auto& labels = store.pairing().columns;
  pg::io::Column time;
  time.name = "time_point";
  time.type = pg::io::ColumnType::Categorical;
  time.dtype = "int8";
  time.categories_dtype = "str";
  for (const auto& [t, cells] : target_cells) time.categories.push_back(labels[static_cast<size_t>(t)]);
  auto source = string_column("source_cell"), target = string_column("target_cell");
  pg::io::Column row;
  row.name = "pairing_row";
  row.type = pg::io::ColumnType::Int;
  row.dtype = "int64";
  // The store's obs columns, of the target cell (the source cell without one).
  const auto& schema = store.schema();
  std::vector<pg::io::Column> obs(schema.obs.size());
  for (size_t c = 0; c < schema.obs.size(); ++c) {
    obs[c].name = schema.obs[c].name;
    if (schema.obs[c].kind == pg::store::ObsColumnSpec::Kind::Categorical) {
      obs[c].type = pg::io::ColumnType::Categorical;
      obs[c].dtype = schema.obs[c].categories.size() < 127 ? "int8" : "int32";
      obs[c].categories = schema.obs[c].categories;
      obs[c].categories_dtype = "str";
    } else {
      obs[c].type = pg::io::ColumnType::Float;
      obs[c].dtype = "float64";
    }
  }
  pg::io::DataFrame df;
  df.index_name = "cell";
  std::set<std::string> seen;
  int32_t code = 0;
  for (const auto& [t, cells] : target_cells) {
    for (size_t r = 0; r < rows.size(); ++r) {
      const int64_t src = source_cells[r];
      const int64_t tgt = cells[r];
      std::string id = std::string(store.cell_id(src)) + "|" + labels[static_cast<size_t>(t)];
      if (!seen.insert(id).second) id += "|" + std::to_string(rows[r]);
      df.index.push_back(id);
      time.codes.push_back(code);
      source.strings.emplace_back(store.cell_id(src));
      target.strings.emplace_back(tgt >= 0 ? std::string(store.cell_id(tgt)) : std::string());
      row.ints.push_back(rows[r]);
      const int64_t cell = tgt >= 0 ? tgt : src;
      for (size_t c = 0; c < obs.size(); ++c) {
        if (obs[c].type == pg::io::ColumnType::Categorical)
          obs[c].codes.push_back(store.obs_code(cell, c));
        else
          obs[c].floats.push_back(store.obs_value(cell, c));
      }
    }
    ++code;
  }
  df.columns.push_back(std::move(time));
  df.columns.push_back(std::move(source));
  df.columns.push_back(std::move(target));
  df.columns.push_back(std::move(row));
  for (auto& c : obs)
    if (c.name != "time_point" && c.name != "source_cell" && c.name != "target_cell" &&
        c.name != "pairing_row")
      df.columns.push_back(std::move(c));
  return df;
}

void append_rows(pg::io::CsrMatrix& m, const torch::Tensor& dense) {
  const auto x = dense.to(torch::kCPU, torch::kFloat32).contiguous();
  const int64_t n = x.size(0), G = x.size(1);
  m.n_cols = G;
  m.storage = {"csr", "float32", "int32"};
  const float* p = x.data_ptr<float>();
  for (int64_t r = 0; r < n; ++r, p += G) {
    for (int64_t j = 0; j < G; ++j)
      if (p[j] != 0.0f) {
        m.indices.push_back(static_cast<int32_t>(j));
        m.data.push_back(p[j]);
      }
    m.indptr.push_back(static_cast<int64_t>(m.data.size()));
  }
  m.n_rows += n;
}

nlohmann::json time_info(const pg::store::TokenStore& store, const pg::model::ModelConfig& config) {
  const auto& labels = store.pairing().columns;
  nlohmann::json info = nlohmann::json::object();
  const auto& meta = store.meta();
  if (meta.contains("time")) {
    info["time_key"] = meta["time"].value("key", "");
    info["time_order"] = meta["time"].value("order", std::vector<std::string>(labels.begin(), labels.end()));
  } else {
    info["time_key"] = "";
    info["time_order"] = labels;
  }
  std::vector<std::string> trained;
  for (int64_t t : config.decoder.pred_tps)
    if (t < static_cast<int64_t>(labels.size())) trained.push_back(labels[static_cast<size_t>(t)]);
  info["train_time_points"] = trained;
  return info;
}

pg::io::CellMatrix generated_cells(const GenerationOutput& out, const pg::store::TokenStore& store,
                                   const pg::model::ModelConfig& config, const nlohmann::json& settings) {
  pg::io::CellMatrix m;
  const auto G = static_cast<int64_t>(store.genes().size());
  m.var = gene_table(store);
  std::map<int64_t, std::vector<int64_t>> targets;
  for (const auto& [t, g] : out.times) targets[t] = g.target_cells;
  m.obs = paired_cell_table(store, out.rows, out.source_cells, targets);

  const auto n_rows = static_cast<int64_t>(out.rows.size());
  const auto n = n_rows * static_cast<int64_t>(out.times.size());
  const int64_t d = config.decoder.d_model;
  size_t width = 1;
  for (const auto& [t, g] : out.times)
    for (const auto& genes : g.genes) width = std::max(width, genes.size());
  m.obsm["X_perturbgen"] = {n, d, std::vector<double>(static_cast<size_t>(n * d)), "float32"};
  m.obsm["gene_ranking"] = {n, static_cast<int64_t>(width),
                            std::vector<double>(static_cast<size_t>(n) * width, -1.0), "int32"};
  auto& emb = m.obsm["X_perturbgen"].values;
  auto& rank = m.obsm["gene_ranking"].values;
  m.X.n_cols = G;
  m.X.storage = {"csr", "float32", "int32"};
  int64_t i = 0;
  for (const auto& [t, g] : out.times) {
    const auto emb_t = g.embedding.contiguous();
    for (int64_t r = 0; r < n_rows; ++r, ++i) {
      const float* e = emb_t.data_ptr<float>() + r * d;
      std::copy(e, e + d, emb.begin() + i * d);
      const auto& genes = g.genes[static_cast<size_t>(r)];
      for (size_t k = 0; k < genes.size(); ++k) rank[static_cast<size_t>(i) * width + k] = genes[k];
    }
    if (g.counts.defined())
      append_rows(m.X, g.counts);
    else
      for (int64_t r = 0; r < n_rows; ++r) m.X.indptr.push_back(static_cast<int64_t>(m.X.data.size()));
  }
  m.X.n_rows = n;
  m.has_x = true;
  auto info = time_info(store, config);
  info["method"] = "perturbgen";
  info["settings"] = settings;
  m.uns["perturbgen"] = info;
  return m;
}

}  // namespace pg::generate
