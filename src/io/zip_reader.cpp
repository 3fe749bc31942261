#include "io/zip_reader.h"

#include <zlib.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <limits>

#include "core/error.h"

namespace pg::io {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;

// Bounds-checked little-endian reads from the archive bytes.
struct Cursor {
  const std::string& bytes;
  const std::string& label;

  void need(uint64_t offset, uint64_t n, const std::string& what) const {
    if (offset > bytes.size() || n > bytes.size() - offset)
      throw pg::Error(label, what,
                      "truncated or corrupt zip archive: " + std::to_string(n) + " bytes at offset " +
                          std::to_string(offset) + " lie outside the " + std::to_string(bytes.size()) +
                          "-byte file");
  }
  uint64_t le(uint64_t offset, int n, const std::string& what) const {
    need(offset, static_cast<uint64_t>(n), what);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(bytes[offset + static_cast<uint64_t>(i)]);
    return v;
  }
  uint16_t u16(uint64_t o, const std::string& w) const { return static_cast<uint16_t>(le(o, 2, w)); }
  uint32_t u32(uint64_t o, const std::string& w) const { return static_cast<uint32_t>(le(o, 4, w)); }
  uint64_t u64(uint64_t o, const std::string& w) const { return le(o, 8, w); }
};

}  // namespace

ZipReader ZipReader::open(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw pg::Error(path, "", "cannot open the file for reading");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw pg::Error(path, "", "read error");
  return from_bytes(path, std::move(bytes));
}

ZipReader ZipReader::from_bytes(std::string label, std::string bytes) {
  ZipReader z;
  z.label_ = std::move(label);
  z.bytes_ = std::make_shared<const std::string>(std::move(bytes));
  z.parse();
  return z;
}

void ZipReader::parse() {
  const std::string& b = *bytes_;
  Cursor c{b, label_};
  // The end-of-central-directory record is the last 22 bytes plus a comment of
  // at most 65535 bytes: search backwards for its signature.
  if (b.size() < 22)
    throw pg::Error(label_, "end of central directory",
                    "not a zip archive: file has only " + std::to_string(b.size()) + " bytes");
  uint64_t eocd = std::numeric_limits<uint64_t>::max();
  const uint64_t lowest = b.size() > 22 + 65535 ? b.size() - 22 - 65535 : 0;
  for (uint64_t p = b.size() - 22 + 1; p-- > lowest;) {
    if (c.u32(p, "end of central directory") == kEndSig &&
        p + 22 + c.u16(p + 20, "end of central directory") == b.size()) {
      eocd = p;
      break;
    }
  }
  if (eocd == std::numeric_limits<uint64_t>::max())
    throw pg::Error(label_, "end of central directory",
                    "not a zip archive (no end-of-central-directory record)");
  uint64_t count = c.u16(eocd + 10, "end of central directory");
  uint64_t cd_size = c.u32(eocd + 12, "end of central directory");
  uint64_t cd_offset = c.u32(eocd + 16, "end of central directory");
  if (count == 0xFFFF || cd_size == 0xFFFFFFFF || cd_offset == 0xFFFFFFFF) {
    // ZIP64: a locator just before the EOCD points at the 64-bit record.
    if (eocd < 20 || c.u32(eocd - 20, "zip64 locator") != kEnd64LocatorSig)
      throw pg::Error(label_, "zip64 locator", "ZIP64 values in the end record but no ZIP64 locator");
    const uint64_t rec = c.u64(eocd - 20 + 8, "zip64 locator");
    if (c.u32(rec, "zip64 end of central directory") != kEnd64Sig)
      throw pg::Error(label_, "zip64 end of central directory",
                      "bad signature at offset " + std::to_string(rec));
    count = c.u64(rec + 32, "zip64 end of central directory");
    cd_size = c.u64(rec + 40, "zip64 end of central directory");
    cd_offset = c.u64(rec + 48, "zip64 end of central directory");
  }
  c.need(cd_offset, cd_size, "central directory");
  // Each central record takes at least 46 bytes: a count larger than that
  // allows is corrupt (and must not drive a huge reservation).
  if (count > cd_size / 46)
    throw pg::Error(
        label_, "central directory",
        "declares " + std::to_string(count) + " entries in " + std::to_string(cd_size) + " bytes");
  entries_.reserve(count);
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string what = "central directory entry " + std::to_string(i);
    if (p + 46 > cd_end || c.u32(p, what) != kCentralSig)
      throw pg::Error(label_, what, "bad central directory record at offset " + std::to_string(p));
    ZipEntry e;
    e.method = c.u16(p + 10, what);
    e.crc32 = c.u32(p + 16, what);
    e.compressed_size = c.u32(p + 20, what);
    e.size = c.u32(p + 24, what);
    const uint16_t name_len = c.u16(p + 28, what), extra_len = c.u16(p + 30, what),
                   comment_len = c.u16(p + 32, what);
    e.local_header_offset = c.u32(p + 42, what);
    if (p + 46 + name_len + extra_len + comment_len > cd_end)
      throw pg::Error(label_, what, "record runs past the end of the central directory");
    e.name = b.substr(p + 46, name_len);
    // ZIP64 extended information: the 64-bit values of the fields saturated above, in order.
    uint64_t x = p + 46 + name_len;
    const uint64_t x_end = x + extra_len;
    while (x + 4 <= x_end) {
      const uint16_t id = c.u16(x, e.name), len = c.u16(x + 2, e.name);
      if (x + 4 + len > x_end) throw pg::Error(label_, e.name, "extra field runs past its record");
      if (id == 0x0001) {
        uint64_t q = x + 4;
        auto take = [&](uint64_t& field) {
          if (q + 8 > x + 4 + len) throw pg::Error(label_, e.name, "ZIP64 extra field too short");
          field = c.u64(q, e.name);
          q += 8;
        };
        if (e.size == 0xFFFFFFFF) take(e.size);
        if (e.compressed_size == 0xFFFFFFFF) take(e.compressed_size);
        if (e.local_header_offset == 0xFFFFFFFF) take(e.local_header_offset);
      }
      x += 4 + len;
    }
    entries_.push_back(std::move(e));
    p += 46 + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipReader::find(const std::string& name) const {
  for (const ZipEntry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::string ZipReader::read(const std::string& name) const {
  const ZipEntry* e = find(name);
  if (e == nullptr) throw pg::Error(label_, name, "no such entry in the zip archive");
  return read(*e);
}

std::string ZipReader::read(const ZipEntry& e) const {
  const std::string& b = *bytes_;
  Cursor c{b, label_};
  const uint64_t h = e.local_header_offset;
  if (c.u32(h, e.name) != kLocalSig)
    throw pg::Error(label_, e.name, "bad local header signature at offset " + std::to_string(h));
  const uint64_t data = h + 30 + c.u16(h + 26, e.name) + c.u16(h + 28, e.name);
  c.need(data, e.compressed_size, e.name);
  std::string out;
  if (e.method == 0) {
    if (e.compressed_size != e.size)
      throw pg::Error(label_, e.name,
                      "stored entry with compressed size " + std::to_string(e.compressed_size) + " != size " +
                          std::to_string(e.size));
    out = b.substr(data, e.size);
  } else if (e.method == 8) {
    // Deflate expands at most ~1032:1; a larger declared size is corrupt and
    // must not make us allocate it.
    if (e.size / 1032 > e.compressed_size + 1)
      throw pg::Error(label_, e.name,
                      "declared size " + std::to_string(e.size) + " impossible for " +
                          std::to_string(e.compressed_size) + " compressed bytes");
    out.resize(e.size);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw pg::Error(label_, e.name, "cannot initialise zlib");
    uint64_t in_left = e.compressed_size, out_done = 0;
    const char* in_ptr = b.data() + data;
    int rc = Z_OK;
    while (rc == Z_OK) {
      const uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      const uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(e.size - out_done, 1u << 30));
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in_ptr));
      zs.avail_in = in_chunk;
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + out_done);
      zs.avail_out = out_chunk;
      rc = inflate(&zs, Z_NO_FLUSH);
      in_ptr += in_chunk - zs.avail_in;
      in_left -= in_chunk - zs.avail_in;
      out_done += out_chunk - zs.avail_out;
      if (rc == Z_OK && in_chunk == zs.avail_in && out_chunk == zs.avail_out)
        rc = Z_BUF_ERROR;  // no progress
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || out_done != e.size)
      throw pg::Error(label_, e.name,
                      "corrupt deflate data (" + std::to_string(out_done) + " of " + std::to_string(e.size) +
                          " bytes inflated)");
  } else {
    throw pg::Error(label_, e.name, "unsupported zip compression method " + std::to_string(e.method));
  }
  // torch can be told to skip CRCs (then the field is 0); otherwise check it.
  uLong crc = 0;
  for (uint64_t done = 0; done < out.size();) {
    const uInt n = static_cast<uInt>(std::min<uint64_t>(out.size() - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out.data() + done), n);
    done += n;
  }
  if (e.crc32 != 0 && crc != e.crc32)
    throw pg::Error(label_, e.name, "CRC-32 mismatch: the entry is corrupt");
  return out;
}

}  // namespace pg::io
