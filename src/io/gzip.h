// Whole-file reading and writing of text that may be gzip-compressed. 10x
// folders mix plain and .gz files and users rename them freely, so the reader
// decides by the gzip magic bytes, never by the file name.
#pragma once

#include <string>
#include <string_view>

namespace pg::io {

// True if the file starts with the gzip magic bytes 1f 8b.
bool is_gzip_file(const std::string& path);

// The contents of `path`, decompressed if it is gzip (concatenated members
// included). Missing, unreadable, truncated or corrupt files throw pg::Error
// naming the file.
std::string read_maybe_gzip(const std::string& path);

// Writes `data` to `path` as a single gzip member (zlib, given level).
void write_gzip(const std::string& path, std::string_view data, int level = 6);

// Writes `data` to `path` uncompressed.
void write_text(const std::string& path, std::string_view data);

}  // namespace pg::io
