// What a perturbation did at one time point, in numbers a user reads first:
//   shift       mean over cells of 1 − cos(perturbed, control) cell embedding,
//               with a percentile bootstrap 95% interval over cells
//   DE          Wilcoxon (scanpy's rank_genes_groups, tie-corrected, BH) of
//               perturbed vs control predicted counts, each cell
//               normalize_total + log1p: genes with adjusted p < 0.05, split
//               up / down, and the top genes each way
//   gene shift  per gene, mean of 1 − cos of its contextual embedding over
//               the cells where both passes hold the gene: the genes whose
//               representation the perturbation moved most
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "perturb/perturber.h"

namespace pg::perturb {

struct SummaryOptions {
  int64_t bootstrap = 1000;  // resamples of the cells for the interval
  int64_t top = 10;          // genes listed per direction
  uint64_t seed = 0;
  bool de = true;  // needs >= 2 cells and counts
};

struct TimeSummary {
  int64_t n_cells = 0;
  double mean_shift = 0, ci_low = 0, ci_high = 0;
  int64_t n_de = -1, n_up = -1, n_down = -1;  // -1: not computed (no counts or < 2 cells)
  std::vector<int64_t> top_up, top_down;      // gene indices
  std::vector<double> gene_shift;             // (G) mean 1 − gene cosine, NaN where never present
  std::vector<int64_t> gene_cells;            // (G) cells where the gene was in both passes
  std::vector<int64_t> top_shifted;           // gene indices, largest gene shift first
  std::vector<double> mean_log2_fc;           // (G) log2 of mean perturbed / mean control counts (+1e-9)
};

// Percentile bootstrap interval of the mean of `values` (deterministic per seed).
std::pair<double, double> bootstrap_mean_interval(const std::vector<double>& values, int64_t resamples,
                                                  uint64_t seed, double level = 0.95);

TimeSummary summarise(const PerturbTime& t, const SummaryOptions& options);

}  // namespace pg::perturb
