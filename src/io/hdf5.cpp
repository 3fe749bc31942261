#include "io/hdf5.h"

#include <H5PLpublic.h>

#include <filesystem>
#include <mutex>

#include "core/error.h"
#include "io/hdf5_detail.h"
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

}  // namespace

namespace detail {

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

}  // namespace detail

using detail::dtype_name;
using detail::hdf5_message;
using detail::native_type;
using detail::read_string_values;

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

Handle open_file_image(std::string_view bytes, const std::string& label) {
  init();
  if (bytes.empty()) throw Error(label, "", "file is empty (0 bytes), not an HDF5 file");
  Handle fapl(H5Pcreate(H5P_FILE_ACCESS));
  H5Pset_fapl_core(fapl, 64 * 1024, false);
  if (H5Pset_file_image(fapl, const_cast<char*>(bytes.data()), bytes.size()) < 0) {
    throw Error(label, "", "cannot load HDF5 image: " + hdf5_message());
  }
  hid_t id = H5Fopen(label.c_str(), H5F_ACC_RDONLY, fapl);
  if (id < 0) throw Error(label, "", "cannot open HDF5 file: " + hdf5_message());
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
  // Every read here touches each chunk once (one H5Dread per selection), so a
  // chunk cache only adds a copy: without one HDF5 reads unfiltered chunks
  // straight into the caller's buffer.
  Handle dapl(H5Pcreate(H5P_DATASET_ACCESS));
  H5Pset_chunk_cache(dapl, 0, 0, 1.0);
  hid_t id = H5Dopen2(loc, path.c_str(), dapl);
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
  return read_string_values(
      obj, type, n, [&](hid_t mem, hid_t, void* buf) { return H5Aread(attr, mem, buf); }, true);
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

}  // namespace pg::io::h5
