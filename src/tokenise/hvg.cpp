#include "tokenise/hvg.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "core/error.h"

// scanpy's numbers come from separately rounded multiplies and adds; a fused
// multiply-add (which -march flags would let the compiler form) changes bits.
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

namespace pg::tokenise {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint64_t kDigit = 0xffffffffULL;

// --- exact sums of non-negative float32 values --------------------------------
// A float32 is M * 2^(s - 149) with M < 2^24 and 0 <= s <= 253, so a sum of
// them is an integer in units of 2^-149: kept as base-2^32 digits in uint64
// limbs (carry-save). One addition puts < 2^32 into a limb, so 2^31
// additions fit before the carries must be propagated.

constexpr int kLimbs = 9;
constexpr int64_t kMaxPending = int64_t{1} << 31;

inline void add_exact(uint64_t* limb, float v) {
  const auto bits = std::bit_cast<uint32_t>(v);
  uint32_t e = bits >> 23;
  uint64_t m = bits & 0x7fffffu;
  if (e != 0) {
    m |= 0x800000u;
  } else {
    e = 1;  // subnormal: same scale as the smallest normal exponent
  }
  const uint32_t s = e - 1;
  const uint64_t shifted = m << (s & 31u);  // < 2^55
  limb[s >> 5] += shifted & kDigit;
  limb[(s >> 5) + 1] += shifted >> 32;
}

inline void propagate(uint64_t* limb) {
  for (int i = 0; i + 1 < kLimbs; ++i) {
    limb[i + 1] += limb[i] >> 32;
    limb[i] &= kDigit;
  }
}

// The exact sum rounded once to the nearest double (ties to even).
double to_double(const uint64_t* limbs) {
  uint64_t l[kLimbs];
  std::copy(limbs, limbs + kLimbs, l);
  propagate(l);
  constexpr int kDigits = kLimbs + 1;
  uint32_t d[kDigits + 2] = {};
  for (int i = 0; i + 1 < kLimbs; ++i) d[i] = static_cast<uint32_t>(l[i]);
  d[kLimbs - 1] = static_cast<uint32_t>(l[kLimbs - 1] & kDigit);
  d[kLimbs] = static_cast<uint32_t>(l[kLimbs - 1] >> 32);
  int top = kDigits - 1;
  while (top >= 0 && d[top] == 0) --top;
  if (top < 0) return 0.0;
  const int msb = 32 * top + 31 - std::countl_zero(d[top]);
  const int lo = std::max(0, msb - 63);
  const int w = lo >> 5, off = lo & 31;
  const uint64_t a0 = d[w], a1 = d[w + 1], a2 = d[w + 2];
  uint64_t r = (a0 >> off) | (a1 << (32 - off)) | (off != 0 ? a2 << (64 - off) : 0);
  bool sticky = (d[w] & ((uint32_t{1} << off) - 1)) != 0;
  for (int i = 0; i < w; ++i) sticky = sticky || d[i] != 0;
  // r's top bit is bit 63 (when rounding matters), so bit 0 lies below the
  // rounding bit: folding the sticky bits into it keeps round-to-nearest-even.
  if (sticky) r |= 1;
  return std::ldexp(static_cast<double>(r), lo - 149);
}

// --- pandas pieces --------------------------------------------------------------

// Series.mean over values, skipping NaN: pandas' Kahan summation (group_mean).
struct KahanMean {
  double sum = 0, comp = 0;
  int64_t n = 0;
  void add(double v) {
    if (std::isnan(v)) return;
    ++n;
    const double y = v - comp;
    const double t = sum + y;
    comp = t - sum - y;
    if (std::isnan(comp)) comp = 0;  // v infinite
    sum = t;
  }
  double mean() const { return n == 0 ? kNaN : sum / static_cast<double>(n); }
};

// Series.std(ddof=1) skipping NaN: pandas' Welford update (group_var).
struct WelfordStd {
  double mean = 0, m2 = 0;
  int64_t n = 0;
  void add(double v) {
    if (std::isnan(v)) return;
    ++n;
    const double old = mean;
    mean += (v - old) / static_cast<double>(n);
    m2 += (v - mean) * (v - old);
  }
  double std() const { return n <= 1 ? kNaN : std::sqrt(m2 / static_cast<double>(n - 1)); }
};

// pd.cut(x, n_bins) edges: np.linspace over [min, max], the first edge moved
// down by 0.1% of the range (or both ends moved when min == max).
std::vector<double> cut_edges(double mn, double mx, int n_bins) {
  const bool flat = mn == mx;
  if (flat) {
    mn -= mn != 0 ? 0.001 * std::fabs(mn) : 0.001;
    mx += mx != 0 ? 0.001 * std::fabs(mx) : 0.001;
  }
  std::vector<double> edges(static_cast<size_t>(n_bins) + 1);
  const double delta = mx - mn;
  const double step = delta / n_bins;
  for (int k = 0; k <= n_bins; ++k) {
    const double y = step == 0 ? static_cast<double>(k) / n_bins * delta : static_cast<double>(k) * step;
    edges[static_cast<size_t>(k)] = y + mn;
  }
  edges.back() = mx;
  if (!flat) edges.front() -= delta * 0.001;
  return edges;
}

// One batch as scanpy's _highly_variable_genes_single_batch sees it.
struct BatchResult {
  std::vector<uint8_t> used;  // gene kept (expressed in the batch, or every gene without a batch key)
  std::vector<double> means, dispersions, norm;
  std::vector<uint8_t> hv;
};

BatchResult one_batch(const HvgBatchStats& s, bool filter, const HvgOptions& opt, int32_t b) {
  const size_t n_genes = s.mean.size();
  const std::string where = "HVG batch " + std::to_string(b);
  if (s.n_cells == 0) throw Error("", where, "has no cells (scanpy fails on an empty batch category)");
  BatchResult r;
  r.used.assign(n_genes, 1);
  r.means.assign(n_genes, 0.0);
  r.dispersions.assign(n_genes, 0.0);
  r.norm.assign(n_genes, 0.0);
  r.hv.assign(n_genes, 0);
  std::vector<size_t> genes;
  for (size_t g = 0; g < n_genes; ++g) {
    if (filter && s.n_expressed[g] == 0) {
      r.used[g] = 0;
      continue;
    }
    genes.push_back(g);
    double mean = s.mean[g];
    if (mean == 0) mean = 1e-12;
    double disp = s.var[g] / mean;
    if (disp == 0) disp = kNaN;
    r.dispersions[g] = std::log(disp);  // negative (rounding) -> NaN, as numpy
    r.means[g] = std::log1p(mean);
  }
  if (genes.empty())
    throw Error("", where, "no gene has a positive value in this batch (scanpy fails here too)");

  double mn = r.means[genes[0]], mx = mn;
  for (size_t g : genes) {
    mn = std::min(mn, r.means[g]);
    mx = std::max(mx, r.means[g]);
  }
  const std::vector<double> edges = cut_edges(mn, mx, opt.n_bins);
  if (opt.n_bins != 1 && std::adjacent_find(edges.begin(), edges.end()) != edges.end()) {
    throw Error("", where,
                "the mean-expression range is too narrow for " + std::to_string(opt.n_bins) +
                    " distinct bins (pandas.cut fails here too)");
  }
  // Right-closed bins (edge[k-1], edge[k]] as pandas' searchsorted(side="left").
  std::vector<int> bin(n_genes, -1);
  std::vector<KahanMean> avg(static_cast<size_t>(opt.n_bins));
  std::vector<WelfordStd> dev(static_cast<size_t>(opt.n_bins));
  for (size_t g : genes) {
    const auto id = std::lower_bound(edges.begin(), edges.end(), r.means[g]) - edges.begin();
    if (id == 0 || id == static_cast<ptrdiff_t>(edges.size()))
      continue;  // cannot happen: edges span the range
    bin[g] = static_cast<int>(id - 1);
    avg[static_cast<size_t>(id - 1)].add(r.dispersions[g]);
    dev[static_cast<size_t>(id - 1)].add(r.dispersions[g]);
  }
  std::vector<double> bin_avg(avg.size()), bin_dev(avg.size());
  for (size_t k = 0; k < avg.size(); ++k) {
    bin_avg[k] = avg[k].mean();
    bin_dev[k] = dev[k].std();
    // A bin whose std is NaN (one gene with a dispersion): scanpy sets dev to
    // the bin's mean and avg to 0, so that gene's normalised dispersion is 1.
    if (std::isnan(bin_dev[k])) {
      bin_dev[k] = bin_avg[k];
      bin_avg[k] = 0;
    }
  }
  std::vector<double> finite;
  for (size_t g : genes) {
    const auto k = static_cast<size_t>(bin[g]);
    r.norm[g] = bin[g] < 0 ? kNaN : (r.dispersions[g] - bin_avg[k]) / bin_dev[k];
    if (!std::isnan(r.norm[g])) finite.push_back(r.norm[g]);
  }

  // The top n_top_genes: every gene >= the n-th highest normalised dispersion.
  size_t n = std::min(static_cast<size_t>(opt.n_top_genes), genes.size());
  n = std::min(n, finite.size());
  if (n == 0) throw Error("", where, "no gene has a normalised dispersion (all variances are zero)");
  std::nth_element(finite.begin(), finite.begin() + static_cast<ptrdiff_t>(n - 1), finite.end(),
                   std::greater<double>());
  const double cutoff = finite[n - 1];
  for (size_t g : genes) r.hv[g] = r.norm[g] >= cutoff ? 1 : 0;  // NaN never
  return r;
}

}  // namespace

HvgAccumulator::HvgAccumulator(int64_t n_genes, int32_t n_batches)
    : n_genes_(n_genes), n_batches_(n_batches) {
  if (n_genes < 0 || n_batches < 1) {
    throw Error("", "HVG accumulator",
                "needs at least one batch and a non-negative gene count (got " + std::to_string(n_genes) +
                    " genes, " + std::to_string(n_batches) + " batches)");
  }
  const size_t cells = static_cast<size_t>(n_genes) * static_cast<size_t>(n_batches);
  limbs_.assign(cells * 2 * kLimbs, 0);
  expressed_.assign(cells, 0);
  cells_.assign(static_cast<size_t>(n_batches), 0);
  pending_.assign(static_cast<size_t>(n_batches), 0);
}

void HvgAccumulator::normalise_batch(int32_t b) {
  for (int64_t g = 0; g < n_genes_; ++g) {
    propagate(sum_of(b, g, 0));
    propagate(sum_of(b, g, 1));
  }
  pending_[static_cast<size_t>(b)] = 0;
}

void HvgAccumulator::add(const io::CsrMatrix& counts, std::span<const int32_t> batch,
                         const std::string& source) {
  if (counts.n_cols != n_genes_) {
    throw Error(source, "X",
                "has " + std::to_string(counts.n_cols) + " genes but HVG selection was set up for " +
                    std::to_string(n_genes_));
  }
  if (static_cast<int64_t>(batch.size()) != counts.n_rows) {
    throw Error(source, "HVG batch labels",
                std::to_string(batch.size()) + " labels for " + std::to_string(counts.n_rows) + " cells");
  }
  for (int64_t r = 0; r < counts.n_rows; ++r) {
    const int32_t b = batch[static_cast<size_t>(r)];
    if (b < -1 || b >= n_batches_) {
      throw Error(source, "HVG batch labels",
                  "cell " + std::to_string(r) + " has batch " + std::to_string(b) + ", outside [-1, " +
                      std::to_string(n_batches_) + ")");
    }
    if (b < 0) continue;
    const auto begin = static_cast<size_t>(counts.indptr[static_cast<size_t>(r)]);
    const auto end = static_cast<size_t>(counts.indptr[static_cast<size_t>(r) + 1]);
    // normalize_total: float64 row sum stored as float32, divided by 1e4 in
    // float32; an all-zero cell is divided by 1.
    double library = 0;
    for (size_t j = begin; j < end; ++j) {
      const float x = counts.data[j];
      if (!(x >= 0) || !std::isfinite(x)) {
        throw Error(source, "X",
                    "value " + std::to_string(x) + " at cell " + std::to_string(r) + ", gene " +
                        std::to_string(counts.indices[j]) + " is not a count (negative or not finite)");
      }
      library += static_cast<double>(x);
    }
    float scale = static_cast<float>(library) / 1e4f;
    if (scale == 0) scale = 1;
    if (pending_[static_cast<size_t>(b)] + static_cast<int64_t>(end - begin) > kMaxPending)
      normalise_batch(b);
    pending_[static_cast<size_t>(b)] += static_cast<int64_t>(end - begin);
    ++cells_[static_cast<size_t>(b)];
    int64_t* expressed = &expressed_[static_cast<size_t>(b) * static_cast<size_t>(n_genes_)];
    for (size_t j = begin; j < end; ++j) {
      const float logged = std::log1p(counts.data[j] / scale);  // float32 log1pf, as numpy
      if (!(logged > 0)) continue;                              // zero: adds nothing, not "expressed"
      const float v = std::expm1(logged);
      const int32_t g = counts.indices[j];
      ++expressed[g];
      add_exact(sum_of(b, g, 0), v);
      add_exact(sum_of(b, g, 1), v * v);  // numba squares float32 in float32
    }
  }
}

void HvgAccumulator::merge(const HvgAccumulator& other) {
  if (other.n_genes_ != n_genes_ || other.n_batches_ != n_batches_) {
    throw Error("", "HVG accumulator",
                "cannot merge " + std::to_string(other.n_genes_) + " genes x " +
                    std::to_string(other.n_batches_) + " batches into " + std::to_string(n_genes_) + " x " +
                    std::to_string(n_batches_));
  }
  for (int32_t b = 0; b < n_batches_; ++b) {
    normalise_batch(b);  // every own limb < 2^32, so the sums below cannot overflow
    for (int64_t g = 0; g < n_genes_; ++g) {
      for (int which = 0; which < 2; ++which) {
        uint64_t* a = sum_of(b, g, which);
        const uint64_t* o = other.sum_of(b, g, which);
        uint64_t carry = 0;
        for (int i = 0; i + 1 < kLimbs; ++i) {
          const uint64_t t = a[i] + (o[i] & kDigit) + carry;
          a[i] = t & kDigit;
          carry = (t >> 32) + (o[i] >> 32);
        }
        a[kLimbs - 1] += o[kLimbs - 1] + carry;
      }
    }
    const size_t at = static_cast<size_t>(b) * static_cast<size_t>(n_genes_);
    for (size_t g = 0; g < static_cast<size_t>(n_genes_); ++g) expressed_[at + g] += other.expressed_[at + g];
    cells_[static_cast<size_t>(b)] += other.cells_[static_cast<size_t>(b)];
  }
}

HvgBatchStats HvgAccumulator::batch_stats(int32_t batch) const {
  if (batch < 0 || batch >= n_batches_) {
    throw Error("", "HVG accumulator",
                "no batch " + std::to_string(batch) + " (has " + std::to_string(n_batches_) + ")");
  }
  HvgBatchStats s;
  s.n_cells = cells_[static_cast<size_t>(batch)];
  const size_t G = static_cast<size_t>(n_genes_);
  s.mean.resize(G);
  s.var.resize(G);
  s.n_expressed.assign(expressed_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(batch) * G),
                       expressed_.begin() + static_cast<ptrdiff_t>(static_cast<size_t>(batch + 1) * G));
  const auto n = static_cast<double>(s.n_cells);
  for (size_t g = 0; g < G; ++g) {
    // scanpy's sparse_mean_var_minor_axis, then the n/(n-1) (ddof 1) factor.
    const double sum = to_double(sum_of(batch, static_cast<int64_t>(g), 0));
    const double squares = to_double(sum_of(batch, static_cast<int64_t>(g), 1));
    s.mean[g] = sum / n;
    double var = squares / n - (sum / n) * (sum / n);
    if (s.n_cells != 1) var *= n / (n - 1);
    s.var[g] = var;
  }
  return s;
}

HvgResult select_hvg_seurat(const HvgAccumulator& acc, const HvgOptions& opt) {
  if (opt.n_top_genes < 1) {
    throw Error("", "--n-hvg", "must be at least 1 (got " + std::to_string(opt.n_top_genes) + ")");
  }
  if (opt.n_bins < 1)
    throw Error("", "HVG n_bins", "must be at least 1 (got " + std::to_string(opt.n_bins) + ")");
  const auto G = static_cast<size_t>(acc.n_genes());
  if (!opt.gene_names.empty() && opt.gene_names.size() != G) {
    throw Error("", "HVG gene names",
                std::to_string(opt.gene_names.size()) + " names for " + std::to_string(G) + " genes");
  }
  if (!opt.batch_key && acc.n_batches() != 1) {
    throw Error("", "HVG batches",
                "without a batch key all cells form one batch (the accumulator has " +
                    std::to_string(acc.n_batches()) + ")");
  }
  HvgResult out;
  if (!opt.batch_key) {
    BatchResult r = one_batch(acc.batch_stats(0), false, opt, 0);
    for (size_t g = 0; g < G; ++g) {
      if (r.hv[g]) out.selected.push_back(static_cast<int64_t>(g));
    }
    out.means = std::move(r.means);
    out.dispersions = std::move(r.dispersions);
    out.dispersions_norm = std::move(r.norm);
    out.n_batches_hvg.assign(r.hv.begin(), r.hv.end());
    return out;
  }

  // Batches one at a time (memory: one batch's statistics plus the running
  // per-gene aggregates), combined as scanpy's groupby(gene).agg does.
  std::vector<KahanMean> means(G), disps(G), norms(G);
  out.n_batches_hvg.assign(G, 0);
  for (int32_t b = 0; b < acc.n_batches(); ++b) {
    const BatchResult r = one_batch(acc.batch_stats(b), true, opt, b);
    for (size_t g = 0; g < G; ++g) {
      // Genes unexpressed in a batch enter its table as zeros, not NaN.
      means[g].add(r.means[g]);
      disps[g].add(r.dispersions[g]);
      norms[g].add(r.norm[g]);
      out.n_batches_hvg[g] += r.hv[g];
    }
  }
  out.means.resize(G);
  out.dispersions.resize(G);
  out.dispersions_norm.resize(G);
  for (size_t g = 0; g < G; ++g) {
    out.means[g] = means[g].mean();
    out.dispersions[g] = disps[g].mean();
    out.dispersions_norm[g] = norms[g].mean();
  }
  // Stable sort by (nbatches, normalised dispersion) descending, NaN last,
  // over genes in name order (the groupby's order), then the first n.
  std::vector<int64_t> order(G);
  std::iota(order.begin(), order.end(), int64_t{0});
  const auto& nb = out.n_batches_hvg;
  const auto& dn = out.dispersions_norm;
  const auto& names = opt.gene_names;
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t c) {
    const auto i = static_cast<size_t>(a), j = static_cast<size_t>(c);
    if (nb[i] != nb[j]) return nb[i] > nb[j];
    const bool nan_i = std::isnan(dn[i]), nan_j = std::isnan(dn[j]);
    if (nan_i != nan_j) return nan_j;
    if (!nan_i && dn[i] != dn[j]) return dn[i] > dn[j];
    if (!names.empty() && names[i] != names[j]) return names[i] < names[j];
    return a < c;
  });
  const size_t n = std::min(G, static_cast<size_t>(opt.n_top_genes));
  out.selected.assign(order.begin(), order.begin() + static_cast<ptrdiff_t>(n));
  std::sort(out.selected.begin(), out.selected.end());
  return out;
}

}  // namespace pg::tokenise
