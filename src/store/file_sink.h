// Sequential binary output with a running CRC-32 and a durable finish: the
// shard and pairing files are written under a temporary name, fsync'd, then
// renamed, so a crash leaves either the old state or a complete file.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "store/crc32.h"

namespace pg::store {

class FileSink {
 public:
  explicit FileSink(std::filesystem::path path);  // creates or truncates
  ~FileSink();
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  void write(const void* data, size_t size);
  // Zero bytes up to the next multiple of `alignment`.
  void pad_to(uint64_t alignment);
  uint64_t offset() const { return offset_; }
  const Crc32& crc() const { return crc_; }
  // Flushes, fsyncs and closes; the file is complete on disk afterwards.
  void finish();

 private:
  void flush_buffer();
  void write_raw(const void* data, size_t size);

  std::filesystem::path path_;
  int fd_ = -1;
  std::vector<unsigned char> buffer_;
  uint64_t offset_ = 0;
  Crc32 crc_;
};

// fsync of a directory, so that renames and creations inside it are durable.
void fsync_directory(const std::filesystem::path& dir);

// rename(2) with a pg::Error naming both paths on failure.
void rename_file(const std::filesystem::path& from, const std::filesystem::path& to);

}  // namespace pg::store
