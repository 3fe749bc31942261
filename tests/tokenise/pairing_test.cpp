#include "tokenise/pairing.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "test_support.h"

using pg::tokenise::MappingTable;
using pg::tokenise::pair_cells;
using pg::tokenise::Pairing;
using pg::tokenise::PairingInput;
using pg::tokenise::PairingMode;
using pg::tokenise::PairingOptions;
using Anchor = PairingOptions::Anchor;

namespace {

PairingInput make_input(std::vector<std::string> states, int32_t source, std::vector<int32_t> cell_state,
                        std::vector<int32_t> cell_group = {}, std::vector<std::string> group_names = {}) {
  PairingInput in;
  in.states = std::move(states);
  in.source = source;
  in.cell_state = std::move(cell_state);
  in.cell_group = std::move(cell_group);
  in.group_names = std::move(group_names);
  in.input_name = "data.h5ad";
  in.state_column = "time";
  in.group_column = "cell_type";
  return in;
}

std::vector<int64_t> column(const Pairing& p, size_t c, int64_t begin = 0, int64_t end = -1) {
  if (end < 0) end = p.n_rows;
  std::vector<int64_t> out;
  for (int64_t r = begin; r < end; ++r) out.push_back(p.cell(r, c));
  return out;
}

std::vector<int64_t> sorted(std::vector<int64_t> v) {
  std::sort(v.begin(), v.end());
  return v;
}

size_t distinct(const std::vector<int64_t>& v) {
  return std::set<int64_t>(v.begin(), v.end()).size();
}

bool subset_of(const std::vector<int64_t>& v, const std::set<int64_t>& pool) {
  return std::all_of(v.begin(), v.end(), [&](int64_t x) { return pool.count(x) == 1; });
}

// Every cell of column c belongs to the column's state.
void expect_columns_hold_their_state(const PairingInput& in, const Pairing& p) {
  ASSERT_EQ(p.cells.size(), size_t(p.n_rows) * p.columns.size());
  for (size_t c = 0; c < p.columns.size(); ++c) {
    EXPECT_EQ(p.columns[c], in.states[size_t(p.column_state[c])]);
    for (int64_t r = 0; r < p.n_rows; ++r) ASSERT_EQ(in.cell_state[size_t(p.cell(r, c))], p.column_state[c]);
  }
}

// Row i has the same group in every column.
void expect_rows_group_consistent(const PairingInput& in, const Pairing& p) {
  for (int64_t r = 0; r < p.n_rows; ++r) {
    const int32_t g = in.cell_group[size_t(p.cell(r, 0))];
    ASSERT_GE(g, 0);
    for (size_t c = 1; c < p.columns.size(); ++c) ASSERT_EQ(in.cell_group[size_t(p.cell(r, c))], g) << r;
  }
}

double chi_square(const std::vector<int64_t>& counts) {
  double total = 0;
  for (const int64_t c : counts) total += double(c);
  const double e = total / double(counts.size());
  double x2 = 0;
  for (const int64_t c : counts) x2 += (double(c) - e) * (double(c) - e) / e;
  return x2;
}
constexpr double kChi2_999_df9 = 27.877164871256568;  // scipy.stats.chi2.ppf(0.999, 9)

// A = {0,3,5}, B = {1,4,6,7,8}, C = {2,9}.
PairingInput three_states() {
  return make_input({"A", "B", "C"}, 0, {0, 1, 2, 0, 1, 0, 1, 1, 1, 2});
}

// Cells (state, group); groups B, M, T. T has no cells at t2.
//   B: t0 {0,2,10}  t1 {3,13,14,16}  t2 {6}
//   M: t0 {1}       t1 {4,5}         t2 {7,12}
//   T: t0 {8}       t1 {9}
//   missing group: 11 (t0), 15 (t2)
PairingInput stratified_input() {
  return make_input({"t0", "t1", "t2"}, 0, {0, 0, 0, 1, 1, 1, 2, 2, 0, 1, 0, 0, 2, 1, 1, 2, 1},
                    {0, 1, 0, 0, 1, 1, 0, 1, 2, 2, 0, -1, 1, 0, 0, -1, 0}, {"B", "M", "T"});
}

std::string write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
  return path.string();
}

const char* kHspcCsv =
    "stem,intermediate,terminal\n"
    "LT-HSC,MEMP,MK prog.\n"
    "LT-HSC,MEMP,BFU-E/CFU-E\n"
    "LT-HSC,GMP,Mono\n"
    "MPP,GMP,Mono\n"
    "MPP,GMP,Macrophage\n";

// Labels (sorted names): stem: LT-HSC {0,1,2}, MPP {3,4}, Other {5};
// intermediate: MEMP {6,7}, GMP {8,9,10}; terminal: MK prog. {11},
// BFU-E/CFU-E {12}, Mono {13,14}, Macrophage {15}, Other {16}.
PairingInput hspc_input() {
  const std::vector<std::string> names = {"BFU-E/CFU-E", "GMP",        "LT-HSC", "MEMP", "MK prog.",
                                          "MPP",         "Macrophage", "Mono",   "Other"};
  const auto g = [&](const std::string& n) {
    return int32_t(std::find(names.begin(), names.end(), n) - names.begin());
  };
  return make_input({"stem", "intermediate", "terminal"}, 0,
                    {0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2},
                    {g("LT-HSC"), g("LT-HSC"), g("LT-HSC"), g("MPP"), g("MPP"), g("Other"), g("MEMP"),
                     g("MEMP"), g("GMP"), g("GMP"), g("GMP"), g("MK prog."), g("BFU-E/CFU-E"), g("Mono"),
                     g("Mono"), g("Macrophage"), g("Other")},
                    names);
}

PairingOptions mapping_options(const std::string& file) {
  PairingOptions o;
  o.mode = PairingMode::Mapping;
  o.mapping_file = file;
  return o;
}

}  // namespace

// ---------------------------------------------------------------- random ----

TEST(PairingRandom, SourceAnchorUsesEverySourceCellOnceInOrder) {
  const PairingInput in = three_states();
  const Pairing p = pair_cells(in, PairingOptions{});
  EXPECT_EQ(p.columns, (std::vector<std::string>{"A", "B", "C"}));
  EXPECT_EQ(p.column_state, (std::vector<int32_t>{0, 1, 2}));
  ASSERT_EQ(p.n_rows, 3);
  expect_columns_hold_their_state(in, p);
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 3, 5}));
  EXPECT_EQ(distinct(column(p, 1)), 3u);  // 5 cells for 3 rows: no reuse
  // 2 cells for 3 rows: the first two rows are a permutation, the third reuses one.
  EXPECT_EQ(sorted(column(p, 2, 0, 2)), (std::vector<int64_t>{2, 9}));

  const auto j = p.summary();
  EXPECT_EQ(j["mode"], "random");
  EXPECT_EQ(j["anchor"], "source");
  EXPECT_EQ(j["anchor_state"], "A");
  EXPECT_EQ(j["n_rows"], 3);
  EXPECT_EQ(j["columns"][0]["role"], "source");
  EXPECT_EQ(j["columns"][1]["target"], 1);
  EXPECT_EQ(j["columns"][1]["cells_available"], 5);
  EXPECT_EQ(j["columns"][1]["distinct_cells"], 3);
  EXPECT_EQ(j["columns"][1]["reused_draws"], 0);
  EXPECT_EQ(j["columns"][2]["target"], 2);
  EXPECT_EQ(j["columns"][2]["distinct_cells"], 2);
  EXPECT_EQ(j["columns"][2]["reused_draws"], 1);
  EXPECT_EQ(j["columns"][2]["max_uses"], 2);
  EXPECT_EQ(j["unpaired_anchor_cells"], 0);
  EXPECT_TRUE(j["skipped_states"].empty());
}

TEST(PairingRandom, ShortPoolIsCycledEvenly) {
  // 10 source cells (0..9), 3 target cells (10, 11, 12).
  std::vector<int32_t> states(13, 0);
  states[10] = states[11] = states[12] = 1;
  const PairingInput in = make_input({"s", "t"}, 0, states);
  const Pairing p = pair_cells(in, PairingOptions{});
  ASSERT_EQ(p.n_rows, 10);
  const auto t = column(p, 1);
  for (int64_t block = 0; block < 3; ++block)
    EXPECT_EQ(sorted(column(p, 1, 3 * block, 3 * block + 3)), (std::vector<int64_t>{10, 11, 12}));
  std::map<int64_t, int> uses;
  for (const int64_t c : t) ++uses[c];
  std::vector<int> counts;
  for (const auto& [cell, n] : uses) counts.push_back(n);
  std::sort(counts.begin(), counts.end());
  EXPECT_EQ(counts, (std::vector<int>{3, 3, 4}));

  // The reference's i.i.d. draws for a short pool instead (cycle_when_short = false).
  PairingOptions iid;
  iid.cycle_when_short = false;
  const Pairing q = pair_cells(in, iid);
  EXPECT_TRUE(subset_of(column(q, 1), {10, 11, 12}));
  EXPECT_NE(column(q, 1), t);
}

TEST(PairingRandom, WithReplacementDrawsAreUniform) {
  // 50,000 source cells, 10 target cells, i.i.d. draws (the reference's random mode).
  const int64_t n_src = 50000;
  std::vector<int32_t> states(size_t(n_src), 0);
  for (int i = 0; i < 10; ++i) states.push_back(1);
  const PairingInput in = make_input({"s", "t"}, 0, states);
  PairingOptions opt;
  opt.without_replacement = false;
  const Pairing p = pair_cells(in, opt);
  ASSERT_EQ(p.n_rows, n_src);
  std::vector<int64_t> counts(10, 0);
  int64_t repeats = 0;
  for (int64_t r = 0; r < n_src; ++r) {
    const int64_t c = p.cell(r, 1) - n_src;
    ASSERT_GE(c, 0);
    ASSERT_LT(c, 10);
    ++counts[size_t(c)];
    if (r > 0 && p.cell(r, 1) == p.cell(r - 1, 1)) ++repeats;
  }
  EXPECT_LT(chi_square(counts), kChi2_999_df9);
  // Independent draws: consecutive rows agree with probability 1/10
  // (expected 4999.9, sd 67; 6 sd).
  EXPECT_NEAR(double(repeats), 4999.9, 402);
}

TEST(PairingRandom, WithoutReplacementPicksUniformSubsets) {
  // 3 source cells, 10 target cells: each seed picks 3 distinct target cells;
  // over 2,000 seeds every target cell is picked equally often.
  std::vector<int32_t> states = {0, 0, 0};
  for (int i = 0; i < 10; ++i) states.push_back(1);
  const PairingInput in = make_input({"s", "t"}, 0, states);
  std::vector<int64_t> counts(10, 0);
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    PairingOptions opt;
    opt.seed = seed;
    const Pairing p = pair_cells(in, opt);
    const auto t = column(p, 1);
    ASSERT_EQ(distinct(t), 3u);
    for (const int64_t c : t) ++counts[size_t(c - 3)];
  }
  EXPECT_LT(chi_square(counts), kChi2_999_df9);
}

TEST(PairingRandom, ReferenceAnchorsOnLargestState) {
  const PairingInput in = three_states();
  const PairingOptions ref = pg::tokenise::reference_options(PairingMode::Random);
  EXPECT_EQ(ref.anchor, Anchor::Largest);
  EXPECT_FALSE(ref.without_replacement);
  const Pairing p = pair_cells(in, ref);
  EXPECT_EQ(p.anchor_state, "B");
  EXPECT_EQ(p.columns, (std::vector<std::string>{"A", "B", "C"}));  // the source stays first
  ASSERT_EQ(p.n_rows, 5);
  expect_columns_hold_their_state(in, p);
  EXPECT_EQ(column(p, 1), (std::vector<int64_t>{1, 4, 6, 7, 8}));
  // 5 draws with replacement from 3 source cells: some cell repeats.
  EXPECT_LT(distinct(column(p, 0)), 5u);
  EXPECT_EQ(p.summary()["anchor"], "largest");
}

TEST(PairingRandom, LargestTieGoesToStateSeenFirst) {
  PairingOptions opt;
  opt.anchor = Anchor::Largest;
  EXPECT_EQ(pair_cells(make_input({"A", "B"}, 0, {1, 0, 1, 0}), opt).anchor_state, "B");
  EXPECT_EQ(pair_cells(make_input({"A", "B"}, 0, {0, 1, 0, 1}), opt).anchor_state, "A");
  EXPECT_EQ(pair_cells(make_input({"A", "B"}, 0, {1, 0, 0, 1, 0}), opt).anchor_state, "A");
}

TEST(PairingRandom, EmptyTargetStatesAreSkippedAndNumberingStaysConsecutive) {
  // Source "B" (index 1); "C" has no cells; cells marked -1 are not used.
  const PairingInput in = make_input({"A", "B", "C", "D"}, 1, {0, 1, 3, -1, 1, 0, 3});
  const Pairing p = pair_cells(in, PairingOptions{});
  EXPECT_EQ(p.columns, (std::vector<std::string>{"B", "A", "D"}));
  EXPECT_EQ(p.column_state, (std::vector<int32_t>{1, 0, 3}));
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{1, 4}));
  EXPECT_EQ(sorted(column(p, 1)), (std::vector<int64_t>{0, 5}));
  EXPECT_EQ(sorted(column(p, 2)), (std::vector<int64_t>{2, 6}));
  const auto j = p.summary();
  ASSERT_EQ(j["skipped_states"].size(), 1u);
  EXPECT_EQ(j["skipped_states"][0]["state"], "C");
  EXPECT_EQ(j["skipped_states"][0]["reason"], "no cells");
  EXPECT_EQ(j["columns"][1]["target"], 1);
  EXPECT_EQ(j["columns"][2]["target"], 2);
}

TEST(PairingRandom, SourceWithoutCellsIsAnError) {
  const PairingInput in = make_input({"A", "B"}, 0, {1, 1, -1});
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, PairingOptions{}); }),
            "data.h5ad: time: source state 'A' has no cells");
}

TEST(PairingRandom, BadInputIsAnError) {
  auto in = make_input({"A", "B"}, 2, {0, 1});
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, PairingOptions{}); }),
            "data.h5ad: pairing: source state index 2 is out of range (2 states)");
  in = make_input({"A", "A"}, 0, {0, 1});
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, PairingOptions{}); }),
            "data.h5ad: pairing: state 'A' is listed twice");
  in = make_input({"A", "B"}, 0, {0, 3});
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, PairingOptions{}); }),
            "data.h5ad: pairing: cell 1 has state code 3 (2 states)");
  in = make_input({"A", "B"}, 0, {0, 1, 1}, {0, 0}, {"x"});
  PairingOptions strat;
  strat.mode = PairingMode::Stratified;
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, strat); }),
            "data.h5ad: pairing: group codes for 2 cells, states for 3");
  EXPECT_EQ(pg::test::error_of([] { pg::tokenise::parse_pairing_mode("stratify", "--pairing_mode"); }),
            "<input>: --pairing_mode: unknown pairing mode 'stratify' "
            "(expected random, stratified, mapping, lineage or ot)");
  EXPECT_EQ(pg::tokenise::parse_pairing_mode("mapping", "x"), PairingMode::Mapping);
}

// ------------------------------------------------------------ stratified ----

TEST(PairingStratified, GroupsAtEveryStateSourceCellsInOrder) {
  const PairingInput in = stratified_input();
  PairingOptions opt;
  opt.mode = PairingMode::Stratified;
  const Pairing p = pair_cells(in, opt);
  EXPECT_EQ(p.columns, (std::vector<std::string>{"t0", "t1", "t2"}));
  ASSERT_EQ(p.n_rows, 4);  // B: 3 source cells, M: 1; T dropped (absent at t2)
  expect_columns_hold_their_state(in, p);
  expect_rows_group_consistent(in, p);
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 2, 10, 1}));
  // t1 has 4 B cells for 3 rows: distinct; t2 has one B cell: used 3 times.
  EXPECT_EQ(distinct(column(p, 1, 0, 3)), 3u);
  EXPECT_TRUE(subset_of(column(p, 1, 0, 3), {3, 13, 14, 16}));
  EXPECT_EQ(column(p, 2, 0, 3), (std::vector<int64_t>{6, 6, 6}));
  EXPECT_TRUE(subset_of(column(p, 1, 3, 4), {4, 5}));
  EXPECT_TRUE(subset_of(column(p, 2, 3, 4), {7, 12}));

  ASSERT_EQ(p.blocks.size(), 2u);
  EXPECT_EQ(p.blocks[0].group, "B");
  EXPECT_EQ(p.blocks[0].end, 3);
  EXPECT_EQ(p.blocks[1].group, "M");
  EXPECT_EQ(p.blocks[1].begin, 3);
  const auto j = p.summary();
  EXPECT_EQ(j["groups"][1]["rows"], 1);
  ASSERT_EQ(j["dropped_groups"].size(), 1u);
  EXPECT_EQ(j["dropped_groups"][0]["group"], "T");
  EXPECT_EQ(j["dropped_groups"][0]["reason"], "no cells at 't2'");
  EXPECT_EQ(j["dropped_groups"][0]["cells"], 2);
  EXPECT_EQ(j["unpaired_anchor_cells"], 2);          // cell 8 (T) and cell 11 (no group)
  EXPECT_EQ(j["columns"][1]["cells_available"], 6);  // B and M cells at t1
  EXPECT_EQ(j["columns"][2]["reused_draws"], 2);
}

TEST(PairingStratified, ReferenceAnchorsOnLargestAndSamplesItToo) {
  const PairingInput in = stratified_input();  // t1 has 7 cells, t0 6, t2 4
  const Pairing p = pair_cells(in, pg::tokenise::reference_options(PairingMode::Stratified));
  EXPECT_EQ(p.anchor_state, "t1");
  ASSERT_EQ(p.n_rows, 6);  // B: 4 cells at t1, M: 2
  expect_columns_hold_their_state(in, p);
  expect_rows_group_consistent(in, p);
  // The anchor column is sampled n of n without replacement: a permutation.
  EXPECT_EQ(sorted(column(p, 1, 0, 4)), (std::vector<int64_t>{3, 13, 14, 16}));
  // ... and, for this seed, not the identity (the corrected mode keeps cell order).
  EXPECT_NE(column(p, 1, 0, 4), (std::vector<int64_t>{3, 13, 14, 16}));
  EXPECT_EQ(sorted(column(p, 1, 4, 6)), (std::vector<int64_t>{4, 5}));
  // The source (3 B cells for 4 rows) is drawn with replacement: a duplicate.
  EXPECT_TRUE(subset_of(column(p, 0, 0, 4), {0, 2, 10}));
  EXPECT_LT(distinct(column(p, 0, 0, 4)), 4u);
  EXPECT_EQ(column(p, 0, 4, 6), (std::vector<int64_t>{1, 1}));
}

TEST(PairingStratified, TargetWithoutGroupedCellsIsSkipped) {
  // t2's only cells have no group.
  const PairingInput in =
      make_input({"t0", "t1", "t2"}, 0, {0, 1, 2, 0, 1, 2}, {0, 0, -1, 1, 1, -1}, {"x", "y"});
  PairingOptions opt;
  opt.mode = PairingMode::Stratified;
  const Pairing p = pair_cells(in, opt);
  EXPECT_EQ(p.columns, (std::vector<std::string>{"t0", "t1"}));
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(column(p, 1), (std::vector<int64_t>{1, 4}));
  ASSERT_EQ(p.skipped_states.size(), 1u);
  EXPECT_EQ(p.skipped_states[0].reason, "no cells with a cell_type value");
}

TEST(PairingStratified, NoGroupAtEveryStateIsAnError) {
  const PairingInput in = make_input({"t0", "t1"}, 0, {0, 1}, {0, 1}, {"x", "y"});
  PairingOptions opt;
  opt.mode = PairingMode::Stratified;
  EXPECT_EQ(
      pg::test::error_of([&] { pair_cells(in, opt); }),
      "data.h5ad: cell_type: no cell_type value has cells at every state (2 states, 2 values with cells)");
  const PairingInput ungrouped = make_input({"t0", "t1"}, 0, {0, 1}, {-1, 0}, {"x"});
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(ungrouped, opt); }),
            "data.h5ad: time: source state 't0' has no cells with a cell_type value");
}

// --------------------------------------------------------------- mapping ----

TEST(PairingMapping, PairsAnchorLabelsWithMappedLabels) {
  const auto dir = pg::test::temp_dir();
  const PairingInput in = hspc_input();
  const Pairing p = pair_cells(in, mapping_options(write_file(dir / "map.csv", kHspcCsv)));
  EXPECT_EQ(p.columns, (std::vector<std::string>{"stem", "intermediate", "terminal"}));
  ASSERT_EQ(p.n_rows, 5);
  expect_columns_hold_their_state(in, p);
  // LT-HSC first (first anchor label of the CSV), then MPP; "Other" is unmapped.
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(distinct(column(p, 1, 0, 3)), 3u);
  EXPECT_TRUE(subset_of(column(p, 1, 0, 3), {6, 7, 8, 9, 10}));  // MEMP or GMP
  EXPECT_EQ(distinct(column(p, 2, 0, 3)), 3u);
  EXPECT_TRUE(subset_of(column(p, 2, 0, 3), {11, 12, 13, 14}));  // MK prog., BFU-E/CFU-E, Mono
  EXPECT_EQ(distinct(column(p, 1, 3, 5)), 2u);
  EXPECT_TRUE(subset_of(column(p, 1, 3, 5), {8, 9, 10}));  // GMP
  EXPECT_EQ(distinct(column(p, 2, 3, 5)), 2u);
  EXPECT_TRUE(subset_of(column(p, 2, 3, 5), {13, 14, 15}));  // Mono, Macrophage
  ASSERT_EQ(p.blocks.size(), 2u);
  EXPECT_EQ(p.blocks[0].group, "LT-HSC");
  EXPECT_EQ(p.blocks[1].group, "MPP");
  EXPECT_EQ(p.unpaired_anchor_cells, 1);
  const auto j = p.summary();
  EXPECT_EQ(j["columns"][1]["cells_available"], 5);
  EXPECT_EQ(j["columns"][2]["cells_available"], 5);  // all terminal cells but "Other"
  EXPECT_TRUE(j["unknown_labels"].empty());
}

TEST(PairingMapping, StatesNotInTheRunAreIgnoredAndAnchorIsTheSource) {
  // One-target run intermediate -> terminal with the three-column table.
  const auto dir = pg::test::temp_dir();
  PairingInput in = hspc_input();
  in.states = {"intermediate", "terminal"};
  for (auto& s : in.cell_state) s -= 1;  // stem cells -> -1 (not used)
  const Pairing p = pair_cells(in, mapping_options(write_file(dir / "map.csv", kHspcCsv)));
  ASSERT_EQ(p.n_rows, 5);
  // MEMP first, then GMP (order of first appearance in the intermediate column).
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{6, 7, 8, 9, 10}));
  EXPECT_EQ(sorted(column(p, 1, 0, 2)), (std::vector<int64_t>{11, 12}));
  EXPECT_EQ(sorted(column(p, 1, 2, 5)), (std::vector<int64_t>{13, 14, 15}));
}

TEST(PairingMapping, SubgroupsPairWithinTheSameSubgroup) {
  const auto dir = pg::test::temp_dir();
  PairingInput in =
      make_input({"a", "b"}, 0, {0, 0, 0, 1, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1, 1, 1, 1}, {"X", "Y"});
  in.cell_subgroup = {0, 0, 1, 0, 0, 1, 1, 1, -1};
  in.subgroup_names = {"bm", "liver"};
  const Pairing p = pair_cells(in, mapping_options(write_file(dir / "m.csv", "a,b\nX,Y\n")));
  ASSERT_EQ(p.n_rows, 3);
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(sorted(column(p, 1, 0, 2)), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(subset_of(column(p, 1, 2, 3), {5, 6, 7}));
  ASSERT_EQ(p.blocks.size(), 2u);
  EXPECT_EQ(p.blocks[0].group, "bm / X");
  EXPECT_EQ(p.blocks[1].group, "liver / X");
}

TEST(PairingMapping, LabelsWithoutTargetCellsAreDroppedAndReported) {
  const auto dir = pg::test::temp_dir();
  PairingInput in = hspc_input();
  in.cell_state[13] = in.cell_state[14] = in.cell_state[15] = -1;  // no Mono, no Macrophage
  const Pairing p = pair_cells(in, mapping_options(write_file(dir / "map.csv", kHspcCsv)));
  ASSERT_EQ(p.n_rows, 3);  // LT-HSC only; its terminal pool {11, 12} is cycled
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(sorted(column(p, 2, 0, 2)), (std::vector<int64_t>{11, 12}));
  ASSERT_EQ(p.dropped_groups.size(), 1u);
  EXPECT_EQ(p.dropped_groups[0].name, "MPP");
  EXPECT_EQ(p.dropped_groups[0].reason, "no cells labelled 'Mono', 'Macrophage' at state 'terminal'");
  EXPECT_EQ(p.dropped_groups[0].cells, 2);
  EXPECT_EQ(p.unpaired_anchor_cells, 3);
}

TEST(PairingMapping, TableErrorsNameFileLineAndProblem) {
  const auto dir = pg::test::temp_dir();
  const PairingInput in = hspc_input();
  const auto err = [&](const std::string& name, const std::string& text) {
    const std::string file = write_file(dir / name, text);
    return pg::test::error_of([&] { pair_cells(in, mapping_options(file)); });
  };
  const std::string d = (dir / "").string();
  EXPECT_EQ(err("a.csv", "stem,terminal\nLT-HSC,Mono\n"),
            d + "a.csv: header: no column for state 'intermediate' (columns: 'stem', 'terminal')");
  EXPECT_EQ(err("b.csv", "stem,intermediate,terminal\nLT-HSC,MEMP,Mono\nMPP,MEMPX,Mono\n"),
            d + "b.csv: line 3: label 'MEMPX' in column 'intermediate' is not a value of 'cell_type' in "
                "data.h5ad (9 values)");
  EXPECT_EQ(err("c.csv", "stem,intermediate,terminal\nLT-HSC,MEMP,Mono\nMPP,GMP\n"),
            d + "c.csv: line 3: 2 fields, but the header has 3 columns");
  EXPECT_EQ(err("d.csv", "stem,intermediate,terminal\nLT-HSC,MEMP,\n"),
            d + "d.csv: line 2: empty label in column 'terminal'");
  EXPECT_EQ(err("e.csv", "stem,intermediate,terminal\n\"LT-HSC,MEMP,Mono\n"),
            d + "e.csv: line 2: a quoted field is not closed before the end of the file");
  EXPECT_EQ(err("f.csv", ""), d + "f.csv: the mapping file is empty (expected a header of state names)");
  EXPECT_EQ(err("g.csv", "stem,intermediate,stem\nA,B,C\n"),
            d + "g.csv: line 1: column 'stem' appears twice in the header");
  EXPECT_EQ(err("h.csv", "stem,intermediate,terminal\n\n"), d + "h.csv: line 1: no rows after the header");
  EXPECT_EQ(err("i.csv", "stem,intermediate,terminal\nLT-HSC,ME\"MP,Mono\n"),
            d + "i.csv: line 2: a double quote inside a field that does not start with one");
  EXPECT_EQ(err("j.csv", "stem,intermediate,terminal\nLT-HSC,LT-HSC,Mono\nMPP,GMP,LT-HSC\n"),
            d + "j.csv: column 'stem': no cell of state 'stem' could be paired (2 labels dropped: no cells "
                "labelled "
                "'LT-HSC' at state 'intermediate')");
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, mapping_options((dir / "missing.csv").string())); }),
            d + "missing.csv: cannot open the mapping file");
  EXPECT_EQ(pg::test::error_of([&] { pair_cells(in, mapping_options("")); }),
            "data.h5ad: pairing: pairing mode 'mapping' needs a mapping file (CSV, one column per state)");
}

TEST(PairingMapping, TargetWithoutMappedCellsIsSkipped) {
  const auto dir = pg::test::temp_dir();
  const std::string file = write_file(dir / "m.csv", "stem,intermediate,terminal\nOther,Other,Other\n");
  const Pairing p = pair_cells(hspc_input(), mapping_options(file));
  EXPECT_EQ(p.columns, (std::vector<std::string>{"stem", "terminal"}));
  EXPECT_EQ(column(p, 0), (std::vector<int64_t>{5}));
  EXPECT_EQ(column(p, 1), (std::vector<int64_t>{16}));
  ASSERT_EQ(p.skipped_states.size(), 1u);
  EXPECT_EQ(p.skipped_states[0].name, "intermediate");
  EXPECT_EQ(p.skipped_states[0].reason, "no cells whose cell_type appears in its column of " + file);
}

TEST(PairingMapping, UnknownLabelsCanBeTolerated) {
  const auto dir = pg::test::temp_dir();
  PairingOptions opt = mapping_options(
      write_file(dir / "m.csv", "stem,intermediate,terminal\nMPP,GMP,Mono\nMPP,GMPX,Neutrophil\n"));
  opt.mapping_allow_unknown_labels = true;
  const Pairing p = pair_cells(hspc_input(), opt);
  EXPECT_EQ(p.unknown_labels, (std::vector<std::string>{"GMPX", "Neutrophil"}));
  EXPECT_EQ(p.summary()["unknown_labels"], nlohmann::json({"GMPX", "Neutrophil"}));
  ASSERT_EQ(p.n_rows, 2);
  EXPECT_TRUE(subset_of(column(p, 1), {8, 9, 10}));
  EXPECT_TRUE(subset_of(column(p, 2), {13, 14}));
}

TEST(PairingMapping, CsvQuotesLineEndingsAndLineNumbers) {
  const MappingTable t = pg::tokenise::parse_mapping_csv(
      "\xEF\xBB\xBFstem,\"inter, mediate\"\r\n\r\n\"LT-HSC\",\"say "
      "\"\"hi\"\"\"\r\n\"multi\nline\",x\n\nlast,row",
      "t.csv");
  EXPECT_EQ(t.columns, (std::vector<std::string>{"stem", "inter, mediate"}));
  ASSERT_EQ(t.rows.size(), 3u);
  EXPECT_EQ(t.rows[0], (std::vector<std::string>{"LT-HSC", "say \"hi\""}));
  EXPECT_EQ(t.rows[1], (std::vector<std::string>{"multi\nline", "x"}));
  EXPECT_EQ(t.rows[2], (std::vector<std::string>{"last", "row"}));
  EXPECT_EQ(t.row_line, (std::vector<int64_t>{3, 4, 7}));
  // Fields keep their spaces, as pandas does.
  EXPECT_EQ(pg::tokenise::parse_mapping_csv("a, b\nx ,y\n", "s.csv").columns,
            (std::vector<std::string>{"a", " b"}));
}

// ----------------------------------------------------------- determinism ----

TEST(Pairing, SameSeedSameTableDifferentSeedDifferentTable) {
  // 600 cells over 3 states and 4 groups, labels from a fixed generator.
  pg::Rng gen(99);
  std::vector<int32_t> states, groups;
  for (int i = 0; i < 600; ++i) {
    states.push_back(int32_t(gen.below(3)));
    groups.push_back(int32_t(gen.below(4)));
  }
  const PairingInput in = make_input({"a", "b", "c"}, 0, states, groups, {"g0", "g1", "g2", "g3"});
  const auto dir = pg::test::temp_dir();
  const std::string csv = write_file(dir / "m.csv", "a,b,c\ng0,g1,g2\ng0,g2,g3\ng1,g1,g1\ng3,g0,g0\n");
  for (const PairingMode mode : {PairingMode::Random, PairingMode::Stratified, PairingMode::Mapping}) {
    PairingOptions opt = mapping_options(csv);
    opt.mode = mode;
    const Pairing p1 = pair_cells(in, opt), p2 = pair_cells(in, opt);
    opt.seed = 43;
    const Pairing p3 = pair_cells(in, opt);
    EXPECT_EQ(p1.cells, p2.cells) << pg::tokenise::to_string(mode);
    EXPECT_EQ(p1.summary(), p2.summary());
    EXPECT_EQ(p1.n_rows, p3.n_rows);
    EXPECT_EQ(column(p1, 0), column(p3, 0));  // the source column does not depend on the seed
    EXPECT_NE(p1.cells, p3.cells) << pg::tokenise::to_string(mode);
    expect_columns_hold_their_state(in, p1);
    if (mode == PairingMode::Stratified) expect_rows_group_consistent(in, p1);
    if (mode != PairingMode::Random) {
      // every source cell with a usable group appears exactly once
      std::vector<int64_t> expected;
      for (size_t i = 0; i < states.size(); ++i)
        if (states[i] == 0 && (mode == PairingMode::Stratified || groups[i] != 2))
          expected.push_back(int64_t(i));
      EXPECT_EQ(sorted(column(p1, 0)), expected) << pg::tokenise::to_string(mode);
    }
  }
}
