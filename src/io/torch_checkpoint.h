// Reads PyTorch `torch.save` checkpoints (a zip archive holding a pickle and
// the raw tensor storages), e.g. PyTorch Lightning `.ckpt` files, without
// libtorch or Python and without executing anything: the pickle goes through
// the allow-list unpickler of pickle.h and every tensor is rebuilt from its
// storage bytes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "io/pickle.h"

namespace pg::io {

class ZipReader;
struct ZipEntry;

struct CheckpointTensor {
  std::string dtype;           // safetensors names: F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL
  std::vector<int64_t> shape;  // empty for a 0-d tensor
  std::string bytes;           // contiguous C-order little-endian values

  int64_t numel() const;
};

// Where a tensor's values are in the archive, without reading them.
struct TensorLocation {
  std::string dtype;  // safetensors name
  std::vector<int64_t> shape, stride;
  int64_t element_size = 4;
  std::string storage_key;  // the archive entry <prefix>data/<key>
  std::string device;       // the storage's location tag as saved ("cpu", "cuda:0", ...)
  int64_t storage_numel = 0;
  int64_t offset = 0;  // in elements
  int64_t numel() const;
  int64_t nbytes() const { return numel() * element_size; }
};

class TorchCheckpoint {
 public:
  // Reads the checkpoint at `path`, every state_dict tensor included.
  // Unknown globals are refused unless `options.opaque_unknown_globals`
  // turns them into opaque values.
  static TorchCheckpoint read(const std::string& path, const UnpickleOptions& options = {});
  // Reads only the pickle: state_dict_locations() says where each tensor is,
  // and read_into() fetches the ones wanted, one at a time.
  static TorchCheckpoint open(const std::string& path, const UnpickleOptions& options = {});

  // The state_dict's tensors in stored order, located but not read (both modes).
  const std::vector<std::pair<std::string, TensorLocation>>& state_dict_locations() const {
    return locations_;
  }
  // Reads the tensor at `loc` into `out` (loc.nbytes() bytes, C order),
  // straight from the archive when it is a whole contiguous storage; nothing
  // is cached.
  void read_into(const TensorLocation& loc, char* out) const;
  // Where the tensor a _rebuild_tensor_v2 / _rebuild_parameter node describes is.
  TensorLocation locate(const PickleNode& node) const;

  const std::string& path() const { return path_; }
  // The model weights in stored order (read() only; empty after open()):
  // root["state_dict"] for Lightning checkpoints, or the root itself when it
  // is a plain dict of tensors. Names are as stored (with the Lightning
  // module prefix). Tensors sharing one storage are each materialised in full.
  const std::vector<std::pair<std::string, CheckpointTensor>>& state_dict() const { return state_dict_; }
  // The tensor called `name` in state_dict(), or nullptr.
  const CheckpointTensor* find(const std::string& name) const;
  // The whole unpickled object; tensors appear as Object nodes
  // (torch._utils._rebuild_tensor_v2 ...) that tensor() turns into values.
  const PickleValue& root() const { return root_; }
  // Rebuilds the tensor a _rebuild_tensor_v2 / _rebuild_parameter node
  // describes (e.g. an optimizer moment found in root()).
  CheckpointTensor tensor(const PickleNode& node) const;
  static bool is_tensor(const PickleNode& node);
  // root()["hyper_parameters"] rendered as JSON (null if absent); see pickle_to_json().
  const nlohmann::json& hyper_parameters() const { return hyper_parameters_; }

 private:
  std::string path_;
  std::string prefix_;  // "<archive_name>/"
  std::shared_ptr<const ZipReader> zip_;
  mutable std::map<std::string, std::shared_ptr<const std::string>> storages_;
  PickleValue root_;
  std::vector<std::pair<std::string, CheckpointTensor>> state_dict_;
  std::vector<std::pair<std::string, TensorLocation>> locations_;
  nlohmann::json hyper_parameters_;

  static TorchCheckpoint parse(const std::string& path, const UnpickleOptions& options);
  // The storage's archive entry, its size checked against the storage's element count.
  const ZipEntry& storage_entry(const TensorLocation& loc) const;
};

inline TorchCheckpoint read_torch_checkpoint(const std::string& path, const UnpickleOptions& options = {}) {
  return TorchCheckpoint::read(path, options);
}

}  // namespace pg::io
