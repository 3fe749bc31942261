#include "analysis/sinkhorn.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace pg::analysis {

namespace {

using Eigen::Index;
using Eigen::VectorXd;

// Scalings beyond e^±kAbsorb are folded into the potentials and K rebuilt.
constexpr double kAbsorb = 30.0;

// The stabilised kernel both solvers share: potentials f, g (log domain),
// K_ij = exp((f_i + g_j − C_ij)/ε + log_ab), rebuilt after every absorption.
template <typename S>
class Kernel {
 public:
  using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

 protected:
  Kernel(const Eigen::MatrixXf& c, double log_ab)
      : c_(c), f_(VectorXd::Zero(c.rows())), g_(VectorXd::Zero(c.cols())), log_ab_(log_ab) {}

  void absorb(VectorXd& u, VectorXd& v) {
    f_ += eps_ * u.array().log().matrix();
    g_ += eps_ * v.array().log().matrix();
    u.setOnes();
    v.setOnes();
  }

  // Scalings beyond e^±kAbsorb are folded into the potentials and K rebuilt.
  void absorb_if_large(VectorXd& u, VectorXd& v) {
    if (u.array().log().abs().maxCoeff() > kAbsorb || v.array().log().abs().maxCoeff() > kAbsorb) {
      absorb(u, v);
      rebuild();
    }
  }

  // After an ε stage: absorbs the scalings; true (with `converged` set) when
  // the run ends there, else halves ε towards `epsilon` for the next stage.
  bool end_stage(VectorXd& u, VectorXd& v, bool final_stage, bool met, double epsilon, bool& converged) {
    absorb(u, v);
    if (final_stage || !met) {
      converged = final_stage && met;
      return true;
    }
    eps_ = std::max(epsilon, eps_ / 2);
    return false;
  }

  // In double arithmetic, stored as S (log_ab 0: exactly the kernel without the factor).
  void rebuild() {
    k_.resize(c_.rows(), c_.cols());
    const double inv = 1.0 / eps_;
    for (Index j = 0; j < c_.cols(); ++j)
      k_.col(j) = ((f_.array() + g_(j) - c_.col(j).template cast<double>().array()) * inv + log_ab_)
                      .exp()
                      .template cast<S>();
  }

  const Eigen::MatrixXf& c_;
  VectorXd f_, g_;
  double log_ab_;
  double eps_ = 1;
  Mat k_;
};

template <typename S>
class Solver : Kernel<S> {
  using Kernel<S>::c_, Kernel<S>::eps_, Kernel<S>::k_, Kernel<S>::absorb_if_large, Kernel<S>::end_stage,
      Kernel<S>::rebuild;

 public:
  explicit Solver(const Eigen::MatrixXf& c) : Kernel<S>(c, 0.0) {}

  SinkhornResult run(const SinkhornOptions& opt) {
    const Index n = c_.rows(), m = c_.cols();
    const double a = 1.0 / static_cast<double>(n), b = 1.0 / static_cast<double>(m);
    SinkhornResult out;
    eps_ = std::max(static_cast<double>(c_.maxCoeff()), opt.epsilon);
    while (true) {
      const bool final_stage = eps_ <= opt.epsilon;
      const double tol = final_stage ? opt.tolerance : std::max(opt.tolerance, 1e-3);
      rebuild();
      VectorXd u = VectorXd::Ones(n), v = VectorXd::Ones(m);
      bool met = false;
      while (!met && out.iterations < opt.max_iterations) {
        const VectorXd rows = (k_ * v.cast<S>()).template cast<double>();
        // Row marginal error of the current plan diag(u) K diag(v).
        met = (u.array() * rows.array() - a).abs().sum() <= tol;
        u = a / rows.array().max(1e-300);
        v = b / (k_.transpose() * u.cast<S>()).template cast<double>().array().max(1e-300);
        ++out.iterations;
        absorb_if_large(u, v);
      }
      if (end_stage(u, v, final_stage, met, opt.epsilon, out.converged)) break;
    }
    rebuild();  // K now is the plan itself
    out.cost = cost();
    return out;
  }

 private:
  // ⟨P, C⟩ with P = K after the last absorption (u = v = 1).
  double cost() const {
    double total = 0;
    for (Index j = 0; j < c_.cols(); ++j)
      total += (k_.col(j).template cast<double>().array() * c_.col(j).template cast<double>().array()).sum();
    return total;
  }
};

template <typename S>
class PlanSolver : Kernel<S> {
  using Kernel<S>::c_, Kernel<S>::f_, Kernel<S>::g_, Kernel<S>::eps_, Kernel<S>::k_,
      Kernel<S>::absorb_if_large, Kernel<S>::end_stage, Kernel<S>::rebuild;

 public:
  explicit PlanSolver(const Eigen::MatrixXf& c)
      : Kernel<S>(c, -std::log(static_cast<double>(c.rows())) - std::log(static_cast<double>(c.cols()))) {}

  SinkhornPlan run(const SinkhornPlanOptions& opt) {
    const Index n = c_.rows(), m = c_.cols();
    const double a = 1.0 / static_cast<double>(n), b = 1.0 / static_cast<double>(m);
    SinkhornPlan out;
    eps_ = std::max(static_cast<double>(c_.maxCoeff()), opt.epsilon);
    while (true) {
      const bool final_stage = eps_ <= opt.epsilon;
      const double tol = final_stage ? opt.tolerance : std::max(opt.tolerance, 1e-3);
      const bool balanced = !(opt.tau > 0);
      const double phi = balanced ? 1.0 : opt.tau / (opt.tau + eps_);
      rebuild();
      VectorXd u = VectorXd::Ones(n), v = VectorXd::Ones(m);
      bool met = false;
      while (!met && out.iterations < opt.max_iterations) {
        // With the potentials absorbed (ũ = e^{f/ε} u), the unbalanced update
        // ũ = (a / K ṽ)^φ becomes u = (a / K' v)^φ · e^{−f/(τ+ε)} (POT's
        // sinkhorn_stabilized_unbalanced); balanced, the factor is 1.
        const VectorXd rows = (k_ * v.cast<S>()).template cast<double>();
        // Residual of the row fixed point ũ^(1/φ) ⊙ K ṽ = a, in the absorbed
        // variables; inf or NaN (far from it) is "not met".
        const Eigen::ArrayXd log_fixed =
            balanced ? (u.array().log() + rows.array().log()).eval()
                     : (f_.array() / opt.tau + u.array().log() / phi + rows.array().log()).eval();
        met = (log_fixed.exp() - a).abs().sum() <= tol;
        u = (a / rows.array().max(1e-300)).pow(phi);
        if (!balanced) u.array() *= (-f_.array() / (opt.tau + eps_)).exp();
        const VectorXd cols = (k_.transpose() * u.cast<S>()).template cast<double>();
        v = (b / cols.array().max(1e-300)).pow(phi);
        if (!balanced) v.array() *= (-g_.array() / (opt.tau + eps_)).exp();
        ++out.iterations;
        absorb_if_large(u, v);
      }
      if (end_stage(u, v, final_stage, met, opt.epsilon, out.converged)) break;
    }
    rebuild();  // K now is the plan itself
    if constexpr (std::is_same_v<S, float>)
      out.plan = std::move(k_);  // no second copy of the largest plans
    else
      out.plan = k_.template cast<float>();
    double cost = 0;
    for (Index j = 0; j < m; ++j)
      cost += (out.plan.col(j).cast<double>().array() * c_.col(j).template cast<double>().array()).sum();
    out.cost = cost;
    out.mass = out.plan.cast<double>().sum();
    return out;
  }
};

void check_cost(const Eigen::MatrixXf& cost, double epsilon, const char* what) {
  if (cost.rows() < 1 || cost.cols() < 1)
    throw std::invalid_argument(std::string(what) + ": empty population");
  if (!(epsilon > 0)) throw std::invalid_argument(std::string(what) + ": epsilon must be positive");
  if (!cost.allFinite() || cost.minCoeff() < 0)
    throw std::invalid_argument(std::string(what) + ": costs must be finite and non-negative");
}

}  // namespace

SinkhornPlan sinkhorn_plan(const Eigen::MatrixXf& cost, const SinkhornPlanOptions& opt) {
  check_cost(cost, opt.epsilon, "pg::analysis::sinkhorn_plan");
  if (!(opt.tau >= 0) || !std::isfinite(opt.tau))
    throw std::invalid_argument("pg::analysis::sinkhorn_plan: tau must be finite and >= 0");
  if (cost.size() <= (Index{1} << 24)) return PlanSolver<double>(cost).run(opt);
  return PlanSolver<float>(cost).run(opt);
}

SinkhornResult sinkhorn(const Eigen::MatrixXf& cost, const SinkhornOptions& opt) {
  if (cost.rows() < 1 || cost.cols() < 1)
    throw std::invalid_argument("pg::analysis::sinkhorn: empty population");
  if (!(opt.epsilon > 0)) throw std::invalid_argument("pg::analysis::sinkhorn: epsilon must be positive");
  if (!cost.allFinite() || cost.minCoeff() < 0)
    throw std::invalid_argument("pg::analysis::sinkhorn: costs must be finite and non-negative");
  if (cost.size() <= (Index{1} << 24)) return Solver<double>(cost).run(opt);
  return Solver<float>(cost).run(opt);
}

}  // namespace pg::analysis
