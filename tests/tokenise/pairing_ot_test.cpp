// OT pairing (pairing.h, Ot) and the Sinkhorn plan it samples from
// (analysis/sinkhorn.h): the plan against closed forms, an independent
// log-domain computation in numpy and exact OT; the pairing on two separated
// clusters per time point, which the geometry alone must keep apart.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "analysis/sinkhorn.h"
#include "analysis/transport.h"
#include "core/random.h"
#include "test_support.h"
#include "tokenise/pairing.h"

using pg::tokenise::pair_cells;
using pg::tokenise::Pairing;
using pg::tokenise::PairingInput;
using pg::tokenise::PairingMode;
using pg::tokenise::PairingOptions;

namespace {

Eigen::MatrixXf random_cost(int n, int m, double scale, uint64_t seed) {
  pg::Rng rng(seed);
  Eigen::MatrixXf c(n, m);
  for (int j = 0; j < m; ++j)
    for (int i = 0; i < n; ++i) c(i, j) = static_cast<float>(scale * rng.uniform());
  return c;
}

// Three states; at each, `per_cluster` cells around cluster A (genes 0-9
// high) and as many around cluster B (genes 10-19 high), cells of A first;
// genes 20-29 drift with time in both clusters, so consecutive states differ
// and A -> A', B -> B' is what the geometry says. cluster[cell] = 0 (A), 1 (B).
PairingInput cluster_input(const PairingOptions& opt, std::vector<int>& cluster, int per_cluster = 40,
                           int32_t source = 0) {
  PairingInput in;
  in.states = {"d0", "d1", "d2"};
  in.source = source;
  in.input_name = "clusters.h5ad";
  in.state_column = "day";
  for (int32_t s = 0; s < 3; ++s)
    for (int k = 0; k < 2 * per_cluster; ++k) {
      in.cell_state.push_back(s);
      cluster.push_back(k < per_cluster ? 0 : 1);
    }
  in.ot_cells = pg::tokenise::ot_sample_cells(in, opt);
  in.ot_n_genes = 30;
  pg::Rng rng(99);
  for (const int64_t cell : in.ot_cells) {
    const int32_t s = in.cell_state[size_t(cell)];
    const int cl = cluster[size_t(cell)];
    for (int g = 0; g < 30; ++g) {
      double v = 0.5 * rng.uniform();
      if (g < 20 && (g < 10) == (cl == 0)) v += 3.0;
      if (g >= 20) v += 0.8 * s;
      in.ot_expression.push_back(static_cast<float>(v));
    }
  }
  return in;
}

PairingOptions ot_options(double eps = 0.05, double tau = 0) {
  PairingOptions o;
  o.mode = PairingMode::Ot;
  o.ot_epsilon = eps;
  o.ot_unbalanced = tau;
  return o;
}

}  // namespace

// ------------------------------------------------------------ the plan ----

TEST(SinkhornPlan, BalancedMarginalsAreUniformWithoutOverflow) {
  for (const double eps : {0.01, 0.05, 0.2, 1.0}) {
    SCOPED_TRACE(eps);
    const Eigen::MatrixXf c = random_cost(7, 5, 10.0, 3);  // costs up to 1000 ε
    const auto r = pg::analysis::sinkhorn_plan(c, {eps, 0, 20000, 1e-9});
    ASSERT_TRUE(r.plan.allFinite());
    EXPECT_TRUE(r.converged);
    EXPECT_GE(r.plan.minCoeff(), 0.0f);
    for (int i = 0; i < 7; ++i) EXPECT_NEAR(r.plan.row(i).cast<double>().sum(), 1.0 / 7, 1e-6);
    for (int j = 0; j < 5; ++j) EXPECT_NEAR(r.plan.col(j).cast<double>().sum(), 1.0 / 5, 1e-6);
    EXPECT_NEAR(r.mass, 1.0, 1e-6);
  }
}

TEST(SinkhornPlan, TwoByTwoMatchesTheClosedForm) {
  // Uniform marginals 1/2: P = [[p, 1/2 - p], [1/2 - p, p]] and, P being
  // diag(u) K diag(v), P11 P22 / (P12 P21) = exp((C12 + C21 - C11 - C22) / ε),
  // so p / (1/2 - p) = exp((C12 + C21 - C11 - C22) / (2ε)).
  Eigen::MatrixXf c(2, 2);
  c << 0.1f, 0.9f, 0.7f, 0.3f;
  for (const double eps : {0.05, 0.3, 1.0}) {
    const double q = std::exp((0.9 + 0.7 - 0.1 - 0.3) / (2 * eps));
    const double p = q / (2 * (1 + q));
    const auto r = pg::analysis::sinkhorn_plan(c, {eps, 0, 20000, 1e-10});
    EXPECT_NEAR(r.plan(0, 0), p, 1e-6) << eps;
    EXPECT_NEAR(r.plan(1, 1), p, 1e-6) << eps;
    EXPECT_NEAR(r.plan(0, 1), 0.5 - p, 1e-6) << eps;
    EXPECT_NEAR(r.cost, p * (0.1 + 0.3) + (0.5 - p) * (0.9 + 0.7), 1e-6) << eps;
  }
}

TEST(SinkhornPlan, UnbalancedOneByOneMatchesTheClosedForm) {
  // min_p p c + ε (p log p − p + 1) + 2τ (p log p − p + 1)  =>  p = exp(−c / (ε + 2τ)).
  Eigen::MatrixXf c(1, 1);
  c << 0.8f;
  for (const double tau : {0.1, 1.0, 5.0}) {
    const auto r = pg::analysis::sinkhorn_plan(c, {0.05, tau, 20000, 1e-12});
    EXPECT_NEAR(r.mass, std::exp(-0.8 / (0.05 + 2 * tau)), 1e-6) << tau;
  }
}

TEST(SinkhornPlan, SmallEpsilonApproachesExactTransport) {
  const Eigen::MatrixXf c = random_cost(6, 6, 1.0, 11);
  const double exact = pg::analysis::exact_transport(c.cast<double>()).cost;
  const auto r = pg::analysis::sinkhorn_plan(c, {0.002, 0, 50000, 1e-6});
  ASSERT_TRUE(r.converged);
  EXPECT_GE(r.cost, exact - 1e-6);
  EXPECT_LE(r.cost, exact + 0.01);  // entropic bias <= ε log(36) ≈ 0.007
}

TEST(SinkhornPlan, UnbalancedMatchesAnIndependentLogDomainSolver) {
  // numpy: the plain log-domain iteration of POT's sinkhorn_unbalanced
  // (reg_type "kl") from cold, no ε-scaling and no absorption.
  const auto dir = pg::test::temp_dir();
  const Eigen::MatrixXf c = random_cost(3, 4, 2.0, 5);
  std::ofstream(dir / "cost.json") << nlohmann::json(
      std::vector<std::vector<double>>{{c(0, 0), c(0, 1), c(0, 2), c(0, 3)},
                                       {c(1, 0), c(1, 1), c(1, 2), c(1, 3)},
                                       {c(2, 0), c(2, 1), c(2, 2), c(2, 3)}});
  std::ofstream(dir / "ref.py") << R"(import json, sys
import numpy as np
from scipy.special import logsumexp
d = sys.argv[1]
C = np.array(json.load(open(d + "/cost.json")), dtype=np.float32).astype(np.float64)
out = []
for eps, tau in [(0.05, 0.5), (0.2, 2.0), (0.5, 0.1)]:
    n, m = C.shape
    la, lb = np.full(n, -np.log(n)), np.full(m, -np.log(m))
    lK = la[:, None] + lb[None, :] - C / eps
    phi = tau / (tau + eps)
    lu, lv = np.zeros(n), np.zeros(m)
    for _ in range(5000):
        lu = phi * (la - logsumexp(lK + lv[None, :], axis=1))
        lv = phi * (lb - logsumexp(lK + lu[:, None], axis=0))
    out.append(np.exp(lu[:, None] + lK + lv[None, :]).tolist())
json.dump(out, open(d + "/plans.json", "w"))
)";
  const auto run = pg::test::run_command("'" + pg::test::python() + "' " + pg::test::quote(dir / "ref.py") +
                                         " " + pg::test::quote(dir));
  ASSERT_EQ(run.exit_code, 0) << run.output;
  const auto ref = nlohmann::json::parse(pg::test::read_text(dir / "plans.json"));
  const std::vector<std::pair<double, double>> cases = {{0.05, 0.5}, {0.2, 2.0}, {0.5, 0.1}};
  ASSERT_EQ(ref.size(), cases.size());
  for (size_t k = 0; k < cases.size(); ++k) {
    const auto [eps, tau] = cases[k];
    SCOPED_TRACE(std::to_string(eps) + " " + std::to_string(tau));
    const auto r = pg::analysis::sinkhorn_plan(c, {eps, tau, 20000, 1e-12});
    EXPECT_TRUE(r.converged);
    const auto& p = ref[k];
    double mass = 0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        EXPECT_NEAR(r.plan(i, j), p[size_t(i)][size_t(j)].get<double>(), 1e-6) << i << " " << j;
        mass += p[size_t(i)][size_t(j)].get<double>();
      }
    EXPECT_NEAR(r.mass, mass, 1e-6);
    EXPECT_LT(r.mass, 1.0);
  }
}

// --------------------------------------------------------- the pairing ----

TEST(PairingOt, SeparatedClustersStayApartThroughTheChain) {
  const PairingOptions opt = ot_options();
  std::vector<int> cluster;
  const PairingInput in = cluster_input(opt, cluster);
  const Pairing p = pair_cells(in, opt);
  ASSERT_EQ(p.columns, (std::vector<std::string>{"d0", "d1", "d2"}));
  ASSERT_EQ(p.n_rows, 80);
  int64_t kept = 0, draws = 0;
  for (int64_t r = 0; r < p.n_rows; ++r) {
    EXPECT_EQ(p.cell(r, 0), r);  // every source cell once, in cell order
    for (size_t c = 1; c < 3; ++c) {
      ASSERT_EQ(in.cell_state[size_t(p.cell(r, c))], int32_t(c));
      kept += cluster[size_t(p.cell(r, c))] == cluster[size_t(r)];
      ++draws;
    }
  }
  EXPECT_GT(double(kept) / double(draws), 0.95);
  ASSERT_EQ(p.couplings.size(), 2u);
  EXPECT_EQ(p.couplings[0].from, "d0");
  EXPECT_EQ(p.couplings[0].to, "d1");
  EXPECT_EQ(p.couplings[1].from, "d1");
  EXPECT_EQ(p.couplings[1].to, "d2");
  for (const auto& c : p.couplings) {
    EXPECT_TRUE(c.converged);
    EXPECT_NEAR(c.mass, 1.0, 1e-4);
    EXPECT_GT(c.mean_entropy, 0.0);
    EXPECT_LT(c.mean_entropy, std::log(40.0) + 0.01);                 // within its own cluster at most
    EXPECT_GE(c.effective_targets, std::exp(c.mean_entropy) - 1e-9);  // Jensen
    EXPECT_GT(c.distinct_targets, 20);
    EXPECT_EQ(c.from_cells, 80);
  }
  const auto j = p.summary();
  EXPECT_EQ(j["mode"], "ot");
  EXPECT_EQ(j["ot"]["components"], 30);
  EXPECT_EQ(j["ot"]["genes"], 30);
  ASSERT_EQ(j["ot"]["couplings"].size(), 2u);
  EXPECT_GT(j["ot"]["couplings"][0]["mean_entropy"].get<double>(), 0);
  EXPECT_GT(j["ot"]["couplings"][0]["effective_targets"].get<double>(), 1);

  EXPECT_EQ(pair_cells(in, opt).cells, p.cells);  // deterministic
  PairingOptions other = opt;
  other.seed = 43;
  std::vector<int> unused;
  EXPECT_NE(pair_cells(cluster_input(other, unused), other).cells, p.cells);
}

TEST(PairingOt, EntropyFallsWithEpsilon) {
  // 60 cells per state along a line (no clusters), so every ε resolves a
  // different neighbourhood: the plan rows sharpen as ε falls.
  double last = 1e9;
  for (const double eps : {1.0, 0.2, 0.05, 0.01}) {
    PairingOptions opt = ot_options(eps);
    PairingInput in;
    in.states = {"d0", "d1"};
    in.cell_state.assign(120, 0);
    std::fill(in.cell_state.begin() + 60, in.cell_state.end(), 1);
    in.ot_cells = pg::tokenise::ot_sample_cells(in, opt);
    in.ot_n_genes = 2;
    for (int i = 0; i < 120; ++i) {
      const double x = (i % 60) / 59.0 + (i >= 60 ? 0.004 : 0.0);
      in.ot_expression.push_back(static_cast<float>(3 * x));
      in.ot_expression.push_back(static_cast<float>(3 * (1 - x)));
    }
    const Pairing p = pair_cells(in, opt);
    const auto& c = p.couplings[0];
    EXPECT_LT(c.mean_entropy, last - 0.3) << eps;
    last = c.mean_entropy;
    if (eps == 1.0) {
      EXPECT_GT(c.effective_targets, 40) << "nearly uniform rows";
    }
    if (eps == 0.01) {
      EXPECT_LT(c.effective_targets, 8) << "a few neighbours";
    }
  }
}

TEST(PairingOt, UnbalancedTransportsLessMass) {
  const PairingOptions opt = ot_options(0.05, 0.5);
  std::vector<int> cluster;
  const PairingInput in = cluster_input(opt, cluster);
  const Pairing p = pair_cells(in, opt);
  ASSERT_EQ(p.n_rows, 80);
  for (const auto& c : p.couplings) {
    EXPECT_LT(c.mass, 1.0);
    EXPECT_GT(c.mass, 0.0);
  }
  EXPECT_LT(p.summary()["ot"]["couplings"][1]["mass"].get<double>(), 1.0);
  EXPECT_EQ(p.summary()["ot"]["unbalanced"], 0.5);
}

TEST(PairingOt, LargeStatesAreSubsampledAndTheChainRunsBothWays) {
  PairingOptions opt = ot_options();
  opt.ot_max_cells = 50;  // 80 cells per state
  std::vector<int> cluster;
  const PairingInput in = cluster_input(opt, cluster, 40, 1);  // source d1, in the middle
  EXPECT_EQ(in.ot_cells.size(), 150u);
  EXPECT_EQ(pg::tokenise::ot_sample_cells(in, opt), in.ot_cells);
  const Pairing p = pair_cells(in, opt);
  EXPECT_EQ(p.columns, (std::vector<std::string>{"d1", "d0", "d2"}));
  EXPECT_EQ(p.n_rows, 50);
  EXPECT_EQ(p.unpaired_anchor_cells, 30);
  const std::set<int64_t> sampled(in.ot_cells.begin(), in.ot_cells.end());
  for (const int64_t cell : p.cells) EXPECT_EQ(sampled.count(cell), 1u);
  ASSERT_EQ(p.couplings.size(), 2u);
  EXPECT_EQ(p.couplings[0].from, "d1");
  EXPECT_EQ(p.couplings[0].to, "d0");
  EXPECT_EQ(p.couplings[1].from, "d1");
  EXPECT_EQ(p.couplings[1].to, "d2");
  EXPECT_EQ(p.summary()["unpaired_anchor_cells"], 30);
}

TEST(PairingOt, LineageAgreementIsReportedAndBadOptionsAreErrors) {
  PairingOptions opt = ot_options();
  std::vector<int> cluster;
  PairingInput in = cluster_input(opt, cluster);
  // The cluster as the "lineage": OT keeps it, so the agreement is high.
  in.lineage_names = {"A", "B"};
  for (const int cl : cluster) in.cell_lineage.push_back(cl);
  const Pairing p = pair_cells(in, opt);
  for (const auto& c : p.couplings) EXPECT_GT(c.same_lineage, 0.95);
  EXPECT_GT(p.summary()["ot"]["couplings"][0]["same_lineage"].get<double>(), 0.95);

  opt.ot_epsilon = 0;
  auto msg = pg::test::error_of([&] { pair_cells(in, opt); });
  EXPECT_NE(msg.find("--ot-epsilon"), std::string::npos) << msg;
  EXPECT_NE(msg.find("clusters.h5ad"), std::string::npos) << msg;
  opt = ot_options();
  opt.ot_unbalanced = -1;
  msg = pg::test::error_of([&] { pair_cells(in, opt); });
  EXPECT_NE(msg.find("--ot-unbalanced"), std::string::npos) << msg;
  opt = ot_options();
  opt.anchor = PairingOptions::Anchor::Largest;
  msg = pg::test::error_of([&] { pair_cells(in, opt); });
  EXPECT_NE(msg.find("--pairing-anchor"), std::string::npos) << msg;
}
