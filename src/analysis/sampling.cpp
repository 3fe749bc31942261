#include "analysis/sampling.h"

#include <algorithm>
#include <numeric>
#include <span>
#include <stdexcept>

#include "core/random.h"

namespace pg::analysis {

Indices subsample(int64_t n, int64_t max_rows, uint64_t seed) {
  Indices all(static_cast<size_t>(std::max<int64_t>(n, 0)));
  std::iota(all.begin(), all.end(), int64_t{0});
  if (max_rows <= 0 || n <= max_rows) return all;
  Rng rng(seed);
  rng.shuffle(std::span<int64_t>(all));
  all.resize(static_cast<size_t>(max_rows));
  std::sort(all.begin(), all.end());
  return all;
}

Indices balanced_draws(int64_t n, int64_t count, uint64_t seed) {
  if (n <= 0) throw std::invalid_argument("pg::analysis::balanced_draws: empty pool");
  Indices out;
  out.reserve(static_cast<size_t>(std::max<int64_t>(count, 0)));
  Rng rng(seed);
  Indices perm(static_cast<size_t>(n));
  while (static_cast<int64_t>(out.size()) < count) {
    std::iota(perm.begin(), perm.end(), int64_t{0});
    rng.shuffle(std::span<int64_t>(perm));
    const size_t take = static_cast<size_t>(std::min<int64_t>(n, count - static_cast<int64_t>(out.size())));
    out.insert(out.end(), perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(take));
  }
  return out;
}

uint64_t derive_seed(uint64_t seed, const std::string& what) {
  // FNV-1a of the name, mixed with the seed through splitmix64.
  uint64_t h = 1469598103934665603ULL;
  for (const unsigned char c : what) h = (h ^ c) * 1099511628211ULL;
  uint64_t state = seed ^ h;
  return splitmix64(state);
}

}  // namespace pg::analysis
