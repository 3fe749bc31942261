#include "tokenise/gene_selection.h"

#include <algorithm>
#include <cctype>
#include <unordered_map>

#include "core/error.h"

namespace pg::tokenise {

std::vector<std::string> gene_symbols(const io::DataFrame& var) {
  for (const char* name : {"gene_name", "gene_symbols", "gene_symbol", "feature_name", "symbol"}) {
    const io::Column* c = var.find(name);
    if (c && (c->type == io::ColumnType::String || c->type == io::ColumnType::Categorical)) {
      std::vector<std::string> out(var.n_rows());
      for (size_t i = 0; i < out.size(); ++i) out[i] = c->text(i);
      return out;
    }
  }
  return var.index;
}

bool is_mito_or_ribo(const std::string& symbol) {
  std::string s = symbol;
  for (auto& ch : s) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const char* prefix : {"MT-", "RPS", "RPL", "MRPS", "MRPL"}) {
    if (s.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

nlohmann::json GeneSelection::report() const {
  return {{"selected", n_selected},
          {"hvg_chosen", hvg_chosen},
          {"mito_ribo_removed", mito_ribo_removed.size()},
          {"too_few_cells_removed", too_few_cells},
          {"forced_in", forced}};
}

GeneSelection select_genes(const TokeniseOptions& opt, const io::DataFrame& var, const std::string& file,
                           const std::vector<int64_t>& gene_cells, const std::vector<int64_t>* hvg_genes) {
  const size_t n = var.n_rows();
  GeneSelection s;
  s.selected.assign(n, hvg_genes ? 0 : 1);
  if (hvg_genes) {
    for (int64_t g : *hvg_genes) s.selected[static_cast<size_t>(g)] = 1;
    s.hvg_chosen = static_cast<int64_t>(hvg_genes->size());
  }
  const auto symbols = gene_symbols(var);
  for (size_t g = 0; g < n; ++g) {
    if (!s.selected[g]) continue;
    if (opt.remove_mito_ribo && is_mito_or_ribo(symbols[g])) {
      s.selected[g] = 0;
      s.mito_ribo_removed.push_back(symbols[g]);
    } else if (gene_cells[g] < opt.min_cells_per_gene) {
      s.selected[g] = 0;
      ++s.too_few_cells;
    }
  }
  if (!opt.force_genes.empty()) {
    std::unordered_map<std::string, size_t> where;
    const io::Column* ids = opt.gene_key.empty() ? nullptr : var.find(opt.gene_key);
    for (size_t g = n; g-- > 0;) {
      where[var.index[g]] = g;
      where[symbols[g]] = g;
      if (ids) where[ids->text(g)] = g;
    }
    for (const auto& name : opt.force_genes) {
      auto it = where.find(name);
      if (it == where.end()) throw Error(file, "var", "forced gene '" + name + "' is not a gene of the file");
      if (!s.selected[it->second]) {
        s.selected[it->second] = 1;
        s.forced.push_back(name);
      }
    }
  }
  s.n_selected = std::count(s.selected.begin(), s.selected.end(), 1);
  if (s.n_selected == 0) throw Error(file, "var", "no genes left after gene selection");
  return s;
}

}  // namespace pg::tokenise
