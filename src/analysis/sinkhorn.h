// Entropic optimal transport (Cuturi 2013) between uniform weights, for
// populations too large for the exact network simplex.
//
// Stabilised scaling (Schmitzer 2019, "Stabilized sparse scaling algorithms
// for entropy regularized transport problems"; POT's sinkhorn_stabilized):
// the dual potentials f, g (log domain, double) are absorbed into a stored
// kernel K_ij = exp((f_i + g_j − C_ij)/ε), so every iteration is two
// matrix-vector products instead of n·m exponentials, while the entries of K
// stay <= 1 (no overflow) and the scalings u, v are folded back into f, g
// before they leave a safe range. ε is reached by ε-scaling: halving from the
// largest cost, each stage warm-started from the last, which needs far fewer
// iterations than starting cold at a small ε; the limit for the final ε is
// the same (the problem is strictly convex).
#pragma once

#include <Eigen/Core>

namespace pg::analysis {

struct SinkhornOptions {
  double epsilon = 0.05;       // absolute regularisation, in cost units
  int max_iterations = 20000;  // over all ε stages
  double tolerance = 1e-5;     // L1 error of the row marginals at the final ε
};

struct SinkhornResult {
  double cost = 0;  // ⟨P, C⟩ (what POT's sinkhorn2 returns: no entropy term)
  int iterations = 0;
  bool converged = false;
};

// Costs are stored in float (half the memory for the 10,000 x 10,000 case).
// The kernel is double up to 2^24 entries and float beyond (then marginal
// errors below ~1e-6 are out of reach, far below the entropic bias).
SinkhornResult sinkhorn(const Eigen::MatrixXf& cost, const SinkhornOptions& opt);

}  // namespace pg::analysis
