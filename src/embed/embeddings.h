// Cell and contextual gene embeddings of the store's paired cells (spec §7):
// the teacher-forced pass over the observed target cells of every time
// point (no masking, context as trained), then
//   cell embedding   the mean-pooled final hidden state of each target cell
//   gene embedding   for every count gene g and every value c of a condition
//                    (the time point by default, or an obs column of the
//                    target cells such as a cell type): the mean of g's final
//                    hidden state over the cells with value c that express g
//                    (0 where none does)
// The gene embeddings are therefore contextual: a gene has one vector per
// condition value, each averaged over the cells it was seen in.
#pragma once

#include <torch/torch.h>

#include <string>
#include <vector>

#include "generate/generator.h"
#include "io/cell_matrix.h"
#include "model/model_dir.h"
#include "store/token_store.h"

namespace pg::embed {

struct EmbedOptions {
  pg::generate::GenerateOptions data;  // times, rows (split), batch size, bf16; nothing is generated
  std::string condition;               // obs column of the target cells; empty: the time point
};

struct Embeddings {
  std::vector<int64_t> rows, source_cells;
  std::map<int64_t, std::vector<int64_t>> target_cells;  // per time
  std::map<int64_t, torch::Tensor> cell_embedding;       // per time (n, d)
  std::map<int64_t, torch::Tensor> counts;               // per time (n, G) observed counts
  std::vector<std::string> conditions;                   // condition values, in first-seen order
  torch::Tensor gene_embedding;                          // (conditions, G, d)
  torch::Tensor gene_cells;                              // (conditions, G) cells averaged over
};

Embeddings embed(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                 const pg::store::TokenStore& store, const EmbedOptions& options);

// X = observed counts, obs (generate/output.h), obsm X_perturbgen, varm one
// (genes, d) matrix per condition value, varm n_cells (genes, conditions),
// uns perturbgen.gene_embedding_keys (the varm keys, condition order).
pg::io::CellMatrix embedding_cells(const Embeddings& e, const pg::store::TokenStore& store,
                                   const pg::model::ModelConfig& config, const nlohmann::json& settings);

}  // namespace pg::embed
