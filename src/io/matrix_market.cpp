// The MatrixMarket grammar: the header, the entries (a fast path for the
// common line form, and the general one with every error message), and the
// serial scan that names the first problem of a text.
#include "io/matrix_market.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <limits>
#include <new>
#include <vector>

#include "core/error.h"
#include "io/matrix_market_chunks.h"

namespace pg::io {

namespace {

constexpr int64_t kMaxDim = std::numeric_limits<int32_t>::max();

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

// A position in the text plus the line number, for one-line error messages.
struct Cursor {
  const char* p;
  const char* end;
  int64_t line = 1;
  const std::string& file;

  [[noreturn]] void fail(const std::string& problem) const {
    throw Error(file, "line " + std::to_string(line), problem);
  }
  bool at_end() const { return p == end; }
  void skip_blanks() {
    while (p != end && is_blank(*p)) ++p;
  }
  // True at the end of a line: newline, CR before a newline, or end of text.
  bool at_eol() const { return p == end || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n')); }
  // Moves past the rest of the current line, including its newline.
  void next_line() {
    while (p != end && *p != '\n') ++p;
    if (p != end) {
      ++p;
      ++line;
    }
  }
  // The token at p (up to a blank or the end of line), shortened for messages.
  std::string token() const {
    const char* q = p;
    while (q != end && !is_blank(*q) && *q != '\n' && *q != '\r' && q - p < 40) ++q;
    if (q == p) return at_eol() ? "end of line" : "''";
    return "'" + std::string(p, q) + "'";
  }
  // Skips blank and comment lines; false at the end of the text.
  bool skip_to_content() {
    while (p != end) {
      const char* q = p;
      while (q != end && (is_blank(*q) || *q == '\r')) ++q;
      if (q == end) {
        p = q;
        return false;
      }
      if (*q == '\n' || *q == '%') {
        p = q;
        next_line();
        continue;
      }
      p = q;
      return true;
    }
    return false;
  }
};

// A non-negative decimal integer; false if no digit is at p. Sets `overflow`
// when it does not fit, and then still consumes all the digits.
bool parse_uint(Cursor& c, uint64_t& out, bool& overflow) {
  const char* start = c.p;
  uint64_t v = 0;
  overflow = false;
  // 19 digits always fit in 64 bits, so only longer numbers need the check.
  while (c.p != c.end && *c.p >= '0' && *c.p <= '9' && c.p - start < 19)
    v = v * 10 + static_cast<uint64_t>(*c.p++ - '0');
  while (c.p != c.end && *c.p >= '0' && *c.p <= '9') {
    const auto d = static_cast<uint64_t>(*c.p - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) overflow = true;
    v = v * 10 + d;
    ++c.p;
  }
  out = v;
  return c.p != start;
}

// One 1-based index in [1, limit], returned 0-based.
int32_t parse_index(Cursor& c, int64_t limit, const char* what) {
  uint64_t v = 0;
  bool overflow = false;
  const char* start = c.p;
  if (!parse_uint(c, v, overflow) || !(c.at_eol() || is_blank(*c.p))) {
    c.p = start;
    c.fail(std::string("expected a ") + what + " index (positive integer), found " + c.token());
  }
  if (v == 0) c.fail(std::string(what) + " index 0: MatrixMarket indices are 1-based");
  if (overflow || v > static_cast<uint64_t>(limit)) {
    c.p = start;
    c.fail(std::string(what) + " index " + c.token() + " out of range 1.." + std::to_string(limit));
  }
  return static_cast<int32_t>(v - 1);
}

float parse_value(Cursor& c, MtxField field) {
  const char* start = c.p;
  if (field == MtxField::Integer) {
    bool negative = false;
    if (c.p != c.end && (*c.p == '-' || *c.p == '+')) negative = *c.p++ == '-';
    uint64_t v = 0;
    bool overflow = false;
    if (!parse_uint(c, v, overflow) || !(c.at_eol() || is_blank(*c.p))) {
      c.p = start;
      c.fail("expected an integer value (header says integer), found " + c.token());
    }
    if (overflow || v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      c.p = start;
      c.fail("integer value " + c.token() + " out of range");
    }
    const double d = static_cast<double>(v);
    return static_cast<float>(negative ? -d : d);
  }
  if (c.p != c.end && *c.p == '+') ++c.p;  // from_chars does not take a leading '+'
  double d = 0;
  const auto [ptr, ec] = std::from_chars(c.p, c.end, d);
  if (ec == std::errc::result_out_of_range) {
    c.p = start;
    c.fail("value " + c.token() + " out of range");
  }
  if (ec != std::errc() || !(ptr == c.end || is_blank(*ptr) || *ptr == '\n' || *ptr == '\r')) {
    c.p = start;
    c.fail("expected a number, found " + c.token());
  }
  if (!std::isfinite(d)) {
    c.p = start;
    c.fail("non-finite value " + c.token() + " (NaN or Inf)");
  }
  // Beyond FLT_MAX plus half an ulp the value would round to infinity.
  if (std::fabs(d) >= static_cast<double>(FLT_MAX) + std::ldexp(1.0, 103)) {
    c.p = start;
    c.fail("value " + c.token() + " exceeds the float32 range");
  }
  c.p = ptr;
  return static_cast<float>(d);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

MtxHeader read_header(Cursor& c) {
  if (c.at_end()) c.fail("empty file, expected a '%%MatrixMarket matrix coordinate ...' header");
  // Banner: %%MatrixMarket matrix coordinate <field> <symmetry>
  std::vector<std::string> words;
  while (c.p != c.end && *c.p != '\n') {
    if (is_blank(*c.p) || *c.p == '\r') {  // a stray CR separates words like a blank
      ++c.p;
      continue;
    }
    const char* q = c.p;
    while (q != c.end && !is_blank(*q) && *q != '\n' && *q != '\r') ++q;
    words.push_back(lower(std::string_view(c.p, static_cast<size_t>(q - c.p))));
    c.p = q;
  }
  if (words.empty() || words[0] != "%%matrixmarket") {
    c.fail("not a MatrixMarket file: first line must start with '%%MatrixMarket'");
  }
  if (words.size() != 5) c.fail("banner must be '%%MatrixMarket matrix coordinate <field> <symmetry>'");
  if (words[1] != "matrix") c.fail("unsupported MatrixMarket object '" + words[1] + "', expected 'matrix'");
  if (words[2] == "array")
    c.fail("dense 'array' MatrixMarket files are not supported, expected 'coordinate'");
  if (words[2] != "coordinate")
    c.fail("unsupported MatrixMarket format '" + words[2] + "', expected 'coordinate'");
  MtxHeader h;
  if (words[3] == "integer") {
    h.field = MtxField::Integer;
  } else if (words[3] == "real" || words[3] == "double") {
    h.field = MtxField::Real;
  } else if (words[3] == "pattern") {
    h.field = MtxField::Pattern;
  } else {
    c.fail("unsupported value type '" + words[3] + "', expected integer, real or pattern");
  }
  if (words[4] != "general") {
    c.fail("unsupported symmetry '" + words[4] + "', only 'general' matrices (as 10x writes) are supported");
  }
  c.next_line();

  if (!c.skip_to_content()) c.fail("missing size line ('rows columns entries') after the header");
  int64_t sizes[3] = {0, 0, 0};
  const char* names[3] = {"row count", "column count", "entry count"};
  for (int i = 0; i < 3; ++i) {
    c.skip_blanks();
    uint64_t v = 0;
    bool overflow = false;
    const char* start = c.p;
    if (!parse_uint(c, v, overflow) || !(c.at_eol() || is_blank(*c.p))) {
      c.p = start;
      c.fail(std::string("size line: expected the ") + names[i] + " (non-negative integer), found " +
             c.token());
    }
    const uint64_t limit = i < 2 ? static_cast<uint64_t>(kMaxDim) : static_cast<uint64_t>(INT64_MAX);
    if (overflow || v > limit) {
      c.p = start;
      c.fail(std::string("size line: ") + names[i] + " " + c.token() + " too large (at most " +
             std::to_string(limit) + ")");
    }
    sizes[i] = static_cast<int64_t>(v);
  }
  c.skip_blanks();
  if (!c.at_eol()) c.fail("size line: unexpected " + c.token() + " after 'rows columns entries'");
  h.n_rows = sizes[0];
  h.n_cols = sizes[1];
  h.nnz = sizes[2];
  // nnz <= rows * cols, computed without overflow.
  const bool too_many =
      (h.n_rows == 0 || h.n_cols == 0)
          ? h.nnz > 0
          : h.nnz / h.n_rows > h.n_cols || (h.nnz / h.n_rows == h.n_cols && h.nnz % h.n_rows != 0);
  if (too_many) {
    c.fail("size line: " + std::to_string(h.nnz) + " entries cannot fit a " + std::to_string(h.n_rows) +
           " x " + std::to_string(h.n_cols) + " matrix");
  }
  c.next_line();
  return h;
}

// One entry, the general way: any blanks, CRLF, comment and blank lines
// before it, leading zeros, '+' signs, and every error with its message.
struct Entry {
  int32_t gene = 0;
  int32_t cell = 0;
  float value = 1.0f;
};

Entry parse_entry(Cursor& c, const MtxHeader& h) {
  Entry e;
  e.gene = parse_index(c, h.n_rows, "row");
  if (c.at_eol()) c.fail("expected a column index after the row index");
  c.skip_blanks();
  e.cell = parse_index(c, h.n_cols, "column");
  if (h.field != MtxField::Pattern) {
    if (c.at_eol()) c.fail("expected a value after the row and column indices");
    c.skip_blanks();
    e.value = parse_value(c, h.field);
  }
  c.skip_blanks();
  if (!c.at_eol()) {
    c.fail("unexpected " + c.token() + " after the entry (expected " +
           (h.field == MtxField::Pattern ? "'row column'" : "'row column value'") + ")");
  }
  c.next_line();
  return e;
}

// 1 to `max_digits` decimal digits at p, not followed by another digit.
inline bool fast_digits(const char*& p, uint64_t& out, int max_digits) {
  auto digit = [](char ch) { return static_cast<unsigned>(static_cast<unsigned char>(ch)) - '0'; };
  if (digit(*p) > 9) return false;
  uint64_t v = digit(*p);
  const char* q = p + 1;
  for (int i = 1; i < max_digits && digit(*q) <= 9; ++i) v = v * 10 + digit(*q++);
  if (digit(*q) <= 9) return false;
  p = q;
  out = v;
  return true;
}

// The common line "row column value\n" (single spaces, plain decimal
// integers, valid indices; reals via from_chars): parses it and moves p past
// the newline. False for anything else, which parse_entry then handles with
// the same result or the error. A newline must follow p before `end`.
template <MtxField F>
inline bool fast_entry(const char*& p, const char* end, const MtxHeader& h, Entry& e) {
  const char* q = p;
  uint64_t row = 0;
  uint64_t col = 0;
  if (!fast_digits(q, row, 10) || *q != ' ') return false;
  ++q;
  if (!fast_digits(q, col, 10)) return false;
  if (row - 1 >= static_cast<uint64_t>(h.n_rows) || col - 1 >= static_cast<uint64_t>(h.n_cols)) return false;
  if constexpr (F != MtxField::Pattern) {
    if (*q++ != ' ') return false;
    const char* start = q;
    const bool negative = *q == '-';
    q += negative ? 1 : 0;
    uint64_t v = 0;
    if (fast_digits(q, v, 15) && *q == '\n') {
      // v < 10^15 < 2^53: rounding it to float once gives what parse_value's
      // v -> double -> float does.
      const auto f = static_cast<float>(static_cast<int64_t>(v));
      e.value = negative ? -f : f;
    } else if constexpr (F == MtxField::Real) {
      double d = 0;
      const auto [ptr, ec] = std::from_chars(start, end, d);
      if (ec != std::errc() || *ptr != '\n' ||
          !(std::fabs(d) < static_cast<double>(FLT_MAX) + std::ldexp(1.0, 103)))
        return false;
      q = ptr;
      e.value = static_cast<float>(d);
    } else {
      return false;
    }
  }
  if (*q != '\n') return false;
  e.gene = static_cast<int32_t>(row - 1);
  e.cell = static_cast<int32_t>(col - 1);
  p = q + 1;
  return true;
}

// mtx::parse_chunk for one value type: the fast path where it applies, else
// parse_entry, line by line.
template <MtxField F>
bool parse_entries(mtx::Chunk& ch, const MtxHeader& h, const std::string& file, int32_t* gene, float* value,
                   int64_t capacity) {
  const char* fast_end = ch.end;  // the fast path needs a newline ahead
  while (fast_end != ch.begin && fast_end[-1] != '\n') --fast_end;
  Cursor c{ch.begin, ch.end, 1, file};
  int64_t n = 0;
  int64_t run_start = 0;
  int32_t cell = -1;
  int32_t prev_gene = 0;
  bool sorted = true;
  Entry e;
  while (true) {
    if (c.p >= fast_end || !fast_entry<F>(c.p, ch.end, h, e)) {
      if (!c.skip_to_content()) break;
      e = parse_entry(c, h);
    }
    if (n == capacity) return false;
    if (e.cell != cell) {
      if (n > run_start) ch.runs.emplace_back(cell, n - run_start);
      cell = e.cell;
      run_start = n;
    } else if (e.gene < prev_gene) {
      sorted = false;
    }
    prev_gene = e.gene;
    gene[n] = e.gene;
    value[n] = e.value;
    ++n;
  }
  if (n > run_start) ch.runs.emplace_back(cell, n - run_start);
  ch.count = n;
  ch.rows_sorted = sorted;
  return true;
}

}  // namespace

namespace mtx {

MtxHeader read_header(std::string_view text, const std::string& file, size_t& body) {
  Cursor c{text.data(), text.data() + text.size(), 1, file};
  const MtxHeader h = read_header(c);
  body = static_cast<size_t>(c.p - text.data());
  return h;
}

bool parse_chunk(Chunk& ch, const MtxHeader& h, const std::string& file, int32_t* gene, float* value,
                 int64_t capacity) {
  switch (h.field) {
    case MtxField::Integer:
      return parse_entries<MtxField::Integer>(ch, h, file, gene, value, capacity);
    case MtxField::Real:
      return parse_entries<MtxField::Real>(ch, h, file, gene, value, capacity);
    case MtxField::Pattern:
      break;
  }
  return parse_entries<MtxField::Pattern>(ch, h, file, gene, value, capacity);
}

// The checks of a one-thread parse, in its order, stopping at the first
// problem; a chunked parse that failed somewhere calls this to name it.
[[noreturn]] void report_first_error(std::string_view text, const std::string& file) {
  Cursor c{text.data(), text.data() + text.size(), 1, file};
  const MtxHeader h = read_header(c);
  if (implausible_columns(h, text.size())) {
    c.fail("size line claims " + std::to_string(h.n_cols) + " columns, implausible for a " +
           std::to_string(text.size()) + "-byte file");
  }
  int64_t found = 0;
  for (; found < h.nnz; ++found) {
    if (!c.skip_to_content()) break;
    parse_entry(c, h);
  }
  if (found < h.nnz) {
    c.fail("premature end of data: header says " + std::to_string(h.nnz) + " entries, found " +
           std::to_string(found));
  }
  if (c.skip_to_content()) {
    const int64_t first_extra = c.line;
    int64_t extra = 0;
    while (c.skip_to_content()) {
      ++extra;
      c.next_line();
    }
    c.line = first_extra;
    c.fail("more entries than the header says: header says " + std::to_string(h.nnz) + " entries, found " +
           std::to_string(h.nnz + extra));
  }
  throw std::bad_alloc();  // the text is fine: the chunked parse ran out of memory
}

}  // namespace mtx

MtxHeader parse_matrix_market_header(std::string_view text, const std::string& file) {
  Cursor c{text.data(), text.data() + text.size(), 1, file};
  return read_header(c);
}

}  // namespace pg::io
