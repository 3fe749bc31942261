// A read-only memory map of a whole file. Large stores are read by mapping
// them rather than by reading them: opening costs nothing per byte, pages come
// in only when touched, and the kernel shares them between processes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

namespace pg {

class MappedFile {
 public:
  MappedFile() = default;
  // Maps `path` read-only. Throws pg::Error naming the file when it cannot be
  // opened, is not a regular file, or cannot be mapped. An empty file maps to
  // an empty span (mmap refuses length 0).
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();

  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

  // Access-pattern hints for the kernel's read-ahead (training reads cells at
  // random; verification reads them in order). Failures are ignored: hints.
  void advise_random() const;
  void advise_sequential() const;

 private:
  void release() noexcept;

  std::filesystem::path path_;
  const std::byte* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pg
