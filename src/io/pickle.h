// A safe unpickler for Python pickle protocols 0-5, as written by torch.save.
// It never executes anything: it only builds a value tree. Globals
// (GLOBAL / STACK_GLOBAL / INST) are looked up in a fixed allow-list and
// become inert nodes; REDUCE / NEWOBJ / BUILD on them record their arguments
// in an Object node instead of calling anything. Every other global is
// refused. Sizes and nesting are bounded, so a hostile pickle cannot make
// the reader allocate unbounded memory or recurse without limit.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pg::io {

struct PickleNode;
// Nodes are shared because the pickle memo lets one object appear in several
// places (e.g. a storage shared by two tensors); shared_ptr keeps that cheap.
using PickleValue = std::shared_ptr<PickleNode>;

struct PickleNode {
  enum class Kind { None, Bool, Int, Float, Str, Bytes, Tuple, List, Set, Dict, Global, Object, Persistent };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  bool big_int = false;  // did not fit int64: `text` holds the two's-complement little-endian bytes
  double real = 0;
  std::string text;  // Str (UTF-8), Bytes, big Int
  std::vector<PickleValue>
      items;  // Tuple/List/Set elements; Object: call args; Persistent: the id tuple's items
  std::vector<std::pair<PickleValue, PickleValue>>
      entries;               // Dict, in insertion order (a repeated key appends; lookups take the last)
  std::string module, name;  // Global, Object: the allow-listed global
  PickleValue state;         // Object / Dict: the BUILD state, or null

  // Bookkeeping of the unpickler: nesting depth below this node, and whether
  // it has been placed inside another node (after which it may not change,
  // so depths stay exact and cycles cannot be built).
  int depth = 0;
  bool sealed = false;

  bool is(Kind k) const { return kind == k; }
  // Dict lookup by string key (the last matching entry), or nullptr.
  const PickleNode* get(std::string_view key) const;
  // "module.name" of a Global or Object.
  std::string qualified_name() const { return module + "." + name; }
};

struct UnpickleOptions {
  int max_depth = 1000;                         // nesting of containers / objects
  uint64_t max_allocation = uint64_t{1} << 33;  // one string/bytes/frame, never more than the input anyway
  uint64_t max_memo = uint64_t{1} << 24;        // memo slots
  uint64_t max_nodes = uint64_t{1} << 21;       // values created (a node is ~200 bytes)
  // Unknown but not obviously dangerous globals (e.g. a pickled AnnData in
  // hyper_parameters) become opaque Global nodes instead of an error. Still
  // nothing is executed; globals of os/posix/subprocess/builtins/... are
  // always refused.
  bool opaque_unknown_globals = false;
};

// True for the globals the unpickler accepts (see pickle.cpp for the list).
bool pickle_global_allowed(std::string_view module, std::string_view name);

// Unpickles `data`. `file` and `element` name the source in errors
// (e.g. "model.ckpt", "archive/data.pkl").
PickleValue unpickle(std::string_view data, const std::string& file, const std::string& element,
                     const UnpickleOptions& options = {});

// Best-effort JSON rendering of a value: tuples and sets become arrays, dicts
// with non-string keys use the key's JSON text, numpy scalars become numbers,
// NaN/inf become "nan"/"inf"/"-inf", bytes {"__bytes__": hex} (over 4 KiB:
// {"__bytes_omitted__": length}), ints beyond
// int64 {"__bigint_le__": hex of the two's complement}, tensors
// {"__tensor__": {"storage", "shape"}}, any other global
// {"__opaque__": "module.name", "args": [...], "state": ..., "items": {...}}.
// A shared sub-value is rendered at each place it occurs, up to 2^20 values
// in all; past that, containers end with "__truncated__" (real checkpoints
// pickle whole datasets into their hyper-parameters; reading must not fail).
nlohmann::json pickle_to_json(const PickleNode& node, const std::string& file, const std::string& element);

}  // namespace pg::io
