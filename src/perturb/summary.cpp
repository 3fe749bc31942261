#include "perturb/summary.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "analysis/differential_expression.h"
#include "core/random.h"

namespace pg::perturb {

std::pair<double, double> bootstrap_mean_interval(const std::vector<double>& values, int64_t resamples,
                                                  uint64_t seed, double level) {
  const auto n = values.size();
  if (n == 0) return {std::nan(""), std::nan("")};
  if (n == 1 || resamples < 2) return {values[0], values[0]};
  pg::Rng rng(seed);
  std::vector<double> means(static_cast<size_t>(resamples));
  for (auto& m : means) {
    double s = 0;
    for (size_t i = 0; i < n; ++i) s += values[rng.next() % n];
    m = s / static_cast<double>(n);
  }
  std::sort(means.begin(), means.end());
  // numpy's percentile (linear interpolation between order statistics).
  auto quantile = [&](double q) {
    const double pos = q * static_cast<double>(means.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, means.size() - 1);
    return means[lo] + (pos - static_cast<double>(lo)) * (means[hi] - means[lo]);
  };
  return {quantile((1 - level) / 2), quantile(1 - (1 - level) / 2)};
}

TimeSummary summarise(const PerturbTime& t, const SummaryOptions& o) {
  TimeSummary s;
  if (!t.cosine.defined()) return s;
  const auto cos = t.cosine.to(torch::kFloat64).contiguous();
  s.n_cells = cos.size(0);
  std::vector<double> shift(static_cast<size_t>(s.n_cells));
  for (int64_t i = 0; i < s.n_cells; ++i) shift[static_cast<size_t>(i)] = 1.0 - cos.data_ptr<double>()[i];
  s.mean_shift =
      std::accumulate(shift.begin(), shift.end(), 0.0) / static_cast<double>(std::max<int64_t>(1, s.n_cells));
  std::tie(s.ci_low, s.ci_high) = bootstrap_mean_interval(shift, o.bootstrap, o.seed);

  // Gene embedding shifts (when the passes compared genes).
  const int64_t G = t.gene_present.defined()       ? t.gene_present.size(1)
                    : t.perturbed_counts.defined() ? t.perturbed_counts.size(1)
                                                   : 0;
  if (t.gene_present.defined()) {
    const auto present = t.gene_present.to(torch::kFloat64);
    const auto cells = present.sum(0);
    const auto sums = ((1.0 - t.gene_cosine.to(torch::kFloat64)) * present).sum(0);
    s.gene_shift.resize(static_cast<size_t>(G));
    s.gene_cells.resize(static_cast<size_t>(G));
    for (int64_t g = 0; g < G; ++g) {
      const double n = cells[g].item<double>();
      s.gene_cells[static_cast<size_t>(g)] = static_cast<int64_t>(n);
      s.gene_shift[static_cast<size_t>(g)] = n > 0 ? sums[g].item<double>() / n : std::nan("");
    }
    std::vector<int64_t> order(static_cast<size_t>(G));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      const double x = s.gene_shift[static_cast<size_t>(a)], y = s.gene_shift[static_cast<size_t>(b)];
      return (std::isnan(y) && !std::isnan(x)) || (!std::isnan(x) && !std::isnan(y) && x > y);
    });
    for (int64_t k = 0; k < std::min<int64_t>(o.top, G); ++k)
      if (!std::isnan(s.gene_shift[static_cast<size_t>(order[static_cast<size_t>(k)])]))
        s.top_shifted.push_back(order[static_cast<size_t>(k)]);
  }

  if (!t.control_counts.defined() || !t.perturbed_counts.defined()) return s;
  const auto pm = t.perturbed_counts.to(torch::kFloat64).mean(0).contiguous(),
             cm = t.control_counts.to(torch::kFloat64).mean(0).contiguous();
  s.mean_log2_fc.resize(static_cast<size_t>(G));
  for (int64_t g = 0; g < G; ++g)
    s.mean_log2_fc[static_cast<size_t>(g)] =
        std::log2((pm.data_ptr<double>()[g] + 1e-9) / (cm.data_ptr<double>()[g] + 1e-9));
  if (!o.de || s.n_cells < 2) return s;
  // normalize_total(1e4) + log1p per cell, then perturbed vs control.
  auto lognorm = [](const torch::Tensor& x) {
    const auto c = x.to(torch::kFloat64).clamp_min(0);
    const auto total = c.sum(1, true);
    return torch::where(total > 0, torch::log1p(c / (total.clamp_min(1e-300) / pg::analysis::kTargetSum)), c)
        .contiguous();
  };
  const auto p = lognorm(t.perturbed_counts), c = lognorm(t.control_counts);
  const auto tests =
      pg::analysis::wilcoxon(p.data_ptr<double>(), s.n_cells, c.data_ptr<double>(), s.n_cells, G, {});
  s.n_up = 0;
  s.n_down = 0;
  for (const auto& g : tests)
    if (g.pvalue_adj < 0.05) ++(g.score > 0 ? s.n_up : s.n_down);
  s.n_de = s.n_up + s.n_down;
  s.top_up = pg::analysis::top_up(tests, o.top);
  s.top_down = pg::analysis::top_down(tests, o.top);
  return s;
}

}  // namespace pg::perturb
