// Gene-program discovery from contextual gene embeddings (spec §7, notebook
// 05): every (gene, condition) embedding vector is a row, all-zero rows
// (genes never expressed in that condition) are dropped, and the rows are
// clustered as scanpy's pca + neighbors + leiden would (cluster_rows.h).
// A program is a cluster; its genes are those of its rows over all
// conditions. The embeddings come from `perturbgen embed`: varm holds one
// n_genes x d matrix per condition, listed in uns['perturbgen']['gene_embedding_keys'].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analysis/cluster_rows.h"
#include "io/cell_matrix.h"

namespace pg::analysis {

struct ProgramRow {
  int64_t gene = 0;       // var row
  std::string condition;  // varm key
  int program = 0;
};

struct GenePrograms {
  std::vector<std::string> conditions;      // the varm keys used, in order
  std::vector<ProgramRow> rows;             // clustered rows: conditions in order, genes in var order
  int64_t dropped_zero_rows = 0;            // all-zero (gene, condition) vectors left out
  std::vector<std::vector<int64_t>> genes;  // per program (0 = largest): its genes, sorted, unique
};

// The varm keys holding gene embeddings: `requested` if given (each must be
// in varm), else uns['perturbgen']['gene_embedding_keys'] if present, else
// every varm key. Missing keys or an empty varm are a pg::Error naming `file`.
std::vector<std::string> gene_embedding_keys(const io::CellMatrix& embed, const std::string& file,
                                             const std::vector<std::string>& requested = {});

// Programs of the gene embeddings of `keys`. Matrices of different widths, a
// row count other than the number of genes, non-finite values or no non-zero
// row are a pg::Error naming `file` and the varm element.
GenePrograms find_gene_programs(const io::CellMatrix& embed, const std::string& file,
                                const std::vector<std::string>& keys, const ClusterOptions& options = {});

// The var column with gene names (gene_name, gene_symbols, gene_symbol,
// feature_name; text or categorical), or nullptr.
const io::Column* gene_name_column(const io::DataFrame& var);

}  // namespace pg::analysis
