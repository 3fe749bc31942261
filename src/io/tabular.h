// Tab-separated text as 10x folders and the shared datasets use it: plain
// feature/barcode lists and obs.tsv tables with a header, whose column types
// are inferred the way pandas.read_csv + anndata would store them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "io/cell_matrix.h"

namespace pg::io {

// Lines of `text` (LF or CRLF; no empty row for a final newline), each split on tabs.
std::vector<std::vector<std::string>> parse_tsv(std::string_view text);

// The rows parse_tsv gives, one at a time and without copies: calls
// fn(row_index, fields) with views into `text` (valid during the call).
template <typename Fn>
void for_each_tsv_row(std::string_view text, Fn&& fn) {
  std::vector<std::string_view> fields;
  size_t row = 0;
  for (size_t pos = 0; pos < text.size(); ++row) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    fields.clear();
    for (size_t tab = line.find('\t'); tab != std::string_view::npos; tab = line.find('\t')) {
      fields.push_back(line.substr(0, tab));
      line.remove_prefix(tab + 1);
    }
    fields.push_back(line);
    fn(row, static_cast<const std::vector<std::string_view>&>(fields));
    pos = eol + 1;
  }
}

// A column from text values, typed as pandas reads it: Int if every value is
// an integer, Float if every value is a number or missing (NA, empty, NaN...
// become NaN), Bool if every non-missing value is True/False/TRUE/FALSE/true/false,
// else strings. Strings become Categorical (categories sorted) when a value
// repeats, as anndata stores them on write.
Column infer_column(const std::string& name, const std::vector<std::string>& values);

// A text column: Categorical when fewer distinct values than rows, else String.
// `missing` (optional, same length) marks absent values.
Column string_column(const std::string& name, std::vector<std::string> values,
                     std::vector<uint8_t> missing = {});

// Parses obs.tsv: a header row, then one row per cell whose first field is the
// cell id. The ids must equal `barcodes` in order; the first mismatch, a wrong
// row count or a row with the wrong number of fields throws pg::Error naming
// `file` and the line. Fields wrapped in double quotes (R's write.table) are unquoted.
DataFrame parse_obs_tsv(std::string_view text, const std::string& file,
                        const std::vector<std::string>& barcodes);

// TSV text of a DataFrame: a header (`index_header`, then the column names)
// and one row per index entry with Column::text values ("NA" when missing).
// A tab or newline inside a name or value throws pg::Error naming `file`.
std::string format_tsv(const DataFrame& df, const std::string& index_header, const std::string& file);

// Rows [begin, end) of a column / a table.
Column slice_column(const Column& c, int64_t begin, int64_t end);
DataFrame slice_rows(const DataFrame& df, int64_t begin, int64_t end);

}  // namespace pg::io
