#include "io/tabular.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "core/error.h"

namespace pg::io {

namespace {

// pandas.read_csv's default missing-value markers.
bool is_na(std::string_view s) {
  static const std::unordered_set<std::string_view> na = {
      "",    "NA",   "N/A",  "NaN", "nan",      "-nan",    "-NaN",     "NULL",   "null",   "None",
      "n/a", "<NA>", "#N/A", "#NA", "#N/A N/A", "-1.#IND", "-1.#QNAN", "1.#IND", "1.#QNAN"};
  return na.count(s) > 0;
}

bool parse_int(std::string_view s, int64_t& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

bool parse_double(std::string_view s, double& out) {
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

int parse_bool(std::string_view s) {  // 1, 0, or -1 when not a boolean
  if (s == "True" || s == "TRUE" || s == "true") return 1;
  if (s == "False" || s == "FALSE" || s == "false") return 0;
  return -1;
}

std::string unquote(const std::string& s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return s;
  std::string out;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    out += s[i];
    if (s[i] == '"' && i + 2 < s.size() && s[i + 1] == '"') ++i;  // "" inside quotes is one quote
  }
  return out;
}

template <typename T>
std::vector<T> slice_vec(const std::vector<T>& v, int64_t begin, int64_t end) {
  std::vector<T> out;  // an unused (empty) vector stays empty
  if (v.empty()) return out;
  out.reserve(static_cast<size_t>(end - begin));
  for (int64_t i = begin; i < end; ++i) out.push_back(v[static_cast<size_t>(i)]);
  return out;
}

}  // namespace

std::vector<std::vector<std::string>> parse_tsv(std::string_view text) {
  std::vector<std::vector<std::string>> rows;
  for_each_tsv_row(text, [&](size_t, const std::vector<std::string_view>& fields) {
    rows.emplace_back(fields.begin(), fields.end());
  });
  return rows;
}

Column string_column(const std::string& name, std::vector<std::string> values, std::vector<uint8_t> missing) {
  Column c;
  c.name = name;
  const bool any_missing = std::find(missing.begin(), missing.end(), 1) != missing.end();
  std::unordered_set<std::string_view> distinct;
  for (size_t i = 0; i < values.size(); ++i) {
    if (missing.empty() || !missing[i]) distinct.insert(values[i]);
  }
  // anndata's strings_to_categoricals: categorical when categories < rows.
  if (distinct.size() < values.size()) {
    c.type = ColumnType::Categorical;
    c.categories.assign(distinct.begin(), distinct.end());
    std::sort(c.categories.begin(), c.categories.end());
    std::unordered_map<std::string_view, int32_t> code;
    for (size_t k = 0; k < c.categories.size(); ++k) code[c.categories[k]] = static_cast<int32_t>(k);
    c.codes.resize(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      c.codes[i] = (!missing.empty() && missing[i]) ? -1 : code.at(values[i]);
    }
    const size_t n = c.categories.size();
    c.dtype = n <= 127 ? "int8" : n <= 32767 ? "int16" : "int32";
    c.categories_dtype = "str";
    return c;
  }
  c.type = ColumnType::String;
  c.dtype = "str";
  c.strings = std::move(values);
  if (any_missing) c.missing = std::move(missing);
  return c;
}

Column infer_column(const std::string& name, const std::vector<std::string>& values) {
  const size_t n = values.size();
  std::vector<uint8_t> na(n, 0);
  size_t n_na = 0;
  for (size_t i = 0; i < n; ++i) {
    if (is_na(values[i])) {
      na[i] = 1;
      ++n_na;
    }
  }
  Column c;
  c.name = name;
  bool ints = n_na == 0 && n > 0, numbers = true, bools = n_na < n;
  for (size_t i = 0; i < n && (ints || numbers || bools); ++i) {
    if (na[i]) continue;
    int64_t iv = 0;
    double dv = 0;
    if (ints && !parse_int(values[i], iv)) ints = false;
    if (numbers && !parse_double(values[i], dv)) numbers = false;
    if (bools && parse_bool(values[i]) < 0) bools = false;
  }
  if (ints) {
    c.type = ColumnType::Int;
    c.dtype = "int64";
    c.ints.resize(n);
    for (size_t i = 0; i < n; ++i) parse_int(values[i], c.ints[i]);
    return c;
  }
  if (numbers) {
    c.type = ColumnType::Float;
    c.dtype = "float64";
    c.floats.assign(n, std::numeric_limits<double>::quiet_NaN());
    for (size_t i = 0; i < n; ++i)
      if (!na[i]) parse_double(values[i], c.floats[i]);
    return c;
  }
  if (bools) {
    c.type = ColumnType::Bool;
    c.dtype = "bool";
    c.bools.resize(n);
    for (size_t i = 0; i < n; ++i) c.bools[i] = na[i] ? 0 : static_cast<uint8_t>(parse_bool(values[i]));
    if (n_na > 0) c.missing = na;
    return c;
  }
  std::vector<std::string> text(values);
  for (size_t i = 0; i < n; ++i)
    if (na[i]) text[i].clear();
  return string_column(name, std::move(text), n_na > 0 ? na : std::vector<uint8_t>{});
}

DataFrame parse_obs_tsv(std::string_view text, const std::string& file,
                        const std::vector<std::string>& barcodes) {
  auto rows = parse_tsv(text);
  if (rows.empty())
    throw Error(file, "line 1", "empty file, expected a header row (cell id, then column names)");
  std::vector<std::string> header = rows[0];
  for (auto& h : header) h = unquote(h);
  // R's write.table omits the row-name column's header: accept one field fewer.
  const size_t width =
      rows.size() > 1 && rows[1].size() == header.size() + 1 ? header.size() + 1 : header.size();
  if (width != header.size()) header.insert(header.begin(), "");
  const size_t n = rows.size() - 1;
  if (n != barcodes.size()) {
    throw Error(file, "",
                "has " + std::to_string(n) + " cell rows but the barcodes list has " +
                    std::to_string(barcodes.size()) + " cells");
  }
  DataFrame df;
  df.index_name = header[0].empty() ? "_index" : header[0];
  df.index.reserve(n);
  std::vector<std::vector<std::string>> cols(width - 1, std::vector<std::string>(n));
  for (size_t r = 0; r < n; ++r) {
    auto& row = rows[r + 1];
    const std::string line = "line " + std::to_string(r + 2);
    if (row.size() != width) {
      throw Error(file, line,
                  "has " + std::to_string(row.size()) + " fields, the header has " + std::to_string(width));
    }
    std::string id = unquote(row[0]);
    if (id != barcodes[r]) {
      throw Error(file, line,
                  "cell id '" + id + "' does not match barcode " + std::to_string(r + 1) + " '" +
                      barcodes[r] + "' (obs rows must follow the barcodes order)");
    }
    df.index.push_back(std::move(id));
    for (size_t j = 1; j < width; ++j) cols[j - 1][r] = unquote(row[j]);
  }
  for (size_t j = 1; j < width; ++j) df.columns.push_back(infer_column(header[j], cols[j - 1]));
  return df;
}

std::string format_tsv(const DataFrame& df, const std::string& index_header, const std::string& file) {
  auto check = [&](const std::string& s, const std::string& where) {
    if (s.find_first_of("\t\n\r") != std::string::npos) {
      throw Error(file, where, "contains a tab or newline, which a TSV file cannot hold: '" + s + "'");
    }
  };
  std::string out = index_header;
  check(index_header, "header");
  for (const auto& c : df.columns) {
    check(c.name, "header");
    out += '\t';
    out += c.name;
  }
  out += '\n';
  for (size_t i = 0; i < df.n_rows(); ++i) {
    check(df.index[i], "row " + std::to_string(i + 1));
    out += df.index[i];
    for (const auto& c : df.columns) {
      std::string v = c.text(i);
      if (c.type == ColumnType::String || c.type == ColumnType::Categorical) {
        check(v, "column '" + c.name + "', row " + std::to_string(i + 1));
      }
      out += '\t';
      out += v;
    }
    out += '\n';
  }
  return out;
}

Column slice_column(const Column& c, int64_t begin, int64_t end) {
  Column s;  // metadata only; the per-row vectors are sliced below
  s.name = c.name;
  s.type = c.type;
  s.dtype = c.dtype;
  s.categories = c.categories;
  s.categories_dtype = c.categories_dtype;
  s.ordered = c.ordered;
  s.strings = slice_vec(c.strings, begin, end);
  s.floats = slice_vec(c.floats, begin, end);
  s.ints = slice_vec(c.ints, begin, end);
  s.bools = slice_vec(c.bools, begin, end);
  s.codes = slice_vec(c.codes, begin, end);
  s.missing = slice_vec(c.missing, begin, end);
  return s;
}

DataFrame slice_rows(const DataFrame& df, int64_t begin, int64_t end) {
  DataFrame s;
  s.index_name = df.index_name;
  s.index = slice_vec(df.index, begin, end);
  for (const auto& c : df.columns) s.columns.push_back(slice_column(c, begin, end));
  return s;
}

}  // namespace pg::io
