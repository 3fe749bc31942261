#include "core/process.h"

#include <malloc.h>

#include <sys/resource.h>

namespace pg {

long long peak_rss_bytes() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<long long>(u.ru_maxrss) * 1024;  // Linux reports KiB
}

void configure_process() {
  // Buffers up to 256 MiB come from the heap; up to 512 MiB free at its top is kept.
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 512 << 20);
}

}  // namespace pg
