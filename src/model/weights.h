// Loading a module's parameters and buffers by the reference's state-dict
// names (e.g. "transformer.decoder_block.0.norm1.weight"). Every parameter
// and buffer of the module must be present with the exact shape, and (unless
// ignored) every stored tensor under the prefix must be used, so a renamed
// or mis-shaped weight is a one-line pg::Error instead of a silent default.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <map>
#include <set>
#include <string>
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

// A torch tensor holding a copy of one safetensors entry (F32, F64, I64, I32, BOOL).
// Inline so that pg_model itself does not depend on pg_io.
inline torch::Tensor to_torch(const pg::io::SafeTensors& st, const std::string& name) {
  const auto& v = st.at(name);
  torch::Dtype dt;
  if (v.dtype == "F32")
    dt = torch::kFloat32;
  else if (v.dtype == "F64")
    dt = torch::kFloat64;
  else if (v.dtype == "I64")
    dt = torch::kInt64;
  else if (v.dtype == "I32")
    dt = torch::kInt32;
  else if (v.dtype == "BOOL")
    dt = torch::kBool;
  else
    throw pg::Error(st.path(), name, "unsupported dtype " + v.dtype);
  auto t = torch::empty(v.shape, torch::TensorOptions().dtype(dt));
  if (static_cast<size_t>(t.nbytes()) != v.bytes.size())
    throw pg::Error(st.path(), name, "byte size does not match its shape");
  if (!v.bytes.empty()) std::memcpy(t.data_ptr(), v.bytes.data(), v.bytes.size());
  return t;
}

// Every entry of a safetensors file as torch tensors.
inline NamedTensors to_torch(const pg::io::SafeTensors& st) {
  NamedTensors out;
  for (const auto& n : st.names()) out.emplace(n, to_torch(st, n));
  return out;
}

}  // namespace pg::model
