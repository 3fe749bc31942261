// Reader for the safetensors format (Hugging Face): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...},
// then the raw little-endian C-order tensor bytes. Used for reference (golden)
// dumps and, later, model weights. Every offset is checked against the file
// before anything is read, so a truncated or corrupt file is a pg::Error.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace pg::io {

struct TensorView {
  std::string dtype;           // "F32", "F64", "I64", "I32", "BOOL", ...
  std::vector<int64_t> shape;  // empty for a scalar
  std::string_view bytes;      // points into the owning SafeTensors

  int64_t numel() const;
};

class SafeTensors {
 public:
  static SafeTensors read(const std::string& path);

  const std::string& path() const { return path_; }
  bool contains(const std::string& name) const { return tensors_.count(name) != 0; }
  const TensorView& at(const std::string& name) const;
  std::vector<std::string> names() const;
  const nlohmann::json& metadata() const { return metadata_; }

  // The values of tensor `name` as a vector of T; the stored dtype must be
  // exactly the one matching T (F32 float, F64 double, I64 int64_t, I32 int32_t).
  template <typename T>
  std::vector<T> values(const std::string& name) const {
    const TensorView& t = at(name);
    check_dtype(name, t, dtype_of<T>());
    std::vector<T> out(t.bytes.size() / sizeof(T));
    std::memcpy(out.data(), t.bytes.data(), out.size() * sizeof(T));
    return out;
  }

 private:
  template <typename T>
  static const char* dtype_of();
  void check_dtype(const std::string& name, const TensorView& t, const char* want) const;

  std::string path_;
  std::shared_ptr<const std::string> bytes_;  // shared so views survive moves
  std::map<std::string, TensorView> tensors_;
  nlohmann::json metadata_ = nlohmann::json::object();
};

template <>
inline const char* SafeTensors::dtype_of<float>() {
  return "F32";
}
template <>
inline const char* SafeTensors::dtype_of<double>() {
  return "F64";
}
template <>
inline const char* SafeTensors::dtype_of<int64_t>() {
  return "I64";
}
template <>
inline const char* SafeTensors::dtype_of<int32_t>() {
  return "I32";
}
template <>
inline const char* SafeTensors::dtype_of<uint8_t>() {
  return "BOOL";
}

}  // namespace pg::io
