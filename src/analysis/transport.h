// Optimal transport between the uniform empirical measures of two point
// clouds: exact (network simplex, LEMON) for the Wasserstein metrics and the
// OT-interpolation baseline, entropic (sinkhorn.h) for large populations.
#pragma once

#include <cstdint>
#include <vector>

#include "analysis/matrix.h"

namespace pg::analysis {

// Ground cost ‖x − y‖^power between rows, power 1 or 2.
Matrix ground_cost(const Matrix& x, const Matrix& y, int power);

// The non-zero entries of a transport plan; masses sum to 1, row i's masses
// to 1/n, column j's to 1/m. An optimal basic plan has at most n + m − 1.
struct Coupling {
  std::vector<int64_t> source;  // row of x
  std::vector<int64_t> target;  // row of y
  std::vector<double> mass;
};

struct ExactTransport {
  double cost = 0;  // Σ P_ij C_ij with the double costs (the optimum of ot.emd2)
  Coupling coupling;
};

// Exact OT with the given cost matrix (n x m, n, m >= 1) between uniform
// weights. LEMON's NetworkSimplex needs integer data: supplies are m/g per
// source and n/g per sink (g = gcd(n, m)), exact, and costs are rounded to
// integers on a scale of 1e12 over the largest cost. The plan found is
// optimal for the rounded costs, so its true cost is within 1e-12 · max cost
// of the optimum; the returned cost uses the unrounded costs.
ExactTransport exact_transport(const Matrix& cost);

// The Wasserstein distances of spec §8.1 (POT emd2 on uniform weights):
// W1 = min ⟨P, ‖x−y‖⟩, W2 = sqrt(min ⟨P, ‖x−y‖²⟩).
struct WassersteinOptions {
  int64_t max_cells = 10000;            // larger populations are subsampled first (as the reference)
  uint64_t seed = 0;                    // of that subsample
  int64_t exact_max_cells = 3000;       // larger populations (either side) use Sinkhorn
  double sinkhorn_relative_eps = 0.01;  // ε = this × mean ground cost, per power
  int sinkhorn_max_iterations = 5000;
};

struct Wasserstein {
  double w1 = 0;
  double w2 = 0;
  bool exact = true;  // false: entropic plans, ⟨P_ε, C⟩ (an upper bound of the exact value)
};

Wasserstein wasserstein(const Matrix& x, const Matrix& y, const WassersteinOptions& opt = {});

}  // namespace pg::analysis
