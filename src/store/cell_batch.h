// Checks a CellBatch against the store's schema before any of it is buffered,
// so a bad batch is refused whole and names the offending cell.
#pragma once

#include <cstdint>
#include <string>

#include "store/schema.h"

namespace pg::store {

// Throws pg::Error(store, "batch cell <i> (cell <first_cell+i> of the store)", problem)
// on the first inconsistency: array lengths, offsets not starting at 0 or
// decreasing, tokens outside the vocabulary, count genes outside genes.tsv or
// not strictly increasing within a cell, states or category codes out of range.
void validate_batch(const CellBatch& batch, const StoreSchema& schema, const std::string& store,
                    int64_t first_cell);

// Throws pg::Error(store, "schema", problem) for a schema no store can hold.
void validate_schema(const StoreSchema& schema, const std::string& store);

}  // namespace pg::store
