// What `perturbgen info` tells about a file: format, shape, how X is stored,
// whether it looks like raw counts, and the annotations it carries. Built
// without loading the whole matrix: only the first cells' values are read.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/cell_matrix.h"
#include "io/formats.h"

namespace pg::io {

struct CountsCheck {
  bool raw_counts = false;  // every inspected value is a non-negative integer
  int64_t cells_checked = 0;
  std::string reason;  // why not ("non-integer value 21.98 at cell 0, gene 3"), or empty
};

// Inspects the stored values of up to the first `rows` cells of `m`.
CountsCheck check_raw_counts(const CsrMatrix& m);

struct FileSummary {
  std::string path;
  Format format = Format::H5ad;
  int64_t n_cells = 0;
  int64_t n_genes = 0;
  bool has_x = true;
  StorageInfo x_storage;
  CountsCheck counts;
  std::vector<std::pair<std::string, StorageInfo>> layers;
  DataFrame obs;  // full annotation tables (columns summarised when printed)
  DataFrame var;
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> obsm;  // key -> shape
  std::vector<std::pair<std::string, std::pair<int64_t, int64_t>>> varm;
  std::vector<std::string> uns_keys;
  std::vector<std::string> skipped;
};

// Reads the annotations of `path` and the values of its first `sample_cells` cells.
FileSummary summarize(const std::string& path, int64_t sample_cells = 1000);

// Human-readable report (what the CLI prints) and a machine-readable one.
std::string to_text(const FileSummary& s);
nlohmann::json to_json(const FileSummary& s);

}  // namespace pg::io
