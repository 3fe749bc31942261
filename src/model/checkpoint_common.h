// Helpers shared by the checkpoint importers: torch.compile key prefixes,
// typed hyper-parameter lookups, cross-checks of what the weights imply
// against what the checkpoint's hyper_parameters say, and the provenance
// an imported directory records.
#pragma once

#include <filesystem>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>

#include "core/error.h"
#include "core/sha256.h"
#include "io/torch_checkpoint.h"

namespace pg::model {

// Removes torch.compile's `_orig_mod.` wherever it occurs (the reference strips it on save).
inline std::string strip_compile(std::string key) {
  for (size_t p; (p = key.find("_orig_mod.")) != std::string::npos;) key.erase(p, 10);
  return key;
}

// A hyper-parameter of the checkpoint, or `fallback` when absent or null.
template <typename T>
T hparam(const nlohmann::json& hp, const char* key, const T& fallback, const std::string& file) {
  if (!hp.is_object() || !hp.contains(key) || hp.at(key).is_null()) return fallback;
  try {
    return hp.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw pg::Error(file, std::string("hyper_parameters.") + key,
                    "has an unexpected type: " + hp.at(key).dump());
  }
}

inline void expect_equal(int64_t from_weights, int64_t from_hparams, const std::string& file,
                         const std::string& what) {
  if (from_weights != from_hparams)
    throw pg::Error(file, what,
                    "the weights imply " + std::to_string(from_weights) + " but hyper_parameters say " +
                        std::to_string(from_hparams));
}

// Each hyper-parameter named in `from_weights` must equal what the weights
// imply (an absent or null one is not checked).
inline void expect_hparams(const nlohmann::json& hp, const std::string& file,
                           std::initializer_list<std::pair<const char*, int64_t>> from_weights) {
  for (const auto& [key, value] : from_weights)
    expect_equal(value, hparam<int64_t>(hp, key, value, file), file, std::string("hyper_parameters.") + key);
}

// The head width of an attention of `inner` channels split into `heads`
// (`weight` names the projection in errors); checked against d_ff.
inline int64_t head_width(int64_t inner, int64_t heads, const nlohmann::json& hp, const std::string& file,
                          const std::string& weight) {
  if (heads <= 0 || inner % heads != 0)
    throw pg::Error(
        file, weight,
        "inner width " + std::to_string(inner) + " is not a multiple of " + std::to_string(heads) + " heads");
  expect_hparams(hp, file, {{"d_ff", inner / heads}});
  return inner / heads;
}

// Where imported weights came from: the file, its sha256, the stage, the
// Lightning counters and the hyper-parameters.
inline nlohmann::json checkpoint_provenance(const pg::io::TorchCheckpoint& ckpt, const std::string& path,
                                            const std::string& stage) {
  const auto* root = ckpt.root().get();
  auto scalar = [&](const char* key) -> nlohmann::json {
    const auto* n = root ? root->get(key) : nullptr;
    if (!n) return nullptr;
    if (n->is(pg::io::PickleNode::Kind::Int)) return n->integer;
    if (n->is(pg::io::PickleNode::Kind::Str)) return n->text;
    return nullptr;
  };
  return {{"imported_from", std::filesystem::path(path).filename().string()},
          {"sha256", pg::sha256_file(path)},
          {"stage", stage},
          {"lightning_version", scalar("pytorch-lightning_version")},
          {"epoch", scalar("epoch")},
          {"global_step", scalar("global_step")},
          {"hyper_parameters", ckpt.hyper_parameters()}};
}

}  // namespace pg::model
