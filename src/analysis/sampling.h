// Deterministic cell selection with the project's RNG (core/random.h), so the
// same seed gives the same table on every platform.
#pragma once

#include <cstdint>
#include <string>

#include "analysis/matrix.h"

namespace pg::analysis {

// At most `max_rows` of 0..n-1, without replacement, in ascending order (the
// cells' order is kept, which the order-dependent linear-time MMDs need).
// All rows when n <= max_rows; max_rows <= 0 means no limit.
Indices subsample(int64_t n, int64_t max_rows, uint64_t seed);

// `count` draws from 0..n-1 (n > 0) that use every row as evenly as possible:
// concatenated random permutations, cut at `count`. With count = k*n every row
// appears exactly k times, so a resampled population keeps the pool's mean.
Indices balanced_draws(int64_t n, int64_t count, uint64_t seed);

// A seed for a named sub-task (a time point, a method), so adding a method
// does not change the random streams of the others.
uint64_t derive_seed(uint64_t seed, const std::string& what);

}  // namespace pg::analysis
