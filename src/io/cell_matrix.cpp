#include "io/cell_matrix.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace pg::io {

float CsrMatrix::at(int64_t row, int64_t col) const {
  const auto begin = indices.begin() + indptr[static_cast<size_t>(row)];
  const auto end = indices.begin() + indptr[static_cast<size_t>(row) + 1];
  for (auto it = begin; it != end; ++it) {
    if (*it == col) return data[static_cast<size_t>(it - indices.begin())];
  }
  return 0.0f;
}

size_t Column::size() const {
  switch (type) {
    case ColumnType::String:
      return strings.size();
    case ColumnType::Categorical:
      return codes.size();
    case ColumnType::Float:
      return floats.size();
    case ColumnType::Int:
      return ints.size();
    case ColumnType::Bool:
      return bools.size();
  }
  return 0;
}

bool Column::is_missing(size_t i) const {
  if (!missing.empty() && missing[i]) return true;
  if (type == ColumnType::Categorical) return codes[i] < 0;
  if (type == ColumnType::Float) return std::isnan(floats[i]);
  return false;
}

std::string Column::text(size_t i) const {
  if (is_missing(i)) return "NA";
  switch (type) {
    case ColumnType::String:
      return strings[i];
    case ColumnType::Categorical:
      return categories[static_cast<size_t>(codes[i])];
    case ColumnType::Float: {
      // Shortest text that reads back to the same double.
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, floats[i]);
      return std::string(buf, r.ptr);
    }
    case ColumnType::Int:
      return std::to_string(ints[i]);
    case ColumnType::Bool:
      return bools[i] ? "True" : "False";
  }
  return "";
}

const Column* DataFrame::find(const std::string& name) const {
  for (const auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

Column* DataFrame::find(const std::string& name) {
  for (auto& c : columns)
    if (c.name == name) return &c;
  return nullptr;
}

void validate(const CsrMatrix& m, const std::string& file, const std::string& element) {
  const auto n = static_cast<size_t>(m.n_rows);
  if (m.indptr.size() != n + 1) {
    throw Error(file, element,
                "index pointer has " + std::to_string(m.indptr.size()) + " entries, shape needs " +
                    std::to_string(n + 1));
  }
  if (m.indptr[0] != 0) throw Error(file, element, "index pointer does not start at 0");
  for (size_t r = 0; r < n; ++r) {
    if (m.indptr[r + 1] < m.indptr[r]) {
      throw Error(file, element,
                  "index pointer not monotone at position " + std::to_string(r + 1) + " (" +
                      std::to_string(m.indptr[r]) + " then " + std::to_string(m.indptr[r + 1]) + ")");
    }
  }
  if (m.indptr[n] != m.nnz() || m.indices.size() != m.data.size()) {
    throw Error(file, element,
                "index pointer ends at " + std::to_string(m.indptr[n]) + " but " +
                    std::to_string(m.indices.size()) + " indices and " + std::to_string(m.data.size()) +
                    " values are stored");
  }
  // One branch-free pass over all entries (vectorises), then a second pass
  // only to name the first bad entry when something is wrong.
  const int32_t* idx = m.indices.data();
  const float* val = m.data.data();
  const size_t nnz = m.indices.size();
  const auto n_cols = static_cast<uint32_t>(m.n_cols);
  uint32_t bad_index = 0;
  uint32_t bad_value = 0;
  for (size_t k = 0; k < nnz; ++k) {
    // Negative indices wrap to large unsigned values, so one comparison covers both ends.
    bad_index |= static_cast<uint32_t>(static_cast<uint32_t>(idx[k]) >= n_cols);
    uint32_t bits;
    std::memcpy(&bits, &val[k], sizeof bits);
    bad_value |= static_cast<uint32_t>((bits & 0x7f800000u) == 0x7f800000u);  // exponent all ones: NaN or Inf
  }
  if (bad_index == 0 && bad_value == 0) return;
  for (size_t k = 0; k < nnz; ++k) {
    if (idx[k] < 0 || idx[k] >= m.n_cols) {
      throw Error(file, element,
                  "index out of range at entry " + std::to_string(k) + ": " + std::to_string(idx[k]) +
                      " not in [0, " + std::to_string(m.n_cols) + ")");
    }
    if (!std::isfinite(val[k])) {
      throw Error(file, element, "non-finite value (NaN or Inf) at entry " + std::to_string(k));
    }
  }
}

CsrMatrix transpose(const CsrMatrix& m) {
  CsrMatrix t;
  t.n_rows = m.n_cols;
  t.n_cols = m.n_rows;
  t.storage = m.storage;
  t.indptr.assign(static_cast<size_t>(t.n_rows) + 1, 0);
  for (int32_t c : m.indices) ++t.indptr[static_cast<size_t>(c) + 1];
  for (size_t r = 0; r < static_cast<size_t>(t.n_rows); ++r) t.indptr[r + 1] += t.indptr[r];
  t.indices.resize(m.indices.size());
  t.data.resize(m.data.size());
  std::vector<int64_t> next(t.indptr.begin(), t.indptr.end() - 1);
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
      const auto c = static_cast<size_t>(m.indices[static_cast<size_t>(k)]);
      const auto dst = static_cast<size_t>(next[c]++);
      t.indices[dst] = static_cast<int32_t>(r);
      t.data[dst] = m.data[static_cast<size_t>(k)];
    }
  }
  return t;
}

CsrMatrix slice_rows(const CsrMatrix& m, int64_t begin, int64_t end) {
  CsrMatrix out;
  out.n_rows = end - begin;
  out.n_cols = m.n_cols;
  out.storage = m.storage;
  const int64_t first = m.indptr[static_cast<size_t>(begin)];
  const int64_t last = m.indptr[static_cast<size_t>(end)];
  out.indptr.clear();
  for (int64_t r = begin; r <= end; ++r) out.indptr.push_back(m.indptr[static_cast<size_t>(r)] - first);
  out.indices.assign(m.indices.begin() + first, m.indices.begin() + last);
  out.data.assign(m.data.begin() + first, m.data.begin() + last);
  return out;
}

}  // namespace pg::io

namespace pg::io {

void keep_columns(DataFrame& df, const std::vector<std::string>& names) {
  std::erase_if(df.columns, [&](const Column& c) {
    return std::find(names.begin(), names.end(), c.name) == names.end();
  });
}

}  // namespace pg::io
