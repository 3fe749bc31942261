// The MatrixMarket writer and the CSR helpers the readers share.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "io/matrix_market.h"

namespace pg::io {

void sort_row_indices(CsrMatrix& m) {
  std::vector<size_t> order;
  for (int64_t r = 0; r < m.n_rows; ++r) {
    const auto b = static_cast<size_t>(m.indptr[static_cast<size_t>(r)]);
    const auto e = static_cast<size_t>(m.indptr[static_cast<size_t>(r) + 1]);
    if (std::is_sorted(m.indices.begin() + static_cast<std::ptrdiff_t>(b),
                       m.indices.begin() + static_cast<std::ptrdiff_t>(e)))
      continue;
    order.resize(e - b);
    std::iota(order.begin(), order.end(), b);
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t x, size_t y) { return m.indices[x] < m.indices[y]; });
    std::vector<int32_t> idx(e - b);
    std::vector<float> val(e - b);
    for (size_t i = 0; i < order.size(); ++i) {
      idx[i] = m.indices[order[i]];
      val[i] = m.data[order[i]];
    }
    std::copy(idx.begin(), idx.end(), m.indices.begin() + static_cast<std::ptrdiff_t>(b));
    std::copy(val.begin(), val.end(), m.data.begin() + static_cast<std::ptrdiff_t>(b));
  }
}

bool all_integral(const CsrMatrix& m) {
  for (float v : m.data) {
    if (!(std::fabs(v) < 9007199254740992.0f) || std::trunc(v) != v) return false;
  }
  return true;
}

std::string format_matrix_market(const CsrMatrix& m, bool integer) {
  std::string out;
  out.reserve(128 + m.data.size() * 16);
  out += integer ? "%%MatrixMarket matrix coordinate integer general\n"
                 : "%%MatrixMarket matrix coordinate real general\n";
  out += "% written by perturbgen: rows = features, columns = cells\n";
  out += std::to_string(m.n_cols) + " " + std::to_string(m.n_rows) + " " + std::to_string(m.nnz()) + "\n";
  auto put = [&out](auto v) {
    char buf[48];
    const auto r = std::to_chars(buf, buf + sizeof(buf), v);  // floats: shortest text that reads back exactly
    out.append(buf, static_cast<size_t>(r.ptr - buf));
  };
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
      put(m.indices[static_cast<size_t>(k)] + 1);
      out += ' ';
      put(r + 1);
      out += ' ';
      const float v = m.data[static_cast<size_t>(k)];
      if (integer) {
        put(static_cast<int64_t>(std::llround(v)));
      } else {
        put(v);
      }
      out += '\n';
    }
  }
  return out;
}

}  // namespace pg::io
