// Paths and small helpers shared by the tests: the shared fixtures, a fresh
// temporary folder per test, the expected values of the format fixtures, and
// running a command (the CLI, the setup's Python) with its output captured.
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/cell_matrix.h"

namespace pg::test {

inline std::filesystem::path shared_dir() {
  return PG_SHARED_DIR;
}
inline std::filesystem::path source_dir() {
  return PG_SOURCE_DIR;
}
inline std::filesystem::path fixture(const std::string& rel) {
  return shared_dir() / "data" / "format_fixtures" / rel;
}
inline std::filesystem::path dataset(const std::string& rel) {
  return shared_dir() / "data" / rel;
}
inline std::string python() {
  return PG_PYTHON;
}
inline std::string cli() {
  return PG_CLI;
}

// A fresh, empty folder named after the running test.
inline std::filesystem::path temp_dir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::filesystem::path dir =
      std::filesystem::path(PG_TEST_TMP) / (std::string(info->test_suite_name()) + "." + info->name());
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// The whole content of a file (binary-safe); empty if it cannot be read.
inline std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A CSR from rows of (column, value) pairs.
inline pg::io::CsrMatrix csr_from_rows(int64_t n_cols,
                                       const std::vector<std::vector<std::pair<int32_t, float>>>& rows) {
  pg::io::CsrMatrix m;
  m.n_rows = static_cast<int64_t>(rows.size());
  m.n_cols = n_cols;
  for (const auto& row : rows) {
    for (const auto& [c, v] : row) {
      m.indices.push_back(c);
      m.data.push_back(v);
    }
    m.indptr.push_back(static_cast<int64_t>(m.indices.size()));
  }
  m.storage = {"csr", "float32", "int32"};
  return m;
}

// Rows [begin, end) of a row-major dense cells x genes array as a CSR (zeros not stored).
inline pg::io::CsrMatrix csr_from_dense(const std::vector<float>& dense, int64_t n_cols, int64_t begin,
                                        int64_t end) {
  pg::io::CsrMatrix m;
  m.n_rows = end - begin;
  m.n_cols = n_cols;
  for (int64_t r = begin; r < end; ++r) {
    for (int64_t c = 0; c < n_cols; ++c) {
      const float v = dense[static_cast<size_t>(r * n_cols + c)];
      if (v == 0) continue;
      m.indices.push_back(static_cast<int32_t>(c));
      m.data.push_back(v);
    }
    m.indptr.push_back(static_cast<int64_t>(m.data.size()));
  }
  m.storage = {"csr", "float32", "int32"};
  return m;
}

// expected_values.json of the format fixtures, keyed by fixture path.
inline const nlohmann::json& expected_values() {
  static const nlohmann::json j = [] {
    std::ifstream in(fixture("expected_values.json"));
    return nlohmann::json::parse(in);
  }();
  return j;
}

// Every h5ad in the format fixtures (anndata 0.5 to 0.12 and hand-made variants).
inline const std::vector<std::string>& h5ad_fixtures() {
  static const std::vector<std::string> names = {"hsmm_small.h5ad",
                                                 "hsmm_small_csc.h5ad",
                                                 "hsmm_small_dense.h5ad",
                                                 "hsmm_small_int64idx.h5ad",
                                                 "hsmm_small_nullable_string.h5ad",
                                                 "bpcells/mini_mat.anndata-v0.10.9.h5ad",
                                                 "bpcells/mini_mat.anndata-v0.6.22.h5ad",
                                                 "bpcells/mini_mat.anndata-v0.7.h5ad",
                                                 "bpcells/mini_mat_int_64.anndata-v0.12.6.h5ad",
                                                 "bpcells/mini_mat_int_64_neg.anndata-v0.12.6.h5ad",
                                                 "bpcells/mini_mat_uint_16.anndata-v0.10.9.h5ad",
                                                 "anndata_archives/pbmc68k_reduced_2025.h5ad",
                                                 "anndata_archives/v0.11.4_adata.h5ad",
                                                 "anndata_archives/v0.5.0_adata.h5ad",
                                                 "anndata_archives/v0.7.0_adata.h5ad",
                                                 "anndata_archives/v0.7.8_adata.h5ad"};
  return names;
}

// A GoogleTest parameter name from a fixture path ("bpcells/a.h5ad" -> "bpcells_a_h5ad").
struct FixtureName {
  template <typename Info>
  std::string operator()(const Info& info) const {
    std::string name = info.param;
    for (char& ch : name)
      if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return name;
  }
};

// The message of the pg::Error that `f` throws, or "<no error>".
inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pg::Error& e) {
    return e.what();
  }
  return "<no error>";
}

// Two matrices with the same shape, structure, values and stored dtype.
inline void expect_same_matrix(const pg::io::CsrMatrix& a, const pg::io::CsrMatrix& b) {
  EXPECT_EQ(a.n_rows, b.n_rows);
  EXPECT_EQ(a.n_cols, b.n_cols);
  EXPECT_EQ(a.indptr, b.indptr);
  EXPECT_EQ(a.indices, b.indices);
  EXPECT_EQ(a.data, b.data);
  EXPECT_EQ(a.storage.dtype, b.storage.dtype);
}

// Same column names, types and values (as text, row by row).
inline void expect_same_columns(const pg::io::DataFrame& a, const pg::io::DataFrame& b) {
  ASSERT_EQ(a.columns.size(), b.columns.size());
  for (size_t j = 0; j < a.columns.size(); ++j) {
    const pg::io::Column &x = a.columns[j], &y = b.columns[j];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.type, y.type) << x.name;
    for (size_t i = 0; i < a.n_rows(); ++i) ASSERT_EQ(x.text(i), y.text(i)) << x.name << " " << i;
  }
}

struct CommandResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

inline CommandResult run_command(const std::string& command) {
  CommandResult r;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return r;
  std::array<char, 4096> buf{};
  size_t n = 0;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// A path single-quoted for the shell (test paths hold no quote).
inline std::string quote(const std::filesystem::path& p) {
  return "'" + p.string() + "'";
}

// The perturbgen CLI with `args`; `env` (e.g. "OMP_NUM_THREADS=1") precedes it.
inline CommandResult run_cli(const std::string& args, const std::string& env = "") {
  return run_command(env + " " + cli() + " " + args);
}

}  // namespace pg::test
