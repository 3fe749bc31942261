// Optimal-transport pairing (Waddington-OT, Schiebinger et al. 2019; moscot's
// temporal problem): cells of consecutive time points are coupled by entropic
// OT in a shared PCA of log-normalised expression, and each row follows a
// Markov chain through the couplings. Semantics: pairing.h.
#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "analysis/pca.h"
#include "analysis/sinkhorn.h"
#include "core/error.h"
#include "tokenise/pairing.h"

namespace pg::tokenise {

namespace {

using analysis::Matrix;

void check_ot_options(const PairingInput& in, const PairingOptions& opt) {
  const auto bad = [&](const char* what, const std::string& why) { throw Error(in.input_name, what, why); };
  if (!(opt.ot_epsilon > 0) || !std::isfinite(opt.ot_epsilon)) bad("--ot-epsilon", "must be a number > 0");
  if (!(opt.ot_unbalanced >= 0) || !std::isfinite(opt.ot_unbalanced))
    bad("--ot-unbalanced", "must be a number >= 0 (0 = balanced)");
  if (opt.ot_components < 1) bad("--ot-components", "must be at least 1");
  if (opt.ot_genes < 1) bad("--ot-genes", "must be at least 1");
  if (opt.ot_max_cells < 2) bad("--ot-max-cells", "must be at least 2");
}

// Squared distances between the rows of `to` (m) and of `from` (n), as the
// m x n float matrix the solver takes (a source's plan column is then
// contiguous), divided by their mean. Computed in double, a block of
// sources at a time, so no m x n double matrix is ever held.
Eigen::MatrixXf normalised_cost(const Matrix& to, const Matrix& from) {
  const Eigen::Index m = to.rows(), n = from.rows();
  Eigen::MatrixXf c(m, n);
  const analysis::Vector tn = to.rowwise().squaredNorm(), fn = from.rowwise().squaredNorm();
  double total = 0;
  for (Eigen::Index b = 0; b < n; b += 512) {
    const Eigen::Index w = std::min<Eigen::Index>(512, n - b);
    Matrix d = (-2.0 * to * from.middleRows(b, w).transpose()).colwise() + tn;
    d.rowwise() += fn.segment(b, w).transpose();
    d = d.cwiseMax(0.0);  // rounding can make a tiny distance negative
    total += d.sum();
    c.middleCols(b, w) = d.cast<float>();
  }
  const double mean = total / (static_cast<double>(m) * static_cast<double>(n));
  // Identical points: every cost 0 (the plan is then uniform).
  if (mean > 0) c *= static_cast<float>(1.0 / mean);
  return c;
}

// The share of the plan's mass between cells of one lineage, among pairs
// whose lineages are both known (-1 when none are): the expected agreement
// of a draw, without its sampling noise.
double lineage_mass(const PairingInput& in, const Eigen::MatrixXf& plan, const std::vector<int64_t>& from,
                    const std::vector<int64_t>& to) {
  const auto lineage = [&](int64_t r) { return in.cell_lineage[size_t(in.ot_cells[size_t(r)])]; };
  std::vector<int32_t> to_lineage(to.size());
  for (size_t j = 0; j < to.size(); ++j) to_lineage[j] = lineage(to[j]);
  double same = 0, known = 0;
  for (Eigen::Index i = 0; i < plan.cols(); ++i) {
    const int32_t a = lineage(from[size_t(i)]);
    if (a < 0) continue;
    for (Eigen::Index j = 0; j < plan.rows(); ++j) {
      if (to_lineage[size_t(j)] < 0) continue;
      known += plan(j, i);
      if (to_lineage[size_t(j)] == a) same += plan(j, i);
    }
  }
  return known > 0 ? same / known : -1;
}

}  // namespace

std::vector<int64_t> ot_sample_cells(const PairingInput& in, const PairingOptions& opt) {
  if (opt.ot_max_cells < 2) throw Error(in.input_name, "--ot-max-cells", "must be at least 2");
  const detail::Buckets by_state = detail::bucket_cells(in.cell_state.size(), in.states.size(),
                                                        [&](size_t i) { return int64_t{in.cell_state[i]}; });
  // A stream of its own, so the subsample does not shift the draws.
  Rng rng(opt.seed);
  rng.jump();
  std::vector<int64_t> out, pool;
  for (size_t s = 0; s < in.states.size(); ++s) {
    const auto cells = by_state[s];
    const auto cap = static_cast<size_t>(opt.ot_max_cells);
    if (cells.size() <= cap) {
      out.insert(out.end(), cells.begin(), cells.end());
      continue;
    }
    pool.assign(cells.begin(), cells.end());
    for (size_t i = 0; i < cap; ++i) std::swap(pool[i], pool[i + rng.below(pool.size() - i)]);
    out.insert(out.end(), pool.begin(), pool.begin() + static_cast<std::ptrdiff_t>(cap));
  }
  std::sort(out.begin(), out.end());
  return out;
}

namespace detail {

Pairing pair_ot(const PairingInput& in, const PairingOptions& opt) {
  check_input(in, false);
  require_source_anchor(in, opt);
  check_ot_options(in, opt);
  Pairing p;
  p.options = opt;
  const size_t n_states = in.states.size(), n_cells = in.cell_state.size();
  const std::vector<int64_t> totals = cells_per_state(in);
  set_columns(p, in, in.source, totals, std::vector<std::string>(n_states, "no cells"));

  if (in.ot_cells != ot_sample_cells(in, opt))
    throw std::logic_error("pair_ot: ot_cells is not ot_sample_cells(in, opt)");
  const auto n_sample = static_cast<Eigen::Index>(in.ot_cells.size());
  const auto n_genes = static_cast<Eigen::Index>(in.ot_n_genes);
  if (in.ot_expression.size() != static_cast<size_t>(n_sample * n_genes))
    throw std::logic_error("pair_ot: ot_expression is not ot_cells x ot_n_genes");
  const int64_t k = std::min<int64_t>({opt.ot_components, int64_t(n_sample) - 1, int64_t(n_genes)});
  if (k < 1)
    throw Error(in.input_name, "pairing",
                "ot pairing needs at least two cells and one expressed gene (have " +
                    std::to_string(n_sample) + " cells, " + std::to_string(n_genes) + " genes)");

  // Shared PCA of every sampled cell of every state.
  Matrix coords;
  {
    const Matrix x = Eigen::Map<const Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
                         in.ot_expression.data(), n_sample, n_genes)
                         .cast<double>();
    coords = analysis::project(analysis::fit_pca(x, k, opt.seed), x);
  }
  p.ot_components = k;
  p.ot_genes = n_genes;

  // Sampled cells per state, in cell order, and each cell's place among them.
  std::vector<int32_t> place(n_cells, -1);
  std::vector<std::vector<int64_t>> sampled(n_states);  // positions in ot_cells
  for (Eigen::Index r = 0; r < n_sample; ++r) {
    const auto cell = static_cast<size_t>(in.ot_cells[static_cast<size_t>(r)]);
    auto& list = sampled[static_cast<size_t>(in.cell_state[cell])];
    place[cell] = static_cast<int32_t>(list.size());
    list.push_back(r);
  }
  const auto coords_of = [&](size_t s) {
    Matrix c(static_cast<Eigen::Index>(sampled[s].size()), coords.cols());
    for (size_t i = 0; i < sampled[s].size(); ++i)
      c.row(static_cast<Eigen::Index>(i)) = coords.row(static_cast<Eigen::Index>(sampled[s][i]));
    return c;
  };

  const size_t n_cols = p.columns.size();
  const auto src = in.source;
  std::vector<std::vector<int64_t>> cols(n_cols);
  for (const int64_t r : sampled[size_t(src)]) cols[0].push_back(in.ot_cells[size_t(r)]);
  p.n_rows = int64_t(cols[0].size());
  p.unpaired_anchor_cells = totals[size_t(src)] - p.n_rows;
  p.column_available.assign(n_cols, 0);
  for (size_t c = 0; c < n_cols; ++c)
    p.column_available[c] = int64_t(sampled[size_t(p.column_state[c])].size());

  // Targets outward from the source; each is coupled with the nearest column
  // between it and the source (its predecessor in the chain).
  std::vector<size_t> order;
  for (size_t c = 1; c < n_cols; ++c) order.push_back(c);
  const auto dist = [&](size_t c) { return std::abs(p.column_state[c] - src); };
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return dist(a) != dist(b) ? dist(a) < dist(b) : p.column_state[a] < p.column_state[b];
  });

  Rng rng(opt.seed);
  analysis::SinkhornPlanOptions sopt;
  sopt.epsilon = opt.ot_epsilon;
  sopt.tau = opt.ot_unbalanced;
  sopt.tolerance = 1e-5;
  sopt.max_iterations = 10000;
  for (const size_t c : order) {
    const int32_t s = p.column_state[c];
    size_t pred = 0;  // the source column unless a column lies between
    for (size_t q = 1; q < n_cols; ++q) {
      const int32_t t = p.column_state[q];
      const bool between = s > src ? (t >= src && t < s) : (t <= src && t > s);
      if (between && std::abs(s - t) < std::abs(s - p.column_state[pred])) pred = q;
    }
    const auto from_state = size_t(p.column_state[pred]), to_state = size_t(s);
    const Eigen::MatrixXf cost = normalised_cost(coords_of(to_state), coords_of(from_state));
    const analysis::SinkhornPlan plan = analysis::sinkhorn_plan(cost, sopt);

    Pairing::Coupling cp;
    cp.from = in.states[from_state];
    cp.to = in.states[to_state];
    cp.from_cells = plan.plan.cols();
    cp.to_cells = plan.plan.rows();
    cp.mass = plan.mass;
    cp.iterations = plan.iterations;
    cp.converged = plan.converged;
    // Per source column i: its mass and the entropy of its normalised plan
    // column, H = log r − (Σ P log P) / r.
    std::vector<double> mass(size_t(cp.from_cells), 0.0);
    double h_sum = 0, eff_sum = 0;
    int64_t with_mass = 0;
    for (Eigen::Index i = 0; i < plan.plan.cols(); ++i) {
      double r = 0, plogp = 0;
      for (Eigen::Index j = 0; j < plan.plan.rows(); ++j) {
        const double v = plan.plan(j, i);
        if (v > 0) r += v, plogp += v * std::log(v);
      }
      mass[size_t(i)] = r;
      if (!(r > 0) || !std::isfinite(r)) continue;
      const double h = std::max(0.0, std::log(r) - plogp / r);
      h_sum += h;
      eff_sum += std::exp(h);
      ++with_mass;
    }
    cp.mean_entropy = with_mass ? h_sum / double(with_mass) : 0;
    cp.effective_targets = with_mass ? eff_sum / double(with_mass) : 0;
    if (!in.cell_lineage.empty())
      cp.same_lineage_mass = lineage_mass(in, plan.plan, sampled[from_state], sampled[s]);

    // One draw per row from the plan column of the cell the predecessor drew.
    const auto& targets = sampled[to_state];
    cols[c].resize(size_t(p.n_rows));
    int64_t same = 0, known = 0;
    for (int64_t row = 0; row < p.n_rows; ++row) {
      const int64_t prev = cols[pred][size_t(row)];
      const Eigen::Index i = place[size_t(prev)];
      const double u = rng.uniform() * mass[size_t(i)];
      Eigen::Index pick = -1;
      if (mass[size_t(i)] > 0 && std::isfinite(mass[size_t(i)])) {
        double acc = 0;
        for (Eigen::Index j = 0; j < plan.plan.rows(); ++j) {
          const double v = plan.plan(j, i);
          if (v <= 0) continue;
          pick = j;  // rounding can leave u just above the last partial sum: keep the last cell with mass
          acc += v;
          if (acc > u) break;
        }
      } else {
        ++cp.rows_without_mass;  // underflowed: the nearest cell, the small-ε limit
        cost.col(i).minCoeff(&pick);
      }
      const int64_t cell = in.ot_cells[size_t(targets[size_t(pick)])];
      cols[c][size_t(row)] = cell;
      if (!in.cell_lineage.empty()) {
        const int32_t a = in.cell_lineage[size_t(prev)], b = in.cell_lineage[size_t(cell)];
        if (a >= 0 && b >= 0) ++known, same += a == b;
      }
    }
    std::vector<int64_t> distinct = cols[c];
    std::sort(distinct.begin(), distinct.end());
    cp.distinct_targets = std::unique(distinct.begin(), distinct.end()) - distinct.begin();
    if (known > 0) cp.same_lineage = double(same) / double(known);
    p.couplings.push_back(cp);
  }
  assemble(p, cols);
  return p;
}

}  // namespace detail

}  // namespace pg::tokenise
