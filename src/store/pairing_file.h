// pairing.pgtp: the pairing table as a fixed header plus a row-major int64
// matrix, so training can map it instead of loading it. Column names live in
// meta.json ("pairing.columns").
//
//   [0, 64)   PairingHeader
//   [64, ...) int64 cells[n_rows][n_columns], -1 where a state has no cell
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "store/meta.h"
#include "store/schema.h"

namespace pg::store {

inline constexpr char kPairingMagic[8] = {'P', 'G', 'T', 'P', 'A', 'I', 'R', 'S'};
inline constexpr uint32_t kPairingVersion = 1;
inline constexpr const char* kPairingFileName = "pairing.pgtp";

struct PairingHeader {
  char magic[8];
  uint32_t version;
  uint32_t endian;  // kEndianMarker
  uint64_t n_rows;
  uint64_t n_columns;
  uint64_t data_offset;  // 64
  uint64_t reserved[3];
};
static_assert(sizeof(PairingHeader) == 64, "the pairing header is 64 bytes on disk");

// Throws pg::Error(store, "pairing ...", problem) unless the table is
// rectangular, has at least one column, and every cell is -1 or in [0, n_cells).
void validate_pairing(const PairingTable& table, int64_t n_cells, const std::string& store);

// Writes `table` to dir/pairing.pgtp (through a .tmp, fsync'd, renamed). With
// `content_named` the file is called pairing-<crc32>.pgtp instead, so that an
// append can replace the table without touching the file the current
// meta.json names (the old file is removed once the new meta.json is in place).
PairingFileInfo write_pairing_file(const std::filesystem::path& dir, const PairingTable& table,
                                   bool content_named = false);

// Checks a mapped pairing file's header and size against meta.json's record;
// returns a pointer to the first int64 cell. Reads only the header.
const int64_t* check_pairing_file(const std::byte* data, size_t size, const PairingFileInfo& info,
                                  const std::string& file);

}  // namespace pg::store
