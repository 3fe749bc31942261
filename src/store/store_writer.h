// The write side of the token store. Cells arrive in batches, in order; the
// writer keeps only the shard being filled, writes it out (temp name, fsync,
// rename) as it fills, and writes meta.json last. A new store is built in a
// hidden sibling directory and renamed into place by finish(), so an
// interrupted run never leaves a half store under the final name; appending
// to an existing store adds new shards beside the old ones and replaces
// meta.json atomically, so readers see the old or the new store, never a mix.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "store/schema.h"

namespace pg::store {

class StoreWriter {
 public:
  // Starts a new store at `dir`. An existing token store at `dir` is replaced
  // (whole, at finish()); any other existing non-empty path is refused.
  StoreWriter(std::filesystem::path dir, StoreSchema schema, std::vector<GeneRow> genes);
  // Reopens the store at `dir` to append cells (schema and genes come from it).
  // Holds an exclusive lock on the store until finish() or destruction.
  static StoreWriter append_to(const std::filesystem::path& dir);

  // Without finish(), a new store's staging directory is removed, and an
  // append's new shards are removed; the store under `dir` is untouched.
  ~StoreWriter();
  StoreWriter(StoreWriter&&) noexcept;
  StoreWriter& operator=(StoreWriter&&) noexcept;
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // Validates the whole batch first (a bad batch changes nothing), then
  // buffers it, writing a shard each time cells_per_shard cells or
  // max_shard_bytes bytes are buffered.
  void append(const CellBatch& batch);
  // The pairing table written at finish(); cell indices refer to the whole
  // store (checked at finish against its final size). When appending and not
  // called, the store's existing pairing is kept.
  void set_pairing(PairingTable table);
  // Writes an auxiliary file (a report, an audit table) into the store, listed
  // in meta.json "files"; published with the store. `name` is a plain file
  // name that does not collide with the store's own files.
  void add_file(const std::string& name, std::string_view content);
  // Flushes the last shard, writes the pairing file and meta.json (the
  // caller's `extra` keys merged in; reserved keys refused, see merge_extra) and publishes.
  void finish(const nlohmann::json& extra = nlohmann::json::object());

  int64_t n_cells() const;  // cells in the store so far, including earlier appends
  const StoreSchema& schema() const;
  // The shard buffer's allocated bytes now and at most so far: the writer's
  // only memory that grows with the data.
  uint64_t buffer_bytes() const;
  uint64_t peak_buffer_bytes() const;

 private:
  struct Impl;
  explicit StoreWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace pg::store
