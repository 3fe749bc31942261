#include "analysis/gene_programs.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace pg::analysis {

namespace {

std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out.empty() ? "none" : out;
}

std::vector<std::string> varm_keys(const io::CellMatrix& m) {
  std::vector<std::string> keys;
  for (const auto& [k, v] : m.varm) keys.push_back(k);
  return keys;
}

}  // namespace

std::vector<std::string> gene_embedding_keys(const io::CellMatrix& embed, const std::string& file,
                                             const std::vector<std::string>& requested) {
  if (embed.varm.empty())
    throw Error(file, "varm", "has no gene embeddings (write them with `perturbgen embed`)");
  std::vector<std::string> keys = requested;
  std::string source = "--conditions";
  if (keys.empty()) {
    const auto& uns = embed.uns;
    if (uns.is_object() && uns.contains("perturbgen") && uns["perturbgen"].is_object() &&
        uns["perturbgen"].contains("gene_embedding_keys")) {
      source = "uns/perturbgen/gene_embedding_keys";
      const auto& list = uns["perturbgen"]["gene_embedding_keys"];
      if (list.is_string()) {
        keys.push_back(list.get<std::string>());
      } else if (list.is_array()) {
        for (const auto& k : list) {
          if (!k.is_string()) throw Error(file, source, "must list varm keys as strings");
          keys.push_back(k.get<std::string>());
        }
      } else {
        throw Error(file, source, "must list varm keys as strings");
      }
      if (keys.empty()) throw Error(file, source, "is empty");
    } else {
      keys = varm_keys(embed);
    }
  }
  for (const auto& k : keys)
    if (!embed.varm.count(k))
      throw Error(file, source, "varm has no '" + k + "' (varm keys: " + joined(varm_keys(embed)) + ")");
  std::vector<std::string> unique;
  for (const auto& k : keys)
    if (std::find(unique.begin(), unique.end(), k) == unique.end()) unique.push_back(k);
  return unique;
}

GenePrograms find_gene_programs(const io::CellMatrix& embed, const std::string& file,
                                const std::vector<std::string>& keys, const ClusterOptions& options) {
  GenePrograms out;
  out.conditions = keys;
  const int64_t n_genes = embed.n_genes();
  int64_t width = -1;
  std::string first;
  for (const auto& k : keys) {
    const auto it = embed.varm.find(k);
    if (it == embed.varm.end()) throw Error(file, "varm/" + k, "not found");
    const auto& m = it->second;
    if (m.n_rows != n_genes)
      throw Error(file, "varm/" + k,
                  "has " + std::to_string(m.n_rows) + " rows for " + std::to_string(n_genes) + " genes");
    if (width >= 0 && m.n_cols != width)
      throw Error(file, "varm/" + k,
                  "is " + std::to_string(m.n_cols) + " wide, varm/" + first + " " + std::to_string(width));
    if (width < 0) {
      width = m.n_cols;
      first = k;
    }
  }
  if (width <= 0) throw Error(file, "varm", "gene embeddings have no columns");

  // Rows: condition by condition, genes in var order; all-zero rows dropped.
  std::vector<std::pair<int64_t, size_t>> kept;  // (gene, condition)
  for (size_t c = 0; c < keys.size(); ++c) {
    const auto& m = embed.varm.at(keys[c]);
    for (int64_t g = 0; g < n_genes; ++g) {
      bool zero = true;
      for (int64_t j = 0; j < width; ++j) {
        const double v = m.at(g, j);
        if (!std::isfinite(v))
          throw Error(file, "varm/" + keys[c],
                      "value " + std::to_string(v) + " at gene " + std::to_string(g) + ", column " +
                          std::to_string(j));
        zero = zero && v == 0.0;
      }
      if (zero)
        ++out.dropped_zero_rows;
      else
        kept.emplace_back(g, c);
    }
  }
  if (kept.empty()) throw Error(file, "varm", "every gene embedding is zero");

  Matrix rows(static_cast<Eigen::Index>(kept.size()), width);
  for (size_t r = 0; r < kept.size(); ++r) {
    const auto& m = embed.varm.at(keys[kept[r].second]);
    for (int64_t j = 0; j < width; ++j) rows(static_cast<Eigen::Index>(r), j) = m.at(kept[r].first, j);
  }
  const std::vector<int> labels = cluster_rows(rows, options);

  const int n_programs = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end()) + 1;
  out.genes.assign(static_cast<size_t>(n_programs), {});
  for (size_t r = 0; r < kept.size(); ++r) {
    out.rows.push_back({kept[r].first, keys[kept[r].second], labels[r]});
    out.genes[static_cast<size_t>(labels[r])].push_back(kept[r].first);
  }
  for (auto& g : out.genes) {
    std::sort(g.begin(), g.end());
    g.erase(std::unique(g.begin(), g.end()), g.end());
  }
  return out;
}

const io::Column* gene_name_column(const io::DataFrame& var) {
  for (const char* name : {"gene_name", "gene_symbols", "gene_symbol", "feature_name"}) {
    const io::Column* c = var.find(name);
    if (c && (c->type == io::ColumnType::String || c->type == io::ColumnType::Categorical)) return c;
  }
  return nullptr;
}

}  // namespace pg::analysis
