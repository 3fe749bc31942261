// The file formats single-cell users have, and one entry point per direction.
// Every reader returns a CellMatrix in cells x genes orientation whatever the
// file stores; every writer writes atomically (temporary file + rename).
#pragma once

#include <string>
#include <string_view>

#include "io/cell_matrix.h"

namespace pg::io {

enum class Format {
  H5ad,     // AnnData .h5ad (anndata 0.5 .. 0.12)
  TenxMtx,  // 10x MatrixMarket directory (matrix.mtx[.gz], features/genes.tsv[.gz], barcodes.tsv[.gz])
  TenxH5,   // CellRanger HDF5 (v2: one group per genome; >= 3: /matrix)
  Loom,     // loom 2.0.1 / 3.0.0
};

std::string format_name(Format f);  // "h5ad", "10x-mtx", "10x-h5", "loom"
// Parses a format name as accepted by --to/--from; throws pg::Error for others.
Format parse_format(const std::string& name);
// Format of an existing path: directories are 10x MatrixMarket, HDF5 files are
// told apart by content (/obs -> h5ad, /matrix dataset -> loom, /matrix group
// or per-genome groups -> 10x), anything else fails with a clear message.
Format detect_format(const std::string& path);
// Format an output path asks for, from its extension (.h5ad, .loom, .h5) or,
// for a path without extension, a 10x directory.
Format format_for_output(const std::string& path);

CellMatrix read_any(const std::string& path, const ReadOptions& opt = {});
void write_any(const CellMatrix& m, const std::string& path, Format f);

// --- one reader/writer pair per format (h5ad_read.cpp, h5ad_write.cpp, tenx_mtx.cpp, tenx_h5.cpp, loom.cpp)
CellMatrix read_h5ad(const std::string& path, const ReadOptions& opt = {});
// The same from a file's bytes in memory; `label` names it in errors.
CellMatrix read_h5ad_image(std::string_view bytes, const std::string& label, const ReadOptions& opt = {});
void write_h5ad(const CellMatrix& m, const std::string& path);
// Number of cells of an .h5ad, from the length of its obs index (nothing else is read).
int64_t h5ad_n_cells(const std::string& path);

// `dir` holds matrix.mtx[.gz] (genes x cells), features.tsv[.gz] or genes.tsv,
// barcodes.tsv[.gz] and optionally obs.tsv[.gz] (header; first column = cell id).
// `prefix` selects a second matrix in the same folder (e.g. "grna_").
CellMatrix read_10x_mtx(const std::string& dir, const ReadOptions& opt = {}, const std::string& prefix = "");
void write_10x_mtx(const CellMatrix& m, const std::string& dir);

CellMatrix read_10x_h5(const std::string& path, const ReadOptions& opt = {});
void write_10x_h5(const CellMatrix& m, const std::string& path);

CellMatrix read_loom(const std::string& path, const ReadOptions& opt = {});
void write_loom(const CellMatrix& m, const std::string& path);

}  // namespace pg::io
