#include "tokenise/tdigest.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <numbers>
#include <string>

#include "core/error.h"
#include "core/number_text.h"

namespace pg::tokenise {

namespace {

// The largest q with k(q) - k(q0) <= 1 for k(q) = delta/(2 pi) asin(2q - 1):
// a centroid starting at q0 may grow up to there. k1 is odd about q = 1/2, so
// the same bound serves a pass from the right with q0 measured from the right.
// With a = asin(2 q0 - 1) and b = 2 pi / delta the bound is (sin(a + b) + 1)/2,
// expanded here (sin a = 2 q0 - 1, cos a = 2 sqrt(q0 (1 - q0))) so that a merge
// pass needs one square root per centroid instead of two trigonometric calls.
struct KLimit {
  double cos_b;
  double sin_b;
  explicit KLimit(double delta)
      : cos_b(std::cos(2 * std::numbers::pi / delta)), sin_b(std::sin(2 * std::numbers::pi / delta)) {}
  double operator()(double q0) const {
    q0 = std::clamp(q0, 0.0, 1.0);
    const double sin_a = 2 * q0 - 1;
    if (sin_a >= cos_b) return 1.0;  // a + b reaches pi/2: the rest fits
    return (1 + sin_a * cos_b + 2 * std::sqrt(q0 * (1 - q0)) * sin_b) / 2;
  }
};

// Weighted mean written as a step towards the newcomer: equal means stay
// exactly equal, which keeps runs of tied values (count data) exact.
void absorb(TDigest::Centroid& cur, const TDigest::Centroid& nx) {
  cur.weight += nx.weight;
  cur.mean += (nx.mean - cur.mean) * (nx.weight / cur.weight);
}

bool by_mean(const TDigest::Centroid& a, const TDigest::Centroid& b) {
  return a.mean < b.mean || (a.mean == b.mean && a.weight < b.weight);
}

// Linear interpolation between two knots, written so that f = 1/2 gives
// exactly (x0 + x1) / 2 (numpy's median of an even count) and equal ends give
// that value exactly.
double interpolate(double t0, double x0, double t1, double x1, double t) {
  if (x0 == x1 || t >= t1) return x1;
  if (t <= t0) return x0;
  const double f = (t - t0) / (t1 - t0);
  const double x = x0 * (1 - f) + x1 * f;
  return std::clamp(x, std::min(x0, x1), std::max(x0, x1));
}

}  // namespace

TDigest::TDigest(double compression, size_t buffer_capacity)
    : compression_(compression),
      buffer_capacity_(buffer_capacity),
      min_(std::numeric_limits<double>::infinity()),
      max_(-std::numeric_limits<double>::infinity()) {
  if (!(compression >= 10) || !std::isfinite(compression))
    throw Error("", "t-digest",
                "compression " + shortest_text(compression) + " must be a finite number >= 10");
  if (buffer_capacity_ == 0) buffer_capacity_ = std::max<size_t>(16, static_cast<size_t>(compression / 2));
}

size_t TDigest::max_centroids() const {
  // Any two neighbouring centroids span more than one unit of k, and k spans
  // delta/2 units in all, so a merged digest has at most delta + 1 centroids
  // (two more for rounding at the ends).
  return static_cast<size_t>(std::ceil(compression_)) + 3;
}

void TDigest::add(double x, double weight) {
  if (!std::isfinite(x)) throw Error("", "t-digest", "value " + shortest_text(x) + " is not finite");
  if (!(weight > 0) || !std::isfinite(weight))
    throw Error("", "t-digest", "weight " + shortest_text(weight) + " must be positive and finite");
  push(x, weight);
}

void TDigest::add_all(std::span<const double> values) {
  for (double x : values) add(x);
}

void TDigest::push(double x, double weight) {
  // A full buffer is folded in before the next point is taken, so a digest
  // never holds more than max_points_unmerged() points. Until the first merge
  // the points wait until they fill that whole space: a digest of up to that
  // many points is exact at no extra memory (sparse genes never merge).
  const size_t wait = merged_ == 0 ? max_points_unmerged() : buffer_capacity_;
  if (c_.size() - merged_ >= wait) flush();
  if (c_.size() == c_.capacity()) {
    // Grow towards the most this digest can ever hold, not past it, so a
    // corpus of many digests stays within max_memory_bytes() each.
    size_t cap = std::min(std::max<size_t>(2 * c_.capacity(), 8), max_points_unmerged());
    if (cap <= c_.size()) cap = 2 * c_.size();
    c_.reserve(cap);
  }
  c_.push_back({x, weight});
  pending_weight_ += weight;
  min_ = std::min(min_, x);
  max_ = std::max(max_, x);
}

void TDigest::merge(const TDigest& other) {
  if (&other == this) {
    const TDigest copy = other;
    merge(copy);
    return;
  }
  if (other.count() == 0) return;
  for (const Centroid& c : other.c_) push(c.mean, c.weight);
  // The other digest's extremes may lie outside its centroids' means.
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  flush();
}

void TDigest::compress() {
  flush();
}

// Greedy pass over the sorted points (from the left, or from the right with
// reverse iterators: k1 is odd about q = 1/2, so the bound is the same): a
// centroid absorbs its neighbour while the merged centroid still spans at
// most one unit of k.
template <typename It>
void TDigest::compress_pass(It first, It last, double total) {
  const KLimit q_limit(compression_);
  double before = 0;  // weight of the centroids already closed
  double limit = total * q_limit(0);
  Centroid cur = *first;
  for (++first; first != last; ++first) {
    const Centroid nx = *first;
    if (before + cur.weight + nx.weight <= limit) {
      absorb(cur, nx);
      continue;
    }
    c_.push_back(cur);
    before += cur.weight;
    limit = total * q_limit(before / total);
    cur = nx;
  }
  c_.push_back(cur);
}

void TDigest::flush() {
  if (c_.size() == merged_) return;
  // One scratch per thread: the sorted centroids and the sorted pending points
  // are merged into it, and the pass writes the result back into c_, whose
  // capacity (this digest's memory) stays as it was.
  thread_local std::vector<Centroid> scratch;
  std::sort(c_.begin() + static_cast<std::ptrdiff_t>(merged_), c_.end(), by_mean);
  scratch.resize(c_.size());
  std::merge(c_.begin(), c_.begin() + static_cast<std::ptrdiff_t>(merged_),
             c_.begin() + static_cast<std::ptrdiff_t>(merged_), c_.end(), scratch.begin(), by_mean);
  const double total = merged_weight_ + pending_weight_;
  c_.clear();
  if (passes_ % 2 == 0) {
    compress_pass(scratch.begin(), scratch.end(), total);
  } else {
    compress_pass(scratch.rbegin(), scratch.rend(), total);
    std::reverse(c_.begin(), c_.end());
  }
  ++passes_;
  merged_ = c_.size();
  merged_weight_ = total;
  pending_weight_ = 0;
}

double TDigest::quantile(double q) const {
  if (!(q >= 0 && q <= 1)) throw Error("", "t-digest", "quantile " + shortest_text(q) + " is outside [0, 1]");
  if (merged_ != c_.size()) return folded().quantile(q);
  if (c_.empty()) return std::numeric_limits<double>::quiet_NaN();
  // Knots in rank units: (1/2, min), each centroid's centre, (n - 1/2, max).
  const double total = merged_weight_;
  const double t = q * (total - 1) + 0.5;
  double prev_t = 0.5;
  double prev_x = min_;
  double start = 0;
  for (const Centroid& c : c_) {
    const double mid = start + c.weight / 2;
    if (t <= mid) return std::clamp(interpolate(prev_t, prev_x, mid, c.mean, t), min_, max_);
    prev_t = mid;
    prev_x = c.mean;
    start += c.weight;
  }
  return std::clamp(interpolate(prev_t, prev_x, total - 0.5, max_, t), min_, max_);
}

size_t TDigest::centroid_count() const {
  return merged_ == c_.size() ? c_.size() : folded().c_.size();
}

std::vector<TDigest::Centroid> TDigest::centroids() const {
  return merged_ == c_.size() ? c_ : folded().c_;
}

TDigest TDigest::folded() const {
  TDigest copy(*this);
  if (merged_ > 0) {
    copy.flush();
    return copy;
  }
  // Never merged: every point stays a centroid of its own, so answers are exact.
  std::sort(copy.c_.begin(), copy.c_.end(), by_mean);
  copy.merged_ = copy.c_.size();
  copy.merged_weight_ = copy.pending_weight_;
  copy.pending_weight_ = 0;
  return copy;
}

size_t TDigest::memory_bytes() const {
  return sizeof(TDigest) + c_.capacity() * sizeof(Centroid);
}

size_t TDigest::max_memory_bytes(double compression, size_t buffer_capacity) {
  const TDigest probe(compression, buffer_capacity);
  return sizeof(TDigest) + probe.max_points_unmerged() * sizeof(Centroid);
}

}  // namespace pg::tokenise
