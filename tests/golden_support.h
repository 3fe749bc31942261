// The reference's golden outputs (shared/golden, its README is the spec of
// each file) as the parity tests read them. Tests that link libtorch only.
#pragma once

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <stdexcept>
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

// The tensor `name` of a golden file (a test error names a missing one).
inline const torch::Tensor& golden_at(const pg::model::NamedTensors& m, const std::string& name) {
  auto it = m.find(name);
  if (it == m.end()) throw std::runtime_error("golden tensor missing: " + name);
  return it->second;
}

// |actual − expected| <= atol + rtol·|expected| everywhere, with the same shape.
inline void expect_close(const std::string& name, const torch::Tensor& actual, const torch::Tensor& expected,
                         double atol, double rtol) {
  ASSERT_EQ(actual.sizes(), expected.sizes()) << name;
  auto a = actual.detach().cpu().to(torch::kFloat64), e = expected.to(torch::kFloat64);
  const double max_abs = (a - e).abs().max().item<double>();
  const bool ok = ((a - e).abs() <= atol + rtol * e.abs()).all().item<bool>();
  EXPECT_TRUE(ok) << name << ": max abs difference " << max_abs;
}

}  // namespace pg::test
