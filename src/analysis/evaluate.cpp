#include "analysis/evaluate.h"

#include <algorithm>
#include <limits>
#include <set>
#include <stdexcept>

#include "analysis/distribution_metrics.h"
#include "analysis/gene_metrics.h"

namespace pg::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

void append(std::vector<MetricRow>& rows, const std::string& method, const std::string& time_point,
            const std::string& group, const Matrix& pred, const Matrix& truth, const Matrix& ctrl,
            const MetricOptions& opt) {
  for (auto& [metric, value] : population_metrics(pred, truth, ctrl, opt))
    rows.push_back({method, time_point, group, metric, value, pred.rows(), truth.rows()});
}

}  // namespace

std::vector<MetricValue> population_metrics(const Matrix& pred_log, const Matrix& true_log,
                                            const Matrix& ctrl_log, const MetricOptions& opt) {
  if (pred_log.rows() == 0 || true_log.rows() == 0 || ctrl_log.rows() == 0)
    throw std::invalid_argument("pg::analysis::population_metrics: empty population");
  std::vector<MetricValue> out;
  const PcaCoordinates pc = pca_coordinates(pred_log, true_log, opt.preprocess);
  if (pc.n_components > 0) {
    const Wasserstein w = wasserstein(pc.pred, pc.truth, opt.transport);
    out.push_back({"e_distance_pca", e_distance(pc.pred, pc.truth)});
    out.push_back({"mmd_rbf_pca", rbf_mmd(pc.pred, pc.truth)});
    out.push_back({"w1_pca", w.w1});
    out.push_back({"w2_pca", w.w2});
    out.push_back({"linear_mmd_pca", linear_mmd(pc.pred, pc.truth)});
    out.push_back({"poly_mmd_pca", poly_mmd(pc.pred, pc.truth)});
    out.push_back({"ot_exact", w.exact ? 1.0 : 0.0});
  } else {
    for (const char* name :
         {"e_distance_pca", "mmd_rbf_pca", "w1_pca", "w2_pca", "linear_mmd_pca", "poly_mmd_pca", "ot_exact"})
      out.push_back({name, kNaN});
  }
  out.push_back({"n_pcs", static_cast<double>(pc.n_components)});

  const GeneMetrics g = gene_metrics(pred_log, true_log, ctrl_log, opt.n_de_genes);
  out.push_back({"emd_genes", g.emd});
  out.push_back({"pearson_delta", g.pearson_delta});
  out.push_back({"mse_top20_de", g.mse_top_de});
  out.push_back({"pearson_top20_de", g.pearson_top_de});
  out.push_back({"direction_acc_top20_de", g.direction_top_de});
  out.push_back({"means_slope", g.means.slope});
  out.push_back({"means_intercept", g.means.intercept});
  out.push_back({"means_r2", g.means.r2});
  out.push_back({"means_rmse", g.rmse});
  if (opt.preprocess.reference_metrics) out.push_back({"mmd_rbf_genes", rbf_mmd(true_log, pred_log)});
  return out;
}

std::vector<std::string> distinct_groups(const std::vector<std::string>& groups) {
  const std::set<std::string> s(groups.begin(), groups.end());
  return {s.begin(), s.end()};
}

Indices rows_of_group(const std::vector<std::string>& groups, const std::string& group) {
  Indices out;
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i] == group) out.push_back(static_cast<int64_t>(i));
  return out;
}

std::vector<MetricRow> evaluate(const std::string& method, const std::string& time_point,
                                const Population& pred, const Population& truth, const Population& control,
                                const MetricOptions& opt) {
  for (const Population* p : {&pred, &truth, &control})
    if (!p->groups.empty() && static_cast<Eigen::Index>(p->groups.size()) != p->log.rows())
      throw std::invalid_argument("pg::analysis::evaluate: one group label per cell expected");
  std::vector<MetricRow> rows;
  append(rows, method, time_point, "all", pred.log, truth.log, control.log, opt);
  if (pred.groups.empty() || truth.groups.empty()) return rows;
  for (const std::string& group : distinct_groups(pred.groups)) {
    const Indices tr = rows_of_group(truth.groups, group);
    if (tr.empty()) continue;
    const Indices pr = rows_of_group(pred.groups, group);
    const Indices cr = control.groups.empty() ? Indices{} : rows_of_group(control.groups, group);
    const Matrix ctrl = cr.empty() ? control.log : select_rows(control.log, cr);
    append(rows, method, time_point, group, select_rows(pred.log, pr), select_rows(truth.log, tr), ctrl, opt);
  }
  return rows;
}

}  // namespace pg::analysis
