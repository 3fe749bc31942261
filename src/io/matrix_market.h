// MatrixMarket coordinate matrices as 10x Genomics writes them: rows = genes,
// columns = cells, 1-based. The parser works on text already in memory (so it
// can be fuzzed and timed without files) and returns the cells x genes CSR
// the rest of the project uses, i.e. the file's transpose.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "io/cell_matrix.h"

namespace pg::io {

enum class MtxField { Integer, Real, Pattern };

struct MtxHeader {
  MtxField field = MtxField::Integer;
  int64_t n_rows = 0;  // as stored: genes
  int64_t n_cols = 0;  // as stored: cells
  int64_t nnz = 0;
};

// Parses only the banner and the size line. `file` names the source in errors.
MtxHeader parse_matrix_market_header(std::string_view text, const std::string& file);

// Parses a whole `%%MatrixMarket matrix coordinate integer|real|pattern general`
// text into a CSR with one row per file column (cell) and one column per file
// row (gene). Entries keep their stored order within a cell unless that order
// is unsorted, in which case each cell's entries are sorted by gene. Rejects,
// with a pg::Error naming `file` and the line: a missing or unsupported banner,
// a missing size line, sizes beyond int32 indices, fewer or more entries than
// the size line says, zero or out-of-range indices, non-numeric tokens and
// NaN/Inf values. storage.dtype is "int64" for integer and pattern, "float64" for real.
// The entries are parsed by `threads` threads (0: one per MiB of text, up to
// the core count); the result and any error are the same for every count.
CsrMatrix parse_matrix_market(std::string_view text, const std::string& file, int threads = 0);

// parse_matrix_market on the file `path`, gzip-compressed or not, with the
// same result and errors (gzip damage first). A gzip file is parsed piece by
// piece while a second thread decompresses the rest.
CsrMatrix read_matrix_market(const std::string& path, int threads = 0);

// Sorts each row's entries by column where they are not sorted already
// (stable, so duplicates keep their order). Cell Ranger's HDF5 stores genes
// in descending order within a cell; sorted rows make every reader agree.
void sort_row_indices(CsrMatrix& m);

// True if every stored value is a whole number representable exactly (|v| < 2^53).
bool all_integral(const CsrMatrix& m);

// The MatrixMarket text of a cells x genes CSR, stored 10x-style as genes x
// cells, entries ordered by cell then gene. `integer` selects the `integer`
// banner (values printed as whole numbers) over `real` (shortest text that
// reads back to the same float32).
std::string format_matrix_market(const CsrMatrix& cells_by_genes, bool integer);

}  // namespace pg::io
