// The byte layout of one shard file (shard-NNNNN.pgts), shared by the writer
// and the reader so the two cannot drift. docs/token_store.md documents the
// same layout for readers in other languages.
//
//   [0, 64)            ShardHeader
//   [64, 64 + 16*S)    S section entries {uint64 offset, uint64 size}
//   ...                sections in table order, each starting on a 64-byte boundary
//
// All integers little-endian. Offsets inside a shard are shard-local (the
// first cell of every shard starts at token 0).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "store/schema.h"

namespace pg::store {

// The writer copies in-memory integers straight to disk and the reader maps
// them back; both are only right on a little-endian host (all current targets).
static_assert(std::endian::native == std::endian::little, "the token store format is little-endian");

inline constexpr char kShardMagic[8] = {'P', 'G', 'T', 'S', 'H', 'A', 'R', 'D'};
inline constexpr uint32_t kShardVersion = 1;
inline constexpr uint32_t kEndianMarker = 0x01020304u;  // reads 0x04030201 on a big-endian host
inline constexpr uint64_t kSectionAlignment = 64;

// Section order in the table; obs column j is section kFirstObsSection + j.
enum Section : size_t {
  kTokenOffsets = 0,  // uint64 x (n+1)
  kTokens,            // uint16|uint32 x n_tokens
  kCountIndptr,       // uint64 x (n+1)
  kCountGenes,        // uint16|uint32 x n_count_values
  kCountValues,       // float32 x n_count_values
  kLibrarySize,       // float64 x n
  kState,             // int16|int32 x n
  kCellIdOffsets,     // uint64 x (n+1)
  kCellIdBytes,       // uint8 x n_cell_id_bytes (UTF-8, no separators)
  kFirstObsSection,   // int32 codes (categorical) | float64 values (float), x n
};

struct ShardHeader {
  char magic[8];
  uint32_t version;
  uint32_t endian;
  uint64_t n_cells;
  uint64_t first_cell;  // global index of this shard's first cell
  uint64_t n_tokens;
  uint64_t n_count_values;
  uint64_t n_cell_id_bytes;
  uint32_t n_sections;
  uint8_t token_width;       // 2 or 4
  uint8_t gene_index_width;  // 2 or 4
  uint8_t state_width;       // 2 or 4
  uint8_t reserved;          // 0
};
static_assert(sizeof(ShardHeader) == 64, "the shard header is 64 bytes on disk");

struct SectionEntry {
  uint64_t offset;
  uint64_t size;
};
static_assert(sizeof(SectionEntry) == 16, "a section entry is 16 bytes on disk");

// The element widths a store's schema implies (what every shard header must say).
struct ShardWidths {
  int token = 2;
  int gene_index = 2;
  int state = 2;
  static ShardWidths of(const StoreSchema& schema) {
    return {token_width(schema.vocab_size), gene_index_width(schema.n_count_genes),
            state_width(schema.states.size())};
  }
};

// Human-readable section name for error messages ("section tokens").
const char* section_name(size_t section);

// The byte size each section must have, given the header's counts and the
// obs column kinds. Used by the writer to lay out and by the reader to check.
std::vector<uint64_t> expected_section_sizes(const ShardHeader& header,
                                             const std::vector<ObsColumnSpec::Kind>& obs_kinds);

inline uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

}  // namespace pg::store
