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

// The plan itself, for callers that sample from it (OT pairing of cells across
// time points, Waddington-OT style), between uniform weights a = 1/n, b = 1/m.
// Minimises ⟨P, C⟩ + ε KL(P | a bᵀ) + τ (KL(P1 | a) + KL(Pᵀ1 | b)), the
// unbalanced problem of Chizat et al. 2018 (τ = 0 means the marginals are
// constraints: balanced OT), with the scaling iteration
//   u = (a / K v)^φ,  v = (b / Kᵀ u)^φ,  φ = τ / (τ + ε)  (1 when balanced),
// stabilised and ε-scaled as sinkhorn() above. K carries the a bᵀ factor, so
// after the final absorption K is P (POT's sinkhorn_unbalanced, reg_type
// "kl"); in the balanced case the factor only rescales u and v.
struct SinkhornPlanOptions {
  double epsilon = 0.05;       // absolute regularisation, in cost units
  double tau = 0;              // marginal relaxation; 0 = balanced
  int max_iterations = 20000;  // over all ε stages
  double tolerance = 1e-6;     // L1 residual of the row fixed point u^(1/φ) ⊙ K v = a, final ε
};

struct SinkhornPlan {
  Eigen::MatrixXf plan;  // n x m, P_ij >= 0; float: 10,000 x 10,000 is 400 MB
  double cost = 0;       // ⟨P, C⟩
  double mass = 0;       // Σ P_ij: 1 when balanced, less (or more) when the marginals are relaxed
  int iterations = 0;
  bool converged = false;
};

SinkhornPlan sinkhorn_plan(const Eigen::MatrixXf& cost, const SinkhornPlanOptions& opt);

}  // namespace pg::analysis
