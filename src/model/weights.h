// Loading a module's parameters and buffers by the reference's state-dict
// names (e.g. "transformer.decoder_block.0.norm1.weight"). Every parameter
// and buffer of the module must be present with the exact shape, and (unless
// ignored) every stored tensor under the prefix must be used, so a renamed
// or mis-shaped weight is a one-line pg::Error instead of a silent default.
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "io/safetensors.h"

namespace pg::model {

using NamedTensors = std::map<std::string, torch::Tensor>;

// Copies into every parameter and buffer of `module` (named n) the tensor
// called key_of(n), converted to its device and dtype; returns the keys used.
// Missing, mis-shaped, integer-for-float and non-finite tensors: pg::Error.
std::set<std::string> copy_parameters(torch::nn::Module& module, const NamedTensors& tensors,
                                      const std::function<std::string(const std::string&)>& key_of,
                                      const std::string& file);
// Every key under `prefix` must be in `used` or start with one of
// `ignore_prefixes`; otherwise a pg::Error lists the unexpected ones.
void check_all_used(const NamedTensors& tensors, const std::set<std::string>& used, const std::string& prefix,
                    const std::string& file, const std::vector<std::string>& ignore_prefixes = {});

// Copies the tensors named prefix + <module name> into `module` (converted to
// each parameter's device and dtype). `file` names the source in errors.
// Stored tensors under `prefix` that the module does not have are an error
// unless they start with one of `ignore_prefixes` (full names).
void load_parameters(torch::nn::Module& module, const NamedTensors& tensors, const std::string& prefix,
                     const std::string& file, const std::vector<std::string>& ignore_prefixes = {});

// Moves every parameter and buffer to `device`, and the floating-point ones
// to `dtype`; integer buffers (position ids) keep their type, unlike
// Module::to(device, dtype), which converts them too.
void move_to(torch::nn::Module& module, torch::Device device, torch::Dtype dtype);

// The module's parameters and buffers as prefix + name -> tensor (CPU clones),
// the inverse of load_parameters (for writing checkpoints).
NamedTensors named_tensors(const torch::nn::Module& module, const std::string& prefix);

// A tensor holding a copy of raw little-endian C-order bytes of `shape` in a
// safetensors dtype name (F32, F64, F16, BF16, I64, I32, I16, I8, U8, BOOL);
// an unknown dtype or a size that does not match is a pg::Error naming
// `file` and `name`.
torch::Tensor tensor_from_bytes(const std::string& dtype, const std::vector<int64_t>& shape,
                                std::string_view bytes, const std::string& file, const std::string& name);

// Writes `tensors` (any device; float32/64, f16, bf16, int64/32, bool) to a
// safetensors file with `metadata` (string values).
void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const pg::io::SafetensorsMetadata& metadata = {});

// One safetensors entry as a torch tensor.
inline torch::Tensor to_torch(const pg::io::SafeTensors& st, const std::string& name) {
  const auto& v = st.at(name);
  return tensor_from_bytes(v.dtype, v.shape, v.bytes, st.path(), name);
}

// Every entry of a safetensors file as torch tensors.
inline NamedTensors to_torch(const pg::io::SafeTensors& st) {
  NamedTensors out;
  for (const auto& n : st.names()) out.emplace(n, to_torch(st, n));
  return out;
}

}  // namespace pg::model
