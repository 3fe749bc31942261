#include "store/file_sink.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "core/error.h"

namespace pg::store {

namespace {

constexpr size_t kBufferSize = size_t{1} << 20;

}  // namespace

FileSink::FileSink(std::filesystem::path path) : path_(std::move(path)) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw Error(path_.string(), "", std::string("cannot create: ") + std::strerror(errno));
  buffer_.reserve(kBufferSize);
}

FileSink::~FileSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileSink::write_raw(const void* data, size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(path_.string(), "",
                  "cannot write " + std::to_string(size) + " bytes: " + std::strerror(errno));
    }
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void FileSink::flush_buffer() {
  write_raw(buffer_.data(), buffer_.size());
  buffer_.clear();
}

void FileSink::write(const void* data, size_t size) {
  if (size == 0) return;
  crc_.update(data, size);
  offset_ += size;
  const auto* p = static_cast<const unsigned char*>(data);
  if (buffer_.size() + size <= kBufferSize) {
    buffer_.insert(buffer_.end(), p, p + size);
    return;
  }
  flush_buffer();
  // Large sections go straight to the file rather than being copied.
  if (size >= kBufferSize / 2) {
    write_raw(p, size);
  } else {
    buffer_.insert(buffer_.end(), p, p + size);
  }
}

void FileSink::pad_to(uint64_t alignment) {
  static const unsigned char zeros[64] = {};
  uint64_t pad = (alignment - offset_ % alignment) % alignment;
  while (pad > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(pad, sizeof zeros));
    write(zeros, n);
    pad -= n;
  }
}

void FileSink::finish() {
  flush_buffer();
  if (::fsync(fd_) != 0)
    throw Error(path_.string(), "", std::string("cannot fsync: ") + std::strerror(errno));
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw Error(path_.string(), "", std::string("cannot close: ") + std::strerror(errno));
}

void fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    throw Error(dir.string(), "", std::string("cannot open directory to fsync: ") + std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) throw Error(dir.string(), "", std::string("cannot fsync directory: ") + std::strerror(err));
}

void rename_file(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (std::rename(from.c_str(), to.c_str()) != 0)
    throw Error(to.string(), "", "cannot rename '" + from.string() + "' into place: " + std::strerror(errno));
}

}  // namespace pg::store
