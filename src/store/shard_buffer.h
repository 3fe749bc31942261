// The cells of the shard being filled, already in their on-disk widths, and
// the code that writes them out as one shard file. This buffer is the
// writer's only memory that grows with cells, and it is emptied at each flush.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "store/schema.h"
#include "store/shard_format.h"

namespace pg::store {

// What meta.json records about a written shard.
struct ShardInfo {
  std::string file;  // name inside the store directory
  int64_t first_cell = 0;
  int64_t n_cells = 0;
  uint64_t bytes = 0;
  std::string crc32;  // of the whole file, 8 hex digits
};

class ShardBuffer {
 public:
  ShardBuffer(const StoreSchema& schema);

  // Appends cells [begin, end) of a validated batch.
  void append(const CellBatch& batch, size_t begin, size_t end);
  // The bytes cell i of `batch` adds to the shard (for the byte cap).
  uint64_t cell_bytes(const CellBatch& batch, size_t i) const;

  int64_t n_cells() const { return n_cells_; }
  uint64_t data_bytes() const;      // what the sections hold now
  uint64_t capacity_bytes() const;  // what the buffer has allocated

  // Writes the buffered cells to `path` (through `path`.tmp, fsync'd, renamed)
  // and empties the buffer; capacity is kept for the next shard.
  ShardInfo write(const std::filesystem::path& path, int64_t first_cell);

 private:
  template <typename T>
  void push(std::vector<unsigned char>& section, T value) {
    const size_t at = section.size();
    section.resize(at + sizeof(T));
    std::memcpy(section.data() + at, &value, sizeof(T));
  }

  ShardWidths widths_;
  std::vector<ObsColumnSpec::Kind> obs_kinds_;
  int64_t n_cells_ = 0;
  uint64_t n_tokens_ = 0, n_counts_ = 0, n_id_bytes_ = 0;
  std::vector<std::vector<unsigned char>> sections_;  // indexed by Section
};

}  // namespace pg::store
