// The generated cells as an AnnData file (opens in anndata/scanpy):
//   X                    predicted counts, cells x the store's count genes
//   var                  index gene_id (as the input's var index), gene_name
//   obs                  time_point (categorical label), source_cell, target_cell
//                        (the paired true cell, "" when the pairing has none),
//                        pairing_row, and the store's obs columns of the target
//                        cell (of the source cell when there is no target)
//   obsm X_perturbgen    the generated cell's mean decoder embedding
//   obsm gene_ranking    generated genes in order, as var indices, -1 padded
//   uns perturbgen       time_key, time_order, train_time_points, method, and
//                        the settings of the run (`settings`)
// One row per (pairing row, generated time point); all time points in one file.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "generate/generator.h"
#include "io/cell_matrix.h"

namespace pg::generate {

// The parts of that layout other outputs of paired cells share (perturbation, embeddings):
// var: gene_id index and gene_name of the store's count genes.
pg::io::DataFrame gene_table(const pg::store::TokenStore& store);
// obs: one row per (time, pairing row), times outer, in `target_cells` order:
// time_point, source_cell, target_cell, pairing_row and the store's obs columns.
pg::io::DataFrame paired_cell_table(const pg::store::TokenStore& store, const std::vector<int64_t>& rows,
                                    const std::vector<int64_t>& source_cells,
                                    const std::map<int64_t, std::vector<int64_t>>& target_cells);
// Appends the rows of a dense (n, G) tensor to a CSR matrix (zeros not stored).
void append_rows(pg::io::CsrMatrix& m, const torch::Tensor& dense);
// uns: time_key, time_order, train_time_points.
nlohmann::json time_info(const pg::store::TokenStore& store, const pg::model::ModelConfig& config);

pg::io::CellMatrix generated_cells(const GenerationOutput& out, const pg::store::TokenStore& store,
                                   const pg::model::ModelConfig& config, const nlohmann::json& settings);

}  // namespace pg::generate
