#include "io/hdf5.h"

#include <H5PLpublic.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <functional>
#include <mutex>

#include "core/error.h"
#include "io/lzf_filter.h"

namespace pg::io::h5 {

namespace {

// Collects the innermost HDF5 error message ("truncated file: eof = ...",
// "file signature not found", "can't open filter") of the current stack.
herr_t collect_message(unsigned n, const H5E_error2_t* err, void* out) {
  auto* messages = static_cast<std::vector<std::string>*>(out);
  (void)n;
  if (err->desc != nullptr && err->desc[0] != '\0') messages->emplace_back(err->desc);
  return 0;
}

std::string hdf5_message() {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_message, &messages);
  H5Eclear2(H5E_DEFAULT);
  if (messages.empty()) return "HDF5 error";
  // The deepest frame says what actually went wrong; the top one says which call.
  std::string deepest = messages.back();
  if (messages.size() > 1 && messages.front() != deepest) return deepest + " (" + messages.front() + ")";
  return deepest;
}

template <typename T>
hid_t native_type();
template <>
hid_t native_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
hid_t native_type<int8_t>() {
  return H5T_NATIVE_INT8;
}
template <>
hid_t native_type<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
hid_t native_type<int16_t>() {
  return H5T_NATIVE_INT16;
}
template <>
hid_t native_type<uint16_t>() {
  return H5T_NATIVE_UINT16;
}
template <>
hid_t native_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
hid_t native_type<uint32_t>() {
  return H5T_NATIVE_UINT32;
}
template <>
hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
hid_t native_type<uint64_t>() {
  return H5T_NATIVE_UINT64;
}

std::string dtype_name(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  switch (cls) {
    case H5T_INTEGER:
      return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
    case H5T_FLOAT:
      return "float" + std::to_string(size * 8);
    case H5T_STRING:
      return "str";
    case H5T_ENUM: {
      // h5py stores numpy bools as an int8 enum {FALSE, TRUE}.
      if (H5Tget_nmembers(type) == 2) {
        char* name = H5Tget_member_name(type, 0);
        const bool is_bool = name != nullptr && std::string(name) == "FALSE";
        H5free_memory(name);
        if (is_bool) return "bool";
      }
      return "enum";
    }
    case H5T_COMPOUND:
      return "compound";
    case H5T_REFERENCE:
      return "reference";
    default:
      return "other";
  }
}

// Memory and file dataspaces selecting rows [begin, end) of the first dimension.
struct Selection {
  Handle file_space;
  Handle mem_space;
  size_t count = 0;  // elements selected
};

Selection select_rows(hid_t dataset, std::optional<std::pair<int64_t, int64_t>> rows) {
  Selection s;
  s.file_space = Handle(H5Dget_space(dataset));
  const int rank = H5Sget_simple_extent_ndims(s.file_space);
  if (rank < 0) fail(dataset, "cannot read dataspace: " + hdf5_message());
  std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
  if (rank > 0) H5Sget_simple_extent_dims(s.file_space, dims.data(), nullptr);
  if (H5Sget_simple_extent_type(s.file_space) == H5S_NULL) {
    s.mem_space = Handle(H5Screate(H5S_NULL));
    return s;
  }
  if (!rows || rank == 0) {
    s.count = static_cast<size_t>(H5Sget_simple_extent_npoints(s.file_space));
    s.mem_space = Handle(H5Scopy(s.file_space));
    return s;
  }
  const auto [begin, end] = *rows;
  if (begin < 0 || end < begin || static_cast<hsize_t>(end) > dims[0]) {
    fail(dataset, "row range [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside 0.." +
                      std::to_string(dims[0]));
  }
  std::vector<hsize_t> start(dims.size(), 0), count(dims);
  start[0] = static_cast<hsize_t>(begin);
  count[0] = static_cast<hsize_t>(end - begin);
  H5Sselect_hyperslab(s.file_space, H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr);
  s.mem_space = Handle(H5Screate_simple(rank, count.data(), nullptr));
  s.count = 1;
  for (hsize_t c : count) s.count *= static_cast<size_t>(c);
  return s;
}

void check_filters(hid_t dataset) {
  const auto missing = missing_filters(dataset);
  if (!missing.empty()) {
    fail(dataset, "compression filter " + missing.front() +
                      " is not available to this HDF5 (install the Debian package hdf5-filter-plugin, "
                      "or point HDF5_PLUGIN_PATH at a folder holding the filter plugin)");
  }
}

std::vector<std::string> split_fixed(const std::vector<char>& buf, size_t width, size_t n) {
  std::vector<std::string> out(n);
  for (size_t i = 0; i < n; ++i) {
    const char* p = buf.data() + i * width;
    size_t len = 0;
    while (len < width && p[len] != '\0') ++len;
    while (len > 0 && p[len - 1] == ' ') --len;  // SPACEPAD strings
    out[i].assign(p, len);
  }
  return out;
}

std::vector<std::string> read_string_values(hid_t obj, hid_t file_type, size_t n,
                                            const std::function<herr_t(hid_t mem_type, void* buf)>& do_read) {
  if (H5Tget_class(file_type) != H5T_STRING) fail(obj, "expected strings, found " + dtype_name(file_type));
  if (H5Tis_variable_str(file_type) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(file_type));
    std::vector<char*> ptrs(n, nullptr);
    if (n > 0 && do_read(mem, ptrs.data()) < 0) fail(obj, "cannot read strings: " + hdf5_message());
    std::vector<std::string> out(n);
    for (size_t i = 0; i < n; ++i) {
      if (ptrs[i] != nullptr) out[i] = ptrs[i];
      H5free_memory(ptrs[i]);
    }
    return out;
  }
  const size_t width = H5Tget_size(file_type);
  Handle mem(H5Tcopy(H5T_C_S1));
  H5Tset_size(mem, width);
  H5Tset_strpad(mem, H5T_STR_NULLPAD);
  std::vector<char> buf(n * width + 1, '\0');
  if (n > 0 && do_read(mem, buf.data()) < 0) fail(obj, "cannot read strings: " + hdf5_message());
  return split_fixed(buf, width, n);
}

}  // namespace

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      H5Idec_ref(id_);
      break;
  }
  id_ = H5I_INVALID_HID;
}

void init() {
  static std::once_flag once;
  std::call_once(once, [] {
    H5open();
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    // Debian installs filter plugins here; HDF5's compiled-in default is elsewhere.
    for (const char* dir : {"/usr/lib/x86_64-linux-gnu/hdf5/serial/plugins",
                            "/usr/lib/aarch64-linux-gnu/hdf5/serial/plugins", "/usr/local/hdf5/lib/plugin"}) {
      std::error_code ec;
      if (std::filesystem::is_directory(dir, ec)) H5PLappend(dir);
    }
    register_lzf_filter();  // Debian's LZF plugin cannot be loaded; see lzf_filter.h
  });
}

Handle open_file(const std::string& path) {
  init();
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(path, "", "no such file");
  if (fs::is_directory(path, ec)) throw Error(path, "", "is a directory, expected an HDF5 file");
  if (fs::file_size(path, ec) == 0) throw Error(path, "", "file is empty (0 bytes), not an HDF5 file");
  if (H5Fis_hdf5(path.c_str()) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    throw Error(path, "", "not an HDF5 file (no HDF5 signature)");
  }
  hid_t id = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (id < 0) throw Error(path, "", "cannot open HDF5 file: " + hdf5_message());
  return Handle(id);
}

Handle create_file(const std::string& path) {
  init();
  hid_t id = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (id < 0) throw Error(path, "", "cannot create HDF5 file: " + hdf5_message());
  return Handle(id);
}

std::string file_name(hid_t obj) {
  const ssize_t n = H5Fget_name(obj, nullptr, 0);
  if (n <= 0) return "";
  std::string s(static_cast<size_t>(n), '\0');
  H5Fget_name(obj, s.data(), s.size() + 1);
  return s;
}

std::string object_path(hid_t obj) {
  const ssize_t n = H5Iget_name(obj, nullptr, 0);
  if (n <= 0) return "";
  std::string s(static_cast<size_t>(n), '\0');
  H5Iget_name(obj, s.data(), s.size() + 1);
  return s;
}

void fail(hid_t obj, const std::string& problem) {
  throw Error(file_name(obj), object_path(obj), problem);
}

void fail(hid_t loc, const std::string& name, const std::string& problem) {
  std::string base = object_path(loc);
  if (base.empty() || base.back() != '/') base += "/";
  throw Error(file_name(loc), name.rfind('/', 0) == 0 ? name : base + name, problem);
}

Kind kind(hid_t loc, const std::string& path) {
  // Check each link along the path so that a missing parent is not an HDF5 error.
  size_t pos = 0;
  while (true) {
    pos = path.find('/', pos + 1);
    const std::string prefix = path.substr(0, pos);
    if (!prefix.empty() && H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      return Kind::Missing;
    }
    if (pos == std::string::npos) break;
  }
  H5O_info_t info;
  if (H5Oget_info_by_name(loc, path.c_str(), &info, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return Kind::Missing;
  }
  if (info.type == H5O_TYPE_GROUP) return Kind::Group;
  if (info.type == H5O_TYPE_DATASET) return Kind::Dataset;
  return Kind::Other;
}

bool is_group(hid_t loc, const std::string& path) {
  return kind(loc, path) == Kind::Group;
}
bool is_dataset(hid_t loc, const std::string& path) {
  return kind(loc, path) == Kind::Dataset;
}

std::vector<std::string> children(hid_t group) {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5L_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  // Creation order when tracked (anndata's writers track it), else names.
  hsize_t idx = 0;
  if (H5Literate(group, H5_INDEX_CRT_ORDER, H5_ITER_INC, &idx, cb, &names) < 0) {
    H5Eclear2(H5E_DEFAULT);
    names.clear();
    idx = 0;
    if (H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names) < 0) {
      fail(group, "cannot list group: " + hdf5_message());
    }
  }
  return names;
}

Handle open_group(hid_t loc, const std::string& path) {
  const Kind k = kind(loc, path);
  if (k == Kind::Missing) fail(loc, path, "missing (expected a group)");
  if (k != Kind::Group) fail(loc, path, "is a dataset, expected a group");
  hid_t id = H5Gopen2(loc, path.c_str(), H5P_DEFAULT);
  if (id < 0) fail(loc, path, "cannot open group: " + hdf5_message());
  return Handle(id);
}

Handle open_dataset(hid_t loc, const std::string& path) {
  const Kind k = kind(loc, path);
  if (k == Kind::Missing) fail(loc, path, "missing (expected a dataset)");
  if (k != Kind::Dataset) fail(loc, path, "is a group, expected a dataset");
  hid_t id = H5Dopen2(loc, path.c_str(), H5P_DEFAULT);
  if (id < 0) fail(loc, path, "cannot open dataset: " + hdf5_message());
  return Handle(id);
}

Handle open_object(hid_t loc, const std::string& path) {
  if (kind(loc, path) == Kind::Missing) fail(loc, path, "missing");
  hid_t id = H5Oopen(loc, path.c_str(), H5P_DEFAULT);
  if (id < 0) fail(loc, path, "cannot open: " + hdf5_message());
  return Handle(id);
}

// ---- attributes --------------------------------------------------------

bool has_attr(hid_t obj, const std::string& name) {
  const htri_t r = H5Aexists(obj, name.c_str());
  if (r < 0) H5Eclear2(H5E_DEFAULT);
  return r > 0;
}

std::vector<std::string> attr_names(hid_t obj) {
  std::vector<std::string> names;
  auto cb = [](hid_t, const char* name, const H5A_info_t*, void* out) -> herr_t {
    static_cast<std::vector<std::string>*>(out)->emplace_back(name);
    return 0;
  };
  hsize_t idx = 0;
  if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, cb, &names) < 0) H5Eclear2(H5E_DEFAULT);
  return names;
}

namespace {

Handle open_attr(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) fail(obj, "attribute '" + name + "' missing");
  hid_t id = H5Aopen(obj, name.c_str(), H5P_DEFAULT);
  if (id < 0) fail(obj, "cannot open attribute '" + name + "': " + hdf5_message());
  return Handle(id);
}

size_t attr_count(hid_t attr) {
  Handle space(H5Aget_space(attr));
  if (H5Sget_simple_extent_type(space) == H5S_NULL) return 0;
  return static_cast<size_t>(H5Sget_simple_extent_npoints(space));
}

template <typename T>
std::vector<T> attr_numbers(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  Handle type(H5Aget_type(attr));
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_INTEGER && cls != H5T_FLOAT && cls != H5T_ENUM) {
    fail(obj, "attribute '" + name + "' is " + dtype_name(type) + ", expected numbers");
  }
  std::vector<T> out(attr_count(attr));
  if (out.empty()) return out;
  if (cls == H5T_ENUM) {
    // Enum values convert only to the same enum: read raw base integers.
    Handle native(H5Tget_native_type(type, H5T_DIR_ASCEND));
    std::vector<int8_t> raw(out.size() * H5Tget_size(native));
    if (H5Aread(attr, native, raw.data()) < 0) fail(obj, "cannot read attribute '" + name + "'");
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<T>(raw[i * H5Tget_size(native)]);
    return out;
  }
  if (H5Aread(attr, native_type<T>(), out.data()) < 0) {
    fail(obj, "cannot read attribute '" + name + "': " + hdf5_message());
  }
  return out;
}

}  // namespace

bool attr_is_string(hid_t obj, const std::string& name) {
  if (!has_attr(obj, name)) return false;
  Handle attr = open_attr(obj, name);
  Handle type(H5Aget_type(attr));
  return H5Tget_class(type) == H5T_STRING;
}

std::vector<std::string> attr_strings(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  Handle type(H5Aget_type(attr));
  const size_t n = attr_count(attr);
  if (H5Tget_class(type) != H5T_STRING) {
    fail(obj, "attribute '" + name + "' is " + dtype_name(type) + ", expected strings");
  }
  return read_string_values(obj, type, n, [&](hid_t mem, void* buf) { return H5Aread(attr, mem, buf); });
}

std::string attr_string(hid_t obj, const std::string& name) {
  auto v = attr_strings(obj, name);
  if (v.size() != 1)
    fail(obj, "attribute '" + name + "' has " + std::to_string(v.size()) + " strings, expected 1");
  return v[0];
}

std::vector<int64_t> attr_ints(hid_t obj, const std::string& name) {
  return attr_numbers<int64_t>(obj, name);
}
std::vector<double> attr_doubles(hid_t obj, const std::string& name) {
  return attr_numbers<double>(obj, name);
}

bool attr_bool(hid_t obj, const std::string& name) {
  auto v = attr_numbers<int64_t>(obj, name);
  if (v.size() != 1) fail(obj, "attribute '" + name + "' is not a scalar");
  return v[0] != 0;
}

Handle attr_reference(hid_t obj, const std::string& name) {
  Handle attr = open_attr(obj, name);
  Handle type(H5Aget_type(attr));
  if (H5Tget_class(type) != H5T_REFERENCE) fail(obj, "attribute '" + name + "' is not an object reference");
  hobj_ref_t ref;
  if (H5Aread(attr, H5T_STD_REF_OBJ, &ref) < 0) fail(obj, "cannot read reference '" + name + "'");
  hid_t id = H5Rdereference2(obj, H5P_DEFAULT, H5R_OBJECT, &ref);
  if (id < 0) fail(obj, "reference '" + name + "' points nowhere: " + hdf5_message());
  return Handle(id);
}

std::string encoding_type(hid_t obj) {
  if (!has_attr(obj, "encoding-type") || !attr_is_string(obj, "encoding-type")) return "";
  return attr_string(obj, "encoding-type");
}

// ---- datasets -----------------------------------------------------------

DatasetInfo dataset_info(hid_t dataset) {
  DatasetInfo info;
  Handle space(H5Dget_space(dataset));
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0) fail(dataset, "cannot read dataspace");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  if (rank > 0) H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  for (hsize_t d : dims) info.shape.push_back(static_cast<int64_t>(d));
  Handle type(H5Dget_type(dataset));
  info.type_class = H5Tget_class(type);
  info.dtype = dtype_name(type);
  info.type_size = H5Tget_size(type);
  return info;
}

template <typename T>
std::vector<T> read(hid_t dataset, std::optional<std::pair<int64_t, int64_t>> rows) {
  check_filters(dataset);
  Handle type(H5Dget_type(dataset));
  const H5T_class_t cls = H5Tget_class(type);
  Selection sel = select_rows(dataset, rows);
  std::vector<T> out(sel.count);
  if (sel.count == 0) return out;
  if (cls == H5T_ENUM) {
    Handle native(H5Tget_native_type(type, H5T_DIR_ASCEND));
    const size_t width = H5Tget_size(native);
    std::vector<uint8_t> raw(sel.count * width);
    if (H5Dread(dataset, native, sel.mem_space, sel.file_space, H5P_DEFAULT, raw.data()) < 0) {
      fail(dataset, "cannot read data: " + hdf5_message());
    }
    for (size_t i = 0; i < sel.count; ++i) {
      int64_t v = 0;
      std::memcpy(&v, raw.data() + i * width, std::min(width, sizeof(v)));
      out[i] = static_cast<T>(v);
    }
    return out;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) {
    fail(dataset, "holds " + dtype_name(type) + ", expected numbers");
  }
  if (H5Dread(dataset, native_type<T>(), sel.mem_space, sel.file_space, H5P_DEFAULT, out.data()) < 0) {
    fail(dataset, "cannot read data: " + hdf5_message());
  }
  return out;
}

std::vector<std::string> read_strings(hid_t dataset, std::optional<std::pair<int64_t, int64_t>> rows) {
  check_filters(dataset);
  Handle type(H5Dget_type(dataset));
  Selection sel = select_rows(dataset, rows);
  return read_string_values(dataset, type, sel.count, [&](hid_t mem, void* buf) {
    return H5Dread(dataset, mem, sel.mem_space, sel.file_space, H5P_DEFAULT, buf);
  });
}

template <typename T>
std::vector<T> read_block(hid_t dataset, std::pair<int64_t, int64_t> rows, std::pair<int64_t, int64_t> cols) {
  check_filters(dataset);
  Handle type(H5Dget_type(dataset));
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail(dataset, "holds " + dtype_name(type) + ", expected numbers");
  Handle file_space(H5Dget_space(dataset));
  if (H5Sget_simple_extent_ndims(file_space) != 2) fail(dataset, "expected a 2-D dataset");
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(file_space, dims, nullptr);
  auto outside = [](std::pair<int64_t, int64_t> r, hsize_t n) {
    return r.first < 0 || r.second < r.first || static_cast<hsize_t>(r.second) > n;
  };
  if (outside(rows, dims[0]) || outside(cols, dims[1])) {
    fail(dataset, "block rows [" + std::to_string(rows.first) + ", " + std::to_string(rows.second) + ") x columns [" +
                      std::to_string(cols.first) + ", " + std::to_string(cols.second) + ") outside " +
                      std::to_string(dims[0]) + " x " + std::to_string(dims[1]));
  }
  hsize_t start[2] = {static_cast<hsize_t>(rows.first), static_cast<hsize_t>(cols.first)};
  hsize_t count[2] = {static_cast<hsize_t>(rows.second - rows.first), static_cast<hsize_t>(cols.second - cols.first)};
  std::vector<T> out(static_cast<size_t>(count[0] * count[1]));
  if (out.empty()) return out;
  H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mem(H5Screate_simple(2, count, nullptr));
  if (H5Dread(dataset, native_type<T>(), mem, file_space, H5P_DEFAULT, out.data()) < 0) {
    fail(dataset, "cannot read data: " + hdf5_message());
  }
  return out;
}

std::vector<std::string> compound_fields(hid_t dataset) {
  Handle type(H5Dget_type(dataset));
  if (H5Tget_class(type) != H5T_COMPOUND) return {};
  std::vector<std::string> names;
  const int n = H5Tget_nmembers(type);
  for (int i = 0; i < n; ++i) {
    char* name = H5Tget_member_name(type, static_cast<unsigned>(i));
    names.emplace_back(name);
    H5free_memory(name);
  }
  return names;
}

namespace {

Handle field_type(hid_t dataset, const std::string& field) {
  Handle type(H5Dget_type(dataset));
  const int idx = H5Tget_member_index(type, field.c_str());
  if (idx < 0) {
    H5Eclear2(H5E_DEFAULT);
    fail(dataset, "record field '" + field + "' missing");
  }
  return Handle(H5Tget_member_type(type, static_cast<unsigned>(idx)));
}

}  // namespace

H5T_class_t compound_field_class(hid_t dataset, const std::string& field) {
  Handle ft = field_type(dataset, field);
  return H5Tget_class(ft);
}

template <typename T>
std::vector<T> read_field(hid_t dataset, const std::string& field) {
  check_filters(dataset);
  Handle ft = field_type(dataset, field);
  const H5T_class_t cls = H5Tget_class(ft);
  const size_t n = static_cast<size_t>(dataset_info(dataset).rows());
  std::vector<T> out(n);
  if (n == 0) return out;
  if (cls == H5T_ENUM) {
    Handle native(H5Tget_native_type(ft, H5T_DIR_ASCEND));
    const size_t width = H5Tget_size(native);
    Handle mem(H5Tcreate(H5T_COMPOUND, width));
    H5Tinsert(mem, field.c_str(), 0, native);
    std::vector<uint8_t> raw(n * width);
    if (H5Dread(dataset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()) < 0) {
      fail(dataset, "cannot read field '" + field + "': " + hdf5_message());
    }
    for (size_t i = 0; i < n; ++i) {
      int64_t v = 0;
      std::memcpy(&v, raw.data() + i * width, std::min(width, sizeof(v)));
      out[i] = static_cast<T>(v);
    }
    return out;
  }
  if (cls != H5T_INTEGER && cls != H5T_FLOAT) fail(dataset, "record field '" + field + "' is not numeric");
  Handle mem(H5Tcreate(H5T_COMPOUND, sizeof(T)));
  H5Tinsert(mem, field.c_str(), 0, native_type<T>());
  if (H5Dread(dataset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()) < 0) {
    fail(dataset, "cannot read field '" + field + "': " + hdf5_message());
  }
  return out;
}

std::vector<std::string> read_field_strings(hid_t dataset, const std::string& field) {
  check_filters(dataset);
  Handle ft = field_type(dataset, field);
  const size_t n = static_cast<size_t>(dataset_info(dataset).rows());
  return read_string_values(dataset, ft, n, [&](hid_t mem_str, void* buf) {
    Handle mem(H5Tcreate(H5T_COMPOUND, H5Tget_size(mem_str)));
    H5Tinsert(mem, field.c_str(), 0, mem_str);
    return H5Dread(dataset, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  });
}

std::vector<std::string> missing_filters(hid_t dataset) {
  std::vector<std::string> out;
  Handle plist(H5Dget_create_plist(dataset));
  const int n = H5Pget_nfilters(plist);
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nelmts = 0;
    char name[256] = {0};
    unsigned config = 0;
    const H5Z_filter_t id = H5Pget_filter2(plist, static_cast<unsigned>(i), &flags, &nelmts, nullptr,
                                           sizeof(name), name, &config);
    if (id < 0) continue;
    if (H5Zfilter_avail(id) <= 0) {
      H5Eclear2(H5E_DEFAULT);
      std::string label = id == 32000 ? "lzf" : (name[0] != '\0' ? name : "unknown");
      out.push_back(label + " (HDF5 filter id " + std::to_string(id) + ")");
    }
  }
  return out;
}

// ---- writing ------------------------------------------------------------

Handle create_group(hid_t loc, const std::string& name) {
  Handle gcpl(H5Pcreate(H5P_GROUP_CREATE));
  // Track creation order so readers list columns and keys in the order written.
  H5Pset_link_creation_order(gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
  hid_t id = H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, gcpl, H5P_DEFAULT);
  if (id < 0) fail(loc, name, "cannot create group: " + hdf5_message());
  return Handle(id);
}

namespace {

Handle make_dataset(hid_t loc, const std::string& name, hid_t file_type, const std::vector<int64_t>& shape,
                    size_t n_elements, size_t element_size, WriteOptions opt) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  Handle space(dims.empty() ? H5Screate(H5S_SCALAR)
                            : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (opt.compress && !dims.empty() && n_elements * element_size > 4096) {
    // Chunks of ~256 KiB along the first dimension keep row-range reads cheap.
    std::vector<hsize_t> chunk(dims);
    size_t row_elems = 1;
    for (size_t i = 1; i < dims.size(); ++i) row_elems *= static_cast<size_t>(dims[i]);
    const size_t rows = std::max<size_t>(1, (256 * 1024) / std::max<size_t>(1, row_elems * element_size));
    chunk[0] = std::min<hsize_t>(dims[0], rows);
    H5Pset_chunk(dcpl, static_cast<int>(chunk.size()), chunk.data());
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
  }
  hid_t id = H5Dcreate2(loc, name.c_str(), file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (id < 0) fail(loc, name, "cannot create dataset: " + hdf5_message());
  return Handle(id);
}

template <typename T>
hid_t file_type_for() {
  // Little-endian standard types, as numpy/h5py write on every common platform.
  if constexpr (std::is_same_v<T, float>) return H5T_IEEE_F32LE;
  if constexpr (std::is_same_v<T, double>) return H5T_IEEE_F64LE;
  if constexpr (std::is_same_v<T, int8_t>) return H5T_STD_I8LE;
  if constexpr (std::is_same_v<T, uint8_t>) return H5T_STD_U8LE;
  if constexpr (std::is_same_v<T, int16_t>) return H5T_STD_I16LE;
  if constexpr (std::is_same_v<T, uint16_t>) return H5T_STD_U16LE;
  if constexpr (std::is_same_v<T, int32_t>) return H5T_STD_I32LE;
  if constexpr (std::is_same_v<T, uint32_t>) return H5T_STD_U32LE;
  if constexpr (std::is_same_v<T, int64_t>) return H5T_STD_I64LE;
  if constexpr (std::is_same_v<T, uint64_t>) return H5T_STD_U64LE;
}

Handle vlen_utf8() {
  Handle t(H5Tcopy(H5T_C_S1));
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

Handle bool_enum() {
  Handle t(H5Tenum_create(H5T_NATIVE_INT8));
  int8_t f = 0, tr = 1;
  H5Tenum_insert(t, "FALSE", &f);
  H5Tenum_insert(t, "TRUE", &tr);
  return t;
}

}  // namespace

template <typename T>
Handle write(hid_t loc, const std::string& name, const std::vector<T>& data,
             const std::vector<int64_t>& shape, WriteOptions opt) {
  size_t n = 1;
  for (int64_t d : shape) n *= static_cast<size_t>(d);
  if (n != data.size()) fail(loc, name, "internal: shape does not match data size");
  Handle ds = make_dataset(loc, name, file_type_for<T>(), shape, n, sizeof(T), opt);
  if (n > 0 && H5Dwrite(ds, native_type<T>(), H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()) < 0) {
    fail(loc, name, "cannot write dataset: " + hdf5_message());
  }
  return ds;
}

template <typename T>
Handle write_scalar(hid_t loc, const std::string& name, T value) {
  return write<T>(loc, name, std::vector<T>{value}, {}, WriteOptions{false});
}

Handle write_bools(hid_t loc, const std::string& name, const std::vector<uint8_t>& data, WriteOptions opt) {
  Handle type = bool_enum();
  Handle ds = make_dataset(loc, name, type, {static_cast<int64_t>(data.size())}, data.size(), 1, opt);
  std::vector<int8_t> v(data.begin(), data.end());
  for (auto& x : v) x = x != 0 ? 1 : 0;
  if (!v.empty() && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data()) < 0) {
    fail(loc, name, "cannot write dataset: " + hdf5_message());
  }
  return ds;
}

Handle write_strings(hid_t loc, const std::string& name, const std::vector<std::string>& data) {
  Handle type = vlen_utf8();
  Handle ds =
      make_dataset(loc, name, type, {static_cast<int64_t>(data.size())}, data.size(), 16, WriteOptions{});
  std::vector<const char*> ptrs(data.size());
  for (size_t i = 0; i < data.size(); ++i) ptrs[i] = data[i].c_str();
  if (!ptrs.empty() && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, ptrs.data()) < 0) {
    fail(loc, name, "cannot write strings: " + hdf5_message());
  }
  return ds;
}

Handle write_fixed_strings(hid_t loc, const std::string& name, const std::vector<std::string>& data) {
  size_t width = 1;
  for (const auto& s : data) width = std::max(width, s.size());
  Handle type(H5Tcopy(H5T_C_S1));
  H5Tset_size(type, width);
  H5Tset_strpad(type, H5T_STR_NULLPAD);
  std::vector<char> buf(data.size() * width, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    std::memcpy(buf.data() + i * width, data[i].data(), data[i].size());
  Handle ds =
      make_dataset(loc, name, type, {static_cast<int64_t>(data.size())}, data.size(), width, WriteOptions{});
  if (!buf.empty() && H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf.data()) < 0) {
    fail(loc, name, "cannot write strings: " + hdf5_message());
  }
  return ds;
}

Handle write_scalar_string(hid_t loc, const std::string& name, const std::string& value) {
  Handle type = vlen_utf8();
  Handle ds = make_dataset(loc, name, type, {}, 1, 16, WriteOptions{false});
  const char* p = value.c_str();
  if (H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &p) < 0) fail(loc, name, "cannot write string");
  return ds;
}

template <typename T>
Handle create_2d(hid_t loc, const std::string& name, int64_t rows, int64_t cols, std::pair<int64_t, int64_t> chunk) {
  hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  Handle space(H5Screate_simple(2, dims, nullptr));
  Handle dcpl(H5Pcreate(H5P_DATASET_CREATE));
  if (rows > 0 && cols > 0) {
    hsize_t c[2] = {static_cast<hsize_t>(std::clamp<int64_t>(chunk.first, 1, rows)),
                    static_cast<hsize_t>(std::clamp<int64_t>(chunk.second, 1, cols))};
    H5Pset_chunk(dcpl, 2, c);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 4);
  }
  hid_t id = H5Dcreate2(loc, name.c_str(), file_type_for<T>(), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (id < 0) fail(loc, name, "cannot create dataset: " + hdf5_message());
  return Handle(id);
}

template <typename T>
void write_rows(hid_t dataset, int64_t begin, const std::vector<T>& data) {
  Handle space(H5Dget_space(dataset));
  if (H5Sget_simple_extent_ndims(space) != 2) fail(dataset, "internal: write_rows needs a 2-D dataset");
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(space, dims, nullptr);
  if (dims[1] == 0 || data.empty()) return;
  const hsize_t n = data.size() / dims[1];
  if (data.size() % dims[1] != 0 || begin < 0 || static_cast<hsize_t>(begin) + n > dims[0]) {
    fail(dataset, "internal: row block does not fit the dataset");
  }
  hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
  hsize_t count[2] = {n, dims[1]};
  H5Sselect_hyperslab(space, H5S_SELECT_SET, start, nullptr, count, nullptr);
  Handle mem(H5Screate_simple(2, count, nullptr));
  if (H5Dwrite(dataset, native_type<T>(), mem, space, H5P_DEFAULT, data.data()) < 0) {
    fail(dataset, "cannot write dataset: " + hdf5_message());
  }
}

namespace {

void write_attr(hid_t obj, const std::string& name, hid_t type, hid_t space, const void* buf) {
  if (has_attr(obj, name)) H5Adelete(obj, name.c_str());
  Handle attr(H5Acreate2(obj, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr, type, buf) < 0) {
    fail(obj, "cannot write attribute '" + name + "': " + hdf5_message());
  }
}

}  // namespace

void set_attr(hid_t obj, const std::string& name, const std::string& value) {
  Handle type = vlen_utf8();
  Handle space(H5Screate(H5S_SCALAR));
  const char* p = value.c_str();
  write_attr(obj, name, type, space, &p);
}

void set_attr(hid_t obj, const std::string& name, const std::vector<std::string>& values) {
  if (values.empty()) {
    // h5py stores an empty list as an empty float64 array; anndata reads that as no columns.
    hsize_t zero = 0;
    Handle space(H5Screate_simple(1, &zero, nullptr));
    double dummy = 0;
    write_attr(obj, name, H5T_IEEE_F64LE, space, &dummy);
    return;
  }
  Handle type = vlen_utf8();
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  std::vector<const char*> ptrs(values.size());
  for (size_t i = 0; i < values.size(); ++i) ptrs[i] = values[i].c_str();
  write_attr(obj, name, type, space, ptrs.data());
}

void set_attr(hid_t obj, const std::string& name, const std::vector<int64_t>& values) {
  hsize_t n = values.size();
  Handle space(H5Screate_simple(1, &n, nullptr));
  if (has_attr(obj, name)) H5Adelete(obj, name.c_str());
  Handle attr(H5Acreate2(obj, name.c_str(), H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT));
  if (!attr.valid() || H5Awrite(attr, H5T_NATIVE_INT64, values.data()) < 0) {
    fail(obj, "cannot write attribute '" + name + "'");
  }
}

void set_attr_int(hid_t obj, const std::string& name, int64_t value) {
  Handle space(H5Screate(H5S_SCALAR));
  write_attr(obj, name, H5T_STD_I64LE, space, &value);
}

void set_attr_bool(hid_t obj, const std::string& name, bool value) {
  Handle type = bool_enum();
  Handle space(H5Screate(H5S_SCALAR));
  int8_t v = value ? 1 : 0;
  write_attr(obj, name, type, space, &v);
}

void set_encoding(hid_t obj, const std::string& type, const std::string& version) {
  set_attr(obj, "encoding-type", type);
  set_attr(obj, "encoding-version", version);
}

#define PG_H5_INSTANTIATE(T)                                                                              \
  template std::vector<T> read<T>(hid_t, std::optional<std::pair<int64_t, int64_t>>);                     \
  template std::vector<T> read_field<T>(hid_t, const std::string&);                                       \
  template Handle write<T>(hid_t, const std::string&, const std::vector<T>&, const std::vector<int64_t>&, \
                           WriteOptions);                                                                 \
  template Handle write_scalar<T>(hid_t, const std::string&, T);                                        \
  template std::vector<T> read_block<T>(hid_t, std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>); \
  template Handle create_2d<T>(hid_t, const std::string&, int64_t, int64_t, std::pair<int64_t, int64_t>); \
  template void write_rows<T>(hid_t, int64_t, const std::vector<T>&);
PG_H5_INSTANTIATE(float)
PG_H5_INSTANTIATE(double)
PG_H5_INSTANTIATE(int8_t)
PG_H5_INSTANTIATE(uint8_t)
PG_H5_INSTANTIATE(int16_t)
PG_H5_INSTANTIATE(uint16_t)
PG_H5_INSTANTIATE(int32_t)
PG_H5_INSTANTIATE(uint32_t)
PG_H5_INSTANTIATE(int64_t)
PG_H5_INSTANTIATE(uint64_t)
#undef PG_H5_INSTANTIATE

}  // namespace pg::io::h5
