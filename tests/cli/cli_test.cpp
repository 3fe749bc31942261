// The CLI as a user meets it: commands, help, one-line errors, exit codes.
#include <gtest/gtest.h>

#include <algorithm>

#include "io/formats.h"
#include "test_support.h"

namespace fs = std::filesystem;
using pg::test::run_command;

namespace {

using pg::test::quote;
using pg::test::run_cli;

size_t line_count(const std::string& s) {
  size_t n = static_cast<size_t>(std::count(s.begin(), s.end(), '\n'));
  if (!s.empty() && s.back() != '\n') ++n;
  return n;
}

}  // namespace

TEST(Cli, VersionAndHelp) {
  auto r = run_cli("--version");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("perturbgen 0."), std::string::npos);
  for (const char* cmd : {"info", "convert"}) {
    auto h = run_cli(std::string(cmd) + " --help");
    EXPECT_EQ(h.exit_code, 0) << cmd;
    EXPECT_NE(h.output.find("Usage"), std::string::npos) << cmd;
  }
  EXPECT_NE(run_cli("").exit_code, 0);
  EXPECT_NE(run_cli("no-such-command").exit_code, 0);
}

TEST(Cli, InfoDescribesAnH5ad) {
  auto r = run_cli("info " + quote(pg::test::fixture("hsmm_small.h5ad")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("60 cells x 300 genes"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("csr float32"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not raw counts"), std::string::npos) << r.output;  // FPKM
  EXPECT_NE(r.output.find("ordered categorical, 4 categories"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nullable int"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("X_pca (60x5)"), std::string::npos) << r.output;
}

TEST(Cli, InfoJsonOnRawCounts) {
  auto r = run_cli("info --json " + quote(pg::test::fixture("pbmc_small_mtx")));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_EQ(j["format"], "10x-mtx");
  EXPECT_EQ(j["n_cells"], 80);
  EXPECT_EQ(j["n_genes"], 230);
  EXPECT_TRUE(j["raw_counts"]["looks_raw"].get<bool>());
}

TEST(Cli, BadInputsGiveOneLineAndNonZeroExit) {
  const auto bad = pg::test::fixture("bad");
  for (const auto& name :
       {"empty.h5ad", "not_hdf5.h5ad", "truncated.h5ad", "indices_negative.h5ad", "indices_out_of_range.h5ad",
        "indptr_not_monotone.h5ad", "shape_mismatch.h5ad", "mtx_fewer_entries_than_header"}) {
    auto r = run_cli("convert " + quote(bad / name) + " " + quote(pg::test::temp_dir() / "out.h5ad"));
    EXPECT_EQ(r.exit_code, 1) << name << ": " << r.output;
    EXPECT_EQ(line_count(r.output), 1u) << name << ": " << r.output;
    EXPECT_NE(r.output.find(name), std::string::npos) << "error must name the file: " << r.output;
  }
  auto missing = run_cli("info /nonexistent/file.h5ad");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(line_count(missing.output), 1u) << missing.output;
}

TEST(Cli, ConvertRoundTripsThroughEveryFormat) {
  const auto dir = pg::test::temp_dir();
  const auto src = pg::test::fixture("pbmc_small_mtx");
  ASSERT_EQ(run_cli("convert " + quote(src) + " " + quote(dir / "a.h5ad")).exit_code, 0);
  ASSERT_EQ(run_cli("convert " + quote(dir / "a.h5ad") + " " + quote(dir / "b.loom")).exit_code, 0);
  ASSERT_EQ(run_cli("convert " + quote(dir / "b.loom") + " " + quote(dir / "c.h5")).exit_code, 0);
  auto r = run_cli("convert " + quote(dir / "c.h5") + " " + quote(dir / "d"));
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto a = pg::io::read_any(src.string());
  const auto d = pg::io::read_any((dir / "d").string());
  ASSERT_EQ(a.n_cells(), d.n_cells());
  ASSERT_EQ(a.n_genes(), d.n_genes());
  EXPECT_EQ(a.obs.index, d.obs.index);
  EXPECT_EQ(a.var.index, d.var.index);
  for (int64_t c = 0; c < a.n_cells(); ++c)
    for (int64_t g = 0; g < a.n_genes(); ++g) ASSERT_EQ(a.X.at(c, g), d.X.at(c, g)) << c << "," << g;
}

TEST(Cli, ConvertNeverOverwritesInputOrExistingOutput) {
  const auto dir = pg::test::temp_dir();
  fs::copy_file(pg::test::fixture("hsmm_small.h5ad"), dir / "in.h5ad");
  const auto size = fs::file_size(dir / "in.h5ad");
  auto same = run_cli("convert --overwrite " + quote(dir / "in.h5ad") + " " + quote(dir / "in.h5ad"));
  EXPECT_EQ(same.exit_code, 1);
  EXPECT_NE(same.output.find("input"), std::string::npos) << same.output;
  EXPECT_EQ(fs::file_size(dir / "in.h5ad"), size);

  std::ofstream(dir / "out.loom") << "keep";
  auto exists = run_cli("convert " + quote(dir / "in.h5ad") + " " + quote(dir / "out.loom"));
  EXPECT_EQ(exists.exit_code, 1);
  EXPECT_NE(exists.output.find("--overwrite"), std::string::npos) << exists.output;
  EXPECT_EQ(fs::file_size(dir / "out.loom"), 4u);
}

TEST(Cli, UnknownOutputFormatIsAnError) {
  const auto dir = pg::test::temp_dir();
  auto r = run_cli("convert " + quote(pg::test::fixture("hsmm_small.h5ad")) + " " + quote(dir / "x.csv"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find(".csv"), std::string::npos) << r.output;
  auto r2 =
      run_cli("convert --to parquet " + quote(pg::test::fixture("hsmm_small.h5ad")) + " " + quote(dir / "x"));
  EXPECT_EQ(r2.exit_code, 1);
  EXPECT_NE(r2.output.find("parquet"), std::string::npos) << r2.output;
}

// libtorch lives in a plugin that only model commands load: core commands
// work (fast) even when the plugin cannot be found.
TEST(Cli, CoreCommandsNeverLoadTheLibtorchPlugin) {
  const std::string broken = "PERTURBGEN_MODEL_PLUGIN=/nonexistent/libperturbgen_model.so ";
  auto r = run_command(broken + pg::test::cli() + " info '" +
                       (pg::test::source_dir() / "examples/data/lps_bmdc").string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.find("libtorch"), std::string::npos) << r.output;
  r = run_command(broken + pg::test::cli() + " device");
  EXPECT_NE(r.exit_code, 0);
#ifdef PERTURBGEN_WITH_TORCH
  EXPECT_NE(r.output.find("cannot load the libtorch plugin /nonexistent/libperturbgen_model.so"),
            std::string::npos)
      << r.output;
  r = run_cli("device");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("libtorch 2.", 0), 0u) << r.output;
  EXPECT_NE(run_cli("--version").output.find("libtorch 2."), std::string::npos);
#else
  EXPECT_NE(r.output.find("this build has no libtorch"), std::string::npos) << r.output;
#endif
}
