// The one in-memory representation of a single-cell dataset, whatever file it
// came from: a cells x genes CSR matrix plus typed per-cell (obs) and per-gene
// (var) tables, dense per-cell/per-gene arrays, extra layers and a small uns.
// Plain value types: copying is explicit, nothing refers back to the file.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace pg::io {

// How a matrix was stored in its file, for `perturbgen info` and for writers
// that want to keep the user's dtype (e.g. integer counts).
struct StorageInfo {
  std::string layout;       // "csr", "csc", "dense"
  std::string dtype;        // numpy-style name of the stored values: "float32", "int64", ...
  std::string index_dtype;  // of indices/indptr for sparse layouts, else empty
};

// Cells x genes, compressed sparse rows. Explicitly stored zeros are kept
// (real files contain them), so nnz() counts stored entries, not non-zeros.
struct CsrMatrix {
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  std::vector<int64_t> indptr{0};  // n_rows + 1 entries
  std::vector<int32_t> indices;    // column of each stored entry
  std::vector<float> data;         // value of each stored entry
  StorageInfo storage;

  int64_t nnz() const { return static_cast<int64_t>(data.size()); }
  // Value at (row, col); 0 when not stored. O(log row length) if indices are sorted, else linear.
  float at(int64_t row, int64_t col) const;
};

// A dense row-major array (obsm/varm entries). Values are kept in float64 so
// that float32 and integer sources both survive exactly.
struct DenseMatrix {
  int64_t n_rows = 0;
  int64_t n_cols = 0;
  std::vector<double> values;
  std::string dtype;  // stored dtype

  double at(int64_t row, int64_t col) const { return values[static_cast<size_t>(row * n_cols + col)]; }
};

enum class ColumnType { String, Categorical, Float, Int, Bool };

// One obs/var column. Exactly the vector matching `type` is filled.
// Missing values: categorical code -1; NaN for floats; `missing[i] != 0` for
// nullable ints, bools and strings (missing is empty when nothing is missing).
struct Column {
  std::string name;
  ColumnType type = ColumnType::String;
  std::string dtype;  // stored dtype ("int64", "float32", "bool", "str", codes dtype for categoricals)

  std::vector<std::string> strings;  // String
  std::vector<double> floats;        // Float
  std::vector<int64_t> ints;         // Int
  std::vector<uint8_t> bools;        // Bool
  std::vector<int32_t> codes;        // Categorical: index into categories, -1 = missing
  std::vector<std::string> categories;
  std::string categories_dtype;  // "str", "int64", "float64", "bool"
  bool ordered = false;
  std::vector<uint8_t> missing;  // nullable int/bool/string

  size_t size() const;
  bool is_missing(size_t i) const;
  // The value at row i rendered as text ("NA" when missing), for display and TSV output.
  std::string text(size_t i) const;
};

struct DataFrame {
  std::string index_name = "_index";  // name of the index column in the file
  std::vector<std::string> index;     // row labels (cell barcodes, gene ids)
  std::vector<Column> columns;        // in column order

  size_t n_rows() const { return index.size(); }
  const Column* find(const std::string& name) const;
  Column* find(const std::string& name);
};

// Keeps only the named columns (in the frame's order); names not present are ignored.
void keep_columns(DataFrame& df, const std::vector<std::string>& names);

struct CellMatrix {
  CsrMatrix X;                                    // cells x genes
  bool has_x = true;                              // false for files without X (anndata allows it)
  DataFrame obs;                                  // one row per cell
  DataFrame var;                                  // one row per gene
  std::map<std::string, CsrMatrix> layers;        // same shape as X
  std::map<std::string, DenseMatrix> obsm;        // n_cells rows
  std::map<std::string, DenseMatrix> varm;        // n_genes rows
  nlohmann::json uns = nlohmann::json::object();  // strings, scalars, small arrays, nested dicts
  std::vector<std::string> skipped;               // elements present in the file but not loaded, with why

  int64_t n_cells() const { return static_cast<int64_t>(obs.n_rows()); }
  int64_t n_genes() const { return static_cast<int64_t>(var.n_rows()); }
};

// What to load. Everything by default; large corpora ask for a row range and
// only the layers they need.
struct ReadOptions {
  std::optional<std::pair<int64_t, int64_t>> rows;  // [begin, end) cell range
  bool load_x = true;
  std::optional<std::vector<std::string>> layers;  // nullopt = all; empty = none
  bool load_obsm = true;
  bool load_varm = true;
  bool load_uns = true;
  // obs columns to load (nullopt = all). Readers that cannot select load all
  // and drop the others, so the result is the same either way.
  std::optional<std::vector<std::string>> obs_columns;
  std::string genome;  // CellRanger v2 HDF5 with several genomes: which one (empty: the only one)
};

// Structural checks shared by every reader: indptr starts at 0, is monotone
// and ends at nnz; indices within [0, n_cols); values finite. Throws pg::Error
// naming `file` and `element`.
void validate(const CsrMatrix& m, const std::string& file, const std::string& element);

// Rows [begin, end) of a CSR (callers check the range), e.g. to honour
// ReadOptions::rows where a format must be read whole.
CsrMatrix slice_rows(const CsrMatrix& m, int64_t begin, int64_t end);

// Transposes a CSR (or, read the other way, converts CSC to CSR).
CsrMatrix transpose(const CsrMatrix& m);

}  // namespace pg::io
