#include "io/formats.h"

#include <filesystem>

#include "core/error.h"
#include "io/hdf5.h"

namespace fs = std::filesystem;

namespace pg::io {

std::string format_name(Format f) {
  switch (f) {
    case Format::H5ad:
      return "h5ad";
    case Format::TenxMtx:
      return "10x-mtx";
    case Format::TenxH5:
      return "10x-h5";
    case Format::Loom:
      return "loom";
  }
  return "?";
}

Format parse_format(const std::string& name) {
  for (Format f : {Format::H5ad, Format::TenxMtx, Format::TenxH5, Format::Loom}) {
    if (name == format_name(f)) return f;
  }
  if (name == "mtx") return Format::TenxMtx;
  if (name == "h5" || name == "10x") return Format::TenxH5;
  throw Error("", "--to", "unknown format '" + name + "' (use h5ad, 10x-mtx, 10x-h5 or loom)");
}

Format detect_format(const std::string& path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path, "", "no such file or directory");
  if (fs::is_directory(path, ec)) return Format::TenxMtx;
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".mtx" || ext == ".gz") {
    throw Error(path, "",
                "give the folder that holds the MatrixMarket file, features and barcodes, not the file");
  }
  // HDF5 files are told apart by what they contain, not by their name.
  h5::Handle file = h5::open_file(path);
  if (h5::kind(file, "obs") != h5::Kind::Missing || h5::kind(file, "X") != h5::Kind::Missing)
    return Format::H5ad;
  if (h5::is_dataset(file, "matrix") && h5::kind(file, "row_attrs") != h5::Kind::Missing) return Format::Loom;
  if (h5::is_group(file, "matrix")) return Format::TenxH5;
  for (const auto& child : h5::children(file)) {
    if (h5::is_group(file, child) && h5::is_dataset(file, child + "/barcodes")) return Format::TenxH5;
  }
  if (ext == ".h5ad") return Format::H5ad;  // let the h5ad reader say what is missing
  throw Error(path, "/", "HDF5 file is neither h5ad (no /obs), loom (no /matrix + /row_attrs) nor 10x HDF5");
}

Format format_for_output(const std::string& path) {
  const std::string ext = fs::path(path).extension().string();
  if (ext == ".h5ad") return Format::H5ad;
  if (ext == ".loom") return Format::Loom;
  if (ext == ".h5" || ext == ".hdf5") return Format::TenxH5;
  if (ext.empty()) return Format::TenxMtx;
  throw Error(path, "",
              "cannot tell the output format from extension '" + ext +
                  "' (use .h5ad, .loom, .h5, a folder name for 10x MatrixMarket, or --to)");
}

namespace {

CellMatrix read_detected(const std::string& path, const ReadOptions& opt) {
  switch (detect_format(path)) {
    case Format::H5ad:
      return read_h5ad(path, opt);
    case Format::TenxMtx:
      return read_10x_mtx(path, opt);
    case Format::TenxH5:
      return read_10x_h5(path, opt);
    case Format::Loom:
      return read_loom(path, opt);
  }
  throw Error(path, "", "unknown format");
}

}  // namespace

CellMatrix read_any(const std::string& path, const ReadOptions& opt) {
  CellMatrix m = read_detected(path, opt);
  if (opt.obs_columns) keep_columns(m.obs, *opt.obs_columns);
  return m;
}

void write_any(const CellMatrix& m, const std::string& path, Format f) {
  switch (f) {
    case Format::H5ad:
      return write_h5ad(m, path);
    case Format::TenxMtx:
      return write_10x_mtx(m, path);
    case Format::TenxH5:
      return write_10x_h5(m, path);
    case Format::Loom:
      return write_loom(m, path);
  }
}

}  // namespace pg::io
