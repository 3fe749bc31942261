// The read side of the token store: opens a store directory by mapping its
// shards (no shard data is read at open) and answers per-cell questions in
// O(1) after a binary search over the shards' first cells. All methods are
// const and keep no mutable state except the lazily built pairing table
// (built under std::call_once), so one TokenStore serves many threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/mapped_file.h"
#include "store/meta.h"
#include "store/schema.h"
#include "store/shard_view.h"

namespace pg::store {

// A zero-copy view of one cell's tokens in their stored width.
struct TokenSpan {
  const std::byte* data = nullptr;
  size_t size = 0;
  int width = 2;
  uint32_t operator[](size_t k) const {
    return width == 2 ? reinterpret_cast<const uint16_t*>(data)[k]
                      : reinterpret_cast<const uint32_t*>(data)[k];
  }
};

// A zero-copy view of pairing.pgtp; at() checks each value it returns.
struct PairingView {
  const std::vector<std::string>* columns = nullptr;
  int64_t n_rows = 0;
  const int64_t* cells = nullptr;
  int64_t n_cells = 0;  // of the store, for the range check
  std::string file;     // for error messages
  int64_t at(int64_t row, size_t column) const;
};

class TokenStore {
 public:
  // Validates meta.json, genes.tsv, every shard's header and section table
  // and the pairing file's header; throws pg::Error naming the file and
  // element on any mismatch or truncation.
  static TokenStore open(const std::filesystem::path& dir);

  int64_t n_cells() const { return n_cells_; }
  size_t n_shards() const { return shards_.size(); }
  const std::filesystem::path& dir() const { return dir_; }
  const StoreSchema& schema() const { return contents_.schema; }
  int token_width() const;

  // Cell i's tokens, widened to uint32 (whatever the stored width).
  void tokens(int64_t cell, std::vector<uint32_t>& out) const;
  TokenSpan token_span(int64_t cell) const;
  int64_t length(int64_t cell) const;
  // Cell i's count row: gene indices (into genes()) and values.
  void counts(int64_t cell, std::vector<uint32_t>& genes, std::vector<float>& values) const;
  double library_size(int64_t cell) const;
  int32_t state(int64_t cell) const;
  std::string_view cell_id(int64_t cell) const;
  int32_t obs_code(int64_t cell, size_t column) const;  // categorical columns
  double obs_value(int64_t cell, size_t column) const;  // float columns
  // Column index by name; throws pg::Error listing the columns when absent.
  size_t obs_column(const std::string& name) const;

  const nlohmann::json& meta() const { return meta_; }
  const std::vector<GeneRow>& genes() const { return genes_; }
  bool has_pairing() const { return contents_.pairing.has_value(); }
  // The whole table in memory, built (and range-checked) on first call.
  // Throws pg::Error when the store has no pairing.
  const PairingTable& pairing() const;
  PairingView pairing_view() const;

  // mismatch -> pg::Error("... was tokenised with vocabulary X (hash ...), but <who> expects ...")
  void check_vocabulary(const std::string& expected_hash, const std::string& who) const;

  // Reads every byte of every shard (and the pairing file) and checks the
  // CRC-32s recorded in meta.json. Open never does this: it would read the data.
  void verify() const;

 private:
  struct Lazy;
  std::pair<const ShardView*, int64_t> locate(int64_t cell) const;
  const ObsColumnSpec& obs_spec(size_t column, ObsColumnSpec::Kind kind) const;

  std::filesystem::path dir_;
  nlohmann::json meta_;
  MetaContents contents_;
  int64_t n_cells_ = 0;
  std::vector<ShardView> shards_;
  std::vector<int64_t> first_cells_;
  std::vector<GeneRow> genes_;
  MappedFile pairing_file_;
  const int64_t* pairing_cells_ = nullptr;
  std::shared_ptr<Lazy> lazy_;
};

// Writes the pairing table as TSV for audit: a header "pair" then, per
// column, "<name>" (the cell id, "NA" for -1) and "<name>_index" (the cell
// index, -1 kept). Written atomically. Tabs, newlines and backslashes in
// cell ids are escaped as \t, \n, \\.
void export_pairing_tsv(const TokenStore& store, const std::filesystem::path& out);

}  // namespace pg::store
