// Agreement of two partitions of the same items: the adjusted Rand index
// (Hubert & Arabie 1985), as sklearn.metrics.adjusted_rand_score: 1 for
// identical partitions up to renaming, about 0 for independent ones.
#pragma once

#include <vector>

namespace pg::analysis {

// Labels are any non-negative integers; both vectors have one per item
// (std::invalid_argument otherwise). Fewer than two items, or two partitions
// that are both a single cluster (or both all singletons), give 1.
double adjusted_rand_index(const std::vector<int>& a, const std::vector<int>& b);

}  // namespace pg::analysis
