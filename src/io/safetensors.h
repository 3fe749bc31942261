// The safetensors format (Hugging Face): an 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets}, ...,
// "__metadata__": {str: str}}, then the raw little-endian C-order tensor
// bytes. Used for reference (golden) dumps and model weights. The reader
// checks everything before use (header size bound, JSON shape, dtypes, that
// the tensors tile the data section exactly, sizes = shape x dtype), so a
// truncated, corrupt or hostile file is a pg::Error. The writer produces the
// canonical layout of the reference tools (names sorted, data back to back,
// header padded with spaces to 8 bytes), byte for byte.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.h"

namespace pg::io {

// "__metadata__" entries in file order (the reference tools write them in
// insertion order, so a byte-exact rewrite needs that order).
using SafetensorsMetadata = std::vector<std::pair<std::string, std::string>>;

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
  // The same entries in the order the file has them.
  const SafetensorsMetadata& metadata_in_order() const { return metadata_in_order_; }

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
  SafetensorsMetadata metadata_in_order_;
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

// One tensor to write: raw little-endian C-order bytes of `shape` x `dtype`.
struct TensorData {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  std::string_view bytes;
};

// The file's bytes; throws pg::Error for a bad dtype, a size that does not
// match the shape, or a duplicate name.
std::string safetensors_bytes(std::vector<TensorData> tensors, const SafetensorsMetadata& metadata = {});
// Writes them atomically (temporary file + rename).
void write_safetensors(const std::string& path, std::vector<TensorData> tensors,
                       const SafetensorsMetadata& metadata = {});

// Largest header accepted (the JSON of a model with thousands of tensors is a few MB).
inline constexpr uint64_t kMaxSafetensorsHeader = uint64_t{100} << 20;

}  // namespace pg::io
