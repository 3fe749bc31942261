// Pieces of the HDF5 layer shared by its translation units (hdf5.cpp for
// files, objects and attributes, hdf5_read.cpp for datasets, hdf5_write.cpp
// for writing): HDF5's error message, the native type of a C++ number, the
// numpy-style name of a type and the string reader for datasets and
// attributes. Private to src/io; hdf5.h is the public face.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "io/hdf5.h"

namespace pg::io::h5::detail {

// The innermost message of the current HDF5 error stack, which it clears.
std::string hdf5_message();

// The in-memory HDF5 type of T; reads and writes let HDF5 convert to and from it.
template <typename T>
hid_t native_type();
template <>
inline hid_t native_type<float>() {
  return H5T_NATIVE_FLOAT;
}
template <>
inline hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
inline hid_t native_type<int8_t>() {
  return H5T_NATIVE_INT8;
}
template <>
inline hid_t native_type<uint8_t>() {
  return H5T_NATIVE_UINT8;
}
template <>
inline hid_t native_type<int16_t>() {
  return H5T_NATIVE_INT16;
}
template <>
inline hid_t native_type<uint16_t>() {
  return H5T_NATIVE_UINT16;
}
template <>
inline hid_t native_type<int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
inline hid_t native_type<uint32_t>() {
  return H5T_NATIVE_UINT32;
}
template <>
inline hid_t native_type<int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
inline hid_t native_type<uint64_t>() {
  return H5T_NATIVE_UINT64;
}

// Applies X to each numeric type the templates of hdf5.h are instantiated
// for (in hdf5_read.cpp and hdf5_write.cpp).
#define PG_H5_FOR_EACH_NUMBER(X) \
  X(float) X(double) X(int8_t) X(uint8_t) X(int16_t) X(uint16_t) X(int32_t) X(uint32_t) X(int64_t) X(uint64_t)

// numpy-style name of an HDF5 type: "float32", "int64", "bool", "str", ...
std::string dtype_name(hid_t type);

// Reads `n` strings (fixed or variable length) of `file_type` through
// `do_read`, which reads from the dataset or attribute `obj` into memory of
// the given type using the transfer property list `dxpl`; errors name `obj`.
// Datasets honour `dxpl` (variable-length strings then come from one arena
// instead of a malloc each); attributes cannot take one (`obj_is_attribute`).
using StringReader = std::function<herr_t(hid_t mem_type, hid_t dxpl, void* buf)>;
std::vector<std::string> read_string_values(hid_t obj, hid_t file_type, size_t n, const StringReader& do_read,
                                            bool obj_is_attribute = false);

}  // namespace pg::io::h5::detail
