// Pairing of source cells with target cells across states (time points),
// spec §2.6 (reference: perturbgen/src/utils.py `pairing_cells`). The result is
// a table: one row per training example, one column per state (source first,
// then the targets in time order), each entry a cell index. The reference has
// no lineage ground truth either: a row pairs random cells of the same group
// (stratified) or of mapped labels (mapping), or simply random cells (random).
//
// Modes (rows, then what each column holds):
//  * Random: rows = every cell of the anchor state, in cell order; every
//    other column draws one cell of its state per row.
//  * Stratified: only groups with cells at every used state are kept (the
//    others are reported in the summary). Per kept group, in group-code order
//    (the caller makes codes follow sorted group names, i.e. pandas groupby
//    order), n = the group's cells at the anchor state; every other column
//    draws n cells of that group at its state. Rows of a group are contiguous.
//  * Mapping: a CSV with one column per state (header = state names, each row
//    an allowed label combination, e.g. `LT-HSC,MEMP,MK prog.`). Per optional
//    subgroup (cell_subgroup, the reference's opt_pairing_obs, in code order)
//    and per distinct anchor-column label (in order of first appearance in the
//    CSV, as pandas' unique()), the rows are the anchor cells with that label;
//    every other column draws as many cells whose label appears in its own
//    column of those CSV rows (and of the same subgroup). As in the reference,
//    each column is matched on its own: with rows `A,B1,C1` and `A,B2,C2` a
//    row may pair B1 with C2. CSV columns of states not in this run are ignored.
//
// How a column draws n cells from a pool of m eligible cells (in cell order):
//   without_replacement && m >= n: a uniformly random n-subset, in random order
//       (partial Fisher-Yates: for i < n, swap(pool[i], pool[i + below(m - i)]));
//   without_replacement && m < n && cycle_when_short: consecutive fresh random
//       permutations of the pool (so every cell is used floor(n/m) or
//       ceil(n/m) times) [deviation: the reference draws i.i.d. with replacement];
//   otherwise: n i.i.d. draws pool[below(m)] (with replacement).
// The anchor column is not drawn: it is the anchor cells in cell order, except
// Stratified with Anchor::Largest, where the reference samples the anchor state
// like any other (n of n without replacement = a permutation of the group).
//
// Determinism: one pg::Rng seeded with opt.seed, consumed in this order —
// Random: columns in column order; Stratified: groups in code order, then
// columns in column order; Mapping: subgroups, then anchor labels, then
// columns. Same input + options -> identical table, on every platform (the
// generator and every distribution are specified bit for bit in core/random.h).
// The numbers differ from the reference's numpy draws (not reproducible in C++).
//
// Deviations from the reference (each switchable back where it changes the
// pairing; reference_options() gives the reference's settings):
//  * Anchor::Source (default): the rows are the user's source state's cells, so
//    every source cell appears exactly once. The reference anchors on the state
//    with the most cells (Anchor::Largest; all its cells count, grouped or not;
//    ties -> the state whose first cell comes first, as the reference's
//    unique()-ordered scan), so source cells
//    are themselves sampled, duplicated or dropped (spec §11 item 10).
//  * without_replacement (default true): Random draws without replacement while
//    the state has enough cells; the reference always draws with replacement.
//    (Stratified/Mapping already draw without replacement when enough cells.)
//  * cycle_when_short (default true): see above.
//  * A target state with no eligible cells (no cells at all; Stratified: none
//    with a group; Mapping: none with a label of its CSV column) is skipped and
//    reported; the remaining targets keep consecutive numbering. The source
//    state without cells is a pg::Error. (The reference crashes or writes
//    empty datasets.)
//  * Mapping: an anchor label whose mapped labels have no cells at some target
//    state would make numpy raise; here those rows are dropped and reported.
//    A CSV label that is no group name is an error (a typo would otherwise
//    silently pair nothing) unless mapping_allow_unknown_labels.
//  * Cells with a missing group (-1) are never paired (pandas groupby drops NaN keys).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/random.h"

namespace pg::tokenise {

enum class PairingMode { Random, Stratified, Mapping };

struct PairingOptions {
  PairingMode mode = PairingMode::Random;
  uint64_t seed = 42;
  // Draw without replacement whenever the pool has enough cells. false: every
  // draw is i.i.d. with replacement (the reference's Random mode).
  bool without_replacement = true;
  // Which state's cells define the rows: the user's source state (corrected)
  // or the state with the most cells [reference quirk].
  enum class Anchor { Source, Largest } anchor = Anchor::Source;
  // Pool smaller than the rows (with without_replacement): reuse cells evenly
  // through fresh permutations (true) or draw i.i.d. with replacement (false,
  // the reference).
  bool cycle_when_short = true;
  // Mapping mode: the CSV, one column per state, header = state names.
  std::string mapping_file;
  // Mapping mode: CSV labels that are no group name are ignored (and listed in
  // the summary) instead of raising pg::Error.
  bool mapping_allow_unknown_labels = false;
};

// The reference's settings for `mode` (Anchor::Largest; Random with
// replacement; Stratified/Mapping without replacement if enough cells, else
// i.i.d. with replacement).
PairingOptions reference_options(PairingMode mode);

std::string_view to_string(PairingMode mode);
// "random", "stratified", "mapping"; anything else -> pg::Error naming `what`.
PairingMode parse_pairing_mode(std::string_view text, const std::string& what);

struct PairingInput {
  std::vector<std::string> states;  // state names in time order; states[source] is the source
  int32_t source = 0;
  std::vector<int32_t> cell_state;  // per cell: index into states, -1 = cell not used
  // Per cell: stratification group code, -1 = missing; empty for Random.
  // Stratified: the combined main + optional columns. Mapping: the main
  // column's label (group_names are matched against the CSV).
  std::vector<int32_t> cell_group;
  std::vector<std::string> group_names;  // names of the group codes
  // Mapping only (optional): the reference's opt_pairing_obs code per cell,
  // -1 = missing (never paired); empty = no subgroups.
  std::vector<int32_t> cell_subgroup;
  std::vector<std::string> subgroup_names;
  // For error messages: the input file and the obs columns the codes came from.
  std::string input_name;
  std::string state_column = "state";
  std::string group_column = "group";
};

struct Pairing {
  std::vector<std::string> columns;   // source state first, then the target states that received cells
  std::vector<int32_t> column_state;  // index into PairingInput::states per column
  int64_t n_rows = 0;
  std::vector<int64_t> cells;  // row-major n_rows x columns.size(): cell index per (row, column)

  int64_t cell(int64_t row, size_t column) const {
    return cells[static_cast<size_t>(row) * columns.size() + column];
  }

  // Audit trail (summary() renders it).
  PairingOptions options;
  std::string anchor_state;
  std::vector<int64_t> column_available;  // eligible pool size per column
  struct Block {                          // rows [begin, end) come from one group (Stratified/Mapping)
    std::string group;
    int64_t begin = 0, end = 0;
  };
  std::vector<Block> blocks;
  struct Note {  // a skipped state, a dropped group or unpaired cells, and why
    std::string name;
    std::string reason;
    int64_t cells = 0;
  };
  std::vector<Note> skipped_states;
  std::vector<Note> dropped_groups;
  int64_t unpaired_anchor_cells = 0;  // anchor cells in no row (dropped groups, unmapped labels)
  std::vector<std::string> unknown_labels;

  // Per column: state, cells available, distinct cells used, reused draws
  // (rows - distinct) and the most uses of one cell; the row count per group;
  // what was skipped or dropped and why; the options.
  nlohmann::json summary() const;
};

Pairing pair_cells(const PairingInput& in, const PairingOptions& opt);

// --- Mapping tables (pairing_mapping.cpp) ----------------------------------

struct MappingTable {
  std::string file;                            // for messages
  std::vector<std::string> columns;            // header
  std::vector<std::vector<std::string>> rows;  // each of columns.size() fields
  std::vector<int64_t> row_line;               // 1-based line of each row in the file
};

// RFC 4180 CSV: comma-separated, optional double quotes ("" = a quote), LF or
// CRLF, an optional UTF-8 BOM, blank lines ignored; fields are not trimmed
// (pandas keeps spaces too). Errors (no header, empty or duplicate column
// name, a row with the wrong number of fields, an unterminated quote, no rows)
// -> pg::Error naming `file` and the line.
MappingTable parse_mapping_csv(std::string_view text, const std::string& file);
MappingTable read_mapping_csv(const std::string& path);

// Mapping mode with an already parsed table (pair_cells reads opt.mapping_file).
Pairing pair_cells(const PairingInput& in, const PairingOptions& opt, const MappingTable& table);

// Appends n cells drawn from `pool` to `out` by the rule at the top of this
// file (`scratch` is reused working space).
void draw_from_pool(Rng& rng, std::span<const int64_t> pool, int64_t n, const PairingOptions& opt,
                    std::vector<int64_t>& out, std::vector<int64_t>& scratch);

// Shared by the modes (pairing.cpp, pairing_mapping.cpp); not for other callers.
namespace detail {
// Sizes, ranges and codes of `in`; pg::Error naming in.input_name.
void check_input(const PairingInput& in, bool needs_groups);
// Number of cells per state.
std::vector<int64_t> cells_per_state(const PairingInput& in);
// opt.anchor's state: the source, or the state with the most cells (`totals`),
// ties -> the state whose first cell comes first in cell order.
int32_t choose_anchor(const PairingInput& in, const PairingOptions& opt, const std::vector<int64_t>& totals);
// Columns = source, then every target with eligible[s] > 0 in time order; the
// others go to skipped_states with reason why[s]. The source and the anchor
// must have eligible cells: pg::Error otherwise, explained by why[s].
void set_columns(Pairing& p, const PairingInput& in, int32_t anchor, const std::vector<int64_t>& eligible,
                 const std::vector<std::string>& why);
// Fills p.cells (row-major) from one vector per column, all of one length.
void assemble(Pairing& p, const std::vector<std::vector<int64_t>>& columns);
}  // namespace detail

}  // namespace pg::tokenise
