#include "io/safetensors.h"

#include "core/atomic_file.h"

#include <algorithm>
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
  if (n > kMaxSafetensorsHeader) {
    throw Error(path, "header",
                "header length " + std::to_string(n) + " exceeds the limit of " +
                    std::to_string(kMaxSafetensorsHeader) + " bytes");
  }
  nlohmann::ordered_json header;  // ordered: the metadata's order is kept
  try {
    header = nlohmann::ordered_json::parse(b.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    throw Error(path, "header", std::string("invalid JSON: ") + e.what());
  }
  if (!header.is_object()) throw Error(path, "header", "is not a JSON object");
  const size_t data_begin = 8 + n;
  const size_t data_size = b.size() - data_begin;
  std::vector<std::pair<uint64_t, uint64_t>> spans;  // to check that the tensors tile the data
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw Error(path, "__metadata__", "is not a JSON object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw Error(path, "__metadata__/" + k, "is not a string");
        st.metadata_[k] = v.get<std::string>();
        st.metadata_in_order_.emplace_back(k, v.get<std::string>());
      }
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
      spans.emplace_back(off[0], off[1]);
      st.tensors_.emplace(name, std::move(t));
    } catch (const nlohmann::json::exception& e) {
      throw Error(path, name, std::string("malformed header entry: ") + e.what());
    }
  }
  // As the reference reader requires: no gaps, no overlaps, nothing after.
  std::sort(spans.begin(), spans.end());
  uint64_t end = 0;
  for (const auto& [b0, e0] : spans) {
    if (b0 != end) {
      throw Error(path, "header",
                  "tensor data " + std::string(b0 < end ? "overlaps" : "leaves a gap") + " at byte " +
                      std::to_string(std::min(b0, end)) + " of the data section");
    }
    end = e0;
  }
  if (end != data_size) {
    throw Error(
        path, "header",
        "tensors cover " + std::to_string(end) + " of the " + std::to_string(data_size) + " data bytes");
  }
  return st;
}

namespace {

// Sorts `tensors` by name and returns the 8-byte length + header of the file
// they make; the data section is their bytes back to back in that order.
std::string safetensors_prefix(std::vector<TensorData>& tensors, const SafetensorsMetadata& metadata) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  // Key order inside an entry and "__metadata__" last, as the reference files have them.
  std::string header = "{";
  uint64_t offset = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const TensorData& t = tensors[i];
    if (i > 0 && tensors[i - 1].name == t.name) throw Error("", t.name, "tensor name given twice");
    const int64_t width = dtype_size(t.dtype);
    if (width == 0) throw Error("", t.name, "unknown dtype '" + t.dtype + "'");
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    if (static_cast<uint64_t>(numel * width) != t.bytes.size()) {
      throw Error("", t.name,
                  "has " + std::to_string(t.bytes.size()) + " bytes, shape and dtype need " +
                      std::to_string(numel * width));
    }
    header += (i ? "," : "") + nlohmann::json(t.name).dump() + ":{\"dtype\":\"" + t.dtype +
              "\",\"shape\":" + nlohmann::json(t.shape).dump() + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + t.bytes.size()) + "]}";
    offset += t.bytes.size();
  }
  if (!metadata.empty()) {
    header += std::string(tensors.empty() ? "" : ",") + "\"__metadata__\":{";
    for (size_t i = 0; i < metadata.size(); ++i)
      header += (i ? "," : "") + nlohmann::json(metadata[i].first).dump() + ":" +
                nlohmann::json(metadata[i].second).dump();
    header += "}";
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[static_cast<size_t>(i)] = static_cast<char>((header.size() >> (8 * i)) & 0xff);
  return out + header;
}

}  // namespace

std::string safetensors_bytes(std::vector<TensorData> tensors, const SafetensorsMetadata& metadata) {
  std::string out = safetensors_prefix(tensors, metadata);
  for (const auto& t : tensors) out.append(t.bytes);
  return out;
}

void write_safetensors(const std::string& path, std::vector<TensorData> tensors,
                       const SafetensorsMetadata& metadata) {
  // Streamed tensor by tensor: writing never holds a second copy of the weights.
  const std::string prefix = safetensors_prefix(tensors, metadata);
  write_atomically(path, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out.write(prefix.data(), static_cast<std::streamsize>(prefix.size()));
    for (const auto& t : tensors) out.write(t.bytes.data(), static_cast<std::streamsize>(t.bytes.size()));
    out.close();
    if (!out) throw Error(path, "", "write failed (disk full?)");
  });
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
