#include "analysis/sinkhorn.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace pg::analysis {

namespace {

using Eigen::Index;
using Eigen::VectorXd;

// Scalings beyond e^±kAbsorb are folded into the potentials and K rebuilt.
constexpr double kAbsorb = 30.0;

template <typename S>
class Solver {
 public:
  using Mat = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<S, Eigen::Dynamic, 1>;

  Solver(const Eigen::MatrixXf& c) : c_(c), f_(VectorXd::Zero(c.rows())), g_(VectorXd::Zero(c.cols())) {}

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
        if (u.array().log().abs().maxCoeff() > kAbsorb || v.array().log().abs().maxCoeff() > kAbsorb) {
          absorb(u, v);
          rebuild();
        }
      }
      absorb(u, v);
      if (final_stage || !met) {
        out.converged = final_stage && met;
        break;
      }
      eps_ = std::max(opt.epsilon, eps_ / 2);
    }
    rebuild();  // K now is the plan itself
    out.cost = cost();
    return out;
  }

 private:
  void absorb(VectorXd& u, VectorXd& v) {
    f_ += eps_ * u.array().log().matrix();
    g_ += eps_ * v.array().log().matrix();
    u.setOnes();
    v.setOnes();
  }

  // K_ij = exp((f_i + g_j − C_ij)/ε), in double arithmetic, stored as S.
  void rebuild() {
    k_.resize(c_.rows(), c_.cols());
    const double inv = 1.0 / eps_;
    for (Index j = 0; j < c_.cols(); ++j)
      k_.col(j) = ((f_.array() + g_(j) - c_.col(j).cast<double>().array()) * inv).exp().template cast<S>();
  }

  // ⟨P, C⟩ with P = K after the last absorption (u = v = 1).
  double cost() const {
    double total = 0;
    for (Index j = 0; j < c_.cols(); ++j)
      total += (k_.col(j).template cast<double>().array() * c_.col(j).cast<double>().array()).sum();
    return total;
  }

  const Eigen::MatrixXf& c_;
  VectorXd f_, g_;
  double eps_ = 1;
  Mat k_;
};

}  // namespace

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
