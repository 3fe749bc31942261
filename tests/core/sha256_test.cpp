#include "core/sha256.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "core/error.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

// What the system's sha256sum prints for a file (first field).
std::string system_sha256(const fs::path& p) {
  const auto r = pg::test::run_command("sha256sum '" + p.string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output.substr(0, r.output.find(' '));
}

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string hex_of(std::string_view msg, bool allow_hardware) {
  pg::Sha256 h(allow_hardware);
  h.update(msg);
  return h.hex();
}

}  // namespace

// FIPS 180-4 / NIST CAVP example vectors, through the portable code and,
// where the CPU has SHA instructions, through those.
TEST(Sha256, FipsVectors) {
  std::printf("SHA instructions available: %s\n", pg::Sha256::hardware_available() ? "yes" : "no");
  for (const bool hw : {false, true}) {
    SCOPED_TRACE(hw ? "hardware" : "portable");
    EXPECT_EQ(hex_of("", hw), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(hex_of("abc", hw), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hw),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(
        hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmn"
               "opqrsmnopqrstnopqrstu",
               hw),
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
    EXPECT_EQ(hex_of(std::string(1000000, 'a'), hw),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  }
}

TEST(Sha256, PortableAndHardwarePathsAgree) {
  for (const size_t n : {0u, 55u, 56u, 64u, 127u, 128u, 1000u, 65537u, 1000003u}) {
    const std::string msg = random_bytes(n, static_cast<uint32_t>(n + 11));
    EXPECT_EQ(hex_of(msg, false), hex_of(msg, true)) << n << " bytes";
  }
}

TEST(Sha256, StreamingInAnySplitEqualsOneShot) {
  const std::string msg = random_bytes(10007, 7);
  const std::string whole = pg::sha256_hex(msg);
  std::mt19937 rng(3);
  for (int trial = 0; trial < 20; ++trial) {
    pg::Sha256 h;
    size_t pos = 0;
    while (pos < msg.size()) {
      const size_t n = std::min<size_t>(msg.size() - pos, rng() % 150);
      h.update(std::string_view(msg).substr(pos, n));
      pos += n;
    }
    EXPECT_EQ(h.hex(), whole);
  }
  // hex() does not finalise: feeding more afterwards continues the same stream.
  pg::Sha256 h;
  h.update("ab");
  EXPECT_EQ(h.hex(), pg::sha256_hex("ab"));
  h.update("c");
  EXPECT_EQ(h.hex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

// Lengths around the padding boundaries (55/56 bytes leave no room for the
// length field) against the system tool.
TEST(Sha256, FilesMatchSha256sum) {
  const auto dir = pg::test::temp_dir();
  for (const size_t n : {0u, 1u, 55u, 56u, 57u, 63u, 64u, 65u, 119u, 120u, 128u, 1048577u, 3000001u}) {
    const fs::path p = dir / ("f" + std::to_string(n));
    std::ofstream(p, std::ios::binary) << random_bytes(n, static_cast<uint32_t>(n));
    EXPECT_EQ(pg::sha256_file(p), system_sha256(p)) << n << " bytes";
  }
  const fs::path mapping = pg::test::source_dir() / "resources" / "gc95M" / "ensembl_mapping.tsv";
  EXPECT_EQ(pg::sha256_file(mapping), system_sha256(mapping));
}

TEST(Sha256, MissingFileIsAnErrorNamingIt) {
  const auto dir = pg::test::temp_dir();
  const std::string msg = pg::test::error_of([&] { pg::sha256_file(dir / "nope.tsv"); });
  EXPECT_NE(msg.find("nope.tsv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("cannot open"), std::string::npos) << msg;
}
