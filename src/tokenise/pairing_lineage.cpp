// Lineage pairing: every row's cells belong to one lineage (clone), the
// ground truth that lineage-tracing data (LARRY barcodes) provides and the
// other modes approximate. Semantics: pairing.h.
#include <algorithm>

#include "core/error.h"
#include "tokenise/pairing.h"

namespace pg::tokenise::detail {

namespace {

std::string quote_name(const std::string& s) {
  return "'" + s + "'";
}

}  // namespace

Pairing pair_lineage(const PairingInput& in, const PairingOptions& opt) {
  check_input(in, false);
  require_source_anchor(in, opt);
  if (in.cell_lineage.empty())
    throw Error(in.input_name, in.lineage_column.empty() ? "--lineage-key" : in.lineage_column,
                "lineage pairing needs a lineage column (--lineage-key)");
  const bool any = opt.lineage_missing == PairingOptions::LineageMissing::Any;
  Pairing p;
  p.options = opt;
  const size_t n_states = in.states.size(), n_lineages = in.lineage_names.size();
  const size_t n_cells = in.cell_state.size();
  const Buckets by_key = bucket_cells(n_cells, n_states * n_lineages, [&](size_t i) -> int64_t {
    const int32_t s = in.cell_state[i], l = in.cell_lineage[i];
    return s < 0 || l < 0 ? -1 : int64_t(s) * int64_t(n_lineages) + l;
  });
  const Buckets by_state =
      bucket_cells(n_cells, n_states, [&](size_t i) { return int64_t{in.cell_state[i]}; });
  const auto pool = [&](size_t s, size_t l) { return by_key[s * n_lineages + l]; };

  const std::vector<int64_t> totals = cells_per_state(in);
  std::vector<int64_t> with_lineage(n_states, 0), eligible(n_states, 0);
  std::vector<std::string> why(n_states);
  for (size_t s = 0; s < n_states; ++s) {
    for (size_t l = 0; l < n_lineages; ++l) with_lineage[s] += int64_t(pool(s, l).size());
    // With Any, a target state draws from all its cells when a lineage is absent.
    eligible[s] = any && s != size_t(in.source) ? totals[s] : with_lineage[s];
    why[s] = totals[s] == 0 ? "no cells" : "no cells with a " + in.lineage_column + " value";
  }
  set_columns(p, in, in.source, eligible, why);
  const size_t n_cols = p.columns.size();
  const auto src = size_t(in.source);

  // Which lineages have cells at every target; the others are dropped (Drop)
  // or fall back to the whole state for the columns where they are absent (Any).
  std::vector<uint8_t> keep(n_lineages, 0);
  int64_t complete = 0;
  for (size_t l = 0; l < n_lineages; ++l) {
    const auto n = int64_t(pool(src, l).size());
    std::string absent;
    for (size_t c = 1; c < n_cols; ++c)
      if (pool(size_t(p.column_state[c]), l).empty())
        absent += (absent.empty() ? "" : ", ") + quote_name(p.columns[c]);
    complete += n > 0 && absent.empty();
    if (n == 0) continue;
    if (absent.empty() || any) {
      keep[l] = 1;
      ++p.lineage.lineages_paired;
    } else {
      p.dropped_groups.push_back({in.lineage_names[l], "no cells at " + absent, n});
      p.lineage.rows_dropped += n;
    }
  }
  if (complete == 0)
    throw Error(in.input_name, in.lineage_column,
                "no " + in.lineage_column + " value has cells at the source and every target state (" +
                    std::to_string(n_cols) + " states, " + std::to_string(n_lineages) + " values)");

  // Rows: the kept source cells in cell order. Each lineage's draws go to its
  // own rows in row order.
  std::vector<int64_t> row_of(n_cells, -1);
  std::vector<int64_t> rows;
  for (const int64_t cell : by_state[src]) {
    const int32_t l = in.cell_lineage[size_t(cell)];
    if (l < 0) {
      ++p.lineage.source_without_lineage;
      continue;
    }
    if (!keep[size_t(l)]) continue;
    row_of[size_t(cell)] = int64_t(rows.size());
    rows.push_back(cell);
  }
  p.n_rows = int64_t(rows.size());

  Rng rng(opt.seed);
  std::vector<std::vector<int64_t>> cols(n_cols, std::vector<int64_t>(rows.size(), -1));
  cols[0] = rows;
  p.column_available.assign(n_cols, 0);
  p.column_available[0] = with_lineage[src];
  p.lineage.any_draws.assign(n_cols, 0);
  std::vector<int64_t> drawn, scratch;
  for (size_t l = 0; l < n_lineages; ++l) {
    if (!keep[l]) continue;
    const auto sources = pool(src, l);
    const auto n = int64_t(sources.size());
    for (size_t c = 1; c < n_cols; ++c) {
      const auto s = size_t(p.column_state[c]);
      auto from = pool(s, l);
      if (from.empty()) {  // only with Any
        from = by_state[s];
        p.lineage.any_draws[c] += n;
      }
      drawn.clear();
      draw_from_pool(rng, from, n, opt, drawn, scratch);
      for (size_t k = 0; k < sources.size(); ++k) cols[c][size_t(row_of[size_t(sources[k])])] = drawn[k];
    }
  }
  for (size_t c = 1; c < n_cols; ++c)
    p.column_available[c] = any ? totals[size_t(p.column_state[c])] : with_lineage[size_t(p.column_state[c])];
  assemble(p, cols);
  p.unpaired_anchor_cells = totals[src] - p.n_rows;
  return p;
}

}  // namespace pg::tokenise::detail
