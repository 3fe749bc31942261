// The cells of one input file, delivered a row range at a time, so that the
// tokeniser and the median/HVG passes stream corpora larger than memory.
// An .h5ad whose count matrix is stored as CSR is read range by range from
// disk (only the requested rows of X or the layer, and only the requested obs
// columns); every other layout is read once, whole, and sliced.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/cell_matrix.h"

namespace pg::tokenise {

class ChunkedInput {
 public:
  // `layer` empty = X. Reads the header (shape, var, storage) and checks that
  // the count matrix exists. Throws pg::Error naming the file otherwise.
  explicit ChunkedInput(std::string path, std::string layer = "");

  const std::string& path() const { return path_; }
  const std::string& layer() const { return layer_; }
  // "X" or "layers/<name>", for messages.
  std::string matrix_name() const;
  int64_t n_cells() const { return n_cells_; }
  int64_t n_genes() const { return static_cast<int64_t>(var_.n_rows()); }
  const io::DataFrame& var() const { return var_; }
  const io::StorageInfo& storage() const { return storage_; }
  // True when reads touch only the requested rows (h5ad CSR).
  bool streams() const { return !whole_; }

  // Cells [begin, end): counts in `X` (whichever matrix was asked for), obs
  // with the obs index and only `obs_columns`. A missing column is an error.
  io::CellMatrix read(int64_t begin, int64_t end, const std::vector<std::string>& obs_columns) const;
  // The same, kept until the next read: a second pass that starts where the
  // first ended (a corpus of one chunk) does not read the file again.
  std::shared_ptr<const io::CellMatrix> read_shared(int64_t begin, int64_t end,
                                                    const std::vector<std::string>& obs_columns) const;

 private:
  std::string path_;
  std::string layer_;
  int64_t n_cells_ = 0;
  io::DataFrame var_;
  io::StorageInfo storage_;
  std::optional<io::CellMatrix> whole_;  // formats that cannot be read by range
  struct Cached {
    int64_t begin = 0, end = 0;
    std::vector<std::string> columns;
    std::shared_ptr<const io::CellMatrix> cells;
  };
  mutable Cached last_;  // the last chunk read (one chunk: bounded)
};

// Calls fn(first_cell, chunk) for consecutive chunks of at most chunk_cells cells.
void for_each_chunk(const ChunkedInput& input, int64_t chunk_cells,
                    const std::vector<std::string>& obs_columns,
                    const std::function<void(int64_t, const io::CellMatrix&)>& fn);

}  // namespace pg::tokenise
