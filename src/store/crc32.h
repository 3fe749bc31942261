// CRC-32 (the IEEE/zlib polynomial), computed incrementally while shards are
// written and again by TokenStore::verify(). The zlib variant is chosen so a
// reader can check a shard from Python with zlib.crc32 alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pg::store {

class Crc32 {
 public:
  void update(const void* data, size_t size);
  uint32_t value() const { return ~state_; }
  // Eight lowercase hex digits, as meta.json records it.
  std::string hex() const;

 private:
  uint32_t state_ = 0xFFFFFFFFu;
};

std::string crc32_hex(uint32_t value);

}  // namespace pg::store
