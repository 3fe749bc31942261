#include "io/gzip.h"

#include <fcntl.h>
#include <isa-l/igzip_lib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#include "core/error.h"

namespace pg::io {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

void check_readable(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw Error(path, "", "no such file");
  if (std::filesystem::is_directory(path, ec)) throw Error(path, "", "is a directory, expected a file");
}

File open_or_throw(const std::string& path, const char* mode) {
  if (mode[0] == 'r') check_readable(path);
  File f(std::fopen(path.c_str(), mode));
  if (!f) throw Error(path, "", std::string("cannot open: ") + std::strerror(errno));
  return f;
}

// Inflates the gzip members of a buffer one after another (bgzip and
// `cat a.gz b.gz` produce several) into whatever output the caller offers.
class Inflater {
 public:
  Inflater(std::string_view gz, const std::string& path) : rest_(gz), path_(path) { start_member(); }

  // Writes up to `n` (> 0) bytes of text at `out` and returns how many; 0
  // only at the end of the last member (bytes after it that do not start
  // another member are ignored, as gzip does).
  size_t read(char* out, size_t n) {
    size_t produced = 0;
    while (produced < n && !end_) {
      if (s_->avail_in == 0 && !rest_.empty()) {  // avail_in is 32-bit: feed at most 1 GiB at a time
        const size_t chunk = std::min<size_t>(rest_.size(), 1u << 30);
        s_->next_in = reinterpret_cast<uint8_t*>(const_cast<char*>(rest_.data()));
        s_->avail_in = static_cast<uint32_t>(chunk);
        rest_.remove_prefix(chunk);
      }
      const auto room = static_cast<uint32_t>(std::min<size_t>(n - produced, 1u << 30));
      s_->next_out = reinterpret_cast<uint8_t*>(out + produced);
      s_->avail_out = room;
      const uint32_t avail_in = s_->avail_in;
      const int rc = isal_inflate(s_.get());
      produced += room - s_->avail_out;
      if (rc < 0) throw Error(path_, "", std::string("corrupt gzip data: ") + describe(rc));
      stalls_ = s_->avail_out == room && s_->avail_in == avail_in ? stalls_ + 1 : 0;
      if (s_->block_state == ISAL_BLOCK_FINISH) {
        // Input handed to ISA-L but not used belongs to what follows the member.
        rest_ = std::string_view(reinterpret_cast<const char*>(s_->next_in), s_->avail_in + rest_.size());
        if (has_gzip_magic(rest_)) {
          start_member();
        } else {
          end_ = true;
        }
      } else if (s_->avail_out > 0 && s_->avail_in == 0 && rest_.empty()) {
        throw Error(path_, "", "truncated gzip file (compressed data ends early)");
      } else if (stalls_ > 16) {  // a guard: ISA-L errs on bad data rather than stopping
        throw Error(path_, "", "corrupt gzip data: inflate makes no progress");
      }
    }
    return produced;
  }

 private:
  void start_member() {
    isal_inflate_init(s_.get());
    s_->crc_flag = ISAL_GZIP;
  }
  static const char* describe(int rc) {
    switch (rc) {
      case ISAL_INVALID_BLOCK:
        return "invalid deflate block";
      case ISAL_INVALID_SYMBOL:
        return "invalid deflate code";
      case ISAL_INVALID_LOOKBACK:
        return "invalid distance too far back";
      case ISAL_INVALID_WRAPPER:
        return "invalid gzip header";
      case ISAL_UNSUPPORTED_METHOD:
        return "unknown compression method";
      case ISAL_INCORRECT_CHECKSUM:
        return "incorrect data check (CRC or length)";
      default:
        return "ISA-L inflate error";
    }
  }

  std::unique_ptr<inflate_state> s_ = std::make_unique<inflate_state>();
  std::string_view rest_;  // input not yet handed to ISA-L
  const std::string& path_;
  bool end_ = false;
  int stalls_ = 0;  // calls in a row that neither read nor wrote
};

// The whole text of the gzip data `gz`, in a buffer sized from the trailer
// (capped by deflate's maximum ratio, so that a corrupt trailer cannot make
// us allocate gigabytes) and doubled when it does not fit.
ByteBuffer gunzip(std::string_view gz, const std::string& path) {
  Inflater inflater(gz, path);
  const size_t guess = gzip_size_guess(gz);
  ByteBuffer out(guess >= gz.size() / 2 ? std::min(guess, gz.size() * 1032) + 1 : gz.size() * 4);
  size_t produced = 0;
  while (true) {
    produced += inflater.read(out.data() + produced, out.size() - produced);
    if (produced < out.size()) break;
    ByteBuffer bigger(out.size() * 2);
    std::memcpy(bigger.data(), out.data(), produced);
    out = std::move(bigger);
  }
  out.shrink(produced);
  return out;
}

}  // namespace

void ByteBuffer::Release::operator()(char* p) const {
  if (mapped > 0) {
    ::munmap(p, mapped);
  } else {
    delete[] p;
  }
}

ByteBuffer read_file_bytes(const std::string& path) {
  check_readable(path);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error(path, "", std::string("cannot open: ") + std::strerror(errno));
  ByteBuffer raw;
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
    const auto size = static_cast<size_t>(st.st_size);
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (p != MAP_FAILED) raw = ByteBuffer(static_cast<char*>(p), size);
  }
  if (raw.data() == nullptr) {
    std::string bytes;
    char buf[1 << 16];
    ssize_t n = 0;
    while ((n = ::read(fd, buf, sizeof(buf))) != 0) {
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        throw Error(path, "", std::string("read error: ") + std::strerror(err));
      }
      bytes.append(buf, static_cast<size_t>(n));
    }
    raw = ByteBuffer(bytes.size());
    if (!bytes.empty()) std::memcpy(raw.data(), bytes.data(), bytes.size());
  }
  ::close(fd);
  return raw;
}

bool has_gzip_magic(std::string_view bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

bool is_gzip_file(const std::string& path) {
  File f = open_or_throw(path, "rb");
  unsigned char magic[2] = {0, 0};
  const size_t n = std::fread(magic, 1, 2, f.get());
  return n == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

ByteBuffer read_maybe_gzip_bytes(const std::string& path) {
  ByteBuffer raw = read_file_bytes(path);
  return has_gzip_magic(raw.view()) ? gunzip(raw.view(), path) : std::move(raw);
}

std::string read_maybe_gzip(const std::string& path) {
  return std::string(read_maybe_gzip_bytes(path).view());
}

size_t gzip_size_guess(std::string_view gz) {
  if (gz.size() < 4) return 0;
  uint32_t isize = 0;
  std::memcpy(&isize, gz.data() + gz.size() - 4, 4);
  return isize;
}

void gunzip_lines(std::string_view gz, const std::string& path,
                  const std::function<void(std::string_view lines)>& consume) {
  // A few buffers circulate between the threads: the decompressor fills a
  // free one, cuts it after its last newline (the partial line moves on to
  // the next buffer) and queues it; the caller consumes and frees it.
  constexpr size_t kPiece = 1u << 20;
  constexpr size_t kBuffers = 4;
  struct Piece {
    ByteBuffer buf{kPiece};
    size_t size = 0;  // bytes of whole lines
  };
  std::vector<Piece> pieces(kBuffers);
  std::deque<Piece*> idle, queued;
  for (Piece& p : pieces) idle.push_back(&p);
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;     // the decompressor has queued its last piece
  bool stopped = false;  // the consumer gave up
  std::exception_ptr error;

  auto decompress = [&] {
    try {
      Inflater inflater(gz, path);
      std::string carry;  // a partial line from the previous piece
      for (bool end = false; !end;) {
        Piece* p = nullptr;
        {
          std::unique_lock lock(mu);
          cv.wait(lock, [&] { return stopped || !idle.empty(); });
          if (stopped) return;
          p = idle.front();
          idle.pop_front();
        }
        if (p->buf.size() < carry.size() + kPiece) p->buf = ByteBuffer(carry.size() + kPiece);
        std::memcpy(p->buf.data(), carry.data(), carry.size());
        size_t filled = carry.size();
        size_t cut = 0;
        while (true) {
          const size_t n = inflater.read(p->buf.data() + filled, p->buf.size() - filled);
          filled += n;
          end = n == 0;
          const std::string_view text(p->buf.data(), filled);
          cut = end ? filled : text.rfind('\n') + 1;  // npos + 1 == 0: no newline yet
          if (end || cut > 0) break;
          ByteBuffer bigger(p->buf.size() * 2);  // a line longer than the buffer
          std::memcpy(bigger.data(), p->buf.data(), filled);
          p->buf = std::move(bigger);
        }
        carry.assign(p->buf.data() + cut, filled - cut);
        p->size = cut;
        std::lock_guard lock(mu);
        queued.push_back(p);
        cv.notify_all();
      }
    } catch (...) {
      std::lock_guard lock(mu);
      error = std::current_exception();
    }
    std::lock_guard lock(mu);
    done = true;
    cv.notify_all();
  };
  std::thread decompressor;
  try {
    decompressor = std::thread(decompress);
  } catch (const std::system_error&) {  // no second thread: decompress first, then consume
    consume(gunzip(gz, path).view());
    return;
  }

  try {
    while (true) {
      Piece* p = nullptr;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return done || !queued.empty(); });
        if (queued.empty()) break;
        p = queued.front();
        queued.pop_front();
      }
      if (p->size > 0) consume(std::string_view(p->buf.data(), p->size));
      std::lock_guard lock(mu);
      idle.push_back(p);
      cv.notify_all();
    }
  } catch (...) {
    {
      std::lock_guard lock(mu);
      stopped = true;
      cv.notify_all();
    }
    decompressor.join();
    throw;
  }
  decompressor.join();
  if (error) std::rethrow_exception(error);
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
