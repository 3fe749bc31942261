#include "analysis/score_genes.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <utility>

#include "analysis/normalise.h"
#include "core/error.h"
#include "core/random.h"

namespace pg::analysis {

namespace {

// The set's genes, sorted and without duplicates; out-of-range is an error.
std::vector<int64_t> unique_genes(std::span<const int64_t> gene_set, int64_t n_genes) {
  std::vector<int64_t> genes(gene_set.begin(), gene_set.end());
  for (const int64_t g : genes)
    if (g < 0 || g >= n_genes)
      throw std::invalid_argument("score_genes: gene " + std::to_string(g) + " outside the " +
                                  std::to_string(n_genes) + " genes");
  std::sort(genes.begin(), genes.end());
  genes.erase(std::unique(genes.begin(), genes.end()), genes.end());
  return genes;
}

// Expression bin of every gene: rank (method 'min', 1-based) // n_items.
std::vector<int64_t> expression_bins(std::span<const double> means, int64_t n_bins) {
  const auto n = static_cast<int64_t>(means.size());
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return means[static_cast<size_t>(a)] < means[static_cast<size_t>(b)];
  });
  // numpy's round (half to even) of len / (n_bins - 1); 0 puts every gene in one bin,
  // as pandas' floor division by zero gives inf for all.
  const auto n_items =
      static_cast<int64_t>(std::nearbyint(static_cast<double>(n) / static_cast<double>(n_bins - 1)));
  std::vector<int64_t> bin(static_cast<size_t>(n), 0);
  int64_t rank = 1;
  for (int64_t p = 0; p < n; ++p) {
    const auto g = static_cast<size_t>(order[static_cast<size_t>(p)]);
    if (p > 0 && means[g] != means[static_cast<size_t>(order[static_cast<size_t>(p - 1)])]) rank = p + 1;
    bin[g] = n_items > 0 ? rank / n_items : 0;
  }
  return bin;
}

void check_options(const ScoreGenesOptions& o) {
  if (o.n_bins < 2) throw std::invalid_argument("score_genes: n_bins must be >= 2");
  if (o.ctrl_size < 0) throw std::invalid_argument("score_genes: ctrl_size must be >= 0");
}

}  // namespace

std::vector<int64_t> control_genes(std::span<const double> gene_means, std::span<const int64_t> gene_set,
                                   const ScoreGenesOptions& options) {
  check_options(options);
  const auto n = static_cast<int64_t>(gene_means.size());
  const std::vector<int64_t> set = unique_genes(gene_set, n);
  for (const double m : gene_means)
    if (!std::isfinite(m)) throw std::invalid_argument("score_genes: non-finite gene mean");
  const std::vector<int64_t> bin = expression_bins(gene_means, options.n_bins);
  std::vector<int64_t> cuts;
  for (const int64_t g : set) cuts.push_back(bin[static_cast<size_t>(g)]);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

  Rng rng(options.seed);
  std::vector<int64_t> control;
  for (const int64_t cut : cuts) {
    std::vector<int64_t> members;  // in gene order, as pandas keeps the index order
    for (int64_t g = 0; g < n; ++g)
      if (bin[static_cast<size_t>(g)] == cut) members.push_back(g);
    if (options.ctrl_size < static_cast<int64_t>(members.size())) {
      // Partial Fisher-Yates: ctrl_size distinct genes, uniformly.
      const auto size = static_cast<uint64_t>(members.size());
      for (uint64_t t = 0; t < static_cast<uint64_t>(options.ctrl_size); ++t)
        std::swap(members[t], members[t + rng.below(size - t)]);
      members.resize(static_cast<size_t>(options.ctrl_size));
    }
    for (const int64_t g : members)
      if (!std::binary_search(set.begin(), set.end(), g)) control.push_back(g);
  }
  std::sort(control.begin(), control.end());
  control.erase(std::unique(control.begin(), control.end()), control.end());
  return control;
}

Vector score_genes(const Matrix& expression, std::span<const int64_t> gene_set,
                   const ScoreGenesOptions& options) {
  check_options(options);
  if (!expression.allFinite()) throw Error("", "expression", "has non-finite values");
  const std::vector<int64_t> set = unique_genes(gene_set, expression.cols());
  if (set.empty()) throw Error("", "gene set", "is empty");
  const Vector means = expression.colwise().mean().transpose();
  const std::vector<int64_t> control =
      control_genes(std::span<const double>(means.data(), static_cast<size_t>(means.size())), set, options);
  if (control.empty()) throw Error("", "gene set", "no control genes in any expression bin");
  Vector score = Vector::Zero(expression.rows());
  for (const int64_t g : set)
    score += expression.col(static_cast<Eigen::Index>(g)) / static_cast<double>(set.size());
  Vector ctrl = Vector::Zero(expression.rows());
  for (const int64_t g : control)
    ctrl += expression.col(static_cast<Eigen::Index>(g)) / static_cast<double>(control.size());
  return score - ctrl;
}

Matrix score_gene_sets_on_counts(const io::CsrMatrix& counts,
                                 const std::vector<std::vector<int64_t>>& gene_sets, const std::string& file,
                                 const ScoreGenesOptions& options) {
  check_options(options);
  const int64_t n_cells = counts.n_rows, n_genes = counts.n_cols;
  // Each row's log-normalised values, duplicates summed first (as scipy does).
  std::vector<double> scratch(static_cast<size_t>(n_genes), 0.0);
  std::vector<int32_t> touched;
  const auto for_each_value = [&](int64_t r, const auto& visit) {
    touched.clear();
    double total = 0;
    for (int64_t e = counts.indptr[static_cast<size_t>(r)]; e < counts.indptr[static_cast<size_t>(r) + 1];
         ++e) {
      const double v = counts.data[static_cast<size_t>(e)];
      const int32_t c = counts.indices[static_cast<size_t>(e)];
      if (!(std::isfinite(v) && v >= 0))
        throw Error(file, "X",
                    "value " + std::to_string(v) + " at cell " + std::to_string(r) + ", gene " +
                        std::to_string(c) +
                        " is not a count (scores are computed on normalize_total + log1p of counts)");
      if (scratch[static_cast<size_t>(c)] == 0.0) touched.push_back(c);
      scratch[static_cast<size_t>(c)] += v;
      total += v;
    }
    const double scale = total > 0 ? kTargetSum / total : 0.0;
    for (const int32_t c : touched) {
      visit(c, std::log1p(scratch[static_cast<size_t>(c)] * scale));
      scratch[static_cast<size_t>(c)] = 0.0;
    }
  };

  std::vector<double> means(static_cast<size_t>(n_genes), 0.0);
  for (int64_t r = 0; r < n_cells; ++r)
    for_each_value(r, [&](int32_t c, double v) { means[static_cast<size_t>(c)] += v; });
  for (double& m : means) m /= static_cast<double>(std::max<int64_t>(n_cells, 1));

  // Per gene, its weight in each set's score: +1/|set|, -1/|control|.
  std::vector<std::vector<std::pair<int64_t, double>>> weights(static_cast<size_t>(n_genes));
  for (size_t s = 0; s < gene_sets.size(); ++s) {
    const std::vector<int64_t> set = unique_genes(gene_sets[s], n_genes);
    if (set.empty()) throw Error(file, "gene set " + std::to_string(s), "is empty");
    const std::vector<int64_t> control = control_genes(means, set, options);
    if (control.empty())
      throw Error(file, "gene set " + std::to_string(s), "no control genes in any expression bin");
    for (const int64_t g : set)
      weights[static_cast<size_t>(g)].emplace_back(s, 1.0 / static_cast<double>(set.size()));
    for (const int64_t g : control)
      weights[static_cast<size_t>(g)].emplace_back(s, -1.0 / static_cast<double>(control.size()));
  }

  Matrix scores = Matrix::Zero(n_cells, static_cast<Eigen::Index>(gene_sets.size()));
  for (int64_t r = 0; r < n_cells; ++r)
    for_each_value(r, [&](int32_t c, double v) {
      for (const auto& [s, w] : weights[static_cast<size_t>(c)]) scores(r, s) += w * v;
    });
  return scores;
}

}  // namespace pg::analysis
