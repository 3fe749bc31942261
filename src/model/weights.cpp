#include "model/weights.h"

#include <set>
#include <sstream>

namespace pg::model {
namespace {

std::string shape_str(at::IntArrayRef s) {
  std::ostringstream o;
  o << "(";
  for (size_t i = 0; i < s.size(); ++i) o << (i ? ", " : "") << s[i];
  o << ")";
  return o.str();
}

}  // namespace

std::set<std::string> copy_parameters(torch::nn::Module& module, const NamedTensors& tensors,
                                      const std::function<std::string(const std::string&)>& key_of,
                                      const std::string& file) {
  std::set<std::string> used;
  torch::NoGradGuard no_grad;
  auto copy_into = [&](const std::string& name, torch::Tensor& target) {
    const std::string key = key_of(name);
    auto it = tensors.find(key);
    if (it == tensors.end())
      throw pg::Error(file, key, "missing (the model expects " + shape_str(target.sizes()) + ")");
    if (it->second.sizes() != target.sizes())
      throw pg::Error(
          file, key,
          "has shape " + shape_str(it->second.sizes()) + ", the model expects " + shape_str(target.sizes()));
    const bool src_float = it->second.is_floating_point(), dst_float = target.is_floating_point();
    if (src_float != dst_float)
      throw pg::Error(file, key,
                      std::string("has a ") + (src_float ? "floating" : "integer") +
                          " dtype where the model expects " + (dst_float ? "floating" : "integer"));
    if (src_float && !torch::isfinite(it->second).all().item<bool>())
      throw pg::Error(file, key, "holds NaN or infinite values");
    target.copy_(it->second);
    used.insert(key);
  };
  for (auto& p : module.named_parameters(/*recurse=*/true)) copy_into(p.key(), p.value());
  for (auto& b : module.named_buffers(/*recurse=*/true)) copy_into(b.key(), b.value());
  return used;
}

void check_all_used(const NamedTensors& tensors, const std::set<std::string>& used, const std::string& prefix,
                    const std::string& file, const std::vector<std::string>& ignore_prefixes) {
  std::vector<std::string> unexpected;
  for (const auto& [key, t] : tensors) {
    if (!key.starts_with(prefix) || used.count(key)) continue;
    bool ignored = false;
    for (const auto& ig : ignore_prefixes) ignored = ignored || key.starts_with(ig);
    if (!ignored) unexpected.push_back(key);
  }
  if (!unexpected.empty()) {
    std::string list;
    for (size_t i = 0; i < unexpected.size() && i < 5; ++i) list += (i ? ", " : "") + unexpected[i];
    if (unexpected.size() > 5) list += ", ...";
    throw pg::Error(
        file, prefix + "*",
        std::to_string(unexpected.size()) + " unexpected tensor(s) the model does not have: " + list);
  }
}

void load_parameters(torch::nn::Module& module, const NamedTensors& tensors, const std::string& prefix,
                     const std::string& file, const std::vector<std::string>& ignore_prefixes) {
  auto used = copy_parameters(
      module, tensors, [&](const std::string& name) { return prefix + name; }, file);
  check_all_used(tensors, used, prefix, file, ignore_prefixes);
}

torch::Tensor tensor_from_bytes(const std::string& dtype, const std::vector<int64_t>& shape,
                                std::string_view bytes, const std::string& file, const std::string& name) {
  static const std::map<std::string, torch::Dtype> dtypes = {
      {"F32", torch::kFloat32},   {"F64", torch::kFloat64}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64},   {"I32", torch::kInt32},
      {"I16", torch::kInt16},     {"I8", torch::kInt8},     {"U8", torch::kUInt8},
      {"BOOL", torch::kBool}};
  auto it = dtypes.find(dtype);
  if (it == dtypes.end()) throw pg::Error(file, name, "unsupported dtype " + dtype);
  auto t = torch::empty(shape, torch::TensorOptions().dtype(it->second));
  if (static_cast<size_t>(t.nbytes()) != bytes.size())
    throw pg::Error(file, name, "byte size does not match its shape");
  if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

void move_to(torch::nn::Module& module, torch::Device device, torch::Dtype dtype) {
  torch::NoGradGuard no_grad;
  auto move = [&](torch::Tensor& t) {
    t.set_data(t.is_floating_point() ? t.to(device, dtype) : t.to(device));
  };
  for (auto& p : module.parameters(/*recurse=*/true)) move(p);
  for (auto& b : module.buffers(/*recurse=*/true)) move(b);
}

NamedTensors named_tensors(const torch::nn::Module& module, const std::string& prefix) {
  NamedTensors out;
  for (const auto& p : module.named_parameters(true))
    out.emplace(prefix + p.key(), p.value().detach().cpu().clone());
  for (const auto& b : module.named_buffers(true))
    out.emplace(prefix + b.key(), b.value().detach().cpu().clone());
  return out;
}

namespace {

std::string safetensors_dtype(const torch::Tensor& t, const std::string& name, const std::string& file) {
  switch (t.scalar_type()) {
    case torch::kFloat32:
      return "F32";
    case torch::kFloat64:
      return "F64";
    case torch::kFloat16:
      return "F16";
    case torch::kBFloat16:
      return "BF16";
    case torch::kInt64:
      return "I64";
    case torch::kInt32:
      return "I32";
    case torch::kBool:
      return "BOOL";
    default:
      throw pg::Error(file, name, std::string("unsupported dtype ") + c10::toString(t.scalar_type()));
  }
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const NamedTensors& tensors,
                      const pg::io::SafetensorsMetadata& metadata) {
  // Contiguous CPU copies whose bytes the safetensors writer reads.
  std::vector<torch::Tensor> keep;
  std::vector<pg::io::TensorData> views;
  for (const auto& [name, t] : tensors) {
    auto c_t = t.detach().to(torch::kCPU).contiguous();
    keep.push_back(c_t);
    views.push_back({name, safetensors_dtype(c_t, name, path.string()), c_t.sizes().vec(),
                     std::string_view(static_cast<const char*>(c_t.data_ptr()), c_t.nbytes())});
  }
  pg::io::write_safetensors(path.string(), views, metadata);
}

}  // namespace pg::model
