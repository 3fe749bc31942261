#include "analysis/rouge.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>
#include <unordered_map>

namespace pg::analysis {

double rouge1_f(std::span<const int64_t> prediction, std::span<const int64_t> reference) {
  if (prediction.empty() || reference.empty()) return 0.0;
  std::unordered_map<int64_t, int64_t> ref_counts;
  for (const int64_t t : reference) ++ref_counts[t];
  int64_t overlap = 0;
  for (const int64_t t : prediction) {
    auto it = ref_counts.find(t);
    if (it != ref_counts.end() && it->second > 0) {
      --it->second;
      ++overlap;
    }
  }
  if (overlap == 0) return 0.0;
  const double p = static_cast<double>(overlap) / static_cast<double>(prediction.size());
  const double r = static_cast<double>(overlap) / static_cast<double>(reference.size());
  return 2 * p * r / (p + r);
}

std::span<const int64_t> top_k(std::span<const int64_t> tokens, int64_t k) {
  if (k <= 0 || k >= static_cast<int64_t>(tokens.size())) return tokens;
  return tokens.first(static_cast<size_t>(k));
}

double mean_rouge1(const std::vector<std::vector<int64_t>>& predictions,
                   const std::vector<std::vector<int64_t>>& references, int64_t k) {
  if (predictions.size() != references.size())
    throw std::invalid_argument("pg::analysis::mean_rouge1: sequence counts differ");
  if (predictions.empty()) return 0.0;
  double total = 0;
  for (size_t i = 0; i < predictions.size(); ++i)
    total += rouge1_f(top_k(predictions[i], k), top_k(references[i], k));
  return total / static_cast<double>(predictions.size());
}

std::vector<int64_t> rank_genes(const RowVector& expression, const Vector& gene_medians) {
  if (expression.size() != gene_medians.size())
    throw std::invalid_argument("pg::analysis::rank_genes: gene counts differ");
  std::vector<int64_t> genes;
  std::vector<double> score(static_cast<size_t>(expression.size()), 0.0);
  for (Eigen::Index g = 0; g < expression.size(); ++g) {
    if (expression(g) > 0 && gene_medians(g) > 0) {
      genes.push_back(g);
      score[static_cast<size_t>(g)] = expression(g) / gene_medians(g);
    }
  }
  std::stable_sort(genes.begin(), genes.end(), [&](int64_t a, int64_t b) {
    return score[static_cast<size_t>(a)] > score[static_cast<size_t>(b)];
  });
  return genes;
}

Vector nonzero_medians(const Matrix& values) {
  Vector out = Vector::Zero(values.cols());
  std::vector<double> nz;
  for (Eigen::Index g = 0; g < values.cols(); ++g) {
    nz.clear();
    for (Eigen::Index r = 0; r < values.rows(); ++r)
      if (values(r, g) != 0) nz.push_back(values(r, g));
    if (nz.empty()) continue;
    const size_t mid = nz.size() / 2;
    std::nth_element(nz.begin(), nz.begin() + static_cast<std::ptrdiff_t>(mid), nz.end());
    double med = nz[mid];
    if (nz.size() % 2 == 0)
      med = (med + *std::max_element(nz.begin(), nz.begin() + static_cast<std::ptrdiff_t>(mid))) / 2;
    out(g) = med;
  }
  return out;
}

}  // namespace pg::analysis
