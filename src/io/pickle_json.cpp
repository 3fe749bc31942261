// JSON rendering of unpickled values (hyper_parameters and the like).
#include <cmath>
#include <cstring>
#include <functional>

#include "core/error.h"
#include "io/pickle.h"

namespace pg::io {
namespace {

using Kind = PickleNode::Kind;

std::string hex(const std::string& b) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : b) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

}  // namespace

constexpr const char* kTruncated = "__truncated__";
constexpr size_t kMaxBytesShown = 4096;

nlohmann::json pickle_to_json(const PickleNode& root, const std::string& file, const std::string& element) {
  // Shared sub-values could otherwise expand exponentially, and real
  // checkpoints pickle whole datasets into their hyper-parameters: past the
  // budget, containers end with "__truncated__" instead of failing the read.
  (void)file, (void)element;
  int64_t budget = int64_t{1} << 20;
  std::function<nlohmann::json(const PickleNode&)> go;
  // Elements / entries rendered while the budget lasts, then one marker.
  auto array_of = [&](const std::vector<PickleValue>& items) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& it : items) {
      if (budget <= 0) {
        arr.push_back(kTruncated);
        break;
      }
      arr.push_back(go(*it));
    }
    return arr;
  };
  auto object_of = [&](const std::vector<std::pair<PickleValue, PickleValue>>& entries) {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& [k, v] : entries) {
      if (budget <= 0) {
        obj[kTruncated] = true;
        break;
      }
      obj[k->is(Kind::Str) ? k->text : go(*k).dump()] = go(*v);
    }
    return obj;
  };
  go = [&](const PickleNode& n) -> nlohmann::json {
    if (--budget < 0) return kTruncated;
    switch (n.kind) {
      case Kind::None:
        return nullptr;
      case Kind::Bool:
        return n.boolean;
      case Kind::Int:
        if (n.big_int) return {{"__bigint_le__", hex(n.text)}};
        return n.integer;
      case Kind::Float:
        if (std::isnan(n.real)) return "nan";
        if (std::isinf(n.real)) return n.real > 0 ? "inf" : "-inf";
        return n.real;
      case Kind::Str:
        return n.text;
      case Kind::Bytes:
        if (n.text.size() > kMaxBytesShown) return {{"__bytes_omitted__", n.text.size()}};
        return {{"__bytes__", hex(n.text)}};
      case Kind::Tuple:
      case Kind::List:
      case Kind::Set:
        return array_of(n.items);
      case Kind::Dict:
        return object_of(n.entries);
      case Kind::Global:
        return {{"__opaque__", n.qualified_name()}};
      case Kind::Persistent:
        return {{"__persistent__", array_of(n.items)}};
      case Kind::Object:
        break;
    }
    if (n.module == "torch._utils" && n.name.rfind("_rebuild_", 0) == 0) {
      // A tensor: describe it (the values live in the checkpoint's storages).
      const PickleNode* v2 = &n;
      while (v2->name != "_rebuild_tensor_v2" && !v2->items.empty() && v2->items[0]->is(Kind::Object))
        v2 = v2->items[0].get();
      nlohmann::json shape = nlohmann::json::array();
      if (v2->items.size() > 2)
        for (const auto& s : v2->items[2]->items) shape.push_back(s->integer);
      std::string storage;
      if (!v2->items.empty() && v2->items[0]->items.size() > 1)
        storage = v2->items[0]->items[1]->qualified_name();
      return {{"__tensor__", {{"storage", storage}, {"shape", shape}}}};
    }
    // numpy scalar: scalar(dtype(code, ...), raw bytes) -> the number.
    if (n.name == "scalar" && n.items.size() == 2 && n.items[0]->is(Kind::Object) &&
        n.items[0]->name == "dtype" && !n.items[0]->items.empty() && n.items[0]->items[0]->is(Kind::Str) &&
        n.items[1]->is(Kind::Bytes)) {
      const std::string& code = n.items[0]->items[0]->text;
      const std::string& raw = n.items[1]->text;
      auto as = [&](auto zero) -> nlohmann::json {
        decltype(zero) v{};
        std::memcpy(&v, raw.data(), sizeof v);
        return v;
      };
      if (code == "f8" && raw.size() == 8) return as(double{});
      if (code == "f4" && raw.size() == 4) return as(float{});
      if (code == "i8" && raw.size() == 8) return as(int64_t{});
      if (code == "i4" && raw.size() == 4) return as(int32_t{});
      if (code == "u8" && raw.size() == 8) return as(uint64_t{});
      if (code == "b1" && raw.size() == 1) return raw[0] != 0;
    }
    nlohmann::json out = {{"__opaque__", n.qualified_name()}};
    if (!n.items.empty()) out["args"] = array_of(n.items);
    if (n.state) out["state"] = go(*n.state);
    if (!n.entries.empty()) out["items"] = object_of(n.entries);
    return out;
  };
  return go(root);
}

}  // namespace pg::io
