#include "model/model_dir.h"

#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/error.h"
#include "core/version.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace pg::model {
namespace {

const char* kConfigFile = "config.json";
const char* kWeightsFile = "model.safetensors";

std::string safetensors_dtype(const torch::Tensor& t, const std::string& name) {
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
      throw pg::Error(kWeightsFile, name, std::string("unsupported dtype ") + c10::toString(t.scalar_type()));
  }
}

template <typename T>
T field(const nlohmann::json& j, const char* key, const std::string& file, T fallback) {
  if (!j.contains(key) || j.at(key).is_null()) return fallback;
  try {
    return j.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw pg::Error(file, std::string("meta.") + key, "has the wrong type: " + j.at(key).dump());
  }
}

bool is_model_dir(const fs::path& dir) {
  std::ifstream in(dir / kConfigFile);
  if (!in) return false;
  try {
    auto j = nlohmann::json::parse(in);
    return j.is_object() && j.value("format", "") == kModelFormat;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace

nlohmann::json model_meta_to_json(const ModelMeta& m) {
  return {{"source_vocab_name", m.source_vocab_name},
          {"source_vocab_sha256", m.source_vocab_sha256},
          {"target_vocab_sha256", m.target_vocab_sha256},
          {"genes", m.genes},
          {"time_points", m.time_points},
          {"condition_tokens", m.condition_tokens},
          {"provenance", m.provenance}};
}

ModelMeta model_meta_from_json(const nlohmann::json& j, const std::string& file) {
  if (!j.is_object()) throw pg::Error(file, "meta", "is not an object");
  ModelMeta m;
  m.source_vocab_name = field<std::string>(j, "source_vocab_name", file, "");
  m.source_vocab_sha256 = field<std::string>(j, "source_vocab_sha256", file, "");
  m.target_vocab_sha256 = field<std::string>(j, "target_vocab_sha256", file, "");
  m.genes = field<std::vector<std::string>>(j, "genes", file, {});
  m.time_points = field<std::vector<std::string>>(j, "time_points", file, {});
  m.condition_tokens =
      field<std::map<std::string, std::map<std::string, int64_t>>>(j, "condition_tokens", file, {});
  if (j.contains("provenance")) m.provenance = j.at("provenance");
  return m;
}

void write_model_dir(const fs::path& dir, const ModelDirContents& contents, bool overwrite) {
  if (fs::exists(dir)) {
    if (!overwrite) throw pg::Error(dir.string(), "", "already exists; pass --overwrite to replace it");
    if (!is_model_dir(dir))
      throw pg::Error(dir.string(), "", "exists and is not a model directory; refusing to replace it");
  }
  const auto& c = contents.config;
  if (c.count_head && !contents.meta.genes.empty() &&
      static_cast<int64_t>(contents.meta.genes.size()) != c.count_head->n_genes)
    throw pg::Error(dir.string(), "meta.genes",
                    std::to_string(contents.meta.genes.size()) + " genes for a count head of " +
                        std::to_string(c.count_head->n_genes));
  nlohmann::json config = {{"format", kModelFormat},
                           {"format_version", kModelFormatVersion},
                           {"tool_version", PERTURBGEN_VERSION},
                           {"model", model_config_to_json(c)},
                           {"meta", model_meta_to_json(contents.meta)}};
  // Contiguous CPU copies whose bytes the safetensors writer reads.
  std::vector<torch::Tensor> keep;
  std::vector<pg::io::TensorData> tensors;
  for (const auto& [name, t] : contents.weights) {
    auto c_t = t.detach().to(torch::kCPU).contiguous();
    keep.push_back(c_t);
    tensors.push_back({name, safetensors_dtype(c_t, name), c_t.sizes().vec(),
                       std::string_view(static_cast<const char*>(c_t.data_ptr()), c_t.nbytes())});
  }
  write_atomically(dir, [&](const fs::path& tmp) {
    fs::create_directories(tmp);
    pg::io::write_safetensors((tmp / kWeightsFile).string(), tensors,
                              {{"format", kModelFormat}, {"tool_version", PERTURBGEN_VERSION}});
    std::ofstream out(tmp / kConfigFile);
    out << config.dump(2) << "\n";
    out.close();
    if (!out) throw pg::Error((tmp / kConfigFile).string(), "", "could not be written");
  });
}

ModelDirContents read_model_dir(const fs::path& dir) {
  const std::string config_path = (dir / kConfigFile).string();
  if (!fs::is_directory(dir))
    throw pg::Error(dir.string(), "", "is not a directory (expected a model directory)");
  std::ifstream in(config_path);
  if (!in) throw pg::Error(config_path, "", "missing: not a model directory");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw pg::Error(config_path, "", std::string("is not valid JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("format", "") != kModelFormat)
    throw pg::Error(config_path, "format", std::string("is not '") + kModelFormat + "'");
  const int version = j.value("format_version", 0);
  if (version < 1 || version > kModelFormatVersion)
    throw pg::Error(config_path, "format_version",
                    std::to_string(version) + " is not supported (this build reads 1.." +
                        std::to_string(kModelFormatVersion) + ")");
  if (!j.contains("model")) throw pg::Error(config_path, "model", "missing");
  ModelDirContents out;
  out.config = model_config_from_json(j.at("model"), config_path);
  if (j.contains("meta")) out.meta = model_meta_from_json(j.at("meta"), config_path);
  out.weights = to_torch(pg::io::SafeTensors::read((dir / kWeightsFile).string()));
  return out;
}

LoadedModel load_model(const fs::path& dir, torch::Device device, torch::Dtype dtype) {
  LoadedModel m;
  m.contents = read_model_dir(dir);
  m.model = PerturbGenModel(m.contents.config, device, dtype);
  m.model->load_reference_weights(m.contents.weights, (dir / kWeightsFile).string());
  m.contents.weights.clear();  // the model holds them now
  return m;
}

}  // namespace pg::model
