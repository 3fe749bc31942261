// A thin RAII layer over the HDF5 C library: handles that close themselves,
// typed reads that let HDF5 convert between numeric types, strings in both
// fixed-length and variable-length form, and errors that name the file and
// the object. Everything HDF5-specific that the h5ad, 10x and loom readers
// share lives here; the format code above it reads like the format spec.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pg::io::h5 {

// An owned HDF5 identifier (file, group, dataset, attribute, type, space, plist).
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  ~Handle() { reset(); }
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: used directly in H5 calls
  bool valid() const { return id_ >= 0; }
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Silences HDF5's own stderr printing, points it at the system's filter plugin
// folders (LZF, LZ4, BZip2, ...) and checks the library once per process.
void init();

// Opens an existing HDF5 file read-only; a missing file, a directory, a
// non-HDF5 or truncated file gives a one-line pg::Error.
Handle open_file(const std::string& path);
// Opens an HDF5 file held in memory (HDF5's core driver; the bytes are
// copied). `label` stands for the file name in errors. Used by the fuzz
// target and by callers that already hold a file's bytes.
Handle open_file_image(std::string_view bytes, const std::string& label);
// Creates (truncates) a file for writing.
Handle create_file(const std::string& path);

// The file name and the object path of an open handle, for error messages.
std::string file_name(hid_t obj);
std::string object_path(hid_t obj);
// Throws pg::Error for `obj` (file and path from the handle) with `problem`.
[[noreturn]] void fail(hid_t obj, const std::string& problem);
[[noreturn]] void fail(hid_t loc, const std::string& name, const std::string& problem);

enum class Kind { Missing, Group, Dataset, Other };
// Kind of the object at `path` relative to `loc` (missing links are Missing).
Kind kind(hid_t loc, const std::string& path);
bool is_group(hid_t loc, const std::string& path);
bool is_dataset(hid_t loc, const std::string& path);
// Names of the links directly inside a group, in creation (or name) order.
std::vector<std::string> children(hid_t group);

Handle open_group(hid_t loc, const std::string& path);
Handle open_dataset(hid_t loc, const std::string& path);
// Opens `path` whatever it is (group or dataset).
Handle open_object(hid_t loc, const std::string& path);

// ---- attributes --------------------------------------------------------
bool has_attr(hid_t obj, const std::string& name);
std::vector<std::string> attr_names(hid_t obj);
std::string attr_string(hid_t obj, const std::string& name);  // scalar or 1-element string
std::vector<std::string> attr_strings(hid_t obj, const std::string& name);
std::vector<int64_t> attr_ints(hid_t obj, const std::string& name);
std::vector<double> attr_doubles(hid_t obj, const std::string& name);
bool attr_bool(hid_t obj, const std::string& name);
// True if the attribute holds strings (fixed or variable length).
bool attr_is_string(hid_t obj, const std::string& name);
// The object an object-reference attribute points at (anndata 0.7 categoricals).
Handle attr_reference(hid_t obj, const std::string& name);
// The encoding-type attribute, or "" when absent.
std::string encoding_type(hid_t obj);

// ---- datasets -----------------------------------------------------------
struct DatasetInfo {
  std::vector<int64_t> shape;
  H5T_class_t type_class = H5T_NO_CLASS;
  std::string dtype;  // numpy-style: "float32", "int64", "uint8", "bool", "str", "compound", ...
  size_t type_size = 0;
  bool is_string() const { return type_class == H5T_STRING; }
  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
};
DatasetInfo dataset_info(hid_t dataset);

// Numeric read of a whole dataset, or rows [begin, end) of its first
// dimension; HDF5 converts the stored type to T (int -> float, etc.).
// Booleans (h5py enums) read as 0/1.
template <typename T>
std::vector<T> read(hid_t dataset, std::optional<std::pair<int64_t, int64_t>> rows = std::nullopt);
std::vector<std::string> read_strings(hid_t dataset,
                                      std::optional<std::pair<int64_t, int64_t>> rows = std::nullopt);
// The block rows [r0, r1) x columns [c0, c1) of a 2-D dataset, row-major
// (loom stores genes x cells, so a cell range is a column range).
template <typename T>
std::vector<T> read_block(hid_t dataset, std::pair<int64_t, int64_t> rows, std::pair<int64_t, int64_t> cols);

// Compound (record) datasets of old anndata files: field names, and one field.
std::vector<std::string> compound_fields(hid_t dataset);
H5T_class_t compound_field_class(hid_t dataset, const std::string& field);
template <typename T>
std::vector<T> read_field(hid_t dataset, const std::string& field);
std::vector<std::string> read_field_strings(hid_t dataset, const std::string& field);

// The filters a dataset needs that this HDF5 cannot load ("lzf (32000)"), so
// a reader can say which plugin is missing before HDF5 fails on the data.
std::vector<std::string> missing_filters(hid_t dataset);

// ---- writing ------------------------------------------------------------
Handle create_group(hid_t loc, const std::string& name);
struct WriteOptions {
  bool compress = true;  // gzip (deflate) level 4 with shuffle, chunked, for arrays above a few KB
};
// Writes a 1-D or 2-D dataset (shape given; product must equal data.size()).
template <typename T>
Handle write(hid_t loc, const std::string& name, const std::vector<T>& data,
             const std::vector<int64_t>& shape, WriteOptions opt = {});
// Booleans as h5py does (enum of int8 FALSE/TRUE), so numpy reads dtype bool.
Handle write_bools(hid_t loc, const std::string& name, const std::vector<uint8_t>& data,
                   WriteOptions opt = {});
// Variable-length UTF-8 strings (what h5py and anndata write).
Handle write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& data);
// Fixed-length ASCII strings padded with NULs (10x HDF5 and loom 2 style).
Handle write_fixed_strings(hid_t loc, const std::string& name, const std::vector<std::string>& data);
Handle write_scalar_string(hid_t loc, const std::string& name, const std::string& value);
// An empty 2-D dataset of T, chunked as `chunk` and gzip-compressed, to be
// filled strip by strip with write_rows (dense matrices too big to build whole).
template <typename T>
Handle create_2d(hid_t loc, const std::string& name, int64_t rows, int64_t cols,
                 std::pair<int64_t, int64_t> chunk);
// Writes rows [begin, begin + data.size() / cols) of a 2-D dataset.
template <typename T>
void write_rows(hid_t dataset, int64_t begin, const std::vector<T>& data);
template <typename T>
Handle write_scalar(hid_t loc, const std::string& name, T value);

void set_attr(hid_t obj, const std::string& name, const std::string& value);  // scalar vlen UTF-8
void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values);
void set_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& values);
void set_attr_int(hid_t obj, const std::string& name, int64_t value);  // scalar int64
void set_attr_bool(hid_t obj, const std::string& name, bool value);
// encoding-type and encoding-version, as every anndata >= 0.8 element carries.
void set_encoding(hid_t obj, const std::string& type, const std::string& version);

}  // namespace pg::io::h5
