// Random and stratified pairing, the helpers every mode shares, and the audit
// summary. Semantics and deviations from the reference: pairing.h.
#include "tokenise/pairing.h"

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <stdexcept>

#include "core/error.h"

namespace pg::tokenise {

namespace {

std::string quote_name(const std::string& s) {
  return "'" + s + "'";
}

using detail::bucket_cells;
using detail::Buckets;

Pairing pair_random(const PairingInput& in, const PairingOptions& opt) {
  detail::check_input(in, false);
  Pairing p;
  p.options = opt;
  const std::vector<int64_t> totals = detail::cells_per_state(in);
  const int32_t anchor = detail::choose_anchor(in, opt, totals);
  detail::set_columns(p, in, anchor, totals, std::vector<std::string>(in.states.size(), "no cells"));

  const Buckets by_state = bucket_cells(in.cell_state.size(), in.states.size(),
                                        [&](size_t i) { return int64_t{in.cell_state[i]}; });
  const auto anchor_cells = by_state[static_cast<size_t>(anchor)];
  const auto n = static_cast<int64_t>(anchor_cells.size());
  p.n_rows = n;

  Rng rng(opt.seed);
  std::vector<std::vector<int64_t>> cols(p.columns.size());
  std::vector<int64_t> scratch;
  for (size_t c = 0; c < cols.size(); ++c) {
    const int32_t s = p.column_state[c];
    p.column_available.push_back(totals[static_cast<size_t>(s)]);
    if (s == anchor)
      cols[c].assign(anchor_cells.begin(), anchor_cells.end());
    else
      draw_from_pool(rng, by_state[static_cast<size_t>(s)], n, opt, cols[c], scratch);
  }
  detail::assemble(p, cols);
  return p;
}

Pairing pair_stratified(const PairingInput& in, const PairingOptions& opt) {
  detail::check_input(in, true);
  Pairing p;
  p.options = opt;
  const size_t n_states = in.states.size(), n_groups = in.group_names.size();
  const auto key = [&](size_t i) -> int64_t {
    const int32_t s = in.cell_state[i], g = in.cell_group[i];
    return s < 0 || g < 0 ? -1 : int64_t(s) * int64_t(n_groups) + g;
  };
  const Buckets by_key = bucket_cells(in.cell_state.size(), n_states * n_groups, key);
  const auto count = [&](size_t s, size_t g) { return int64_t(by_key[s * n_groups + g].size()); };

  const std::vector<int64_t> totals = detail::cells_per_state(in);
  std::vector<int64_t> grouped(n_states, 0);
  std::vector<std::string> why(n_states);
  for (size_t s = 0; s < n_states; ++s) {
    for (size_t g = 0; g < n_groups; ++g) grouped[s] += count(s, g);
    why[s] = totals[s] == 0 ? "no cells" : "no cells with a " + in.group_column + " value";
  }
  // The reference's anchor is the most frequent state over all cells, grouped or not.
  const int32_t anchor = detail::choose_anchor(in, opt, totals);
  detail::set_columns(p, in, anchor, grouped, why);

  // Groups with cells at every used state; the others are dropped and reported.
  std::vector<size_t> kept;
  for (size_t g = 0; g < n_groups; ++g) {
    std::string absent;
    int64_t cells = 0;
    for (const int32_t s : p.column_state) {
      cells += count(size_t(s), g);
      if (count(size_t(s), g) == 0) absent += (absent.empty() ? "" : ", ") + quote_name(in.states[size_t(s)]);
    }
    if (absent.empty())
      kept.push_back(g);
    else if (cells > 0)
      p.dropped_groups.push_back({in.group_names[g], "no cells at " + absent, cells});
  }
  if (kept.empty())
    throw Error(in.input_name, in.group_column,
                "no " + in.group_column + " value has cells at every state (" +
                    std::to_string(p.columns.size()) + " states, " + std::to_string(p.dropped_groups.size()) +
                    " values with cells)");

  Rng rng(opt.seed);
  std::vector<std::vector<int64_t>> cols(p.columns.size());
  std::vector<int64_t> scratch;
  p.column_available.assign(p.columns.size(), 0);
  for (const size_t g : kept) {
    const int64_t n = count(size_t(anchor), g);
    p.blocks.push_back({in.group_names[g], p.n_rows, p.n_rows + n});
    p.n_rows += n;
    for (size_t c = 0; c < cols.size(); ++c) {
      const auto pool = by_key[size_t(p.column_state[c]) * n_groups + g];
      p.column_available[c] += int64_t(pool.size());
      // Anchor::Largest reproduces the reference, which samples the anchor state too.
      if (p.column_state[c] == anchor && opt.anchor == PairingOptions::Anchor::Source)
        cols[c].insert(cols[c].end(), pool.begin(), pool.end());
      else
        draw_from_pool(rng, pool, n, opt, cols[c], scratch);
    }
  }
  detail::assemble(p, cols);
  p.unpaired_anchor_cells = totals[size_t(anchor)] - p.n_rows;
  return p;
}

}  // namespace

PairingOptions reference_options(PairingMode mode) {
  PairingOptions o;
  o.mode = mode;
  o.anchor = PairingOptions::Anchor::Largest;
  o.without_replacement = mode != PairingMode::Random;
  o.cycle_when_short = false;
  return o;
}

std::string_view to_string(PairingMode mode) {
  switch (mode) {
    case PairingMode::Random:
      return "random";
    case PairingMode::Stratified:
      return "stratified";
    case PairingMode::Mapping:
      return "mapping";
    case PairingMode::Lineage:
      return "lineage";
    case PairingMode::Ot:
      return "ot";
  }
  return "?";
}

PairingMode parse_pairing_mode(std::string_view text, const std::string& what) {
  for (const PairingMode m : {PairingMode::Random, PairingMode::Stratified, PairingMode::Mapping,
                              PairingMode::Lineage, PairingMode::Ot})
    if (text == to_string(m)) return m;
  throw Error("", what,
              "unknown pairing mode '" + std::string(text) +
                  "' (expected random, stratified, mapping, lineage or ot)");
}

void draw_from_pool(Rng& rng, std::span<const int64_t> pool, int64_t n, const PairingOptions& opt,
                    std::vector<int64_t>& out, std::vector<int64_t>& scratch) {
  if (n <= 0) return;
  if (pool.empty()) throw std::logic_error("draw_from_pool: empty pool");
  const auto m = static_cast<uint64_t>(pool.size());
  const auto want = static_cast<uint64_t>(n);
  if (!opt.without_replacement || (want > m && !opt.cycle_when_short)) {
    for (uint64_t i = 0; i < want; ++i) out.push_back(pool[rng.below(m)]);
    return;
  }
  // Partial Fisher-Yates: the first k entries become a uniform random k-subset
  // in random order; a short pool is run through again (a fresh permutation).
  scratch.assign(pool.begin(), pool.end());
  for (uint64_t left = want; left > 0;) {
    const uint64_t k = std::min(m, left);
    for (uint64_t i = 0; i < k; ++i) {
      std::swap(scratch[i], scratch[i + rng.below(m - i)]);
      out.push_back(scratch[i]);
    }
    left -= k;
  }
}

Pairing pair_cells(const PairingInput& in, const PairingOptions& opt) {
  switch (opt.mode) {
    case PairingMode::Random:
      return pair_random(in, opt);
    case PairingMode::Stratified:
      return pair_stratified(in, opt);
    case PairingMode::Mapping:
      if (opt.mapping_file.empty())
        throw Error(in.input_name, "pairing",
                    "pairing mode 'mapping' needs a mapping file (CSV, one column per state)");
      return pair_cells(in, opt, read_mapping_csv(opt.mapping_file));
    case PairingMode::Lineage:
      return detail::pair_lineage(in, opt);
    case PairingMode::Ot:
      return detail::pair_ot(in, opt);
  }
  throw std::logic_error("pair_cells: unknown mode");
}

namespace detail {

void check_input(const PairingInput& in, bool needs_groups) {
  const auto fail = [&](const std::string& problem) { throw Error(in.input_name, "pairing", problem); };
  if (in.states.empty()) fail("no states given");
  const auto n_states = static_cast<int64_t>(in.states.size());
  if (in.source < 0 || in.source >= n_states)
    fail("source state index " + std::to_string(in.source) + " is out of range (" + std::to_string(n_states) +
         " states)");
  for (size_t a = 0; a < in.states.size(); ++a)
    for (size_t b = a + 1; b < in.states.size(); ++b)
      if (in.states[a] == in.states[b]) fail("state " + quote_name(in.states[a]) + " is listed twice");
  for (size_t i = 0; i < in.cell_state.size(); ++i)
    if (in.cell_state[i] < -1 || in.cell_state[i] >= n_states)
      fail("cell " + std::to_string(i) + " has state code " + std::to_string(in.cell_state[i]) + " (" +
           std::to_string(n_states) + " states)");
  const auto check_codes = [&](const std::vector<int32_t>& codes, const std::vector<std::string>& names,
                               const std::string& what) {
    if (codes.size() != in.cell_state.size())
      fail(what + " codes for " + std::to_string(codes.size()) + " cells, states for " +
           std::to_string(in.cell_state.size()));
    for (size_t i = 0; i < codes.size(); ++i)
      if (codes[i] < -1 || codes[i] >= static_cast<int64_t>(names.size()))
        fail("cell " + std::to_string(i) + " has " + what + " code " + std::to_string(codes[i]) + " (" +
             std::to_string(names.size()) + " names)");
  };
  if (needs_groups) check_codes(in.cell_group, in.group_names, "group");
  if (!in.cell_subgroup.empty()) check_codes(in.cell_subgroup, in.subgroup_names, "subgroup");
  if (!in.cell_lineage.empty()) check_codes(in.cell_lineage, in.lineage_names, "lineage");
}

void require_source_anchor(const PairingInput& in, const PairingOptions& opt) {
  if (opt.anchor != PairingOptions::Anchor::Source)
    throw Error(in.input_name, "--pairing-anchor",
                "'largest' applies to random, stratified and mapping pairing; " +
                    std::string(to_string(opt.mode)) + " pairing rows are the source cells");
}

std::vector<int64_t> cells_per_state(const PairingInput& in) {
  std::vector<int64_t> n(in.states.size(), 0);
  for (const int32_t s : in.cell_state)
    if (s >= 0) ++n[size_t(s)];
  return n;
}

int32_t choose_anchor(const PairingInput& in, const PairingOptions& opt, const std::vector<int64_t>& totals) {
  if (opt.anchor == PairingOptions::Anchor::Source) return in.source;
  // The reference scans states in order of first appearance and keeps a
  // strictly larger count, so the earliest-seen state wins a tie.
  int32_t best = in.source;
  int64_t best_n = -1;
  std::vector<char> seen(in.states.size(), 0);
  for (const int32_t s : in.cell_state) {
    if (s < 0 || seen[size_t(s)]) continue;
    seen[size_t(s)] = 1;
    if (totals[size_t(s)] > best_n) best = s, best_n = totals[size_t(s)];
  }
  return best;
}

void set_columns(Pairing& p, const PairingInput& in, int32_t anchor, const std::vector<int64_t>& eligible,
                 const std::vector<std::string>& why) {
  const auto src = size_t(in.source);
  if (eligible[src] == 0)
    throw Error(in.input_name, in.state_column,
                "source state " + quote_name(in.states[src]) + " has " + why[src]);
  if (eligible[size_t(anchor)] == 0)
    throw Error(in.input_name, in.state_column,
                "anchor state " + quote_name(in.states[size_t(anchor)]) + " has " + why[size_t(anchor)]);
  p.anchor_state = in.states[size_t(anchor)];
  p.columns = {in.states[src]};
  p.column_state = {in.source};
  for (size_t s = 0; s < in.states.size(); ++s) {
    if (s == src) continue;
    if (eligible[s] > 0) {
      p.columns.push_back(in.states[s]);
      p.column_state.push_back(int32_t(s));
    } else {
      p.skipped_states.push_back({in.states[s], why[s], 0});
    }
  }
}

void assemble(Pairing& p, const std::vector<std::vector<int64_t>>& columns) {
  const size_t n_cols = columns.size();
  p.n_rows = columns.empty() ? 0 : int64_t(columns[0].size());
  p.cells.resize(size_t(p.n_rows) * n_cols);
  for (size_t c = 0; c < n_cols; ++c) {
    if (int64_t(columns[c].size()) != p.n_rows) throw std::logic_error("pairing: ragged columns");
    for (size_t r = 0; r < size_t(p.n_rows); ++r) p.cells[r * n_cols + c] = columns[c][r];
  }
}

}  // namespace detail

nlohmann::json Pairing::summary() const {
  nlohmann::json j;
  j["mode"] = to_string(options.mode);
  j["seed"] = options.seed;
  j["anchor"] = options.anchor == PairingOptions::Anchor::Source ? "source" : "largest";
  j["anchor_state"] = anchor_state;
  j["without_replacement"] = options.without_replacement;
  j["cycle_when_short"] = options.cycle_when_short;
  if (options.mode == PairingMode::Mapping) j["mapping_file"] = options.mapping_file;
  j["n_rows"] = n_rows;
  j["columns"] = nlohmann::json::array();
  std::vector<int64_t> col;
  for (size_t c = 0; c < columns.size(); ++c) {
    col.clear();
    for (int64_t r = 0; r < n_rows; ++r) col.push_back(cell(r, c));
    std::sort(col.begin(), col.end());
    int64_t distinct = 0, max_uses = 0;
    for (size_t i = 0; i < col.size();) {
      size_t k = i;
      while (k < col.size() && col[k] == col[i]) ++k;
      ++distinct;
      max_uses = std::max<int64_t>(max_uses, int64_t(k - i));
      i = k;
    }
    nlohmann::json cj = {{"state", columns[c]},
                         {"role", c == 0 ? "source" : "target"},
                         {"cells_available", c < column_available.size() ? column_available[c] : 0},
                         {"distinct_cells", distinct},
                         {"reused_draws", n_rows - distinct},
                         {"max_uses", max_uses}};
    if (c > 0) cj["target"] = c;  // the target's number (1..T, consecutive after skips)
    j["columns"].push_back(cj);
  }
  j["groups"] = nlohmann::json::array();
  for (const Block& b : blocks)
    j["groups"].push_back({{"group", b.group}, {"rows", b.end - b.begin}, {"first_row", b.begin}});
  // Lineage data can drop thousands of clones: their totals are below, the list is cut.
  const size_t listed = options.mode == PairingMode::Lineage ? 1000 : SIZE_MAX;
  const auto notes = [&](const std::vector<Note>& v, const char* name_key) {
    nlohmann::json a = nlohmann::json::array();
    for (size_t i = 0; i < v.size() && i < listed; ++i)
      a.push_back({{name_key, v[i].name}, {"reason", v[i].reason}, {"cells", v[i].cells}});
    return a;
  };
  j["skipped_states"] = notes(skipped_states, "state");
  j["dropped_groups"] = notes(dropped_groups, "group");
  j["unpaired_anchor_cells"] = unpaired_anchor_cells;
  if (options.mode == PairingMode::Mapping) j["unknown_labels"] = unknown_labels;
  if (options.mode == PairingMode::Lineage) {
    nlohmann::json l = {
        {"key", options.lineage_key},
        {"missing", options.lineage_missing == PairingOptions::LineageMissing::Drop ? "drop" : "any"},
        {"lineages_paired", lineage.lineages_paired},
        {"lineages_dropped", dropped_groups.size()},
        {"rows_dropped", lineage.rows_dropped},
        {"source_cells_without_lineage", lineage.source_without_lineage}};
    if (dropped_groups.size() > listed) l["dropped_listed"] = listed;
    if (options.lineage_missing == PairingOptions::LineageMissing::Any) {
      l["any_draws"] = nlohmann::json::array();
      for (size_t c = 1; c < columns.size() && c < lineage.any_draws.size(); ++c)
        l["any_draws"].push_back({{"state", columns[c]}, {"rows", lineage.any_draws[c]}});
    }
    j["lineage"] = l;
  }
  if (options.mode == PairingMode::Ot) {
    nlohmann::json o = {{"epsilon", options.ot_epsilon},     {"unbalanced", options.ot_unbalanced},
                        {"components", ot_components},       {"genes", ot_genes},
                        {"max_cells", options.ot_max_cells}, {"couplings", nlohmann::json::array()}};
    for (const Coupling& c : couplings) {
      nlohmann::json cj = {{"from", c.from},
                           {"to", c.to},
                           {"from_cells", c.from_cells},
                           {"to_cells", c.to_cells},
                           {"mean_entropy", c.mean_entropy},
                           {"effective_targets", c.effective_targets},
                           {"distinct_targets", c.distinct_targets},
                           {"mass", c.mass},
                           {"rows_without_mass", c.rows_without_mass},
                           {"iterations", c.iterations},
                           {"converged", c.converged}};
      if (c.same_lineage >= 0) cj["same_lineage"] = c.same_lineage;
      if (c.same_lineage_mass >= 0) cj["same_lineage_mass"] = c.same_lineage_mass;
      o["couplings"].push_back(cj);
    }
    j["ot"] = o;
  }
  return j;
}

}  // namespace pg::tokenise
