// `perturbgen tokenise --pairing lineage | ot` on the simulated lineage-tracing
// time course (lineage_ko_sim/wt.h5ad: 500 lineages observed once at each of
// day0..day3, cell ids `<lineage>_<day>`), checked through the pairing TSV
// that `store-info --pairing-tsv` writes, as a user would audit it.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "store/token_store.h"
#include "test_support.h"

namespace fs = std::filesystem;

namespace {

using pg::test::quote;
using pg::test::run_cli;

const char* kFlags = " --vocab dataset --time-key stage --time-order day0,day1,day2,day3";

std::string wt() {
  return quote(pg::test::dataset("lineage_ko_sim/wt.h5ad"));
}

// The pairing table as cell ids, one vector per row (columns day0..day3).
std::vector<std::vector<std::string>> pairing_ids(const fs::path& store, const fs::path& tsv) {
  const auto r = run_cli("store-info " + quote(store) + " --pairing-tsv " + quote(tsv));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::ifstream in(tsv);
  std::string line;
  std::getline(in, line);
  EXPECT_EQ(line, "pair\tday0\tday0_index\tday1\tday1_index\tday2\tday2_index\tday3\tday3_index");
  std::vector<std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string field;
    std::vector<std::string> ids;
    for (int k = 0; std::getline(fields, field, '\t'); ++k)
      if (k % 2 == 1) ids.push_back(field);  // pair, then (id, index) per state
    rows.push_back(ids);
  }
  return rows;
}

std::string lineage_of(const std::string& id) {
  return id.substr(0, id.find('_'));
}

}  // namespace

TEST(TokeniseLineageCli, LineagePairingKeepsEveryRowInOneLineage) {
  if (!fs::exists(pg::test::dataset("lineage_ko_sim/wt.h5ad"))) GTEST_SKIP() << "no lineage_ko_sim data";
  const fs::path dir = pg::test::temp_dir();
  const auto r = run_cli("tokenise " + wt() + " -o " + quote(dir / "s") + kFlags +
                         " --pairing lineage --lineage-key lineage_id");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("pairing lineage: 500 rows x 4 states (500 lineages; 0 dropped"), std::string::npos)
      << r.output;
  const auto rows = pairing_ids(dir / "s", dir / "pairs.tsv");
  ASSERT_EQ(rows.size(), 500u);
  for (const auto& ids : rows) {
    ASSERT_EQ(ids.size(), 4u);
    for (size_t c = 0; c < 4; ++c) {
      EXPECT_EQ(ids[c].substr(ids[c].find('_') + 1), "day" + std::to_string(c)) << ids[c];
      EXPECT_EQ(lineage_of(ids[c]), lineage_of(ids[0])) << ids[0] << " vs " << ids[c];
    }
  }
  // The lineage column is carried into the store, and the summary counts.
  const auto s = pg::store::TokenStore::open(dir / "s");
  EXPECT_EQ(s.schema().obs[s.obs_column("lineage_id")].categories.size(), 500u);
  EXPECT_EQ(s.meta()["pairing"]["lineage"]["lineages_paired"], 500);
  EXPECT_EQ(s.meta()["pairing"]["lineage"]["rows_dropped"], 0);
}

TEST(TokeniseLineageCli, OtPairingReportsEntropyAndFindsLineagesAboveChance) {
  if (!fs::exists(pg::test::dataset("lineage_ko_sim/wt.h5ad"))) GTEST_SKIP() << "no lineage_ko_sim data";
  const fs::path dir = pg::test::temp_dir();
  // Chance agreement of two consecutive cells is 1/500. The simulation's
  // lineages keep a memory of their expression (the README's ancestor
  // retrieval AUC is ~0.77 on observed counts), so OT matches the true
  // descendant about 5x as often as chance; measured over seeds 1..4 at
  // ε = 0.02: 0.0102 of 6,000 draws. A random pairing would give ~12 of
  // 6,000; the bound below needs 30.
  int64_t same = 0, draws = 0;
  for (int seed = 1; seed <= 4; ++seed) {
    const fs::path store = dir / ("s" + std::to_string(seed));
    const auto r =
        run_cli("tokenise " + wt() + " -o " + quote(store) + kFlags +
                " --pairing ot --ot-epsilon 0.02 --lineage-key lineage_id --seed " + std::to_string(seed));
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("day0 -> day1: entropy "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("day2 -> day3: entropy "), std::string::npos) << r.output;
    const auto rows = pairing_ids(store, dir / "pairs.tsv");
    ASSERT_EQ(rows.size(), 500u);
    for (const auto& ids : rows)
      for (size_t c = 0; c + 1 < 4; ++c) {
        same += lineage_of(ids[c]) == lineage_of(ids[c + 1]);
        ++draws;
      }
    const auto s = pg::store::TokenStore::open(store);
    const auto& couplings = s.meta()["pairing"]["ot"]["couplings"];
    ASSERT_EQ(couplings.size(), 3u);
    for (const auto& c : couplings) {
      EXPECT_TRUE(c["converged"].get<bool>());
      EXPECT_GT(c["mean_entropy"].get<double>(), 0.5);
      EXPECT_LT(c["mean_entropy"].get<double>(), std::log(500.0));
      EXPECT_GT(c["effective_targets"].get<double>(), 1.5);
      // The plan's own expected agreement (no sampling noise): 0.0057-0.012 measured.
      EXPECT_GT(c["same_lineage_mass"].get<double>(), 2.0 / 500) << c.dump();
    }
  }
  EXPECT_GT(double(same) / double(draws), 0.005) << same << " of " << draws;
}

TEST(TokeniseLineageCli, BadLineageAndOtOptionsAreOneLineErrors) {
  if (!fs::exists(pg::test::dataset("lineage_ko_sim/wt.h5ad"))) GTEST_SKIP() << "no lineage_ko_sim data";
  const fs::path dir = pg::test::temp_dir();
  const std::string out = " -o " + quote(dir / "s") + kFlags;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --pairing lineage", "--lineage-key: is required for lineage pairing"},
      {" --pairing lineage --lineage-key clone", "obs/clone: no such obs column"},
      {" --pairing lineage --lineage-key lineage_id --lineage-missing keep", "--lineage-missing"},
      {" --pairing lineage --lineage-key lineage_id --pairing-anchor largest", "--pairing-anchor"},
      {" --pairing ot --ot-epsilon 0", "--ot-epsilon: must be a number > 0"},
      {" --pairing ot --ot-unbalanced -1", "--ot-unbalanced"},
      {" --pairing ot --ot-max-cells 1", "--ot-max-cells"}};
  for (const auto& [args, expected] : cases) {
    const auto r = run_cli("tokenise " + wt() + out + args);
    EXPECT_EQ(r.exit_code, 1) << args << "\n" << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << "\n" << r.output;
    EXPECT_EQ(r.output.rfind("perturbgen: error: ", 0), 0u) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << args << "\n" << r.output;
  }
  // The input file is named where the problem is in it.
  const auto r = run_cli("tokenise " + wt() + out + " --pairing lineage --lineage-key clone");
  EXPECT_NE(r.output.find("wt.h5ad"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "s"));
}

TEST(TokeniseLineageCli, UnbalancedOtTransportsLessThanAllTheMass) {
  if (!fs::exists(pg::test::dataset("lineage_ko_sim/wt.h5ad"))) GTEST_SKIP() << "no lineage_ko_sim data";
  const fs::path dir = pg::test::temp_dir();
  const auto r =
      run_cli("tokenise " + wt() + " -o " + quote(dir / "s") + kFlags +
              " --pairing ot --ot-unbalanced 1 --ot-components 10 --ot-genes 100 --ot-max-cells 300");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto s = pg::store::TokenStore::open(dir / "s");
  const auto& ot = s.meta()["pairing"]["ot"];
  EXPECT_EQ(ot["components"], 10);
  EXPECT_EQ(ot["genes"], 100);
  EXPECT_EQ(s.pairing().n_rows, 300);  // the source's subsample
  EXPECT_EQ(s.meta()["pairing"]["unpaired_anchor_cells"], 200);
  for (const auto& c : ot["couplings"]) {
    EXPECT_LT(c["mass"].get<double>(), 1.0);
    EXPECT_GT(c["mass"].get<double>(), 0.5);
    EXPECT_EQ(c["from_cells"], 300);
  }
}
