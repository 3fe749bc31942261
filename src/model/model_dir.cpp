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

// Both kinds of directory: config.json {format, version, stage, model, meta}
// and the weights, written in a hidden sibling and renamed into place.
void write_dir(const fs::path& dir, const std::string& stage, const nlohmann::json& model,
               const ModelMeta& meta, const NamedTensors& weights, bool overwrite) {
  if (fs::exists(dir)) {
    if (!overwrite) throw pg::Error(dir.string(), "", "already exists; pass --overwrite to replace it");
    if (!is_model_dir(dir))
      throw pg::Error(dir.string(), "", "exists and is not a model directory; refusing to replace it");
  }
  nlohmann::json config = {{"format", kModelFormat},
                           {"format_version", kModelFormatVersion},
                           {"tool_version", PERTURBGEN_VERSION},
                           {"stage", stage},
                           {"model", model},
                           {"meta", model_meta_to_json(meta)}};
  write_atomically(dir, [&](const fs::path& tmp) {
    fs::create_directories(tmp);
    save_safetensors(tmp / kWeightsFile, weights,
                     {{"format", kModelFormat}, {"tool_version", PERTURBGEN_VERSION}});
    std::ofstream out(tmp / kConfigFile);
    out << config.dump(2) << "\n";
    out.close();
    if (!out) throw pg::Error((tmp / kConfigFile).string(), "", "could not be written");
  });
}

// config.json parsed and its format checked.
nlohmann::json read_config(const fs::path& dir) {
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
  return j;
}

}  // namespace

nlohmann::json model_meta_to_json(const ModelMeta& m) {
  return {{"source_vocab_name", m.source_vocab_name},
          {"source_vocab_sha256", m.source_vocab_sha256},
          {"target_vocab_sha256", m.target_vocab_sha256},
          {"genes", m.genes},
          {"time_points", m.time_points},
          {"condition_tokens", m.condition_tokens},
          {"provenance", m.provenance},
          {"dispersion_keys", m.dispersion_keys},
          {"dispersion_groups", m.dispersion_groups}};
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
  m.dispersion_keys = field<std::vector<std::string>>(j, "dispersion_keys", file, {});
  m.dispersion_groups = field<std::vector<std::string>>(j, "dispersion_groups", file, {});
  return m;
}

void write_model_dir(const fs::path& dir, const ModelDirContents& contents, bool overwrite) {
  const auto& c = contents.config;
  if (c.count_head && !contents.meta.genes.empty() &&
      static_cast<int64_t>(contents.meta.genes.size()) != c.count_head->n_genes)
    throw pg::Error(dir.string(), "meta.genes",
                    std::to_string(contents.meta.genes.size()) + " genes for a count head of " +
                        std::to_string(c.count_head->n_genes));
  write_dir(dir, c.count_head ? "count" : "mask", model_config_to_json(c), contents.meta, contents.weights,
            overwrite);
}

void write_encoder_dir(const fs::path& dir, const EncoderDirContents& contents, bool overwrite) {
  write_dir(dir, "encoder", {{"encoder_scmoscf", encoder_config_to_json(contents.config)}}, contents.meta,
            contents.weights, overwrite);
}

ModelDirContents read_model_dir(const fs::path& dir) {
  const auto j = read_config(dir);
  const std::string config_path = (dir / kConfigFile).string();
  if (j.value("stage", "") == "encoder")
    throw pg::Error(config_path, "stage",
                    "is 'encoder': this is an encoder directory (perturbgen pretrain output), not a whole "
                    "model; pass it as --encoder to perturbgen train --stage mask");
  ModelDirContents out;
  out.config = model_config_from_json(j.at("model"), config_path);
  if (j.contains("meta")) out.meta = model_meta_from_json(j.at("meta"), config_path);
  out.weights = to_torch(pg::io::SafeTensors::read((dir / kWeightsFile).string()));
  return out;
}

ModelConfig read_model_config(const fs::path& dir) {
  return model_config_from_json(read_config(dir).at("model"), (dir / kConfigFile).string());
}

std::string model_dir_stage(const fs::path& dir) {
  return read_config(dir).value("stage", "");
}

ModelMeta read_model_meta(const fs::path& dir) {
  const auto j = read_config(dir);
  return j.contains("meta") ? model_meta_from_json(j.at("meta"), (dir / kConfigFile).string()) : ModelMeta{};
}

EncoderConfig read_encoder_config(const fs::path& dir) {
  return encoder_config_from_json(read_config(dir).at("model"), (dir / kConfigFile).string());
}

EncoderDirContents read_encoder_dir(const fs::path& dir) {
  const auto j = read_config(dir);
  const std::string config_path = (dir / kConfigFile).string();
  EncoderDirContents out;
  out.config = encoder_config_from_json(j.at("model"), config_path);
  if (j.contains("meta")) out.meta = model_meta_from_json(j.at("meta"), config_path);
  for (auto& [k, t] : to_torch(pg::io::SafeTensors::read((dir / kWeightsFile).string())))
    if (k.starts_with(kEncoderPrefix)) out.weights.emplace(k, t);
  if (out.weights.empty())
    throw pg::Error((dir / kWeightsFile).string(), kEncoderPrefix, "no encoder weights");
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
