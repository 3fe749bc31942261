// One mapped shard: its header checked against meta.json at open (only the
// first page is touched), then typed pointers into its sections. Per-cell
// offsets are checked when a cell is read, so a corrupt byte deep in a shard
// becomes a pg::Error naming the shard and cell, never a wild read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "core/mapped_file.h"
#include "store/schema.h"
#include "store/shard_buffer.h"
#include "store/shard_format.h"

namespace pg::store {

class ShardView {
 public:
  // Maps dir/info.file and validates header, widths, section table and sizes.
  static ShardView open(const std::filesystem::path& dir, const ShardInfo& info, const StoreSchema& schema);

  int64_t first_cell() const { return static_cast<int64_t>(header_.first_cell); }
  int64_t n_cells() const { return static_cast<int64_t>(header_.n_cells); }
  const ShardHeader& header() const { return header_; }
  const MappedFile& file() const { return file_; }

  // [begin, end) of local cell j in the tokens / count sections, checked.
  std::pair<uint64_t, uint64_t> token_range(int64_t j) const;
  std::pair<uint64_t, uint64_t> count_range(int64_t j) const;
  const std::byte* tokens() const { return sections_[kTokens]; }
  const std::byte* count_genes() const { return sections_[kCountGenes]; }
  const float* count_values() const { return reinterpret_cast<const float*>(sections_[kCountValues]); }
  double library_size(int64_t j) const { return reinterpret_cast<const double*>(sections_[kLibrarySize])[j]; }
  int32_t state(int64_t j) const;
  std::string_view cell_id(int64_t j) const;
  int32_t obs_code(int64_t j, size_t column) const {
    return reinterpret_cast<const int32_t*>(sections_[kFirstObsSection + column])[j];
  }
  double obs_value(int64_t j, size_t column) const {
    return reinterpret_cast<const double*>(sections_[kFirstObsSection + column])[j];
  }

  // Recomputes the file's CRC-32 (reads every byte) and compares with meta.json.
  void verify(const std::string& expected_crc32) const;

  // A pg::Error for corrupt data of local cell j (named by its global index).
  [[noreturn]] void corrupt(int64_t j, const std::string& element, const std::string& problem) const;

 private:
  std::pair<uint64_t, uint64_t> range(size_t section, int64_t j, uint64_t limit, const char* what) const;

  MappedFile file_;
  ShardHeader header_{};
  std::vector<const std::byte*> sections_;
};

}  // namespace pg::store
