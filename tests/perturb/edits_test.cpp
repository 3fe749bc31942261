// Token edits against the reference's outputs (golden/perturb_edits.json,
// golden README §9) and the corrected and graded rules against hand cases.
#include "perturb/edits.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "test_support.h"

namespace pg::perturb {
namespace {

using Row = std::vector<int64_t>;

nlohmann::json edits_json() {
  std::ifstream in(pg::test::shared_dir() / "golden" / "perturb_edits.json");
  return nlohmann::json::parse(in);
}

TEST(Edits, ReproducesEveryReferenceCase) {
  const auto j = edits_json();
  int cases = 0;
  for (const auto& c : j["cases"]) {
    Edit edit;
    edit.mode = parse_edit_mode(c["mode"].get<std::string>());
    edit.tokens = c["tokens_to_perturb"].get<Row>();
    edit.rules = EditRules::reference;
    const bool src = c["sequence"] == "src";
    const auto input = c["input"].get<std::vector<Row>>();
    const auto output = c["output"].get<std::vector<Row>>();
    const auto kept = c["kept_rows"].get<std::vector<bool>>();
    ASSERT_EQ(input.size(), output.size());
    for (size_t r = 0; r < input.size(); ++r) {
      const std::string what = c["mode"].get<std::string>() + " " + c["sequence"].get<std::string>() + " " +
                               c["n_genes"].get<std::string>() + " row " + std::to_string(r);
      EXPECT_EQ(edit_row(input[r], edit, src ? 1 : 0, src), output[r]) << what;
      EXPECT_EQ(row_is_perturbable(input[r], edit), kept[r]) << what;
    }
    ++cases;
  }
  EXPECT_EQ(cases, 16);  // {single, double} x {src, tgt} x 4 modes
}

TEST(Edits, CorrectedOverexpressKeepsEosAndDropsTheLowestRankedGene) {
  Edit e{EditMode::overexpress, {57}, 0.25, EditRules::corrected};
  // Full row: the reference drops <eos>; ours drops gene 13 (the last gene).
  EXPECT_EQ(edit_row({2, 5, 6, 7, 8, 13, 3}, e, 1, true), (Row{2, 57, 5, 6, 7, 8, 3}));
  // With room to grow, nothing is lost.
  EXPECT_EQ(edit_row({2, 5, 6, 7, 8, 13, 3}, e, 1, true, 8), (Row{2, 57, 5, 6, 7, 8, 13, 3}));
  // A gene already present moves to rank 1; padding is kept.
  EXPECT_EQ(edit_row({2, 5, 57, 6, 3, 0, 0}, e, 1, true), (Row{2, 57, 5, 6, 3, 0, 0}));
  // Targets: after the condition tokens, no <eos>.
  EXPECT_EQ(
      edit_row({34, 9, 17, 40, 0}, Edit{EditMode::overexpress, {23}, 0.25, EditRules::corrected}, 1, false),
      (Row{34, 23, 9, 17, 40}));
}

TEST(Edits, CorrectedDeleteKeepsThePrefix) {
  Edit e{EditMode::del, {17}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row({34, 17, 9, 40, 0}, e, 1, false), (Row{34, 9, 40, 0, 0}));
  EXPECT_EQ(edit_row({2, 17, 9, 3, 0}, e, 1, true), (Row{2, 9, 3, 0, 0}));
}

TEST(Edits, GradedShiftsMoveTheRankByAFractionOfTheSentence) {
  // 8 genes, shift 0.25 -> 2 ranks.
  const Row row{2, 10, 11, 12, 13, 14, 15, 16, 17, 3, 0};
  Edit down{EditMode::down, {12}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row(row, down, 1, true), (Row{2, 10, 11, 13, 14, 12, 15, 16, 17, 3, 0}));
  Edit up{EditMode::up, {15}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row(row, up, 1, true), (Row{2, 10, 11, 12, 15, 13, 14, 16, 17, 3, 0}));
  // Clamped at the ends; shift 1 sends a gene to the last / first rank.
  Edit to_last{EditMode::down, {10}, 1.0, EditRules::corrected};
  EXPECT_EQ(edit_row(row, to_last, 1, true), (Row{2, 11, 12, 13, 14, 15, 16, 17, 10, 3, 0}));
  Edit to_first{EditMode::up, {17}, 1.0, EditRules::corrected};
  EXPECT_EQ(edit_row(row, to_first, 1, true), (Row{2, 17, 10, 11, 12, 13, 14, 15, 16, 3, 0}));
  // A row without the gene is unchanged and filtered out.
  EXPECT_EQ(edit_row({2, 10, 11, 3}, down, 1, true), (Row{2, 10, 11, 3}));
  EXPECT_FALSE(row_is_perturbable({2, 10, 11, 3}, down));
  EXPECT_TRUE(row_is_perturbable(row, down));
}

TEST(Edits, ATruncatedSentenceGrowsNoEos) {
  // Cut at the encoder's length: no <eos> to keep, none added.
  Edit up{EditMode::up, {12}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row({2, 10, 11, 12, 13}, up, 1, true), (Row{2, 10, 12, 11, 13}));
  Edit o{EditMode::overexpress, {40}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row({2, 10, 11, 12, 13}, o, 1, true), (Row{2, 40, 10, 11, 12}));
}

TEST(Edits, CombinationsEditEveryGene) {
  Edit e{EditMode::mask, {10, 12}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row({2, 10, 11, 12, 3}, e, 1, true), (Row{2, 1, 11, 1, 3}));
  EXPECT_TRUE(row_is_perturbable({2, 12, 3}, e));
  Edit o{EditMode::overexpress, {40, 41}, 0.25, EditRules::corrected};
  EXPECT_EQ(edit_row({2, 10, 11, 3, 0, 0}, o, 1, true), (Row{2, 40, 41, 10, 11, 3}));
}

TEST(Edits, UnknownModeIsAOneLineError) {
  EXPECT_THROW(parse_edit_mode("knockout"), pg::Error);
  EXPECT_EQ(edit_mode_name(parse_edit_mode("delete")), "delete");
}

}  // namespace
}  // namespace pg::perturb
