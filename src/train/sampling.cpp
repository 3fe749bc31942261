#include "train/sampling.h"

#include <algorithm>
#include <map>
#include <numeric>
#include <span>

#include "core/error.h"
#include "core/random.h"

namespace pg::train {

namespace {

uint64_t mix(uint64_t seed, uint64_t a, uint64_t b = 0) {
  uint64_t s = seed ^ (a * 0x9e3779b97f4a7c15ULL);
  s = splitmix64(s) ^ b;
  return splitmix64(s);
}

void cut(std::vector<int64_t>& v, double train, double test, Split& out) {
  const auto n = static_cast<int64_t>(v.size());
  auto n_train = static_cast<int64_t>(std::llround(train * static_cast<double>(n)));
  auto n_test = static_cast<int64_t>(std::llround(test * static_cast<double>(n)));
  n_train = std::min(n_train, n);
  n_test = std::min(n_test, n - n_train);
  out.train.insert(out.train.end(), v.begin(), v.begin() + n_train);
  out.test.insert(out.test.end(), v.begin() + n_train, v.begin() + n_train + n_test);
  out.val.insert(out.val.end(), v.begin() + n_train + n_test, v.end());
}

}  // namespace

Split make_split(int64_t n, const SplitOptions& o, uint64_t seed,
                 const std::function<std::string(int64_t)>& group_of) {
  if (o.train <= 0 || o.test < 0 || o.train + o.test > 1.0)
    throw pg::Error("<config>", "split fractions",
                    "need 0 < train, 0 <= test and train + test <= 1 (got " + std::to_string(o.train) + ", " +
                        std::to_string(o.test) + ")");
  Split s;
  std::vector<int64_t> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  pg::Rng rng(mix(seed, 0x5b11));
  if (o.mode == "none") {
    s.train = all;
    rng.shuffle(std::span<int64_t>(all));
    all.resize(std::min<size_t>(all.size(), std::max<size_t>(1, all.size() / 10)));
    s.val = all;
  } else if (o.mode == "random") {
    rng.shuffle(std::span<int64_t>(all));
    cut(all, o.train, o.test, s);
  } else if (o.mode == "stratified") {
    std::map<std::string, std::vector<int64_t>> groups;
    for (int64_t i : all) groups[group_of(i)].push_back(i);
    for (auto& [label, members] : groups) {
      rng.shuffle(std::span<int64_t>(members));
      cut(members, o.train, o.test, s);
    }
  } else if (o.mode == "condition") {
    if (o.held_out.empty()) throw pg::Error("<config>", "split.held_out", "the condition split needs values");
    std::vector<int64_t> rest;
    for (int64_t i : all) {
      if (std::find(o.held_out.begin(), o.held_out.end(), group_of(i)) != o.held_out.end())
        s.test.push_back(i);
      else
        rest.push_back(i);
    }
    if (s.test.empty())
      throw pg::Error("<config>", "split.held_out", "no example has one of the held-out values");
    rng.shuffle(std::span<int64_t>(rest));
    Split r;
    cut(rest, o.train / (o.train + (1 - o.train - o.test)), 0.0, r);
    s.train = r.train;
    s.val = r.val;
  } else {
    throw pg::Error("<config>", "split.mode",
                    "'" + o.mode + "' is not none, random, stratified or condition");
  }
  if (s.train.empty()) throw pg::Error("<config>", "split", "leaves no training example");
  std::sort(s.train.begin(), s.train.end());
  std::sort(s.val.begin(), s.val.end());
  std::sort(s.test.begin(), s.test.end());
  return s;
}

std::vector<std::vector<int64_t>> epoch_batches(const std::vector<int64_t>& train,
                                                const std::function<int64_t(int64_t)>& length,
                                                const std::vector<double>& weights, const SamplerOptions& o,
                                                uint64_t seed, int64_t epoch) {
  if (o.batch_size < 1) throw pg::Error("<config>", "batch_size", "must be at least 1");
  pg::Rng rng(mix(seed, 0xe90c, static_cast<uint64_t>(epoch)));
  std::vector<int64_t> order;
  if (weights.empty()) {
    order = train;
    rng.shuffle(std::span<int64_t>(order));
  } else {
    // Inverse-CDF draws with replacement.
    std::vector<double> cdf(weights.size());
    std::partial_sum(weights.begin(), weights.end(), cdf.begin());
    for (size_t k = 0; k < train.size(); ++k) {
      const double x = rng.uniform() * cdf.back();
      const auto j = static_cast<size_t>(std::upper_bound(cdf.begin(), cdf.end(), x) - cdf.begin());
      order.push_back(train[std::min(j, train.size() - 1)]);
    }
  }
  const auto bs = static_cast<size_t>(o.batch_size);
  const size_t pool = bs * static_cast<size_t>(std::max<int64_t>(1, o.bucket_batches));
  std::vector<std::vector<int64_t>> batches;
  for (size_t begin = 0; begin < order.size(); begin += pool) {
    const size_t end = std::min(order.size(), begin + pool);
    if (o.bucket_batches > 1)
      std::stable_sort(order.begin() + static_cast<std::ptrdiff_t>(begin),
                       order.begin() + static_cast<std::ptrdiff_t>(end),
                       [&](int64_t a, int64_t b) { return length(a) > length(b); });
    for (size_t b = begin; b < end; b += bs)
      batches.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(b),
                           order.begin() + static_cast<std::ptrdiff_t>(std::min(end, b + bs)));
  }
  if (o.drop_last && !batches.empty() && batches.back().size() < bs) batches.pop_back();
  if (o.bucket_batches > 1) rng.shuffle(std::span<std::vector<int64_t>>(batches));
  return batches;
}

std::vector<double> inverse_frequency_weights(const std::vector<int64_t>& train,
                                              const std::function<std::string(int64_t)>& label_of) {
  std::map<std::string, int64_t> counts;
  std::vector<std::string> labels;
  for (int64_t i : train) labels.push_back(label_of(i)), ++counts[labels.back()];
  std::vector<double> w;
  for (const auto& l : labels)
    w.push_back(static_cast<double>(train.size()) / static_cast<double>(counts[l]));
  return w;
}

std::vector<int64_t> rank_share(const std::vector<int64_t>& batch,
                                const std::function<int64_t(int64_t)>& length, int rank, int world) {
  std::vector<int64_t> sorted = batch;
  std::stable_sort(sorted.begin(), sorted.end(), [&](int64_t a, int64_t b) { return length(a) > length(b); });
  std::vector<int64_t> out;
  for (size_t k = static_cast<size_t>(rank); k < sorted.size(); k += static_cast<size_t>(world))
    out.push_back(sorted[k]);
  return out;
}

double padding_fraction(const std::vector<int64_t>& lengths) {
  if (lengths.empty()) return 0.0;
  const int64_t longest = *std::max_element(lengths.begin(), lengths.end());
  const int64_t total = std::accumulate(lengths.begin(), lengths.end(), int64_t{0});
  const double cells = static_cast<double>(longest) * static_cast<double>(lengths.size());
  return cells > 0 ? 1.0 - static_cast<double>(total) / cells : 0.0;
}

}  // namespace pg::train
