// Read-only ZIP archive access (the container of torch.save checkpoints).
// An archive opened from a file is read on demand: opening reads only the
// end record and the central directory, and each entry is read when asked
// for, straight into the caller's buffer, so a 600 MB checkpoint of which a
// tenth is wanted costs a tenth in memory and time. Every offset and size
// taken from the archive is checked against its length before use, so a
// truncated or corrupt archive is a pg::Error naming the archive and the
// entry, never an out-of-bounds read. Supports ZIP64 and the methods stored
// (0) and deflate (8).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pg::io {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t size = 0;  // uncompressed
  uint64_t local_header_offset = 0;
};

class ZipReader {
 public:
  // Opens the archive at `path` (read on demand; the file stays open).
  static ZipReader open(const std::string& path);
  // An archive already in memory; `label` names it in errors.
  static ZipReader from_bytes(std::string label, std::string bytes);

  const std::string& label() const { return label_; }
  const std::vector<ZipEntry>& entries() const { return entries_; }
  // The entry called `name`, or nullptr.
  const ZipEntry* find(const std::string& name) const;
  // The uncompressed content of `entry` (CRC-checked).
  std::string read(const ZipEntry& entry) const;
  // Same, into `out`, which must hold exactly entry.size bytes: a stored
  // entry goes from the file to `out` with no other copy.
  void read_into(const ZipEntry& entry, char* out, uint64_t out_size) const;
  // Total size of the archive in bytes.
  uint64_t size() const;
  // The content of the entry called `name`; a pg::Error if there is none.
  std::string read(const std::string& name) const;

 private:
  class Source;
  void parse();

  std::string label_;
  std::shared_ptr<const Source> source_;
  std::vector<ZipEntry> entries_;
};

}  // namespace pg::io
