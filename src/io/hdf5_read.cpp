// Reading datasets: shape and type, numbers (whole, a row range or a 2-D
// block), strings, the fields of compound (record) datasets, and the check
// for compression filters this HDF5 cannot load.
#include <algorithm>
#include <cstring>
#include <memory>

#include "io/hdf5.h"
#include "io/hdf5_detail.h"

namespace pg::io::h5 {

using detail::dtype_name;
using detail::hdf5_message;
using detail::native_type;
using detail::read_string_values;

namespace {

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

}  // namespace

namespace detail {

// Variable-length strings of one read come from large blocks that are
// released together, instead of one malloc and one free per string.
class StringArena {
 public:
  static void* alloc(size_t size, void* self) { return static_cast<StringArena*>(self)->take(size); }
  static void release(void*, void*) {}  // everything goes when the arena does

 private:
  void* take(size_t size) {
    size = (size + 7) & ~size_t{7};
    if (blocks_.empty() || used_ + size > capacity_) {
      capacity_ = std::max<size_t>(size, 1 << 20);
      blocks_.push_back(std::make_unique<char[]>(capacity_));
      used_ = 0;
    }
    void* p = blocks_.back().get() + used_;
    used_ += size;
    return p;
  }
  std::vector<std::unique_ptr<char[]>> blocks_;
  size_t used_ = 0;
  size_t capacity_ = 0;
};

std::vector<std::string> read_string_values(hid_t obj, hid_t file_type, size_t n, const StringReader& do_read,
                                            bool obj_is_attribute) {
  if (H5Tget_class(file_type) != H5T_STRING) fail(obj, "expected strings, found " + dtype_name(file_type));
  // A corrupt dataspace can claim more strings than any file could hold
  // (every value takes at least a byte before compression, and deflate
  // compresses at most about 1032:1): refuse before allocating for them.
  hsize_t file_size = 0;
  const Handle file(H5Iget_file_id(obj));
  if (file.valid() && H5Fget_filesize(file, &file_size) >= 0 && n > (file_size + 1024) * 1100)
    fail(obj, "claims " + std::to_string(n) + " strings, more than a file of " + std::to_string(file_size) +
                  " bytes can hold");
  if (H5Tis_variable_str(file_type) > 0) {
    Handle mem(H5Tcopy(H5T_C_S1));
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(file_type));
    StringArena arena;
    Handle dxpl(H5Pcreate(H5P_DATASET_XFER));
    H5Pset_vlen_mem_manager(dxpl, StringArena::alloc, &arena, StringArena::release, &arena);
    std::vector<char*> ptrs(n, nullptr);
    if (n > 0 && do_read(mem, dxpl, ptrs.data()) < 0) fail(obj, "cannot read strings: " + hdf5_message());
    std::vector<std::string> out(n);
    for (size_t i = 0; i < n; ++i) {
      if (ptrs[i] != nullptr) out[i] = ptrs[i];
      if (obj_is_attribute) H5free_memory(ptrs[i]);  // attributes ignore dxpl: HDF5 malloc'd them
    }
    return out;
  }
  const size_t width = H5Tget_size(file_type);
  Handle mem(H5Tcopy(H5T_C_S1));
  H5Tset_size(mem, width);
  H5Tset_strpad(mem, H5T_STR_NULLPAD);
  std::vector<char> buf(n * width + 1, '\0');
  if (n > 0 && do_read(mem, H5P_DEFAULT, buf.data()) < 0) fail(obj, "cannot read strings: " + hdf5_message());
  return split_fixed(buf, width, n);
}

}  // namespace detail

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
  return read_string_values(dataset, type, sel.count, [&](hid_t mem, hid_t dxpl, void* buf) {
    return H5Dread(dataset, mem, sel.mem_space, sel.file_space, dxpl, buf);
  });
}

template <typename T>
std::vector<T> read_block(hid_t dataset, std::pair<int64_t, int64_t> rows, std::pair<int64_t, int64_t> cols) {
  check_filters(dataset);
  Handle type(H5Dget_type(dataset));
  const H5T_class_t cls = H5Tget_class(type);
  if (cls != H5T_INTEGER && cls != H5T_FLOAT)
    fail(dataset, "holds " + dtype_name(type) + ", expected numbers");
  Handle file_space(H5Dget_space(dataset));
  if (H5Sget_simple_extent_ndims(file_space) != 2) fail(dataset, "expected a 2-D dataset");
  hsize_t dims[2] = {0, 0};
  H5Sget_simple_extent_dims(file_space, dims, nullptr);
  auto outside = [](std::pair<int64_t, int64_t> r, hsize_t n) {
    return r.first < 0 || r.second < r.first || static_cast<hsize_t>(r.second) > n;
  };
  if (outside(rows, dims[0]) || outside(cols, dims[1])) {
    fail(dataset, "block rows [" + std::to_string(rows.first) + ", " + std::to_string(rows.second) +
                      ") x columns [" + std::to_string(cols.first) + ", " + std::to_string(cols.second) +
                      ") outside " + std::to_string(dims[0]) + " x " + std::to_string(dims[1]));
  }
  hsize_t start[2] = {static_cast<hsize_t>(rows.first), static_cast<hsize_t>(cols.first)};
  hsize_t count[2] = {static_cast<hsize_t>(rows.second - rows.first),
                      static_cast<hsize_t>(cols.second - cols.first)};
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
  return read_string_values(dataset, ft, n, [&](hid_t mem_str, hid_t dxpl, void* buf) {
    Handle mem(H5Tcreate(H5T_COMPOUND, H5Tget_size(mem_str)));
    H5Tinsert(mem, field.c_str(), 0, mem_str);
    return H5Dread(dataset, mem, H5S_ALL, H5S_ALL, dxpl, buf);
  });
}

namespace {

// Short names of the registered filters single-cell files actually use
// (HDF Group's registry); others keep the name stored in the file.
std::string filter_label(H5Z_filter_t id, const char* stored_name) {
  switch (id) {
    case 307:
      return "bzip2";
    case 32000:
      return "lzf";
    case 32001:
      return "blosc";
    case 32004:
      return "lz4";
    case 32008:
      return "bitshuffle";
    case 32015:
      return "zstd";
    case 32026:
      return "blosc2";
    default:
      break;
  }
  std::string name = stored_name != nullptr ? stored_name : "";
  name = name.substr(0, name.find(';'));
  return name.empty() ? "unknown" : name;
}

}  // namespace

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
      std::string label = filter_label(id, name);
      out.push_back(label + " (HDF5 filter id " + std::to_string(id) + ")");
    }
  }
  return out;
}

#define PG_H5_INSTANTIATE(T)                                                          \
  template std::vector<T> read<T>(hid_t, std::optional<std::pair<int64_t, int64_t>>); \
  template std::vector<T> read_field<T>(hid_t, const std::string&);                   \
  template std::vector<T> read_block<T>(hid_t, std::pair<int64_t, int64_t>, std::pair<int64_t, int64_t>);
PG_H5_FOR_EACH_NUMBER(PG_H5_INSTANTIATE)
#undef PG_H5_INSTANTIATE

}  // namespace pg::io::h5
