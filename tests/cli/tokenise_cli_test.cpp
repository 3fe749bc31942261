// `perturbgen tokenise` and `perturbgen store-info` as a user runs them:
// flags and a TOML config file give the same store, store-info reports the
// numbers the store holds, errors are one line with a non-zero exit.
#include <gtest/gtest.h>

#include <fstream>

#include "store/token_store.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using pg::test::quote;
using pg::test::run_cli;

std::string lps() {
  return "'" + pg::test::dataset("lps_bmdc_timecourse").string() + "'";
}

const char* kLpsFlags =
    " --time-key grouping --time-order 'LPS#1h,LPS#2h,LPS#4h,LPS#6h' --vocab dataset --genes hvg --n-hvg 300"
    " --pairing stratified --group-key replicate_batch --seed 7";

}  // namespace

TEST(TokeniseCli, FlagsAndConfigFileGiveTheSameStore) {
  const fs::path dir = pg::test::temp_dir();
  auto r = run_cli("tokenise " + lps() + " -o '" + (dir / "flags").string() + "'" + kLpsFlags);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("tokenised 390 of 390 cells"), std::string::npos) << r.output;

  std::ofstream(dir / "tok.toml") << "time-key = \"grouping\"\n"
                                     "time-order = [\"LPS#1h\", \"LPS#2h\", \"LPS#4h\", \"LPS#6h\"]\n"
                                     "vocab = \"dataset\"\ngenes = \"hvg\"\nn-hvg = 300\n"
                                     "pairing = \"stratified\"\ngroup-key = \"replicate_batch\"\nseed = 7\n";
  r = run_cli("tokenise " + lps() + " -o '" + (dir / "config").string() + "' --config '" +
              (dir / "tok.toml").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto a = pg::store::TokenStore::open(dir / "flags");
  const auto b = pg::store::TokenStore::open(dir / "config");
  EXPECT_EQ(a.genes().size(), 300u);
  EXPECT_EQ(a.genes(), b.genes());
  EXPECT_EQ(a.pairing().cells, b.pairing().cells);
  // Stratified by replicate_batch: only 'main' exists at every state (the
  // 'replicate' cells are all at 4 h), so every row pairs 'main' cells.
  const size_t col = a.obs_column("replicate_batch");
  for (int64_t row = 0; row < a.pairing().n_rows; ++row) {
    for (size_t k = 0; k < a.pairing().columns.size(); ++k) {
      const int32_t code = a.obs_code(a.pairing().at(row, k), col);
      ASSERT_EQ(a.schema().obs[col].categories[static_cast<size_t>(code)], "main");
    }
  }
}

TEST(TokeniseCli, StoreInfoReportsStatesVocabularyAndOneCell) {
  const fs::path dir = pg::test::temp_dir();
  const std::string store = "'" + (dir / "s").string() + "'";
  ASSERT_EQ(run_cli("tokenise " + lps() + " -o " + store + kLpsFlags).exit_code, 0);
  auto r = run_cli("store-info " + store);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("cells: 390"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("LPS#1h=82 LPS#2h=72 LPS#4h=162 LPS#6h=74"), std::string::npos) << r.output;
  const auto s = pg::store::TokenStore::open(dir / "s");
  EXPECT_NE(r.output.find(s.schema().vocabulary_hash), std::string::npos);

  r = run_cli("store-info " + store + " --cell 5");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::vector<uint32_t> tokens;
  s.tokens(5, tokens);
  // Rank 1 is the cell's top gene: its token and name from genes.tsv.
  const auto& top = s.genes()[tokens[1] - 4];
  EXPECT_NE(r.output.find("\n1\t" + std::to_string(tokens[1]) + "\t" + top.gene_id + "\t"), std::string::npos)
      << r.output;

  r = run_cli("store-info " + store + " --pairing-tsv '" + (dir / "pairs.tsv").string() + "'");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(dir / "pairs.tsv");
  int64_t lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  EXPECT_EQ(lines, 1 + s.pairing().n_rows);
}

TEST(TokeniseCli, ErrorsAreOneLineAndLeaveNoStore) {
  const fs::path dir = pg::test::temp_dir();
  const std::string out = " -o '" + (dir / "s").string() + "'";
  for (const std::string& args :
       {std::string(" --time-key nope --time-order a,b"),
        std::string(" --time-key grouping --time-order LPS#1h,x"),
        std::string(" --time-key grouping --time-order LPS#1h,LPS#2h --genes some"),
        std::string(" --time-key grouping --time-order LPS#1h,LPS#2h --layer counts"),
        std::string(" --time-key grouping --time-order LPS#1h,LPS#2h --pairing mapping --group-key grouping "
                    "--mapping-file /nonexistent.csv")}) {
    const auto r = run_cli("tokenise " + lps() + out + args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("perturbgen: error: ", 0), 0u) << r.output;
  }
  EXPECT_FALSE(fs::exists(dir / "s"));
  const auto r = run_cli("store-info '" + (dir / "none").string() + "'");
  EXPECT_EQ(r.exit_code, 1);
}

TEST(TokeniseCli, AnExistingOutputIsReplacedOnlyWithOverwrite) {
  const fs::path dir = pg::test::temp_dir();
  const std::string store = " -o '" + (dir / "s").string() + "'";
  ASSERT_EQ(run_cli("tokenise " + lps() + store + kLpsFlags).exit_code, 0);
  auto r = run_cli("tokenise " + lps() + store +
                   std::string(kLpsFlags).replace(std::string(kLpsFlags).find("300"), 3, "200"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already exists; pass --overwrite"), std::string::npos) << r.output;
  EXPECT_EQ(pg::store::TokenStore::open(dir / "s").genes().size(), 300u);  // untouched
  r = run_cli("tokenise " + lps() + store +
              std::string(kLpsFlags).replace(std::string(kLpsFlags).find("300"), 3, "200") + " --overwrite");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(pg::store::TokenStore::open(dir / "s").genes().size(), 200u);
  // A folder that is not a token store is never replaced.
  fs::create_directories(dir / "mine");
  std::ofstream(dir / "mine" / "notes.txt") << "keep me";
  r = run_cli("tokenise " + lps() + " -o '" + (dir / "mine").string() + "'" + kLpsFlags + " --overwrite");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_TRUE(fs::exists(dir / "mine" / "notes.txt"));
}
