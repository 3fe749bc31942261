// Reading MatrixMarket entries fast: in memory, the text is cut into chunks
// of whole lines that threads parse into disjoint slices of the output; from
// a gzip file, pieces are parsed while a second thread decompresses the rest.
// Either way the result, and any error, is that of a one-thread parse.
#include <algorithm>
#include <cstring>
#include <numeric>
#include <optional>
#include <thread>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "io/gzip.h"
#include "io/matrix_market.h"
#include "io/matrix_market_chunks.h"

namespace pg::io {

namespace {

using mtx::Chunk;

// Lines in [b, e): newlines, plus an unterminated last line.
int64_t count_lines(const char* b, const char* e) {
  const bool unterminated = b != e && e[-1] != '\n';
  int64_t n = 0;
#if defined(__SSE2__)
  const __m128i newline = _mm_set1_epi8('\n');
  while (e - b >= 16) {
    // Byte counters overflow after 255 blocks; sum them before.
    const int64_t blocks = std::min<int64_t>((e - b) / 16, 255);
    __m128i acc = _mm_setzero_si128();
    for (int64_t i = 0; i < blocks; ++i, b += 16) {
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b)), newline));
    }
    const __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    n += _mm_cvtsi128_si64(sums) + _mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums));
  }
#endif
  return n + std::count(b, e, '\n') + (unterminated ? 1 : 0);
}

// Threads to use: as asked, or one per MiB of text up to the core count.
size_t chunk_count(int threads, int64_t bytes) {
  if (threads > 0) return static_cast<size_t>(threads);
  const auto cores = static_cast<int64_t>(std::max(1u, std::thread::hardware_concurrency()));
  return static_cast<size_t>(std::clamp<int64_t>(bytes >> 20, 1, cores));
}

// [b, e) cut into n chunks of about equal size at line starts (some may be empty).
std::vector<Chunk> split_lines(const char* b, const char* e, size_t n) {
  std::vector<Chunk> chunks(n);
  const char* at = b;
  for (size_t k = 0; k < n; ++k) {
    chunks[k].begin = at;
    if (k + 1 == n) {
      at = e;
    } else {
      const char* target = std::max(at, b + (e - b) * static_cast<int64_t>(k + 1) / static_cast<int64_t>(n));
      const void* nl = target == e ? nullptr : std::memchr(target, '\n', static_cast<size_t>(e - target));
      at = nl == nullptr ? e : static_cast<const char*>(nl) + 1;
    }
    chunks[k].end = at;
  }
  return chunks;
}

// fn(0) .. fn(n - 1) on n threads, fn(0) on the caller's. Where no thread can
// be started the caller runs the rest itself; fn must not throw.
template <typename Fn>
void in_parallel(size_t n, const Fn& fn) {
  std::vector<std::thread> workers;
  size_t k = 1;
  try {
    workers.reserve(n);
    for (; k < n; ++k) workers.emplace_back([&fn, k] { fn(k); });
  } catch (const std::exception&) {
    for (size_t j = k; j < n; ++j) fn(j);
  }
  fn(0);
  for (auto& t : workers) t.join();
}

// m.indices/m.data hold the header's nnz entries in file order, which
// `chunks` describe in runs of one cell. Fills in the rest of the CSR: 10x
// files are sorted by cell then gene, which needs nothing but the row
// pointers; other orders get a stable counting sort by cell, and unsorted
// cells are sorted by gene.
void finish_csr(CsrMatrix& m, const MtxHeader& h, const std::vector<Chunk>& chunks) {
  m.n_rows = h.n_cols;  // the CSR rows are the file's columns (cells)
  m.n_cols = h.n_rows;
  m.storage.layout = "coo";
  m.storage.dtype = h.field == MtxField::Real ? "float64" : "int64";
  m.indptr.assign(static_cast<size_t>(m.n_rows) + 1, 0);
  bool in_order = true;
  bool sorted = true;
  int32_t last = -1;
  size_t pos = 0;
  for (const Chunk& ch : chunks) {
    sorted = sorted && ch.rows_sorted;
    for (const auto& [cell, count] : ch.runs) {
      if (cell < last) in_order = false;
      if (cell == last && m.indices[pos] < m.indices[pos - 1]) sorted = false;  // a cell split between chunks
      m.indptr[static_cast<size_t>(cell) + 1] += count;
      last = cell;
      pos += static_cast<size_t>(count);
    }
  }
  std::partial_sum(m.indptr.begin(), m.indptr.end(), m.indptr.begin());
  if (!in_order) {
    std::vector<int64_t> next(m.indptr.begin(), m.indptr.end() - 1);
    std::vector<int32_t> indices(m.indices.size());
    std::vector<float> data(m.data.size());
    pos = 0;
    for (const Chunk& ch : chunks) {
      for (const auto& [cell, count] : ch.runs) {
        for (int64_t i = 0; i < count; ++i, ++pos) {
          const auto dst = static_cast<size_t>(next[static_cast<size_t>(cell)]++);
          indices[dst] = m.indices[pos];
          data[dst] = m.data[pos];
        }
      }
    }
    m.indices.swap(indices);
    m.data.swap(data);
  }
  if (!in_order || !sorted) sort_row_indices(m);
}

// Parses the pieces of whole lines gunzip_lines hands over, in order, into
// one output. Any problem only marks the parse as failed: the caller then
// parses the whole text the ordinary way, which names the problem.
class PieceParser {
 public:
  PieceParser(const std::string& file, size_t size_guess) : file_(file), size_guess_(size_guess) {}

  void add(std::string_view piece) {
    bytes_ += piece.size();
    if (failed_) return;
    try {
      if (!h_) {  // the first piece (1 MiB of whole lines) holds the header of any sane file
        size_t body = 0;
        h_ = mtx::read_header(piece, file_, body);
        piece.remove_prefix(body);
        // Every entry takes at least 4 bytes ("1 1\n"), which bounds the reservation.
        const auto entries = std::min<int64_t>(h_->nnz, static_cast<int64_t>(size_guess_ / 4 + 1));
        m_.indices.reserve(static_cast<size_t>(entries));
        m_.data.reserve(static_cast<size_t>(entries));
      }
      // Room for the piece's entries, which take 4 bytes or more each (the
      // last line may lack its newline). Zeroing and faulting in the output a
      // piece at a time spreads that work evenly between the pieces.
      const auto room = static_cast<size_t>(
          std::min<int64_t>(h_->nnz, count_ + static_cast<int64_t>(piece.size() / 4) + 1));
      if (m_.indices.size() < room) {
        m_.indices.resize(room);
        m_.data.resize(room);
      }
      mtx::Chunk ch;
      ch.begin = piece.data();
      ch.end = piece.data() + piece.size();
      if (!mtx::parse_chunk(ch, *h_, file_, m_.indices.data() + count_, m_.data.data() + count_,
                            static_cast<int64_t>(room) - count_)) {
        failed_ = true;  // more entries than the header says
        return;
      }
      count_ += ch.count;
      ch.begin = ch.end = nullptr;  // the piece's buffer is reused
      chunks_.push_back(std::move(ch));
    } catch (...) {
      failed_ = true;
    }
  }

  // The matrix, or nothing if the text has a problem.
  std::optional<CsrMatrix> finish() {
    if (failed_ || !h_ || count_ != h_->nnz || mtx::implausible_columns(*h_, bytes_)) return std::nullopt;
    m_.indices.resize(static_cast<size_t>(count_));
    m_.data.resize(static_cast<size_t>(count_));
    finish_csr(m_, *h_, chunks_);
    return std::move(m_);
  }

 private:
  const std::string& file_;
  size_t size_guess_;
  size_t bytes_ = 0;
  bool failed_ = false;
  std::optional<MtxHeader> h_;
  CsrMatrix m_;
  int64_t count_ = 0;
  std::vector<Chunk> chunks_;
};

}  // namespace

CsrMatrix parse_matrix_market(std::string_view text, const std::string& file, int threads) {
  size_t body = 0;
  const MtxHeader h = mtx::read_header(text, file, body);
  if (mtx::implausible_columns(h, text.size())) mtx::report_first_error(text, file);
  const char* end = text.data() + text.size();
  std::vector<Chunk> chunks = split_lines(text.data() + body, end, chunk_count(threads, end - text.data()));
  in_parallel(chunks.size(),
              [&](size_t k) { chunks[k].lines = count_lines(chunks[k].begin, chunks[k].end); });
  int64_t lines = 0;
  for (Chunk& ch : chunks) {
    ch.offset = lines;
    lines += ch.lines;
  }
  if (lines < h.nnz) mtx::report_first_error(text, file);  // fewer entries than the header says
  // Every entry takes a line of its own, so each chunk writes its entries at
  // its line offset and the chunks never overlap. Where most lines are not
  // entries (comments, blank lines, or far too many entries) that would
  // waste memory: then one chunk fills exactly the header's count.
  if (lines > 2 * h.nnz + (1 << 16)) {
    chunks = split_lines(chunks.front().begin, chunks.back().end, 1);
    chunks[0].lines = h.nnz;
    lines = h.nnz;
  }
  CsrMatrix m;
  m.indices.resize(static_cast<size_t>(lines));
  m.data.resize(static_cast<size_t>(lines));
  in_parallel(chunks.size(), [&](size_t k) {
    Chunk& ch = chunks[k];
    try {
      ch.failed =
          !mtx::parse_chunk(ch, h, file, m.indices.data() + ch.offset, m.data.data() + ch.offset, ch.lines);
    } catch (...) {  // a bad entry, or out of memory: the serial scan below says which
      ch.failed = true;
    }
  });
  int64_t found = 0;
  for (const Chunk& ch : chunks) {
    if (ch.failed) mtx::report_first_error(text, file);
    found += ch.count;
  }
  if (found != h.nnz) mtx::report_first_error(text, file);
  // Close the gaps left by lines that held no entry.
  int64_t pos = 0;
  for (const Chunk& ch : chunks) {
    if (pos != ch.offset) {
      std::memmove(m.indices.data() + pos, m.indices.data() + ch.offset, static_cast<size_t>(ch.count) * 4);
      std::memmove(m.data.data() + pos, m.data.data() + ch.offset, static_cast<size_t>(ch.count) * 4);
    }
    pos += ch.count;
  }
  m.indices.resize(static_cast<size_t>(h.nnz));
  m.data.resize(static_cast<size_t>(h.nnz));
  finish_csr(m, h, chunks);
  return m;
}

CsrMatrix read_matrix_market(const std::string& path, int threads) {
  const ByteBuffer raw = read_file_bytes(path);
  if (!has_gzip_magic(raw.view())) return parse_matrix_market(raw.view(), path, threads);
  // Deflate expands at most 1032-fold, which caps a forged trailer's size.
  PieceParser parser(path, std::min(gzip_size_guess(raw.view()), raw.size() * 1032));
  gunzip_lines(raw.view(), path, [&](std::string_view lines) { parser.add(lines); });
  if (std::optional<CsrMatrix> m = parser.finish()) return std::move(*m);
  return parse_matrix_market(read_maybe_gzip_bytes(path).view(), path, threads);  // names the problem
}

}  // namespace pg::io
