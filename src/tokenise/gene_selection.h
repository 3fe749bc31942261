// Which of the input's genes a token store keeps, after the scan pass: all of
// them or the HVGs, minus mitochondrial/ribosomal genes on request, minus genes
// in too few cells, plus the genes the user forces in. The order of the spec
// (§2.2): HVGs are chosen first, filters applied after, forced genes last.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/cell_matrix.h"
#include "tokenise/hvg.h"
#include "tokenise/options.h"

namespace pg::tokenise {

struct GeneSelection {
  std::vector<uint8_t> selected;  // per input gene
  int64_t n_selected = 0;
  int64_t hvg_chosen = 0;
  std::vector<std::string> mito_ribo_removed;
  int64_t too_few_cells = 0;
  std::vector<std::string> forced;  // forced genes that selection alone would have dropped
  nlohmann::json report() const;
};

// Symbols of the input's genes for mito/ribo matching and forced-gene lookup:
// a var column named gene_name / gene_symbols / gene_symbol / feature_name /
// symbol if there is one, else the var index.
std::vector<std::string> gene_symbols(const io::DataFrame& var);

// True for MT-*, RPS*, RPL*, MRPS*, MRPL* (case-insensitive: mouse mt-*).
bool is_mito_or_ribo(const std::string& symbol);

// `candidates`: genes HVG selection chose among (all input genes for the
// reference's before-vocabulary mode); `hvg_genes` indexes into it.
GeneSelection select_genes(const TokeniseOptions& opt, const io::DataFrame& var, const std::string& file,
                           const std::vector<int64_t>& gene_cells, const std::vector<int64_t>* hvg_genes);

}  // namespace pg::tokenise
