// Writing: groups, numeric, boolean and string datasets (whole or strip by
// strip), and attributes, in the types h5py and anndata write.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "io/hdf5.h"
#include "io/hdf5_detail.h"

namespace pg::io::h5 {

using detail::hdf5_message;
using detail::native_type;

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
Handle create_2d(hid_t loc, const std::string& name, int64_t rows, int64_t cols,
                 std::pair<int64_t, int64_t> chunk) {
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
  template Handle write<T>(hid_t, const std::string&, const std::vector<T>&, const std::vector<int64_t>&, \
                           WriteOptions);                                                                 \
  template Handle write_scalar<T>(hid_t, const std::string&, T);                                          \
  template Handle create_2d<T>(hid_t, const std::string&, int64_t, int64_t, std::pair<int64_t, int64_t>); \
  template void write_rows<T>(hid_t, int64_t, const std::vector<T>&);
PG_H5_FOR_EACH_NUMBER(PG_H5_INSTANTIATE)
#undef PG_H5_INSTANTIATE

}  // namespace pg::io::h5
