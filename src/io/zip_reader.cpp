#include "io/zip_reader.h"

#include <zlib.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "core/error.h"

namespace pg::io {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEndSig = 0x06054b50;
constexpr uint32_t kEnd64Sig = 0x06064b50;
constexpr uint32_t kEnd64LocatorSig = 0x07064b50;

}  // namespace

// Where the archive's bytes are: a string in memory, or a file read with
// pread (positioned reads: no shared file offset, no page-cache pages in
// our resident set beyond what the caller keeps).
class ZipReader::Source {
 public:
  struct InMemory {};
  struct FromFile {};
  Source(InMemory, std::string bytes) : bytes_(std::move(bytes)), size_(bytes_.size()) {}
  Source(FromFile, const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0)
      throw pg::Error(path, "", std::string("cannot open the file for reading: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      throw pg::Error(path, "", "is not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    path_ = path;
  }
  ~Source() {
    if (fd_ >= 0) ::close(fd_);
  }
  Source(const Source&) = delete;
  Source& operator=(const Source&) = delete;

  uint64_t size() const { return size_; }
  // Copies [offset, offset + n) into `out`; the caller has checked the bounds.
  void read(uint64_t offset, uint64_t n, char* out) const {
    if (fd_ < 0) {
      std::memcpy(out, bytes_.data() + offset, n);
      return;
    }
    while (n > 0) {
      const ssize_t got = ::pread(fd_, out, std::min<uint64_t>(n, 1u << 30), static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0)
        throw pg::Error(path_, "",
                        got < 0 ? std::string("read error: ") + std::strerror(errno)
                                : std::string("the file shrank while being read"));
      out += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<uint64_t>(got);
    }
  }

 private:
  std::string bytes_;
  int fd_ = -1;
  uint64_t size_ = 0;
  std::string path_;
};

namespace {

// Bounds-checked little-endian reads from a window [base, base + bytes.size())
// of an archive of `total` bytes (the end records or the central directory).
struct Cursor {
  const std::string& bytes;
  uint64_t base;
  uint64_t total;
  const std::string& label;

  void need(uint64_t offset, uint64_t n, const std::string& what) const {
    if (offset > total || n > total - offset)
      throw pg::Error(label, what,
                      "truncated or corrupt zip archive: " + std::to_string(n) + " bytes at offset " +
                          std::to_string(offset) + " lie outside the " + std::to_string(total) +
                          "-byte file");
    if (offset < base || offset - base + n > bytes.size())
      throw pg::Error(label, what, "corrupt zip archive: a record points outside its directory");
  }
  uint64_t le(uint64_t offset, int n, const std::string& what) const {
    need(offset, static_cast<uint64_t>(n), what);
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i)
      v = (v << 8) | static_cast<unsigned char>(bytes[offset - base + static_cast<uint64_t>(i)]);
    return v;
  }
  uint16_t u16(uint64_t o, const std::string& w) const { return static_cast<uint16_t>(le(o, 2, w)); }
  uint32_t u32(uint64_t o, const std::string& w) const { return static_cast<uint32_t>(le(o, 4, w)); }
  uint64_t u64(uint64_t o, const std::string& w) const { return le(o, 8, w); }
  std::string text(uint64_t o, uint64_t n, const std::string& w) const {
    need(o, n, w);
    return bytes.substr(o - base, n);
  }
};

// The bytes [offset, offset + n) of the archive, bounds-checked.
std::string window(const auto& source, uint64_t offset, uint64_t n, const std::string& label,
                   const std::string& what) {
  if (offset > source.size() || n > source.size() - offset)
    throw pg::Error(label, what,
                    "truncated or corrupt zip archive: " + std::to_string(n) + " bytes at offset " +
                        std::to_string(offset) + " lie outside the " + std::to_string(source.size()) +
                        "-byte file");
  std::string out(n, '\0');
  source.read(offset, n, out.data());
  return out;
}

}  // namespace

ZipReader ZipReader::open(const std::string& path) {
  ZipReader z;
  z.label_ = path;
  z.source_ = std::make_shared<const Source>(Source::FromFile{}, path);
  z.parse();
  return z;
}

ZipReader ZipReader::from_bytes(std::string label, std::string bytes) {
  ZipReader z;
  z.label_ = std::move(label);
  z.source_ = std::make_shared<const Source>(Source::InMemory{}, std::move(bytes));
  z.parse();
  return z;
}

uint64_t ZipReader::size() const {
  return source_->size();
}

void ZipReader::parse() {
  const Source& src = *source_;
  const uint64_t total = src.size();
  // The end-of-central-directory record is the last 22 bytes plus a comment of
  // at most 65535 bytes (+ 20 for a ZIP64 locator): read that tail and search
  // it backwards for the record's signature.
  if (total < 22)
    throw pg::Error(label_, "end of central directory",
                    "not a zip archive: file has only " + std::to_string(total) + " bytes");
  const uint64_t tail_start = total > 22 + 65535 + 20 ? total - 22 - 65535 - 20 : 0;
  const std::string tail = window(src, tail_start, total - tail_start, label_, "end of central directory");
  Cursor c{tail, tail_start, total, label_};
  uint64_t eocd = std::numeric_limits<uint64_t>::max();
  const uint64_t lowest = total > 22 + 65535 ? total - 22 - 65535 : 0;
  for (uint64_t p = total - 22 + 1; p-- > lowest;) {
    if (c.u32(p, "end of central directory") == kEndSig &&
        p + 22 + c.u16(p + 20, "end of central directory") == total) {
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
    if (eocd < 20 || eocd - 20 < tail_start || c.u32(eocd - 20, "zip64 locator") != kEnd64LocatorSig)
      throw pg::Error(label_, "zip64 locator", "ZIP64 values in the end record but no ZIP64 locator");
    const uint64_t rec = c.u64(eocd - 20 + 8, "zip64 locator");
    const std::string r64 = window(src, rec, 56, label_, "zip64 end of central directory");
    Cursor c64{r64, rec, total, label_};
    if (c64.u32(rec, "zip64 end of central directory") != kEnd64Sig)
      throw pg::Error(label_, "zip64 end of central directory",
                      "bad signature at offset " + std::to_string(rec));
    count = c64.u64(rec + 32, "zip64 end of central directory");
    cd_size = c64.u64(rec + 40, "zip64 end of central directory");
    cd_offset = c64.u64(rec + 48, "zip64 end of central directory");
  }
  // Each central record takes at least 46 bytes: a count larger than that
  // allows is corrupt (and must not drive a huge reservation).
  if (count > cd_size / 46)
    throw pg::Error(
        label_, "central directory",
        "declares " + std::to_string(count) + " entries in " + std::to_string(cd_size) + " bytes");
  const std::string cd = window(src, cd_offset, cd_size, label_, "central directory");
  Cursor cc{cd, cd_offset, total, label_};
  entries_.reserve(count);
  uint64_t p = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < count; ++i) {
    const std::string what = "central directory entry " + std::to_string(i);
    if (p + 46 > cd_end || cc.u32(p, what) != kCentralSig)
      throw pg::Error(label_, what, "bad central directory record at offset " + std::to_string(p));
    ZipEntry e;
    e.method = cc.u16(p + 10, what);
    e.crc32 = cc.u32(p + 16, what);
    e.compressed_size = cc.u32(p + 20, what);
    e.size = cc.u32(p + 24, what);
    const uint16_t name_len = cc.u16(p + 28, what), extra_len = cc.u16(p + 30, what),
                   comment_len = cc.u16(p + 32, what);
    e.local_header_offset = cc.u32(p + 42, what);
    if (p + 46 + name_len + extra_len + comment_len > cd_end)
      throw pg::Error(label_, what, "record runs past the end of the central directory");
    e.name = cc.text(p + 46, name_len, what);
    // ZIP64 extended information: the 64-bit values of the fields saturated above, in order.
    uint64_t x = p + 46 + name_len;
    const uint64_t x_end = x + extra_len;
    while (x + 4 <= x_end) {
      const uint16_t id = cc.u16(x, e.name), len = cc.u16(x + 2, e.name);
      if (x + 4 + len > x_end) throw pg::Error(label_, e.name, "extra field runs past its record");
      if (id == 0x0001) {
        uint64_t q = x + 4;
        auto take = [&](uint64_t& field) {
          if (q + 8 > x + 4 + len) throw pg::Error(label_, e.name, "ZIP64 extra field too short");
          field = cc.u64(q, e.name);
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
  // The declared size is checked against the archive before it is allocated.
  const uint64_t limit = e.method == 8 ? (e.compressed_size + 1) * 1032 : e.compressed_size;
  if (e.size > limit || e.compressed_size > source_->size())
    throw pg::Error(label_, e.name,
                    "declared size " + std::to_string(e.size) + " impossible for " +
                        std::to_string(e.compressed_size) + " compressed bytes in a " +
                        std::to_string(source_->size()) + "-byte file");
  std::string out(e.size, '\0');
  read_into(e, out.data(), out.size());
  return out;
}

void ZipReader::read_into(const ZipEntry& e, char* out, uint64_t out_size) const {
  const Source& src = *source_;
  const uint64_t h = e.local_header_offset;
  // The signature first, so that an offset pointing nowhere is reported as such.
  const std::string signature = window(src, h, 4, label_, e.name);
  if (Cursor{signature, h, src.size(), label_}.u32(h, e.name) != kLocalSig)
    throw pg::Error(label_, e.name, "bad local header signature at offset " + std::to_string(h));
  const std::string header = window(src, h, 30, label_, e.name);
  Cursor c{header, h, src.size(), label_};
  if (c.u32(h, e.name) != kLocalSig)
    throw pg::Error(label_, e.name, "bad local header signature at offset " + std::to_string(h));
  const uint64_t data = h + 30 + c.u16(h + 26, e.name) + c.u16(h + 28, e.name);
  if (data > src.size() || e.compressed_size > src.size() - data)
    throw pg::Error(label_, e.name,
                    "truncated or corrupt zip archive: " + std::to_string(e.compressed_size) +
                        " bytes at offset " + std::to_string(data) + " lie outside the " +
                        std::to_string(src.size()) + "-byte file");
  if (out_size != e.size)
    throw pg::Error(label_, e.name,
                    "holds " + std::to_string(e.size) + " bytes, expected " + std::to_string(out_size));
  if (e.method == 0) {
    if (e.compressed_size != e.size)
      throw pg::Error(label_, e.name,
                      "stored entry with compressed size " + std::to_string(e.compressed_size) + " != size " +
                          std::to_string(e.size));
    src.read(data, e.size, out);
  } else if (e.method == 8) {
    // Deflate expands at most ~1032:1; a larger declared size is corrupt.
    if (e.size / 1032 > e.compressed_size + 1)
      throw pg::Error(label_, e.name,
                      "declared size " + std::to_string(e.size) + " impossible for " +
                          std::to_string(e.compressed_size) + " compressed bytes");
    const std::string in = window(src, data, e.compressed_size, label_, e.name);
    z_stream zs{};
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) throw pg::Error(label_, e.name, "cannot initialise zlib");
    uint64_t in_left = e.compressed_size, out_done = 0;
    const char* in_ptr = in.data();
    int rc = Z_OK;
    while (rc == Z_OK) {
      const uInt in_chunk = static_cast<uInt>(std::min<uint64_t>(in_left, 1u << 30));
      const uInt out_chunk = static_cast<uInt>(std::min<uint64_t>(e.size - out_done, 1u << 30));
      zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in_ptr));
      zs.avail_in = in_chunk;
      zs.next_out = reinterpret_cast<Bytef*>(out + out_done);
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
  for (uint64_t done = 0; done < e.size;) {
    const uInt n = static_cast<uInt>(std::min<uint64_t>(e.size - done, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(out + done), n);
    done += n;
  }
  if (e.crc32 != 0 && crc != e.crc32)
    throw pg::Error(label_, e.name, "CRC-32 mismatch: the entry is corrupt");
}

}  // namespace pg::io
