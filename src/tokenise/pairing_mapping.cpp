// Mapping-table pairing (spec §2.6 "mapping"): the CSV reader and the pairing
// of anchor cells with cells of mapped labels. Semantics: pairing.h.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/error.h"
#include "tokenise/pairing.h"

namespace pg::tokenise {

namespace {

std::string quote_name(const std::string& s) {
  return "'" + s + "'";
}

std::string line_name(int64_t line) {
  return "line " + std::to_string(line);
}

// "a, b, c" (at most `limit` items, then "... (N in all)").
std::string join(const std::vector<std::string>& items, size_t limit = 8) {
  std::string out;
  for (size_t i = 0; i < items.size() && i < limit; ++i) out += (i ? ", " : "") + quote_name(items[i]);
  if (items.size() > limit) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

struct Record {
  std::vector<std::string> fields;
  int64_t line = 0;
};

// RFC 4180 records; a quoted field may span lines.
std::vector<Record> parse_records(std::string_view text, const std::string& file) {
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  std::vector<Record> records;
  int64_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    Record rec;
    rec.line = line;
    std::string field;
    bool in_quotes = false, after_quote = false, any_quote = false, ended = false;
    while (i < text.size() && !ended) {
      const char ch = text[i];
      if (in_quotes) {
        if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          i += 2;
          continue;
        }
        if (ch == '"') {
          in_quotes = false;
          after_quote = true;
        } else {
          if (ch == '\n') ++line;
          field += ch;
        }
        ++i;
        continue;
      }
      if (ch == ',') {
        rec.fields.push_back(std::move(field));
        field.clear();
        after_quote = false;
      } else if (ch == '\n' || (ch == '\r' && (i + 1 == text.size() || text[i + 1] == '\n'))) {
        if (ch == '\r' && i + 1 < text.size()) ++i;  // CRLF
        ++line;
        ended = true;
      } else if (ch == '"') {
        if (!field.empty() || after_quote)
          throw Error(file, line_name(line), "a double quote inside a field that does not start with one");
        in_quotes = any_quote = true;
      } else {
        if (after_quote) throw Error(file, line_name(line), "text after the closing quote of a field");
        field += ch;
      }
      ++i;
    }
    if (in_quotes)
      throw Error(file, line_name(rec.line), "a quoted field is not closed before the end of the file");
    rec.fields.push_back(std::move(field));
    if (rec.fields.size() == 1 && rec.fields[0].empty() && !any_quote) continue;  // blank line
    records.push_back(std::move(rec));
  }
  return records;
}

// Cells keyed by (state, subgroup, label), each key's cells in cell order.
struct KeyedCells {
  std::vector<int64_t> keys, cells;
  std::span<const int64_t> range(int64_t key) const {
    const auto lo = std::lower_bound(keys.begin(), keys.end(), key);
    const auto hi = std::upper_bound(lo, keys.end(), key);
    return std::span<const int64_t>(cells).subspan(size_t(lo - keys.begin()), size_t(hi - lo));
  }
};

}  // namespace

MappingTable parse_mapping_csv(std::string_view text, const std::string& file) {
  std::vector<Record> records = parse_records(text, file);
  if (records.empty()) throw Error(file, "", "the mapping file is empty (expected a header of state names)");
  MappingTable t;
  t.file = file;
  t.columns = std::move(records[0].fields);
  const int64_t header_line = records[0].line;
  for (size_t a = 0; a < t.columns.size(); ++a) {
    if (t.columns[a].empty())
      throw Error(file, line_name(header_line),
                  "column " + std::to_string(a + 1) + " of the header has no name");
    for (size_t b = 0; b < a; ++b)
      if (t.columns[a] == t.columns[b])
        throw Error(file, line_name(header_line),
                    "column " + quote_name(t.columns[a]) + " appears twice in the header");
  }
  for (size_t r = 1; r < records.size(); ++r) {
    if (records[r].fields.size() != t.columns.size())
      throw Error(file, line_name(records[r].line),
                  std::to_string(records[r].fields.size()) + " fields, but the header has " +
                      std::to_string(t.columns.size()) + " columns");
    t.rows.push_back(std::move(records[r].fields));
    t.row_line.push_back(records[r].line);
  }
  if (t.rows.empty()) throw Error(file, line_name(header_line), "no rows after the header");
  return t;
}

MappingTable read_mapping_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open the mapping file");
  std::ostringstream s;
  s << in.rdbuf();
  if (in.bad()) throw Error(path, "", "cannot read the mapping file");
  return parse_mapping_csv(s.str(), path);
}

Pairing pair_cells(const PairingInput& in, const PairingOptions& options, const MappingTable& t) {
  PairingOptions opt = options;
  opt.mode = PairingMode::Mapping;
  if (opt.mapping_file.empty()) opt.mapping_file = t.file;
  detail::check_input(in, true);
  Pairing p;
  p.options = opt;
  const size_t n_states = in.states.size(), n_groups = in.group_names.size();

  // The CSV column of every state; extra columns (states not in this run) are ignored.
  std::vector<size_t> col_of(n_states);
  for (size_t s = 0; s < n_states; ++s) {
    const auto it = std::find(t.columns.begin(), t.columns.end(), in.states[s]);
    if (it == t.columns.end())
      throw Error(t.file, "header",
                  "no column for state " + quote_name(in.states[s]) + " (columns: " + join(t.columns) + ")");
    col_of[s] = size_t(it - t.columns.begin());
  }

  // Labels -> group codes (-1: unknown, tolerated only when asked).
  std::unordered_map<std::string, int32_t> code_of;
  for (size_t g = 0; g < n_groups; ++g) code_of.emplace(in.group_names[g], int32_t(g));
  std::vector<std::vector<int32_t>> code(t.rows.size(), std::vector<int32_t>(n_states, -1));
  for (size_t r = 0; r < t.rows.size(); ++r) {
    for (size_t s = 0; s < n_states; ++s) {
      const std::string& label = t.rows[r][col_of[s]];
      const std::string where = line_name(t.row_line[r]);
      if (label.empty()) throw Error(t.file, where, "empty label in column " + quote_name(in.states[s]));
      if (const auto it = code_of.find(label); it != code_of.end()) {
        code[r][s] = it->second;
      } else if (opt.mapping_allow_unknown_labels) {
        p.unknown_labels.push_back(label);
      } else {
        throw Error(t.file, where,
                    "label " + quote_name(label) + " in column " + quote_name(in.states[s]) +
                        " is not a value of " + quote_name(in.group_column) +
                        (in.input_name.empty() ? "" : " in " + in.input_name) + " (" +
                        std::to_string(n_groups) + " values)");
      }
    }
  }
  std::sort(p.unknown_labels.begin(), p.unknown_labels.end());
  p.unknown_labels.erase(std::unique(p.unknown_labels.begin(), p.unknown_labels.end()),
                         p.unknown_labels.end());

  // Eligible cells: a label that the state's column maps (and a subgroup, when subgrouping).
  std::vector<std::vector<char>> mapped(n_states, std::vector<char>(n_groups, 0));
  for (const auto& row : code)
    for (size_t s = 0; s < n_states; ++s)
      if (row[s] >= 0) mapped[s][size_t(row[s])] = 1;
  const bool by_subgroup = !in.cell_subgroup.empty();
  const int64_t n_sub = by_subgroup ? int64_t(in.subgroup_names.size()) : 1;
  const auto key_of = [&](int64_t s, int64_t k, int64_t g) {
    return (s * n_sub + k) * int64_t(n_groups) + g;
  };
  KeyedCells kc;
  std::vector<int64_t> eligible(n_states, 0);
  {
    std::vector<std::pair<int64_t, int64_t>> pairs;  // (key, cell), built in cell order
    for (size_t i = 0; i < in.cell_state.size(); ++i) {
      const int32_t s = in.cell_state[i], g = in.cell_group[i], k = by_subgroup ? in.cell_subgroup[i] : 0;
      if (s < 0 || g < 0 || k < 0 || !mapped[size_t(s)][size_t(g)]) continue;
      ++eligible[size_t(s)];
      pairs.emplace_back(key_of(s, k, g), int64_t(i));
    }
    std::sort(pairs.begin(), pairs.end());  // by key, then cell index
    for (const auto& [key, cell] : pairs) kc.keys.push_back(key), kc.cells.push_back(cell);
  }
  const std::vector<int64_t> totals = detail::cells_per_state(in);
  std::vector<std::string> why(n_states);
  for (size_t s = 0; s < n_states; ++s)
    why[s] = totals[s] == 0 ? "no cells"
                            : "no cells whose " + in.group_column + " appears in its column of " + t.file +
                                  (by_subgroup ? " (with a subgroup)" : "");
  const int32_t anchor = detail::choose_anchor(in, opt, totals);
  detail::set_columns(p, in, anchor, eligible, why);
  for (const int32_t s : p.column_state) p.column_available.push_back(eligible[size_t(s)]);

  // Anchor labels in order of first appearance in the CSV (pandas unique()).
  std::vector<int32_t> conditions;
  for (const auto& row : code)
    if (const int32_t c = row[size_t(anchor)];
        c >= 0 && std::find(conditions.begin(), conditions.end(), c) == conditions.end())
      conditions.push_back(c);
  // Subgroups present among the anchor's eligible cells, in code order.
  std::vector<int64_t> subgroups;
  for (int64_t k = 0; k < n_sub; ++k) {
    bool present = false;
    for (const int32_t c : conditions) present = present || !kc.range(key_of(anchor, k, c)).empty();
    if (present) subgroups.push_back(k);
  }

  Rng rng(opt.seed);
  std::vector<std::vector<int64_t>> cols(p.columns.size()), pools(p.columns.size());
  std::vector<int64_t> scratch;
  for (const int64_t k : subgroups) {
    for (const int32_t c : conditions) {
      const auto anchor_cells = kc.range(key_of(anchor, k, c));
      const auto n = int64_t(anchor_cells.size());
      if (n == 0) continue;
      const std::string name =
          (by_subgroup ? in.subgroup_names[size_t(k)] + " / " : std::string()) + in.group_names[size_t(c)];
      std::string missing;
      for (size_t col = 0; col < p.columns.size(); ++col) {
        const int32_t s = p.column_state[col];
        pools[col].clear();
        if (s == anchor) continue;
        std::vector<std::string> labels;
        std::vector<char> done(n_groups, 0);
        for (size_t r = 0; r < code.size(); ++r) {
          const int32_t l = code[r][size_t(s)];
          if (code[r][size_t(anchor)] != c || l < 0 || done[size_t(l)]) continue;
          done[size_t(l)] = 1;
          labels.push_back(in.group_names[size_t(l)]);
          const auto cells = kc.range(key_of(s, k, l));
          pools[col].insert(pools[col].end(), cells.begin(), cells.end());
        }
        std::sort(pools[col].begin(), pools[col].end());
        if (pools[col].empty() && missing.empty())
          missing = "no cells labelled " + join(labels, 4) + " at state " + quote_name(in.states[size_t(s)]);
      }
      if (!missing.empty()) {  // numpy would raise; drop these rows and say why
        p.dropped_groups.push_back({name, missing, n});
        continue;
      }
      p.blocks.push_back({name, p.n_rows, p.n_rows + n});
      p.n_rows += n;
      for (size_t col = 0; col < p.columns.size(); ++col) {
        if (p.column_state[col] == anchor)
          cols[col].insert(cols[col].end(), anchor_cells.begin(), anchor_cells.end());
        else
          draw_from_pool(rng, pools[col], n, opt, cols[col], scratch);
      }
    }
  }
  if (p.n_rows == 0)
    throw Error(t.file, "column " + quote_name(in.states[size_t(anchor)]),
                "no cell of state " + quote_name(in.states[size_t(anchor)]) + " could be paired (" +
                    std::to_string(p.dropped_groups.size()) + " labels dropped" +
                    (p.dropped_groups.empty() ? "" : ": " + p.dropped_groups[0].reason) + ")");
  detail::assemble(p, cols);
  p.unpaired_anchor_cells = totals[size_t(anchor)] - p.n_rows;
  return p;
}

}  // namespace pg::tokenise
