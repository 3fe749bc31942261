// What a token store holds, described once: the schema fixed at creation, the
// gene rows of the count head, the batches the tokeniser appends and the
// pairing table. Writer and reader share these types; the byte layout lives in
// shard_format.h and docs/token_store.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pg::store {

// The on-disk format this code writes and reads (meta.json "format" / "format_version").
inline constexpr const char* kFormatName = "perturbgen-token-store";
inline constexpr int kFormatVersion = 1;

struct ObsColumnSpec {
  std::string name;
  enum class Kind { Categorical, Float } kind = Kind::Categorical;
  std::vector<std::string> categories;  // Categorical only; code c means categories[c], -1 means missing
};

struct StoreSchema {
  int64_t vocab_size = 0;           // tokens are in [0, vocab_size); <= 65536 stores them as uint16
  int64_t n_count_genes = 0;        // count-head genes (rows of genes.tsv); <= 65536 stores indices as uint16
  std::vector<std::string> states;  // time points / states; a cell's state code indexes this list
  std::vector<ObsColumnSpec> obs;
  int64_t cells_per_shard = 1 << 20;
  // Added beside the brief's fields: the vocabulary's identity (checked by later
  // stages through TokenStore::check_vocabulary) and a byte cap per shard, so
  // that very long cells cannot make one shard's buffer (the writer's memory)
  // grow past it whatever cells_per_shard says.
  std::string vocabulary_name;
  std::string vocabulary_hash;
  int64_t max_shard_bytes = int64_t{512} << 20;
};

// One row of genes.tsv: a gene the count head predicts.
struct GeneRow {
  std::string gene_id;
  std::string gene_name;
  int64_t source_token = -1;  // its token in the source vocabulary (-1: none)
  int64_t row_id = -1;        // its row in the count head / target vocabulary
  bool operator==(const GeneRow&) const = default;
};

// Source cell then one target cell per target state, per row; -1 where a state has no cell.
struct PairingTable {
  std::vector<std::string> columns;  // 1 + T names, e.g. "source", "t1_day2", ...
  int64_t n_rows = 0;
  std::vector<int64_t> cells;  // row-major n_rows x columns.size(), global cell indices
  int64_t at(int64_t row, size_t column) const {
    return cells[static_cast<size_t>(row) * columns.size() + column];
  }
};

// A batch of consecutive cells, appended in order. Offsets are relative to the
// batch: token_offsets[0] == 0 and token_offsets[n] == tokens.size().
struct CellBatch {
  std::vector<uint32_t> tokens;
  std::vector<uint64_t> token_offsets;  // n+1
  std::vector<uint32_t> count_genes;    // indices into genes.tsv rows, strictly increasing within a cell
  std::vector<float> count_values;
  std::vector<uint64_t> count_offsets;  // n+1
  std::vector<double> library_size;
  std::vector<int32_t> state;  // index into StoreSchema::states, or -1 for "no state"
  // Indexed by obs column (schema order). For a categorical column j,
  // obs_codes[j] has n codes and obs_values[j] is empty; for a float column the
  // other way round. A vector may be left empty altogether when the schema has
  // no column of its kind.
  std::vector<std::vector<int32_t>> obs_codes;
  std::vector<std::vector<double>> obs_values;
  std::vector<std::string> cell_ids;

  size_t size() const { return token_offsets.empty() ? 0 : token_offsets.size() - 1; }
  void clear();
};

inline void CellBatch::clear() {
  tokens.clear();
  token_offsets.clear();
  count_genes.clear();
  count_values.clear();
  count_offsets.clear();
  library_size.clear();
  state.clear();
  obs_codes.clear();
  obs_values.clear();
  cell_ids.clear();
}

// Element widths in bytes, as the format chooses them from the schema.
inline int token_width(int64_t vocab_size) {
  return vocab_size <= 65536 ? 2 : 4;
}
inline int gene_index_width(int64_t n_count_genes) {
  return n_count_genes <= 65536 ? 2 : 4;
}
inline int state_width(size_t n_states) {
  return n_states <= 32767 ? 2 : 4;
}

}  // namespace pg::store
