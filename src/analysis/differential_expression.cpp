#include "analysis/differential_expression.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace pg::analysis {

namespace {

struct Entry {
  double value;
  uint8_t side;  // 0 = group, 1 = reference
};

// The non-zero values of every gene, tagged with their side. Zeros are implicit.
struct Columns {
  int64_t n_group = 0, n_reference = 0;
  std::vector<std::vector<Entry>> genes;
};

void check_sizes(int64_t n_group, int64_t n_reference, int64_t n_genes) {
  if (n_group < 2 || n_reference < 2)
    throw std::invalid_argument("pg::analysis::wilcoxon: each side needs at least 2 cells (got " +
                                std::to_string(n_group) + " and " + std::to_string(n_reference) + ")");
  if (n_genes < 0) throw std::invalid_argument("pg::analysis::wilcoxon: negative gene count");
}

// Builds the columns from a row source: for_each_value(side, visit) calls
// visit(gene, value) for every stored value of every cell of that side.
template <typename ForEachValue>
Columns build_columns(int64_t n_group, int64_t n_reference, int64_t n_genes, ForEachValue&& for_each_value) {
  Columns c;
  c.n_group = n_group;
  c.n_reference = n_reference;
  c.genes.resize(static_cast<size_t>(n_genes));
  for (uint8_t s = 0; s < 2; ++s)
    for_each_value(s, [&](int64_t g, double v) {
      if (std::isnan(v)) throw std::invalid_argument("pg::analysis::wilcoxon: NaN value");
      if (v != 0) c.genes[static_cast<size_t>(g)].push_back({v, s});
    });
  return c;
}

// Row r of a CSR as (gene, value) in gene order, entries of the same gene
// summed (as scipy sums duplicates).
void merged_row(const io::CsrMatrix& m, int64_t r, std::vector<std::pair<int32_t, double>>& row) {
  row.clear();
  for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k)
    row.emplace_back(m.indices[static_cast<size_t>(k)], m.data[static_cast<size_t>(k)]);
  const auto before = [](const auto& a, const auto& b) { return a.first < b.first; };
  if (std::adjacent_find(row.begin(), row.end(),
                         [](const auto& a, const auto& b) { return a.first >= b.first; }) == row.end())
    return;  // strictly increasing genes: the usual case
  std::stable_sort(row.begin(), row.end(), before);
  size_t out = 0;
  for (size_t i = 0; i < row.size(); ++i) {
    if (out > 0 && row[out - 1].first == row[i].first)
      row[out - 1].second += row[i].second;
    else
      row[out++] = row[i];
  }
  row.resize(out);
}

template <typename T>
Columns dense_columns(const T* group, int64_t n_group, const T* reference, int64_t n_reference,
                      int64_t n_genes) {
  check_sizes(n_group, n_reference, n_genes);
  return build_columns(n_group, n_reference, n_genes, [&](uint8_t side, const auto& visit) {
    const T* data = side == 0 ? group : reference;
    const int64_t rows = side == 0 ? n_group : n_reference;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t g = 0; g < n_genes; ++g) visit(g, static_cast<double>(data[r * n_genes + g]));
  });
}

// The test of one gene from its non-zero entries (sorted here).
GeneTest test_gene(std::vector<Entry>& entries, int64_t n1, int64_t n2, const DeOptions& opt) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.value < b.value; });
  int64_t nz1 = 0, nz2 = 0;
  double sum1 = 0, sum2 = 0;
  for (const auto& e : entries) {
    if (e.side == 0) {
      ++nz1;
      sum1 += e.value;
    } else {
      ++nz2;
      sum2 += e.value;
    }
  }
  // Walk the tie blocks in increasing order; the zeros are one block, placed
  // between the negative and the positive values.
  double ranked = 0, rank_sum = 0, tie_sum = 0;
  auto block = [&](int64_t a, int64_t b) {
    const double t = static_cast<double>(a + b);
    if (t == 0) return;
    rank_sum += static_cast<double>(a) * (ranked + (t + 1) / 2.0);
    tie_sum += t * t * t - t;
    ranked += t;
  };
  bool zeros_done = false;
  for (size_t i = 0; i < entries.size();) {
    const double v = entries[i].value;
    if (!zeros_done && v > 0) {
      block(n1 - nz1, n2 - nz2);
      zeros_done = true;
    }
    int64_t a = 0, b = 0;
    for (; i < entries.size() && entries[i].value == v; ++i) (entries[i].side == 0 ? a : b) += 1;
    block(a, b);
  }
  if (!zeros_done) block(n1 - nz1, n2 - nz2);

  const double n = static_cast<double>(n1 + n2);
  const double tc = opt.tie_correct ? 1.0 - tie_sum / (n * n * n - n) : 1.0;
  const double sd = std::sqrt(tc * static_cast<double>(n1) * static_cast<double>(n2) *
                              (static_cast<double>(n1 + n2) + 1) / 12.0);
  double score = (rank_sum - static_cast<double>(n1) * ((n + 1) / 2.0)) / sd;
  if (std::isnan(score)) score = 0;

  GeneTest t;
  t.score = score;
  t.pvalue = two_sided_normal_p(score);
  t.mean_group = sum1 / static_cast<double>(n1);
  t.mean_reference = sum2 / static_cast<double>(n2);
  t.log_fold_change = std::log2((std::expm1(t.mean_group) + 1e-9) / (std::expm1(t.mean_reference) + 1e-9));
  t.frac_group = static_cast<double>(nz1) / static_cast<double>(n1);
  t.frac_reference = static_cast<double>(nz2) / static_cast<double>(n2);
  return t;
}

std::vector<GeneTest> run(Columns c, const DeOptions& opt) {
  std::vector<GeneTest> out(c.genes.size());
  for (size_t g = 0; g < c.genes.size(); ++g) {
    out[g] = test_gene(c.genes[g], c.n_group, c.n_reference, opt);
    std::vector<Entry>().swap(c.genes[g]);  // free as we go
  }
  std::vector<double> p(out.size());
  for (size_t g = 0; g < out.size(); ++g) p[g] = out[g].pvalue;
  const auto adj = benjamini_hochberg(p);
  for (size_t g = 0; g < out.size(); ++g) out[g].pvalue_adj = adj[g];
  return out;
}

}  // namespace

double two_sided_normal_p(double z) {
  // scipy: 2 * norm.sf(|z|) = 2 * ndtr(-|z|); cephes ndtr with x = -|z| / sqrt 2.
  constexpr double kSqrtHalf = 7.07106781186547524401E-1;  // cephes SQRTH
  const double x = std::abs(z) * kSqrtHalf;
  if (std::isnan(x)) return std::numeric_limits<double>::quiet_NaN();
  const double tail = x < kSqrtHalf ? 0.5 - 0.5 * std::erf(x) : 0.5 * std::erfc(x);
  return 2 * tail;
}

std::vector<GeneTest> wilcoxon(const float* group, int64_t n_group, const float* reference,
                               int64_t n_reference, int64_t n_genes, const DeOptions& opt) {
  return run(dense_columns(group, n_group, reference, n_reference, n_genes), opt);
}

std::vector<GeneTest> wilcoxon(const double* group, int64_t n_group, const double* reference,
                               int64_t n_reference, int64_t n_genes, const DeOptions& opt) {
  return run(dense_columns(group, n_group, reference, n_reference, n_genes), opt);
}

std::vector<GeneTest> wilcoxon(const Matrix& group, const Matrix& reference, const DeOptions& opt) {
  if (group.cols() != reference.cols())
    throw std::invalid_argument("pg::analysis::wilcoxon: the two groups have different gene counts");
  check_sizes(group.rows(), reference.rows(), group.cols());
  // Column-major: read gene by gene, so no transposed copy is needed.
  auto columns =
      build_columns(group.rows(), reference.rows(), group.cols(), [&](uint8_t side, const auto& visit) {
        const Matrix& m = side == 0 ? group : reference;
        for (Eigen::Index g = 0; g < m.cols(); ++g)
          for (Eigen::Index r = 0; r < m.rows(); ++r) visit(g, m(r, g));
      });
  return run(std::move(columns), opt);
}

std::vector<GeneTest> wilcoxon(const io::CsrMatrix& values, std::span<const int64_t> group_rows,
                               std::span<const int64_t> reference_rows, const DeOptions& opt) {
  check_sizes(static_cast<int64_t>(group_rows.size()), static_cast<int64_t>(reference_rows.size()),
              values.n_cols);
  std::vector<uint8_t> seen(static_cast<size_t>(values.n_rows), 0);
  for (int s = 0; s < 2; ++s)
    for (int64_t r : s == 0 ? group_rows : reference_rows) {
      if (r < 0 || r >= values.n_rows) throw std::out_of_range("pg::analysis::wilcoxon: row out of range");
      if (seen[static_cast<size_t>(r)]++)
        throw std::invalid_argument("pg::analysis::wilcoxon: row " + std::to_string(r) + " used twice");
    }
  std::vector<std::pair<int32_t, double>> row;
  auto columns =
      build_columns(static_cast<int64_t>(group_rows.size()), static_cast<int64_t>(reference_rows.size()),
                    values.n_cols, [&](uint8_t side, const auto& visit) {
                      for (int64_t r : side == 0 ? group_rows : reference_rows) {
                        merged_row(values, r, row);
                        for (const auto& [gene, v] : row) visit(gene, v);
                      }
                    });
  return run(std::move(columns), opt);
}

std::vector<GeneTest> wilcoxon_counts(const io::CsrMatrix& group_counts, std::span<const int64_t> group_rows,
                                      const io::CsrMatrix& reference_counts,
                                      std::span<const int64_t> reference_rows, double target_sum,
                                      const DeOptions& opt) {
  if (group_counts.n_cols != reference_counts.n_cols)
    throw std::invalid_argument("pg::analysis::wilcoxon_counts: the two matrices have different gene counts");
  check_sizes(static_cast<int64_t>(group_rows.size()), static_cast<int64_t>(reference_rows.size()),
              group_counts.n_cols);
  for (int s = 0; s < 2; ++s) {
    const auto& m = s == 0 ? group_counts : reference_counts;
    for (int64_t r : s == 0 ? group_rows : reference_rows)
      if (r < 0 || r >= m.n_rows) throw std::out_of_range("pg::analysis::wilcoxon_counts: row out of range");
  }
  std::vector<std::pair<int32_t, double>> row;
  auto columns =
      build_columns(static_cast<int64_t>(group_rows.size()), static_cast<int64_t>(reference_rows.size()),
                    group_counts.n_cols, [&](uint8_t side, const auto& visit) {
                      const auto& m = side == 0 ? group_counts : reference_counts;
                      for (int64_t r : side == 0 ? group_rows : reference_rows) {
                        merged_row(m, r, row);
                        double total = 0;
                        for (const auto& e : row) total += e.second;
                        if (total == 0) continue;  // an empty cell stays all zero, as in scanpy
                        // scanpy's arithmetic to the bit: x / (total / target), not x * (target / total):
                        // the last bit decides which values tie, and ties move the ranks.
                        const double per_target = total / target_sum;
                        for (const auto& [gene, count] : row) visit(gene, std::log1p(count / per_target));
                      }
                    });
  return run(std::move(columns), opt);
}

double median_total(const std::vector<const io::CsrMatrix*>& matrices) {
  std::vector<double> totals;
  for (const auto* m : matrices)
    for (int64_t r = 0; r < m->n_rows; ++r) {
      double t = 0;
      for (int64_t k = m->indptr[static_cast<size_t>(r)]; k < m->indptr[static_cast<size_t>(r) + 1]; ++k)
        t += m->data[static_cast<size_t>(k)];
      totals.push_back(t);
    }
  if (totals.empty()) throw std::invalid_argument("pg::analysis::median_total: no cells");
  const size_t h = totals.size() / 2;
  std::nth_element(totals.begin(), totals.begin() + static_cast<std::ptrdiff_t>(h), totals.end());
  const double upper = totals[h];
  if (totals.size() % 2 == 1) return upper;
  const double lower = *std::max_element(totals.begin(), totals.begin() + static_cast<std::ptrdiff_t>(h));
  return (lower + upper) / 2;
}

std::vector<double> benjamini_hochberg(std::span<const double> pvalues) {
  const size_t n = pvalues.size();
  std::vector<double> p(pvalues.begin(), pvalues.end());
  for (auto& v : p)
    if (std::isnan(v)) v = 1;
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] < p[b]; });
  std::vector<double> out(n);
  double running = std::numeric_limits<double>::infinity();
  for (size_t i = n; i-- > 0;) {
    const double ecdf = static_cast<double>(i + 1) / static_cast<double>(n);
    running = std::min(running, p[order[i]] / ecdf);
    out[order[i]] = std::min(running, 1.0);
  }
  return out;
}

int64_t count_significant(const std::vector<GeneTest>& tests, double alpha, double min_abs_lfc) {
  return std::count_if(tests.begin(), tests.end(), [&](const GeneTest& t) {
    return t.pvalue_adj < alpha && std::abs(t.log_fold_change) >= min_abs_lfc;
  });
}

std::vector<int64_t> rank_by_score(const std::vector<GeneTest>& tests, int64_t n) {
  std::vector<int64_t> order(tests.size());
  std::iota(order.begin(), order.end(), int64_t{0});
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return tests[static_cast<size_t>(a)].score > tests[static_cast<size_t>(b)].score;
  });
  if (n >= 0 && static_cast<size_t>(n) < order.size()) order.resize(static_cast<size_t>(n));
  return order;
}

namespace {

std::vector<int64_t> top(const std::vector<GeneTest>& tests, int64_t n, double alpha, double sign) {
  std::vector<int64_t> out;
  for (size_t g = 0; g < tests.size(); ++g)
    if (tests[g].pvalue_adj < alpha && tests[g].score * sign > 0) out.push_back(static_cast<int64_t>(g));
  std::stable_sort(out.begin(), out.end(), [&](int64_t a, int64_t b) {
    return tests[static_cast<size_t>(a)].score * sign > tests[static_cast<size_t>(b)].score * sign;
  });
  if (n >= 0 && static_cast<size_t>(n) < out.size()) out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

std::vector<int64_t> top_up(const std::vector<GeneTest>& tests, int64_t n, double alpha) {
  return top(tests, n, alpha, 1.0);
}

std::vector<int64_t> top_down(const std::vector<GeneTest>& tests, int64_t n, double alpha) {
  return top(tests, n, alpha, -1.0);
}

}  // namespace pg::analysis
