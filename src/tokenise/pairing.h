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
//  * Lineage (lineage tracing, e.g. LARRY clone barcodes; not in the
//    reference): rows = the source cells with a lineage value, in cell order,
//    each once. Per lineage (code order), n = its source cells; every other
//    column draws n cells of the SAME lineage at its state. A lineage without
//    cells at some target state is dropped with its rows (lineage_missing
//    Drop, reported) or draws that column from all cells of the state (Any,
//    counted per column). Source cells without a lineage are unpaired.
//  * Ot (Waddington-OT / moscot style, not in the reference): rows = the
//    source cells (at most ot_max_cells, a seeded subsample, as every state in
//    the couplings). The caller supplies log-normalised expression of those
//    cells (ot_sample_cells); a PCA fitted on all of them gives coordinates;
//    consecutive states along the time order, chained outward from the source
//    (s -> s+1 -> ..., and s -> s-1 -> ... for states before it), are coupled
//    by entropic OT on the squared distance divided by its mean, uniform
//    weights, ε = ot_epsilon, optionally unbalanced (ot_unbalanced = τ > 0:
//    KL-relaxed marginals, growth and death). A row is a Markov chain through
//    the couplings: each column draws one cell from the normalised plan row of
//    the cell its predecessor column drew (the source cell for the first).
//    Per coupling the summary gives the mean entropy of the normalised plan
//    rows, the mean effective number of targets exp(entropy), the distinct
//    cells drawn and the transported mass.
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
// columns; Lineage: lineages in code order, then columns; Ot: the PCA (seeded
// with opt.seed), then targets by distance from the source (earlier state
// first on ties), then rows, one uniform per draw. The Ot subsample uses its
// own stream (Rng(opt.seed) jumped once), states in time order. Same input +
// options -> identical table, on every platform (the generator and every
// distribution are specified bit for bit in core/random.h). The numbers
// differ from the reference's numpy draws (not reproducible in C++).
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
//  * Lineage and Ot always anchor on the source (Anchor::Largest is an error).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <numeric>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/random.h"

namespace pg::tokenise {

enum class PairingMode { Random, Stratified, Mapping, Lineage, Ot };

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
  // Lineage mode: the obs column with the lineage (clone) of each cell, and
  // what a lineage without cells at a target state does: its rows are dropped
  // (Drop) or that column draws from all cells of the state (Any).
  std::string lineage_key;
  enum class LineageMissing { Drop, Any } lineage_missing = LineageMissing::Drop;
  // Ot mode (see the top of this file).
  double ot_epsilon = 0.05;      // entropic regularisation, relative to the mean cost
  double ot_unbalanced = 0;      // τ of the KL-relaxed marginals; 0 = balanced
  int64_t ot_components = 30;    // PCA components, capped at min(cells - 1, genes)
  int64_t ot_genes = 2000;       // expression features: the genes expressed in the most cells
  int64_t ot_max_cells = 10000;  // per state; larger states are subsampled (seeded)
};

// The reference's settings for `mode` (Anchor::Largest; Random with
// replacement; Stratified/Mapping without replacement if enough cells, else
// i.i.d. with replacement).
PairingOptions reference_options(PairingMode mode);

std::string_view to_string(PairingMode mode);
// "random", "stratified", "mapping", "lineage", "ot"; else pg::Error naming `what`.
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
  // Lineage (and, optionally, Ot, to report lineage agreement): per cell the
  // lineage code, -1 = missing; empty = none.
  std::vector<int32_t> cell_lineage;
  std::vector<std::string> lineage_names;
  // Ot only: log-normalised expression of the cells ot_sample_cells() returns,
  // in that order, row-major (ot_cells.size() x ot_n_genes).
  std::vector<int64_t> ot_cells;
  std::vector<float> ot_expression;
  int64_t ot_n_genes = 0;
  // For error messages: the input file and the obs columns the codes came from.
  std::string input_name;
  std::string state_column = "state";
  std::string group_column = "group";
  std::string lineage_column = "lineage";
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
  struct LineageReport {
    int64_t lineages_paired = 0;
    int64_t rows_dropped = 0;  // source cells of dropped lineages
    int64_t source_without_lineage = 0;
    std::vector<int64_t> any_draws;  // per column: rows drawn from all cells (LineageMissing::Any)
  } lineage;
  struct Coupling {  // Ot: one per target column, from its predecessor in the chain
    std::string from, to;
    int64_t from_cells = 0, to_cells = 0;  // in the coupling, after subsampling
    double mean_entropy = 0;               // nats, of the normalised plan rows, mean over from-cells
    double effective_targets = 0;          // mean over from-cells of exp(entropy)
    int64_t distinct_targets = 0;          // distinct cells drawn in this column
    double mass = 1;                       // transported mass (1 when balanced)
    int64_t rows_without_mass = 0;         // plan rows that underflowed: drew the nearest cell
    double same_lineage = -1;              // drawn pairs of one lineage (of pairs with both known); -1 = n/a
    double same_lineage_mass = -1;         // the plan's share of mass on such pairs (expected agreement)
    int iterations = 0;
    bool converged = false;
  };
  std::vector<Coupling> couplings;
  int64_t ot_components = 0;  // PCA components used
  int64_t ot_genes = 0;       // expression features the PCA saw

  // Per column: state, cells available, distinct cells used, reused draws
  // (rows - distinct) and the most uses of one cell; the row count per group;
  // what was skipped or dropped and why; the options.
  nlohmann::json summary() const;
};

Pairing pair_cells(const PairingInput& in, const PairingOptions& opt);

// Ot: the cells that take part in the couplings (pairing_ot.cpp), ascending:
// every cell of every state, except that a state with more than
// opt.ot_max_cells cells contributes a seeded uniform subset of that size.
// The caller builds PairingInput::ot_expression for exactly these cells.
std::vector<int64_t> ot_sample_cells(const PairingInput& in, const PairingOptions& opt);

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

// Cells bucketed by key(cell) in [0, n_keys) (negative = left out), each
// bucket in cell order: bucket k is cells[offsets[k] .. offsets[k+1]).
struct Buckets {
  std::vector<int64_t> offsets;
  std::vector<int64_t> cells;
  std::span<const int64_t> operator[](size_t k) const {
    return std::span<const int64_t>(cells).subspan(static_cast<size_t>(offsets[k]),
                                                   static_cast<size_t>(offsets[k + 1] - offsets[k]));
  }
};

template <typename Key>
Buckets bucket_cells(size_t n_cells, size_t n_keys, Key key) {
  Buckets b;
  b.offsets.assign(n_keys + 1, 0);
  for (size_t i = 0; i < n_cells; ++i)
    if (const int64_t k = key(i); k >= 0) ++b.offsets[static_cast<size_t>(k) + 1];
  std::partial_sum(b.offsets.begin(), b.offsets.end(), b.offsets.begin());
  b.cells.resize(static_cast<size_t>(b.offsets.back()));
  std::vector<int64_t> next(b.offsets.begin(), b.offsets.end() - 1);
  for (size_t i = 0; i < n_cells; ++i)
    if (const int64_t k = key(i); k >= 0)
      b.cells[static_cast<size_t>(next[static_cast<size_t>(k)]++)] = int64_t(i);
  return b;
}

// The modes in files of their own.
Pairing pair_lineage(const PairingInput& in, const PairingOptions& opt);  // pairing_lineage.cpp
Pairing pair_ot(const PairingInput& in, const PairingOptions& opt);       // pairing_ot.cpp
// Anchor::Largest is meaningless for Lineage and Ot: pg::Error.
void require_source_anchor(const PairingInput& in, const PairingOptions& opt);
}  // namespace detail

}  // namespace pg::tokenise
