// A model directory: everything a later command needs to run a model, and
// nothing it has to guess.
//
//   MODEL_DIR/config.json        format name and version, tool version, the
//                                network config (model_config_to_json), and
//                                metadata: vocabularies and their hashes, the
//                                count head's genes, time points, provenance
//   MODEL_DIR/model.safetensors  the weights by reference state-dict key
//                                (see perturbgen_model.h), float32
//
// The folder is written in a hidden sibling and renamed into place; an
// existing folder is replaced only on request and only if it is a model
// directory. Reading checks the format, the config, and that the weights
// match it exactly (names, shapes, finite values).
#pragma once

#include <torch/torch.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "model/config.h"
#include "model/perturbgen_model.h"
#include "model/weights.h"

namespace pg::model {

inline constexpr const char* kModelFormat = "perturbgen-model";
inline constexpr int kModelFormatVersion = 1;

// Descriptive metadata stored beside the config. Every field is optional in
// the file; consumers that need one check it (e.g. a token store's vocabulary
// hash against `source_vocab_sha256`).
struct ModelMeta {
  std::string source_vocab_name;         // e.g. "gc95M"
  std::string source_vocab_sha256;       // hash of the encoder's vocabulary
  std::string target_vocab_sha256;       // hash of the decoder's row-id vocabulary
  std::vector<std::string> genes;        // count-head genes; gene k has row id k + 4
  std::vector<std::string> time_points;  // state labels, source first (time 0), then t = 1..T
  std::map<std::string, std::map<std::string, int64_t>> condition_tokens;  // column -> value -> token id
  nlohmann::json provenance = nlohmann::json::object();                    // where the weights came from
  // Count head: the obs columns whose combined value picks the dispersion
  // column, and the combined values in column order ("a|b" for two keys).
  std::vector<std::string> dispersion_keys;
  std::vector<std::string> dispersion_groups;
};

nlohmann::json model_meta_to_json(const ModelMeta& m);
ModelMeta model_meta_from_json(const nlohmann::json& j, const std::string& file);

struct ModelDirContents {
  ModelConfig config;
  ModelMeta meta;
  NamedTensors weights;  // by reference key, CPU
};

// Writes `dir` atomically. An existing `dir` is an error unless `overwrite`,
// and even then only a model directory is replaced.
void write_model_dir(const std::filesystem::path& dir, const ModelDirContents& contents, bool overwrite);

// Reads config.json and model.safetensors (no model is built).
ModelDirContents read_model_dir(const std::filesystem::path& dir);

// A ready model: read_model_dir + a PerturbGenModel on `device` in `dtype`
// with the weights loaded (eval mode).
struct LoadedModel {
  ModelDirContents contents;
  PerturbGenModel model{nullptr};
};
// An encoder directory (`perturbgen pretrain` output): the same two files,
// config.json with "stage": "encoder" and only the "encoder_scmoscf" section,
// weights under transformer.encoder_layers.model. (MLM head included).
struct EncoderDirContents {
  EncoderConfig config;
  ModelMeta meta;
  NamedTensors weights;  // by reference key, CPU
};
void write_encoder_dir(const std::filesystem::path& dir, const EncoderDirContents& contents, bool overwrite);
// Reads an encoder directory, or the encoder part of a full model directory.
EncoderDirContents read_encoder_dir(const std::filesystem::path& dir);
// Only the network config of a model directory (no weights read).
ModelConfig read_model_config(const std::filesystem::path& dir);
// The "stage" config.json records: "encoder", "mask", "count", or "" for a
// directory written before stages were recorded (e.g. by import-ckpt).
std::string model_dir_stage(const std::filesystem::path& dir);
// Only the metadata of a model directory.
ModelMeta read_model_meta(const std::filesystem::path& dir);
// Only the encoder's config of either kind of directory (no weights read).
EncoderConfig read_encoder_config(const std::filesystem::path& dir);

LoadedModel load_model(const std::filesystem::path& dir, torch::Device device = torch::kCPU,
                       torch::Dtype dtype = torch::kFloat32);

}  // namespace pg::model
