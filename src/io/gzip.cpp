#include "io/gzip.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.h"

namespace pg::io {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

File open_or_throw(const std::string& path, const char* mode) {
  std::error_code ec;
  if (mode[0] == 'r') {
    if (!std::filesystem::exists(path, ec)) throw Error(path, "", "no such file");
    if (std::filesystem::is_directory(path, ec)) throw Error(path, "", "is a directory, expected a file");
  }
  File f(std::fopen(path.c_str(), mode));
  if (!f) throw Error(path, "", std::string("cannot open: ") + std::strerror(errno));
  return f;
}

std::string read_raw(const std::string& path) {
  File f = open_or_throw(path, "rb");
  std::string out;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) out.reserve(static_cast<size_t>(size));
  char buf[1 << 16];
  size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) out.append(buf, n);
  if (std::ferror(f.get())) throw Error(path, "", std::string("read error: ") + std::strerror(errno));
  return out;
}

bool has_gzip_magic(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

// Inflates every gzip member of `in` (bgzip and `cat a.gz b.gz` produce several).
std::string gunzip(const std::string& in, const std::string& path) {
  std::string out;
  // The trailer's ISIZE is the size modulo 2^32 of the last member: a good
  // first guess, capped by deflate's maximum ratio so a corrupt trailer
  // cannot make us reserve gigabytes.
  if (in.size() >= 4) {
    uint32_t isize = 0;
    std::memcpy(&isize, in.data() + in.size() - 4, 4);
    out.reserve(std::min<size_t>(isize, in.size() * 1032));
  }
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw Error(path, "", "cannot initialise zlib");
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, inflateEnd);
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  size_t consumed = 0;  // input bytes handed to zlib so far
  size_t produced = 0;
  while (true) {
    if (zs.avail_in == 0 && consumed < in.size()) {
      const size_t chunk = std::min<size_t>(in.size() - consumed, 1u << 30);
      zs.avail_in = static_cast<uInt>(chunk);
      consumed += chunk;
    }
    if (out.size() - produced < (1u << 16))
      out.resize(std::max<size_t>(out.size() * 2, produced + (1u << 20)));
    const size_t room = std::min<size_t>(out.size() - produced, 1u << 30);
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + produced);
    zs.avail_out = static_cast<uInt>(room);
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += room - zs.avail_out;
    if (rc == Z_STREAM_END) {
      const size_t left = zs.avail_in + (in.size() - consumed);
      const std::string_view rest(in.data() + in.size() - left, left);
      if (!has_gzip_magic(rest)) break;  // trailing padding after the last member, as gzip ignores it
      inflateReset(&zs);
      continue;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0 && consumed == in.size()) {
      throw Error(path, "", "truncated gzip file (compressed data ends early)");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      throw Error(path, "", std::string("corrupt gzip data: ") + (zs.msg != nullptr ? zs.msg : "zlib error"));
    }
  }
  out.resize(produced);
  return out;
}

}  // namespace

bool is_gzip_file(const std::string& path) {
  File f = open_or_throw(path, "rb");
  unsigned char magic[2] = {0, 0};
  const size_t n = std::fread(magic, 1, 2, f.get());
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

std::string read_maybe_gzip(const std::string& path) {
  std::string raw = read_raw(path);
  if (!has_gzip_magic(raw)) return raw;
  return gunzip(raw, path);
}

void write_gzip(const std::string& path, std::string_view data, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error(path, "", "cannot initialise zlib");
  }
  std::unique_ptr<z_stream, int (*)(z_stream*)> guard(&zs, deflateEnd);
  File f = open_or_throw(path, "wb");
  std::string buf(1 << 18, '\0');
  size_t offset = 0;
  int flush = Z_NO_FLUSH;
  do {
    if (zs.avail_in == 0 && offset < data.size()) {
      const size_t chunk = std::min<size_t>(data.size() - offset, 1u << 30);
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data() + offset));
      zs.avail_in = static_cast<uInt>(chunk);
      offset += chunk;
    }
    flush = (offset == data.size() && zs.avail_in == 0) ? Z_FINISH : Z_NO_FLUSH;
    zs.next_out = reinterpret_cast<Bytef*>(buf.data());
    zs.avail_out = static_cast<uInt>(buf.size());
    const int rc = deflate(&zs, flush);
    if (rc == Z_STREAM_ERROR) throw Error(path, "", "zlib compression failed");
    const size_t have = buf.size() - zs.avail_out;
    if (have > 0 && std::fwrite(buf.data(), 1, have, f.get()) != have) {
      throw Error(path, "", std::string("write error: ") + std::strerror(errno));
    }
    if (rc == Z_STREAM_END) break;
  } while (true);
  if (std::fclose(f.release()) != 0)
    throw Error(path, "", std::string("write error: ") + std::strerror(errno));
}

void write_text(const std::string& path, std::string_view data) {
  File f = open_or_throw(path, "wb");
  if (!data.empty() && std::fwrite(data.data(), 1, data.size(), f.get()) != data.size()) {
    throw Error(path, "", std::string("write error: ") + std::strerror(errno));
  }
  if (std::fclose(f.release()) != 0)
    throw Error(path, "", std::string("write error: ") + std::strerror(errno));
}

}  // namespace pg::io
