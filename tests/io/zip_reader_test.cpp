// The read-only zip reader: archives written by Python's zipfile (stored and
// deflated), a ZIP64 archive built here byte by byte and cross-checked with
// Python, and damaged archives that must give one-line errors.
#include "io/zip_reader.h"

#include <zlib.h>

#include <fstream>

#include "test_support.h"

namespace {

using pg::io::ZipReader;
using pg::test::error_of;

// Little-endian field writers for hand-built archives.
void put(std::string& b, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) b.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

// A one-entry stored archive in ZIP64 form: the sizes and offsets of the
// central record and the end record are saturated and given in ZIP64 fields.
std::string zip64_archive(const std::string& name, const std::string& data) {
  const auto crc = crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size()));
  std::string b;
  put(b, 0x04034b50, 4);
  put(b, 45, 2);
  put(b, 0, 2);
  put(b, 0, 2);  // stored
  put(b, 0, 4);  // time, date
  put(b, crc, 4);
  put(b, 0xFFFFFFFF, 4);
  put(b, 0xFFFFFFFF, 4);
  put(b, name.size(), 2);
  put(b, 20, 2);
  b += name;
  put(b, 1, 2);
  put(b, 16, 2);
  put(b, data.size(), 8);
  put(b, data.size(), 8);
  b += data;
  const uint64_t cd = b.size();
  put(b, 0x02014b50, 4);
  put(b, 45, 2);
  put(b, 45, 2);
  put(b, 0, 2);
  put(b, 0, 2);
  put(b, 0, 4);
  put(b, crc, 4);
  put(b, 0xFFFFFFFF, 4);
  put(b, 0xFFFFFFFF, 4);
  put(b, name.size(), 2);
  put(b, 28, 2);
  put(b, 0, 2);  // comment
  put(b, 0, 2);  // disk
  put(b, 0, 2);
  put(b, 0, 4);
  put(b, 0xFFFFFFFF, 4);  // local header offset -> ZIP64 field
  b += name;
  put(b, 1, 2);
  put(b, 24, 2);
  put(b, data.size(), 8);
  put(b, data.size(), 8);
  put(b, 0, 8);
  const uint64_t cd_size = b.size() - cd;
  const uint64_t end64 = b.size();
  put(b, 0x06064b50, 4);
  put(b, 44, 8);
  put(b, 45, 2);
  put(b, 45, 2);
  put(b, 0, 4);
  put(b, 0, 4);
  put(b, 1, 8);
  put(b, 1, 8);
  put(b, cd_size, 8);
  put(b, cd, 8);
  put(b, 0x07064b50, 4);
  put(b, 0, 4);
  put(b, end64, 8);
  put(b, 1, 4);
  put(b, 0x06054b50, 4);
  put(b, 0, 4);
  put(b, 0xFFFF, 2);
  put(b, 0xFFFF, 2);
  put(b, 0xFFFFFFFF, 4);
  put(b, 0xFFFFFFFF, 4);
  put(b, 0, 2);
  return b;
}

// Python writes a stored and a deflated entry; returns the archive bytes.
std::string python_zip(const std::filesystem::path& dir) {
  const auto script = dir / "make.py";
  std::ofstream(script) << "import sys, zipfile\n"
                           "with zipfile.ZipFile(sys.argv[1], 'w') as z:\n"
                           "    z.writestr('a/stored.bin', bytes(range(256)) * 3, zipfile.ZIP_STORED)\n"
                           "    z.writestr('a/deflated.txt', 'hello zip ' * 500, zipfile.ZIP_DEFLATED)\n"
                           "    z.writestr('a/empty', b'')\n";
  const auto r =
      pg::test::run_command(pg::test::python() + " " + script.string() + " " + (dir / "p.zip").string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return pg::test::read_text(dir / "p.zip");
}

std::string stored_payload() {
  std::string s;
  for (int k = 0; k < 3; ++k)
    for (int i = 0; i < 256; ++i) s.push_back(static_cast<char>(i));
  return s;
}

std::string repeat(const std::string& x, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += x;
  return s;
}

TEST(ZipReader, ReadsStoredAndDeflatedEntriesWrittenByPython) {
  const auto dir = pg::test::temp_dir();
  python_zip(dir);
  const ZipReader z = ZipReader::open((dir / "p.zip").string());
  ASSERT_EQ(z.entries().size(), 3u);
  EXPECT_EQ(z.entries()[1].name, "a/deflated.txt");
  EXPECT_EQ(z.entries()[1].method, 8);
  EXPECT_EQ(z.read("a/stored.bin"), stored_payload());
  EXPECT_EQ(z.read("a/deflated.txt"), repeat("hello zip ", 500));
  EXPECT_EQ(z.read("a/empty"), "");
  EXPECT_EQ(z.find("nope"), nullptr);
  EXPECT_EQ(error_of([&] { z.read("nope"); }),
            (dir / "p.zip").string() + ": nope: no such entry in the zip archive");
}

TEST(ZipReader, ReadsZip64) {
  const auto dir = pg::test::temp_dir();
  const std::string path = (dir / "z64.zip").string();
  std::ofstream(path, std::ios::binary) << zip64_archive("arc/data.pkl", "zip64 payload");
  // Python's zipfile agrees that this is a valid ZIP64 archive with that content.
  const auto r = pg::test::run_command(pg::test::python() + " -c \"import zipfile; z = zipfile.ZipFile('" +
                                       path + "'); print(z.read('arc/data.pkl').decode(), z.testzip())\"");
  EXPECT_EQ(r.output, "zip64 payload None\n");
  const ZipReader z = ZipReader::open(path);
  ASSERT_EQ(z.entries().size(), 1u);
  EXPECT_EQ(z.entries()[0].size, 13u);
  EXPECT_EQ(z.read("arc/data.pkl"), "zip64 payload");
}

TEST(ZipReader, DamagedArchivesAreOneLineErrors) {
  const auto dir = pg::test::temp_dir();
  const std::string good = python_zip(dir);
  auto error_for = [&](const std::string& bytes) {
    return error_of([&] {
      const ZipReader z = ZipReader::from_bytes("bad.zip", bytes);
      for (const auto& e : z.entries()) z.read(e);
    });
  };
  // Every truncation fails cleanly (the end record is at the very end).
  for (size_t n = 0; n < good.size(); n += 7)
    EXPECT_EQ(error_for(good.substr(0, n)).rfind("bad.zip: ", 0), 0u) << n;
  const size_t cd = good.rfind("PK\x01\x02", std::string::npos, 4);  // last central record (a/empty)
  ASSERT_NE(cd, std::string::npos);
  {  // Bad central directory signature.
    std::string b = good;
    b[cd + 1] = 'X';
    EXPECT_EQ(error_for(b), "bad.zip: central directory entry 2: bad central directory record at offset " +
                                std::to_string(cd));
  }
  {  // An entry whose local header lies outside the file.
    std::string b = good;
    b[cd + 42] = '\xff';
    b[cd + 43] = '\xff';
    b[cd + 44] = '\xff';
    b[cd + 45] = '\x7f';
    EXPECT_EQ(error_for(b),
              "bad.zip: a/empty: truncated or corrupt zip archive: 4 bytes at offset 2147483647 lie "
              "outside the " +
                  std::to_string(good.size()) + "-byte file");
  }
  {  // A flipped data byte breaks the CRC.
    std::string b = good;
    const size_t data = good.find(std::string("a/stored.bin")) + 12;
    b[data + 10] ^= 1;
    EXPECT_EQ(error_for(b), "bad.zip: a/stored.bin: CRC-32 mismatch: the entry is corrupt");
  }
  {  // Corrupt deflate stream.
    std::string b = good;
    const size_t data = good.find(std::string("a/deflated.txt")) + 14;
    for (size_t i = 0; i < 8; ++i) b[data + i] = '\xff';
    EXPECT_NE(error_for(b).find("bad.zip: a/deflated.txt: "), std::string::npos);
  }
  {  // A central directory declaring more entries than it can hold.
    std::string b = good;
    const size_t end = good.size() - 22;
    b[end + 10] = '\xff';
    b[end + 11] = '\x7f';
    EXPECT_NE(error_for(b).find("bad.zip: central directory: declares 32767 entries"), std::string::npos);
  }
  EXPECT_EQ(error_for("hello"),
            "bad.zip: end of central directory: not a zip archive: file has only 5 bytes");
}

}  // namespace
