#include "io/matrix_market.h"

#include <algorithm>
#include <cctype>
#include <cfloat>
#include <charconv>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "core/error.h"

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

}  // namespace

MtxHeader parse_matrix_market_header(std::string_view text, const std::string& file) {
  Cursor c{text.data(), text.data() + text.size(), 1, file};
  return read_header(c);
}

CsrMatrix parse_matrix_market(std::string_view text, const std::string& file) {
  Cursor c{text.data(), text.data() + text.size(), 1, file};
  const MtxHeader h = read_header(c);
  // One CSR row per stored column. A size line claiming millions of columns
  // more than the text could describe is corrupt; refuse before allocating.
  if (h.n_cols > static_cast<int64_t>(text.size()) * 16 + (1 << 20)) {
    c.fail("size line claims " + std::to_string(h.n_cols) + " columns, implausible for a " +
           std::to_string(text.size()) + "-byte file");
  }
  // Every entry takes at least 4 bytes ("1 1\n"), which bounds the reservation.
  const auto reserve =
      static_cast<size_t>(std::min<int64_t>(h.nnz, static_cast<int64_t>(text.size() / 4 + 1)));
  std::vector<int32_t> gene;
  std::vector<int32_t> cell;
  std::vector<float> value;
  gene.reserve(reserve);
  cell.reserve(reserve);
  if (h.field != MtxField::Pattern) value.reserve(reserve);

  int64_t found = 0;
  for (; found < h.nnz; ++found) {
    if (!c.skip_to_content()) break;
    gene.push_back(parse_index(c, h.n_rows, "row"));
    if (c.at_eol()) c.fail("expected a column index after the row index");
    c.skip_blanks();
    cell.push_back(parse_index(c, h.n_cols, "column"));
    if (h.field != MtxField::Pattern) {
      if (c.at_eol()) c.fail("expected a value after the row and column indices");
      c.skip_blanks();
      value.push_back(parse_value(c, h.field));
    }
    c.skip_blanks();
    if (!c.at_eol()) {
      c.fail("unexpected " + c.token() + " after the entry (expected " +
             (h.field == MtxField::Pattern ? "'row column'" : "'row column value'") + ")");
    }
    c.next_line();
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

  // Counting sort by column: the CSR rows are the file's columns (cells).
  CsrMatrix m;
  m.n_rows = h.n_cols;
  m.n_cols = h.n_rows;
  m.storage.layout = "coo";
  m.storage.dtype = h.field == MtxField::Real ? "float64" : "int64";
  m.indptr.assign(static_cast<size_t>(m.n_rows) + 1, 0);
  for (int32_t j : cell) ++m.indptr[static_cast<size_t>(j) + 1];
  std::partial_sum(m.indptr.begin(), m.indptr.end(), m.indptr.begin());
  const auto nnz = static_cast<size_t>(h.nnz);
  m.indices.resize(nnz);
  m.data.resize(nnz);
  std::vector<int64_t> next(m.indptr.begin(), m.indptr.end() - 1);
  for (size_t k = 0; k < nnz; ++k) {
    const auto dst = static_cast<size_t>(next[static_cast<size_t>(cell[k])]++);
    m.indices[dst] = gene[k];
    m.data[dst] = h.field == MtxField::Pattern ? 1.0f : value[k];
  }
  sort_row_indices(m);  // 10x files are sorted by cell then gene; other writers may not be
  return m;
}

void sort_row_indices(CsrMatrix& m) {
  std::vector<size_t> order;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    const auto b = static_cast<size_t>(m.indptr[static_cast<size_t>(r)]);
    const auto e = static_cast<size_t>(m.indptr[static_cast<size_t>(r) + 1]);
    if (std::is_sorted(m.indices.begin() + static_cast<std::ptrdiff_t>(b),
                       m.indices.begin() + static_cast<std::ptrdiff_t>(e)))
      continue;
    order.resize(e - b);
    std::iota(order.begin(), order.end(), b);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return m.indices[x] < m.indices[y]; });
    std::vector<int32_t> idx(e - b);
    std::vector<float> val(e - b);
    for (size_t i = 0; i < order.size(); ++i) {
      idx[i] = m.indices[order[i]];
      val[i] = m.data[order[i]];
    }
    std::copy(idx.begin(), idx.end(), m.indices.begin() + static_cast<std::ptrdiff_t>(b));
    std::copy(val.begin(), val.end(), m.data.begin() + static_cast<std::ptrdiff_t>(b));
  }
}

bool all_integral(const CsrMatrix& m) {
  for (float v : m.data) {
    if (!(std::fabs(v) < 9007199254740992.0f) || std::trunc(v) != v) return false;
  }
  return true;
}

std::string format_matrix_market(const CsrMatrix& m, bool integer) {
  std::string out;
  out.reserve(128 + m.data.size() * 16);
  out += integer ? "%%MatrixMarket matrix coordinate integer general\n"
                 : "%%MatrixMarket matrix coordinate real general\n";
  out += "% written by perturbgen: rows = features, columns = cells\n";
  out += std::to_string(m.n_cols) + " " + std::to_string(m.n_rows) + " " + std::to_string(m.nnz()) + "\n";
  auto put = [&out](auto v) {
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);  // floats: shortest text that reads back exactly
    out.append(buf, static_cast<size_t>(r.ptr - buf));
  };
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
      put(m.indices[static_cast<size_t>(k)] + 1);
      out += ' ';
      put(r + 1);
      out += ' ';
      const float v = m.data[static_cast<size_t>(k)];
      if (integer) {
        put(static_cast<int64_t>(std::llround(v)));
      } else {
        put(v);
      }
      out += '\n';
    }
  }
  return out;
}

CsrMatrix slice_rows(const CsrMatrix& m, int64_t begin, int64_t end) {
  CsrMatrix s;
  s.n_rows = end - begin;
  s.n_cols = m.n_cols;
  s.storage = m.storage;
  const int64_t base = m.indptr[static_cast<size_t>(begin)];
  const int64_t stop = m.indptr[static_cast<size_t>(end)];
  s.indptr.resize(static_cast<size_t>(s.n_rows) + 1);
  for (int64_t r = 0; r <= s.n_rows; ++r)
    s.indptr[static_cast<size_t>(r)] = m.indptr[static_cast<size_t>(begin + r)] - base;
  s.indices.assign(m.indices.begin() + base, m.indices.begin() + stop);
  s.data.assign(m.data.begin() + base, m.data.begin() + stop);
  return s;
}

}  // namespace pg::io
