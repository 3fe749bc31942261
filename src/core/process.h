// Process-wide settings that every perturbgen program applies once at start.
#pragma once

namespace pg {

// Keeps freed large buffers (matrices, decompressed text) in the heap for the
// next read instead of returning them to the kernel: repeated reads (row
// ranges of a large corpus, batches) then reuse memory rather than paying a
// page fault per 4 KiB again. glibc's default decides this per allocation
// history, which makes read times depend on what ran before.
void configure_process();

// Peak resident memory of this process so far, in bytes (getrusage).
long long peak_rss_bytes();

}  // namespace pg
