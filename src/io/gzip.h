// Whole-file reading and writing of text that may be gzip-compressed. 10x
// folders mix plain and .gz files and users rename them freely, so the reader
// decides by the gzip magic bytes, never by the file name. Decompression uses
// ISA-L's inflate (about three times zlib's speed), streaming where a reader
// can work on the text while the rest is still being decompressed.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace pg::io {

// Bytes in memory that was not zero-filled first (for tens of MB, zeroing a
// fresh buffer costs a sizeable part of decompressing into it), or a
// read-only mapping of a file, which costs no copy at all.
class ByteBuffer {
 public:
  ByteBuffer() = default;
  // `size` writable bytes of undefined content.
  explicit ByteBuffer(size_t size) : data_(new char[size], Release{0}), size_(size) {}

  char* data() { return data_.get(); }  // not for a mapping, which is read-only
  size_t size() const { return size_; }
  std::string_view view() const { return {data_.get(), size_}; }
  // Keeps the first `size` bytes (at most size()).
  void shrink(size_t size) { size_ = size < size_ ? size : size_; }

 private:
  friend ByteBuffer read_file_bytes(const std::string& path);
  struct Release {
    size_t mapped;  // bytes mapped with mmap, or 0 for new[]
    void operator()(char* p) const;
  };
  ByteBuffer(char* mapping, size_t size) : data_(mapping, Release{size}), size_(size) {}

  std::unique_ptr<char, Release> data_{nullptr, Release{0}};
  size_t size_ = 0;
};

// The raw bytes of `path`: a read-only mapping of a regular file (its pages
// are the page cache's: no copy, no zeroing), else (pipes...) what read() gives.
ByteBuffer read_file_bytes(const std::string& path);

// True if `bytes` start with the gzip magic bytes 1f 8b.
bool has_gzip_magic(std::string_view bytes);

// True if the file starts with the gzip magic bytes.
bool is_gzip_file(const std::string& path);

// The contents of `path`, decompressed if it is gzip (concatenated members
// included). Missing, unreadable, truncated or corrupt files throw pg::Error
// naming the file.
ByteBuffer read_maybe_gzip_bytes(const std::string& path);

// The same as a string.
std::string read_maybe_gzip(const std::string& path);

// Decompresses the gzip data `gz` (read from `path`, named in errors) on a
// second thread and calls consume(lines) on the calling thread with the text
// in order, in pieces of about 1 MiB that end at a newline (the last piece
// ends where the text does), so that the caller's work on one piece overlaps
// the decompression of the next and the text is never in memory whole (where
// no thread can be started: one piece, after decompressing it all). A
// truncated or corrupt stream throws pg::Error once the pieces before the
// damage were consumed; an exception from `consume` stops the stream and
// propagates.
void gunzip_lines(std::string_view gz, const std::string& path,
                  const std::function<void(std::string_view lines)>& consume);

// The uncompressed size a gzip trailer states: exact for a single member under
// 4 GiB, a guess otherwise (the last member's size modulo 2^32); 0 if `gz` is
// too short.
size_t gzip_size_guess(std::string_view gz);

// Writes `data` to `path` as a single gzip member (zlib, given level).
void write_gzip(const std::string& path, std::string_view data, int level = 6);

// Writes `data` to `path` uncompressed.
void write_text(const std::string& path, std::string_view data);

}  // namespace pg::io
