// The expression OT pairing couples cells in (pairing.h, Ot): log1p of the
// counts scaled to 1e4 per cell, as scanpy's normalize_total + log1p, over the
// store's genes expressed in the most cells. Built by one more pass over the
// input, for the sampled cells only, so memory is bounded by --ot-max-cells
// per state, not by the corpus.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "tokenise/chunked_input.h"

namespace pg::tokenise {

// Up to `max_genes` input columns with slot_of_column >= 0 (in the store),
// those with the most expressing cells (gene_cells) first, ties by column;
// never-expressed genes are left out. Returned in column order.
std::vector<int64_t> ot_feature_genes(const std::vector<int32_t>& slot_of_column,
                                      const std::vector<int64_t>& gene_cells, int64_t max_genes);

// Row-major cells.size() x genes.size() floats: row r is used cell cells[r]
// (store order; `cells` ascending), log1p(x / library · 1e4) with the library
// summed over ALL genes of the cell (the total scanpy divides by). `used`
// marks the input cells in the store.
std::vector<float> ot_features(const ChunkedInput& input, int64_t chunk_cells,
                               const std::vector<std::string>& obs_columns, const std::vector<bool>& used,
                               std::span<const int64_t> cells, std::span<const int64_t> genes);

}  // namespace pg::tokenise
