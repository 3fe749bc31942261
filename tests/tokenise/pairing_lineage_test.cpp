// Lineage pairing (pairing.h): every row's cells share one lineage, source
// cells appear once in cell order, lineages absent at a target are dropped or
// fall back to the whole state, and the summary counts both.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "test_support.h"
#include "tokenise/pairing.h"

using pg::tokenise::pair_cells;
using pg::tokenise::Pairing;
using pg::tokenise::PairingInput;
using pg::tokenise::PairingMode;
using pg::tokenise::PairingOptions;
using Missing = PairingOptions::LineageMissing;

namespace {

// States t0, t1, t2; lineages L0..L3; -1 = no lineage.
//   L0: t0 {0, 1}  t1 {4, 5, 6}  t2 {10}
//   L1: t0 {2}     t1 {7}        t2 {11, 12}
//   L2: t0 {3}     t1 {8}        (none at t2)
//   L3:            t1 {9}        t2 {13}      (no source cells)
//   missing lineage: 14 (t0), 15 (t1), 16 (t2)
PairingInput lineage_input() {
  PairingInput in;
  in.states = {"t0", "t1", "t2"};
  in.source = 0;
  in.cell_state = {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0, 1, 2};
  in.cell_lineage = {0, 0, 1, 2, 0, 0, 0, 1, 2, 3, 0, 1, 1, 3, -1, -1, -1};
  in.lineage_names = {"L0", "L1", "L2", "L3"};
  in.input_name = "clones.h5ad";
  in.state_column = "day";
  in.lineage_column = "clone";
  return in;
}

PairingOptions lineage_options(Missing missing = Missing::Drop, uint64_t seed = 42) {
  PairingOptions o;
  o.mode = PairingMode::Lineage;
  o.lineage_key = "clone";
  o.lineage_missing = missing;
  o.seed = seed;
  return o;
}

std::vector<int64_t> column(const Pairing& p, size_t c) {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < p.n_rows; ++r) out.push_back(p.cell(r, c));
  return out;
}

void expect_columns_hold_their_state(const PairingInput& in, const Pairing& p) {
  ASSERT_EQ(p.cells.size(), size_t(p.n_rows) * p.columns.size());
  for (size_t c = 0; c < p.columns.size(); ++c)
    for (int64_t r = 0; r < p.n_rows; ++r) ASSERT_EQ(in.cell_state[size_t(p.cell(r, c))], p.column_state[c]);
}

}  // namespace

TEST(PairingLineage, EveryRowSharesItsLineageAndAbsentLineagesAreDropped) {
  const PairingInput in = lineage_input();
  const Pairing p = pair_cells(in, lineage_options());
  EXPECT_EQ(p.columns, (std::vector<std::string>{"t0", "t1", "t2"}));
  expect_columns_hold_their_state(in, p);
  // L2 has no cell at t2: its source cell 3 is dropped; 14 has no lineage.
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 1, 2}));
  for (int64_t r = 0; r < p.n_rows; ++r)
    for (size_t c = 1; c < p.columns.size(); ++c)
      EXPECT_EQ(in.cell_lineage[size_t(p.cell(r, c))], in.cell_lineage[size_t(p.cell(r, 0))])
          << r << " " << c;
  // L0's two rows take two different t1 cells (without replacement) and
  // share the single t2 cell; L1's one row takes one of its two t2 cells.
  EXPECT_NE(p.cell(0, 1), p.cell(1, 1));
  EXPECT_EQ(p.cell(0, 2), 10);
  EXPECT_EQ(p.cell(1, 2), 10);
  EXPECT_EQ(p.cell(2, 1), 7);
  EXPECT_TRUE(p.cell(2, 2) == 11 || p.cell(2, 2) == 12);

  EXPECT_EQ(p.unpaired_anchor_cells, 2);  // cell 3 (dropped L2) and 14 (no lineage)
  const auto j = p.summary();
  EXPECT_EQ(j["mode"], "lineage");
  EXPECT_EQ(j["lineage"]["key"], "clone");
  EXPECT_EQ(j["lineage"]["missing"], "drop");
  EXPECT_EQ(j["lineage"]["lineages_paired"], 2);
  EXPECT_EQ(j["lineage"]["lineages_dropped"], 1);
  EXPECT_EQ(j["lineage"]["rows_dropped"], 1);
  EXPECT_EQ(j["lineage"]["source_cells_without_lineage"], 1);
  ASSERT_EQ(j["dropped_groups"].size(), 1u);
  EXPECT_EQ(j["dropped_groups"][0]["group"], "L2");
  EXPECT_EQ(j["dropped_groups"][0]["reason"], "no cells at 't2'");
  EXPECT_EQ(j["dropped_groups"][0]["cells"], 1);
  EXPECT_EQ(j["unpaired_anchor_cells"], 2);
  EXPECT_EQ(j["columns"][1]["cells_available"], 6);  // t1 cells with a lineage
}

TEST(PairingLineage, AnyDrawsAbsentLineagesFromTheWholeState) {
  const PairingInput in = lineage_input();
  const Pairing p = pair_cells(in, lineage_options(Missing::Any));
  expect_columns_hold_their_state(in, p);
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 1, 2, 3}));
  // L2's row (cell 3): t1 is its own cell 8, t2 comes from all t2 cells.
  EXPECT_EQ(p.cell(3, 1), 8);
  const std::set<int64_t> t2 = {10, 11, 12, 13, 16};
  EXPECT_EQ(t2.count(p.cell(3, 2)), 1u);
  for (int64_t r = 0; r < 3; ++r)
    EXPECT_EQ(in.cell_lineage[size_t(p.cell(r, 2))], in.cell_lineage[size_t(p.cell(r, 0))]);
  EXPECT_EQ(p.unpaired_anchor_cells, 1);
  const auto j = p.summary();
  EXPECT_EQ(j["lineage"]["missing"], "any");
  EXPECT_EQ(j["lineage"]["lineages_paired"], 3);
  EXPECT_EQ(j["lineage"]["lineages_dropped"], 0);
  ASSERT_EQ(j["lineage"]["any_draws"].size(), 2u);
  EXPECT_EQ(j["lineage"]["any_draws"][0]["state"], "t1");
  EXPECT_EQ(j["lineage"]["any_draws"][0]["rows"], 0);
  EXPECT_EQ(j["lineage"]["any_draws"][1]["state"], "t2");
  EXPECT_EQ(j["lineage"]["any_draws"][1]["rows"], 1);
  EXPECT_EQ(j["columns"][2]["cells_available"], 5);  // every t2 cell
}

TEST(PairingLineage, SameSeedSameTableDifferentSeedDifferentTable) {
  // One lineage, 20 source cells, 50 cells at each of two targets.
  PairingInput in;
  in.states = {"a", "b", "c"};
  for (int s = 0; s < 3; ++s)
    for (int i = 0; i < (s == 0 ? 20 : 50); ++i) in.cell_state.push_back(s);
  in.cell_lineage.assign(in.cell_state.size(), 0);
  in.lineage_names = {"only"};
  const Pairing a = pair_cells(in, lineage_options(Missing::Drop, 7));
  const Pairing b = pair_cells(in, lineage_options(Missing::Drop, 7));
  const Pairing c = pair_cells(in, lineage_options(Missing::Drop, 8));
  EXPECT_EQ(a.cells, b.cells);
  EXPECT_NE(a.cells, c.cells);
  // Enough cells: no target cell is used twice.
  const auto col = column(a, 1);
  EXPECT_EQ(std::set<int64_t>(col.begin(), col.end()).size(), 20u);
}

TEST(PairingLineage, ErrorsNameTheFileAndTheColumn) {
  PairingInput in = lineage_input();
  // No lineage with cells at the source and every target.
  in.cell_lineage[10] = 3;  // L0 loses its only t2 cell
  in.cell_lineage[11] = in.cell_lineage[12] = 3;
  auto msg = pg::test::error_of([&] { pair_cells(in, lineage_options()); });
  EXPECT_NE(msg.find("clones.h5ad"), std::string::npos) << msg;
  EXPECT_NE(msg.find("clone"), std::string::npos) << msg;
  EXPECT_NE(msg.find("every target state"), std::string::npos) << msg;
  // The same holds with Any: lineage pairing with no complete lineage is meaningless.
  msg = pg::test::error_of([&] { pair_cells(in, lineage_options(Missing::Any)); });
  EXPECT_NE(msg.find("every target state"), std::string::npos) << msg;

  PairingInput none = lineage_input();
  none.cell_lineage.clear();
  msg = pg::test::error_of([&] { pair_cells(none, lineage_options()); });
  EXPECT_NE(msg.find("--lineage-key"), std::string::npos) << msg;

  PairingOptions largest = lineage_options();
  largest.anchor = PairingOptions::Anchor::Largest;
  msg = pg::test::error_of([&] { pair_cells(lineage_input(), largest); });
  EXPECT_NE(msg.find("--pairing-anchor"), std::string::npos) << msg;

  PairingInput bad = lineage_input();
  bad.cell_lineage[0] = 9;
  msg = pg::test::error_of([&] { pair_cells(bad, lineage_options()); });
  EXPECT_NE(msg.find("lineage code 9"), std::string::npos) << msg;
}

TEST(PairingLineage, ModeNamesRoundTrip) {
  EXPECT_EQ(pg::tokenise::parse_pairing_mode("lineage", "--pairing"), PairingMode::Lineage);
  EXPECT_EQ(pg::tokenise::parse_pairing_mode("ot", "--pairing"), PairingMode::Ot);
  EXPECT_EQ(pg::tokenise::to_string(PairingMode::Ot), "ot");
  const auto msg = pg::test::error_of([] { pg::tokenise::parse_pairing_mode("clone", "--pairing"); });
  EXPECT_NE(msg.find("lineage or ot"), std::string::npos) << msg;
}

TEST(PairingLineage, ThousandsOfDroppedLineagesAreCountedAndListedInPart) {
  // Clone-barcode data: most clones are seen at one time point only. Lineage
  // 0 is at both states; lineages 1..1500 have a source cell only.
  PairingInput in;
  in.states = {"d2", "d4"};
  in.cell_state = {0, 1};
  in.cell_lineage = {0, 0};
  in.lineage_names = {"c0"};
  for (int l = 1; l <= 1500; ++l) {
    in.cell_state.push_back(0);
    in.cell_lineage.push_back(l);
    in.lineage_names.push_back("c" + std::to_string(l));
  }
  const Pairing p = pair_cells(in, lineage_options());
  EXPECT_EQ(p.n_rows, 1);
  EXPECT_EQ(p.unpaired_anchor_cells, 1500);
  const auto j = p.summary();
  EXPECT_EQ(j["lineage"]["lineages_dropped"], 1500);
  EXPECT_EQ(j["lineage"]["rows_dropped"], 1500);
  EXPECT_EQ(j["lineage"]["dropped_listed"], 1000);
  EXPECT_EQ(j["dropped_groups"].size(), 1000u);
}
