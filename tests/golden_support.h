// The reference's golden outputs (shared/golden, its README is the spec of
// each file) as the parity tests read them. Tests that link libtorch only.
#pragma once

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "io/safetensors.h"
#include "model/weights.h"
#include "test_support.h"

namespace pg::test {

// golden/FILE.safetensors as torch tensors by name.
inline pg::model::NamedTensors golden_tensors(const std::string& file) {
  return pg::model::to_torch(pg::io::SafeTensors::read((shared_dir() / "golden" / file).string()));
}

// golden/FILE.json.
inline nlohmann::json golden_json(const std::string& file) {
  std::ifstream in(shared_dir() / "golden" / file);
  return nlohmann::json::parse(in);
}

}  // namespace pg::test
