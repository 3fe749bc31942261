// SHA-256 (FIPS 180-4), small and dependency-free. Used to pin the gene
// dictionaries (resources/*/SHA256SUMS) and to fingerprint vocabularies, so a
// store or model trained with one vocabulary is never read with another.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace pg {

class Sha256 {
 public:
  // Uses the CPU's SHA instructions when present unless allow_hardware is
  // false (tests compare both paths); the result is the same either way.
  explicit Sha256(bool allow_hardware = true);
  static bool hardware_available();

  // Feeds more bytes; may be called any number of times with any split.
  void update(const void* data, size_t size);
  void update(std::string_view bytes) { update(bytes.data(), bytes.size()); }

  // The digest of everything fed so far. Does not change the state, so more
  // bytes can still be fed and asked for again.
  std::array<uint8_t, 32> digest() const;
  // The digest as 64 lower-case hex digits, as `sha256sum` prints it.
  std::string hex() const;

 private:
  void compress(const uint8_t* blocks, size_t n_blocks);

  std::array<uint32_t, 8> state_;
  bool hardware_ = false;
  std::array<uint8_t, 64> buffer_{};
  size_t buffered_ = 0;       // bytes waiting in buffer_
  uint64_t total_bytes_ = 0;  // message length so far
};

// Hex SHA-256 of a byte string.
std::string sha256_hex(std::string_view bytes);

// Hex SHA-256 of a file's bytes, read in blocks. Throws pg::Error naming the
// file when it cannot be opened or read.
std::string sha256_file(const std::filesystem::path& path);

}  // namespace pg
