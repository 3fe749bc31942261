#include "io/safetensors.h"

#include <fstream>
#include <iterator>

namespace pg::io {

namespace {

int64_t dtype_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  return 0;
}

}  // namespace

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafeTensors SafeTensors::read(const std::string& path) {
  SafeTensors st;
  st.path_ = path;
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open file");
  st.bytes_ = std::make_shared<const std::string>(std::istreambuf_iterator<char>(in),
                                                  std::istreambuf_iterator<char>());
  const std::string& b = *st.bytes_;
  if (b.size() < 8)
    throw Error(path, "header", "file of " + std::to_string(b.size()) + " bytes is too short");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(b[static_cast<size_t>(i)]);
  if (n > b.size() - 8) {
    throw Error(path, "header", "header length " + std::to_string(n) + " exceeds the file size");
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(b.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, "header", std::string("invalid JSON: ") + e.what());
  }
  if (!header.is_object()) throw Error(path, "header", "is not a JSON object");
  const size_t data_begin = 8 + n;
  const size_t data_size = b.size() - data_begin;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      st.metadata_ = entry;
      continue;
    }
    try {
      TensorView t;
      t.dtype = entry.at("dtype").get<std::string>();
      t.shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto off = entry.at("data_offsets").get<std::vector<uint64_t>>();
      const int64_t width = dtype_size(t.dtype);
      if (width == 0) throw Error(path, name, "unknown dtype '" + t.dtype + "'");
      if (off.size() != 2 || off[0] > off[1] || off[1] > data_size) {
        throw Error(path, name,
                    "data offsets outside the file's " + std::to_string(data_size) + " data bytes");
      }
      for (int64_t d : t.shape) {
        if (d < 0) throw Error(path, name, "negative dimension");
      }
      if (static_cast<uint64_t>(t.numel() * width) != off[1] - off[0]) {
        throw Error(path, name,
                    "shape and dtype need " + std::to_string(t.numel() * width) + " bytes, offsets give " +
                        std::to_string(off[1] - off[0]));
      }
      t.bytes = std::string_view(b).substr(data_begin + off[0], off[1] - off[0]);
      st.tensors_.emplace(name, std::move(t));
    } catch (const nlohmann::json::exception& e) {
      throw Error(path, name, std::string("malformed header entry: ") + e.what());
    }
  }
  return st;
}

const TensorView& SafeTensors::at(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw Error(path_, name, "no such tensor");
  return it->second;
}

std::vector<std::string> SafeTensors::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : tensors_) out.push_back(name);
  return out;
}

void SafeTensors::check_dtype(const std::string& name, const TensorView& t, const char* want) const {
  if (t.dtype != want) throw Error(path_, name, "dtype " + t.dtype + ", expected " + want);
}

}  // namespace pg::io
