#include "tokenise/rank_encode.h"

#include <algorithm>

namespace pg::tokenise {

namespace {

constexpr uint32_t kClsToken = 2;
constexpr uint32_t kEosToken = 3;

// numpy's pairwise_sum (numpy/core/src/umath/loops_utils.h.src): below 8
// values a plain loop, up to 128 eight running sums, beyond that halves.
template <typename T>
T pairwise_sum(const T* a, size_t n) {
  if (n < 8) {
    T res = 0;
    for (size_t i = 0; i < n; ++i) res += a[i];
    return res;
  }
  if (n <= 128) {
    T r[8];
    for (size_t j = 0; j < 8; ++j) r[j] = a[j];
    size_t i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (size_t j = 0; j < 8; ++j) r[j] += a[i + j];
    }
    T res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; ++i) res += a[i];
    return res;
  }
  size_t n2 = n / 2;
  n2 -= n2 % 8;
  return pairwise_sum(a, n2) + pairwise_sum(a + n2, n - n2);
}

template <typename T>
T reduce_sum(std::span<const T> v) {
  // A ufunc reduction starts from the first element and adds the rest.
  if (v.empty()) return 0;
  return v[0] + pairwise_sum(v.data() + 1, v.size() - 1);
}

}  // namespace

float numpy_sum(std::span<const float> values) {
  return reduce_sum(values);
}
double numpy_sum(std::span<const double> values) {
  return reduce_sum(values);
}

template <typename T>
int64_t rank_encode(std::span<const int32_t> tokens, std::span<const T> values, T n_counts,
                    std::span<const double> median_of_token, const RankOptions& opt, RankScratch& scratch,
                    std::vector<uint32_t>& out) {
  auto& keyed = scratch.keyed;
  keyed.clear();
  for (size_t i = 0; i < values.size(); ++i) {
    const T q = values[i] / n_counts;
    const double v = static_cast<double>(q) * 10000.0 / median_of_token[static_cast<size_t>(tokens[i])];
    if (v != 0) keyed.emplace_back(v, tokens[i]);
  }
  const int64_t specials = opt.special_tokens ? 2 : 0;
  const auto keep = static_cast<size_t>(
      std::clamp<int64_t>(opt.model_input_size - specials, 0, static_cast<int64_t>(keyed.size())));
  const auto before = [](const std::pair<double, int32_t>& a, const std::pair<double, int32_t>& b) {
    return a.first > b.first || (a.first == b.first && a.second < b.second);
  };
  if (keep < keyed.size()) {
    std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(keep), keyed.end(), before);
  }
  std::sort(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(keep), before);
  const size_t start = out.size();
  if (opt.special_tokens) out.push_back(kClsToken);
  for (size_t i = 0; i < keep; ++i) out.push_back(static_cast<uint32_t>(keyed[i].second));
  if (opt.special_tokens) out.push_back(kEosToken);
  return static_cast<int64_t>(out.size() - start);
}

template int64_t rank_encode<float>(std::span<const int32_t>, std::span<const float>, float,
                                    std::span<const double>, const RankOptions&, RankScratch&,
                                    std::vector<uint32_t>&);
template int64_t rank_encode<double>(std::span<const int32_t>, std::span<const double>, double,
                                     std::span<const double>, const RankOptions&, RankScratch&,
                                     std::vector<uint32_t>&);

}  // namespace pg::tokenise
