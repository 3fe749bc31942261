#include "analysis/rand_index.h"

#include <algorithm>
#include <map>
#include <stdexcept>
#include <utility>

namespace pg::analysis {

namespace {

double pairs(double n) {
  return n * (n - 1) / 2;
}

}  // namespace

double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.size() != b.size())
    throw std::invalid_argument("adjusted_rand_index: label vectors differ in length");
  const auto n = static_cast<double>(a.size());
  std::map<std::pair<int, int>, double> joint;
  std::map<int, double> rows, cols;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] < 0 || b[i] < 0) throw std::invalid_argument("adjusted_rand_index: negative label");
    joint[{a[i], b[i]}] += 1;
    rows[a[i]] += 1;
    cols[b[i]] += 1;
  }
  // sklearn's special cases: no clustering information to compare.
  if (a.size() < 2 || (rows.size() == cols.size() && (rows.size() == 1 || rows.size() == a.size())))
    return 1.0;
  double index = 0, sum_a = 0, sum_b = 0;
  for (const auto& [key, c] : joint) index += pairs(c);
  for (const auto& [key, c] : rows) sum_a += pairs(c);
  for (const auto& [key, c] : cols) sum_b += pairs(c);
  const double expected = sum_a * sum_b / pairs(n);
  const double max_index = (sum_a + sum_b) / 2;
  if (max_index == expected) return 1.0;
  return (index - expected) / (max_index - expected);
}

}  // namespace pg::analysis
