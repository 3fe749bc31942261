// The tokeniser's second pass: turns the used cells of one input chunk into
// a token-store batch — the rank-value sentence (source vocabulary), the raw
// counts of the count-head genes (duplicate IDs summed), the library size,
// the state and the carried obs values. Cells are split over threads in
// contiguous blocks and the blocks concatenated in order, so the batch is the
// same for any thread count.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "io/cell_matrix.h"
#include "store/schema.h"
#include "tokenise/obs_labels.h"
#include "tokenise/rank_encode.h"

namespace pg::tokenise {

// How input columns become count-head slots and tokens.
struct GenePlan {
  std::vector<uint8_t> in_library;      // per input column: counted in the library size (selected genes)
  std::vector<int32_t> slot_of_column;  // per input column: count-head gene (-1: none)
  std::vector<int32_t> token_of_slot;   // source-vocabulary token of each count-head gene
  std::vector<double> median_of_token;  // normalisation factor per token (vocabulary order)
  int64_t n_slots() const { return static_cast<int64_t>(token_of_slot.size()); }
};

// The used cells of a chunk: row in the chunk and state code.
struct ChunkCells {
  std::vector<int64_t> rows;
  std::vector<int32_t> states;
};

class CellEncoder {
 public:
  CellEncoder(const GenePlan& plan, RankOptions rank, const std::vector<CarriedColumn>& carried, int threads);

  // Appends the cells `cells` of `chunk` to `out` (cleared first).
  void encode(const io::CellMatrix& chunk, const ChunkCells& cells, store::CellBatch& out) const;

 private:
  void encode_range(const io::CellMatrix& chunk, const ChunkCells& cells, size_t begin, size_t end,
                    store::CellBatch& out) const;

  const GenePlan& plan_;
  RankOptions rank_;
  const std::vector<CarriedColumn>& carried_;
  int threads_;
};

// Appends `src` to `dst` (offsets shifted).
void append_batch(store::CellBatch& dst, const store::CellBatch& src);

}  // namespace pg::tokenise
