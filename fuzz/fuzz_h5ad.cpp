// libFuzzer target: arbitrary bytes as an .h5ad file. The reader must either
// return a valid CellMatrix or throw pg::Error: no crash, no hang, no leak.
// The bytes live in an in-memory file (memfd), opened through its /proc path,
// so the real path-based reader and HDF5's own file driver are exercised.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <string>

#include "core/error.h"
#include "io/formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memfd_create("fuzz.h5ad", 0);
  if (fd < 0) return 0;
  size_t written = 0;
  while (written < size) {
    const ssize_t n = write(fd, data + written, size - written);
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const std::string path = "/proc/self/fd/" + std::to_string(fd);
  try {
    const pg::io::CellMatrix m = pg::io::read_h5ad(path);
    pg::io::validate(m.X, path, "X");  // what the reader returned must be consistent
  } catch (const pg::Error&) {
    // Rejected with a clear error: the expected outcome for broken input.
  }
  close(fd);
  return 0;
}
