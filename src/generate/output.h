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

#include <nlohmann/json.hpp>
#include <string>

#include "generate/generator.h"
#include "io/cell_matrix.h"

namespace pg::generate {

pg::io::CellMatrix generated_cells(const GenerationOutput& out, const pg::store::TokenStore& store,
                                   const pg::model::ModelConfig& config, const nlohmann::json& settings);

}  // namespace pg::generate
