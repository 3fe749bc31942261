#include "io/torch_checkpoint.h"

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "io/zip_reader.h"

namespace pg::io {
namespace {

using Kind = PickleNode::Kind;

struct StorageType {
  const char* storage;
  const char* dtype;
  int64_t element_size;
};
constexpr StorageType kStorageTypes[] = {
    {"FloatStorage", "F32", 4},     {"DoubleStorage", "F64", 8}, {"HalfStorage", "F16", 2},
    {"BFloat16Storage", "BF16", 2}, {"LongStorage", "I64", 8},   {"IntStorage", "I32", 4},
    {"ShortStorage", "I16", 2},     {"CharStorage", "I8", 1},    {"ByteStorage", "U8", 1},
    {"BoolStorage", "BOOL", 1},
};

}  // namespace

int64_t CheckpointTensor::numel() const {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

bool TorchCheckpoint::is_tensor(const PickleNode& n) {
  return n.is(Kind::Object) && n.module == "torch._utils" &&
         (n.name == "_rebuild_tensor_v2" || n.name == "_rebuild_parameter" ||
          n.name == "_rebuild_parameter_with_state");
}

int64_t TensorLocation::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

TorchCheckpoint TorchCheckpoint::parse(const std::string& path, const UnpickleOptions& options) {
  TorchCheckpoint c;
  c.path_ = path;
  c.zip_ = std::make_shared<const ZipReader>(ZipReader::open(path));
  // torch.save names the top folder after the file (any name); data.pkl sits directly in it.
  for (const ZipEntry& e : c.zip_->entries()) {
    const size_t slash = e.name.find('/');
    if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0) {
      c.prefix_ = e.name.substr(0, slash + 1);
      break;
    }
  }
  if (c.prefix_.empty())
    throw pg::Error(path, "data.pkl",
                    "not a torch.save checkpoint: the zip archive has no <name>/data.pkl entry");
  if (const ZipEntry* bo = c.zip_->find(c.prefix_ + "byteorder")) {
    const std::string order = c.zip_->read(*bo);
    if (order != "little")
      throw pg::Error(path, bo->name, "byte order '" + order + "' is not supported (only little-endian)");
  }
  const std::string pkl_name = c.prefix_ + "data.pkl";
  const std::string pkl = c.zip_->read(pkl_name);
  c.root_ = unpickle(pkl, path, pkl_name, options);

  const PickleNode* sd = nullptr;
  if (c.root_->is(Kind::Dict)) {
    const PickleNode* inner = c.root_->get("state_dict");
    if (inner != nullptr && inner->is(Kind::Dict)) {
      sd = inner;
    } else {
      bool all_tensors = !c.root_->entries.empty();
      for (const auto& [k, v] : c.root_->entries)
        all_tensors = all_tensors && k->is(Kind::Str) && is_tensor(*v);
      if (all_tensors) sd = c.root_.get();
    }
  }
  if (sd != nullptr) {
    for (const auto& [k, v] : sd->entries) {
      if (!k->is(Kind::Str)) throw pg::Error(path, "state_dict", "a key is not a string");
      if (!is_tensor(*v)) continue;  // e.g. extra state objects; kept in root()
      c.locations_.emplace_back(k->text, c.locate(*v));
    }
  }
  if (c.root_->is(Kind::Dict))
    if (const PickleNode* hp = c.root_->get("hyper_parameters"))
      c.hyper_parameters_ = pickle_to_json(*hp, path, "hyper_parameters");
  return c;
}

TorchCheckpoint TorchCheckpoint::open(const std::string& path, const UnpickleOptions& options) {
  return parse(path, options);
}

TorchCheckpoint TorchCheckpoint::read(const std::string& path, const UnpickleOptions& options) {
  TorchCheckpoint c = parse(path, options);
  const PickleNode* sd = c.root_->is(Kind::Dict) ? c.root_->get("state_dict") : nullptr;
  if (sd == nullptr || !sd->is(Kind::Dict)) sd = c.root_.get();
  if (!c.locations_.empty())
    for (const auto& [k, v] : sd->entries)
      if (k->is(Kind::Str) && is_tensor(*v)) c.state_dict_.emplace_back(k->text, c.tensor(*v));
  return c;
}

const CheckpointTensor* TorchCheckpoint::find(const std::string& name) const {
  for (const auto& [n, t] : state_dict_)
    if (n == name) return &t;
  return nullptr;
}

TensorLocation TorchCheckpoint::locate(const PickleNode& node) const {
  const std::string where = prefix_ + "data.pkl";
  auto bad = [&](const std::string& problem) { return pg::Error(path_, where, "tensor: " + problem); };
  if (!is_tensor(node)) throw bad("not a tensor (" + node.qualified_name() + ")");
  if (node.name != "_rebuild_tensor_v2") {
    if (node.items.empty() || !node.items[0]) throw bad(node.name + " without data");
    return locate(*node.items[0]);
  }
  const auto& a = node.items;
  if (a.size() < 4 || !a[0]->is(Kind::Persistent) || !a[1]->is(Kind::Int) || !a[2]->is(Kind::Tuple) ||
      !a[3]->is(Kind::Tuple))
    throw bad("unexpected _rebuild_tensor_v2 arguments");
  // Persistent id: ('storage', torch.<T>Storage, key, location, numel).
  const auto& pid = a[0]->items;
  if (pid.size() < 5 || !pid[0]->is(Kind::Str) || pid[0]->text != "storage" || !pid[1]->is(Kind::Global) ||
      !pid[2]->is(Kind::Str) || !pid[4]->is(Kind::Int))
    throw bad("unexpected storage reference");
  const StorageType* type = nullptr;
  for (const StorageType& t : kStorageTypes)
    if (pid[1]->module == "torch" && pid[1]->name == t.storage) type = &t;
  if (type == nullptr) throw bad("unsupported storage type " + pid[1]->qualified_name());
  TensorLocation loc;
  loc.dtype = type->dtype;
  loc.element_size = type->element_size;
  loc.storage_key = pid[2]->text;
  // Any device tag is fine: the bytes are the same, we load them to the CPU.
  loc.device = pid[3]->is(Kind::Str) ? pid[3]->text : std::string();
  loc.storage_numel = pid[4]->integer;
  if (loc.storage_numel < 0) throw bad("negative storage size");
  loc.offset = a[1]->integer;
  if (loc.offset < 0) throw bad("negative storage offset");
  const size_t dims = a[2]->items.size();
  if (a[3]->items.size() != dims) throw bad("size and stride have different lengths");
  int64_t numel = 1, last = loc.offset;  // `last`: storage index of the last element
  for (size_t d = 0; d < dims; ++d) {
    const auto &s = a[2]->items[d], &st = a[3]->items[d];
    if (!s->is(Kind::Int) || !st->is(Kind::Int) || s->integer < 0 || st->integer < 0)
      throw bad("bad size or stride in dimension " + std::to_string(d));
    loc.shape.push_back(s->integer);
    loc.stride.push_back(st->integer);
    if (__builtin_mul_overflow(numel, s->integer, &numel)) throw bad("element count overflows");
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel, loc.element_size, &bytes)) throw bad("byte count overflows");
  if (numel > 0) {
    for (size_t d = 0; d < dims; ++d) {
      int64_t span = 0;
      if (__builtin_mul_overflow(loc.shape[d] - 1, loc.stride[d], &span) ||
          __builtin_add_overflow(last, span, &last))
        throw bad("strides overflow");
    }
    if (last >= loc.storage_numel)
      throw bad("view reaches element " + std::to_string(last) + " of a storage of " +
                std::to_string(loc.storage_numel));
  }
  return loc;
}

const ZipEntry& TorchCheckpoint::storage_entry(const TensorLocation& loc) const {
  const std::string name = prefix_ + "data/" + loc.storage_key;
  const ZipEntry* e = zip_->find(name);
  if (e == nullptr) throw pg::Error(path_, name, "no such entry in the zip archive (truncated checkpoint?)");
  if (e->size != static_cast<uint64_t>(loc.storage_numel) * static_cast<uint64_t>(loc.element_size))
    throw pg::Error(path_, name,
                    "storage has " + std::to_string(e->size) + " bytes, expected " +
                        std::to_string(loc.storage_numel) + " x " + std::to_string(loc.element_size));
  return *e;
}

namespace {

// Copies the view (shape, stride, offset) of `storage` into C order.
void gather(const TensorLocation& loc, const char* storage, char* out) {
  const int64_t es = loc.element_size, numel = loc.numel();
  if (numel == 0) return;
  const char* src = storage + loc.offset * es;
  const size_t dims = loc.shape.size();
  // C-contiguous (ignoring dimensions of size 1): one copy.
  bool contiguous = true;
  for (int64_t d = static_cast<int64_t>(dims) - 1, expect = 1; d >= 0; --d) {
    const auto u = static_cast<size_t>(d);
    if (loc.shape[u] != 1 && loc.stride[u] != expect) contiguous = false;
    expect *= loc.shape[u];
  }
  if (contiguous) {
    std::memcpy(out, src, static_cast<size_t>(numel * es));
    return;
  }
  // Otherwise element by element with an odometer over the indices.
  std::vector<int64_t> idx(dims, 0);
  int64_t off = 0;
  for (int64_t i = 0; i < numel; ++i) {
    std::memcpy(out + i * es, src + off * es, static_cast<size_t>(es));
    for (size_t d = dims; d-- > 0;) {
      off += loc.stride[d];
      if (++idx[d] < loc.shape[d]) break;
      off -= loc.stride[d] * loc.shape[d];
      idx[d] = 0;
    }
  }
}

bool whole_contiguous_storage(const TensorLocation& loc) {
  if (loc.offset != 0 || loc.numel() != loc.storage_numel) return false;
  for (int64_t d = static_cast<int64_t>(loc.shape.size()) - 1, expect = 1; d >= 0; --d) {
    const auto u = static_cast<size_t>(d);
    if (loc.shape[u] != 1 && loc.stride[u] != expect) return false;
    expect *= loc.shape[u];
  }
  return true;
}

}  // namespace

void TorchCheckpoint::read_into(const TensorLocation& loc, char* out) const {
  const ZipEntry& e = storage_entry(loc);
  if (whole_contiguous_storage(loc)) {
    zip_->read_into(e, out, e.size);
    return;
  }
  const std::string storage = zip_->read(e);
  gather(loc, storage.data(), out);
}

CheckpointTensor TorchCheckpoint::tensor(const PickleNode& node) const {
  const TensorLocation loc = locate(node);
  std::shared_ptr<const std::string>& storage = storages_[loc.storage_key];
  if (!storage) storage = std::make_shared<const std::string>(zip_->read(storage_entry(loc)));
  CheckpointTensor t;
  t.dtype = loc.dtype;
  t.shape = loc.shape;
  t.bytes.resize(static_cast<size_t>(loc.nbytes()));
  gather(loc, storage->data(), t.bytes.data());
  return t;
}

}  // namespace pg::io
