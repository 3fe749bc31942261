// Internals of the MatrixMarket reader shared by its files: the entry grammar
// applied to a run of whole lines, which the parallel and the streaming
// readers both use, and the serial scan that names a file's first problem.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/matrix_market.h"

namespace pg::io::mtx {

// A run of whole lines whose entries one thread parses into its own slice of
// the output.
struct Chunk {
  const char* begin = nullptr;
  const char* end = nullptr;
  int64_t lines = 0;                              // lines in [begin, end): the most entries they can hold
  int64_t offset = 0;                             // where its entries go in the output
  int64_t count = 0;                              // entries found
  std::vector<std::pair<int32_t, int64_t>> runs;  // (cell, entries) of each run of one cell, in order
  bool rows_sorted = true;                        // genes non-decreasing within every run
  bool failed = false;
};

// One CSR row per stored column: a size line claiming millions of columns
// more than the text could describe is corrupt, refused before allocating.
inline bool implausible_columns(const MtxHeader& h, size_t text_size) {
  return h.n_cols > static_cast<int64_t>(text_size) * 16 + (1 << 20);
}

// The header at the start of `text`; `body` is set to the offset of the line
// after the size line. Throws pg::Error naming `file` and the line.
MtxHeader read_header(std::string_view text, const std::string& file, size_t& body);

// Parses the entries in [ch.begin, ch.end) into gene[]/value[], setting
// ch.count, ch.runs and ch.rows_sorted; false if they need more than
// `capacity` slots. A bad entry throws (its line number is meaningless here:
// report_first_error names it).
bool parse_chunk(Chunk& ch, const MtxHeader& h, const std::string& file, int32_t* gene, float* value,
                 int64_t capacity);

// Scans `text` serially the way the format reads and throws its first problem
// with the line number, as a one-thread parse would. For text a chunked parse
// failed on.
[[noreturn]] void report_first_error(std::string_view text, const std::string& file);

}  // namespace pg::io::mtx
