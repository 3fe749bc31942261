#include "analysis/perturbation_benchmark.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <set>
#include <sstream>
#include <unordered_map>

#include "analysis/perturbation_scores.h"
#include "analysis/ridge.h"
#include "core/error.h"
#include "core/number_text.h"
#include "io/formats.h"

namespace pg::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

const io::Column& obs_column(const io::CellMatrix& m, const std::string& name, const std::string& file) {
  const io::Column* c = m.obs.find(name);
  if (!c) throw Error(file, "obs/" + name, "column not found");
  return *c;
}

// Cells of one file per time point, normalised over the scoring genes.
std::vector<StageCells> stage_cells(const std::string& file, const BenchmarkLoadOptions& opt,
                                    const std::vector<std::string>& genes,
                                    std::vector<std::string>& group_names, size_t first_stage) {
  io::ReadOptions ro;
  ro.load_obsm = ro.load_varm = ro.load_uns = false;
  ro.layers = std::vector<std::string>{};
  std::vector<std::string> cols{opt.time_key};
  if (!opt.group_key.empty()) cols.push_back(opt.group_key);
  ro.obs_columns = cols;
  const io::CellMatrix m = io::read_any(file, ro);
  if (!m.has_x) throw Error(file, "X", "the file has no expression matrix");
  std::unordered_map<std::string, int64_t> column_of;
  for (size_t g = 0; g < m.var.index.size(); ++g) column_of.emplace(m.var.index[g], static_cast<int64_t>(g));
  std::vector<int32_t> dense(static_cast<size_t>(m.n_genes()), -1);
  for (size_t g = 0; g < genes.size(); ++g) {
    const auto it = column_of.find(genes[g]);
    if (it == column_of.end()) throw Error(file, "var/" + genes[g], "gene of the control is missing");
    dense[static_cast<size_t>(it->second)] = static_cast<int32_t>(g);
  }
  const io::Column& time = obs_column(m, opt.time_key, file);
  const io::Column* group = opt.group_key.empty() ? nullptr : &obs_column(m, opt.group_key, file);
  std::vector<StageCells> out(opt.time_order.size());
  std::vector<Indices> rows(opt.time_order.size());
  for (size_t i = 0; i < static_cast<size_t>(m.n_cells()); ++i) {
    const std::string label = time.text(i);
    const auto s = std::find(opt.time_order.begin(), opt.time_order.end(), label) - opt.time_order.begin();
    if (static_cast<size_t>(s) < first_stage || static_cast<size_t>(s) >= opt.time_order.size()) continue;
    rows[static_cast<size_t>(s)].push_back(static_cast<int64_t>(i));
  }
  for (size_t s = first_stage; s < opt.time_order.size(); ++s) {
    if (rows[s].empty())
      throw Error(file, "obs/" + opt.time_key, "no cells at time point '" + opt.time_order[s] + "'");
    StageCells& sc = out[s];
    sc.norm =
        Matrix::Zero(static_cast<Eigen::Index>(rows[s].size()), static_cast<Eigen::Index>(genes.size()));
    for (size_t r = 0; r < rows[s].size(); ++r) {
      const int64_t i = rows[s][r];
      for (int64_t k = m.X.indptr[static_cast<size_t>(i)]; k < m.X.indptr[static_cast<size_t>(i) + 1]; ++k) {
        const float v = m.X.data[static_cast<size_t>(k)];
        if (!std::isfinite(v) || v < 0)
          throw Error(
              file, "X",
              "cell '" + m.obs.index[static_cast<size_t>(i)] + "' has a negative or non-finite value");
        const int32_t d = dense[static_cast<size_t>(m.X.indices[static_cast<size_t>(k)])];
        if (d >= 0) sc.norm(static_cast<Eigen::Index>(r), d) += v;
      }
      sc.names.push_back(m.obs.index[static_cast<size_t>(i)]);
      if (group) {
        if (group->is_missing(static_cast<size_t>(i))) {
          sc.group.push_back(-1);
          continue;
        }
        const std::string g = group->text(static_cast<size_t>(i));
        auto it = std::find(group_names.begin(), group_names.end(), g);
        if (it == group_names.end()) it = group_names.insert(group_names.end(), g);
        sc.group.push_back(static_cast<int32_t>(it - group_names.begin()));
      }
    }
    const Vector total = sc.norm.rowwise().sum();
    for (Eigen::Index r = 0; r < sc.norm.rows(); ++r)
      if (total[r] > 0) sc.norm.row(r) *= 1e4 / total[r];
  }
  return out;
}

Matrix log1p_of(const Matrix& m) {
  return m.array().max(0.0).log1p().matrix();
}
Matrix expm1_of(const Matrix& m) {
  return (m.array().exp() - 1.0).max(0.0).matrix();
}

}  // namespace

std::vector<PerturbationSpec> find_perturbation_files(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error(dir, "--perturbed", "is not a folder");
  std::vector<PerturbationSpec> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("pert_", 0) != 0 || e.path().extension() != ".h5ad") continue;
    const std::string stem = name.substr(5, name.size() - 5 - 5);
    const auto cut = stem.find('_');
    if (cut == std::string::npos || cut == 0 || cut + 1 >= stem.size())
      throw Error(e.path().string(), "file name", "expected pert_<kind>_<GENE>.h5ad");
    PerturbationSpec p{e.path().string(), stem, stem.substr(0, cut), stem.substr(cut + 1), -1};
    if (p.kind != "ko" && p.kind != "kd" && p.kind != "oe")
      throw Error(p.file, "file name", "kind '" + p.kind + "' is not ko, kd or oe");
    out.push_back(std::move(p));
  }
  if (out.empty()) throw Error(dir, "--perturbed", "holds no pert_<kind>_<GENE>.h5ad file");
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

ExpressionEdit edit_of_kind(const std::string& kind) {
  return kind == "ko" ? ExpressionEdit::remove : kind == "kd" ? ExpressionEdit::down : ExpressionEdit::up;
}

BenchmarkInput load_benchmark_input(const std::string& control_file, const std::string& perturbed_dir,
                                    const BenchmarkLoadOptions& opt) {
  if (opt.time_order.size() < 2)
    throw Error("", "--time-order", "needs a source and at least one later time point");
  BenchmarkInput in;
  in.time_points = opt.time_order;
  in.perturbations = find_perturbation_files(perturbed_dir);
  if (opt.genes.empty()) {
    io::ReadOptions ro;
    ro.load_x = false;
    ro.load_obsm = ro.load_varm = ro.load_uns = false;
    ro.obs_columns = std::vector<std::string>{};
    in.genes = io::read_any(control_file, ro).var.index;
  } else {
    in.genes = opt.genes;
  }
  std::unordered_map<std::string, int64_t> index;
  for (size_t g = 0; g < in.genes.size(); ++g) index.emplace(in.genes[g], static_cast<int64_t>(g));
  in.control = stage_cells(control_file, opt, in.genes, in.group_names, 0);
  for (auto& p : in.perturbations) {
    const auto it = index.find(p.gene);
    if (it == index.end())
      throw Error(p.file, "file name", "perturbed gene '" + p.gene + "' is not a scored gene of the control");
    p.gene_index = it->second;
    in.perturbed.push_back(stage_cells(p.file, opt, in.genes, in.group_names, 1));
  }
  return in;
}

std::map<std::string, MethodPrediction> baseline_predictions(const BenchmarkInput& in,
                                                             const StagePairs& pairs,
                                                             const BaselineOptions& opt,
                                                             nlohmann::json& notes) {
  const size_t T = in.time_points.size(), P = in.perturbations.size();
  std::map<std::string, MethodPrediction> out;
  for (const char* m : {"no_change", "gene_only", "linear", "mean_other"})
    out[m].assign(P, std::vector<PredictedEffect>(T - 1));
  Matrix all = in.control[0].norm;
  for (size_t t = 1; t < T; ++t) all = stack_rows(all, in.control[t].norm);
  const Vector medians = nonzero_medians(all);
  const Matrix& source = in.control[0].norm;
  const Matrix source_log = log1p_of(source);
  std::vector<std::vector<Vector>> true_lfc(P, std::vector<Vector>(T));
  for (size_t p = 0; p < P; ++p)
    for (size_t t = 1; t < T; ++t)
      true_lfc[p][t] = pseudobulk_lfc(in.perturbed[p][t].norm, in.control[t].norm);
  notes["linear"] = nlohmann::json::array();
  for (size_t t = 1; t < T; ++t) {
    const Matrix& ctrl = in.control[t].norm;
    if (pairs.size() <= t || pairs[t].size() < 2)
      throw Error("", "pairing",
                  "fewer than 2 (source, " + in.time_points[t] + ") pairs for the linear baseline");
    Indices xs, ys;
    for (const auto& [s, c] : pairs[t]) xs.push_back(s), ys.push_back(c);
    RidgeOptions ro;
    ro.seed = opt.seed;
    const RidgeModel ridge = fit_ridge(select_rows(source_log, xs), log1p_of(select_rows(ctrl, ys)), ro);
    notes["linear"].push_back({{"time_point", in.time_points[t]},
                               {"pairs", pairs[t].size()},
                               {"relative_penalty", ridge.relative},
                               {"cv_error", ridge.cv_error}});
    const Matrix linear_ctrl = expm1_of(ridge.predict(source_log));
    for (size_t p = 0; p < P; ++p) {
      const auto& spec = in.perturbations[p];
      const ExpressionEdit edit = edit_of_kind(spec.kind);
      out["no_change"][p][t - 1] = {ctrl, ctrl};
      Matrix gene_only = ctrl;
      edit_expression(gene_only, spec.gene_index, edit, opt.shift, medians);
      out["gene_only"][p][t - 1] = {ctrl, std::move(gene_only)};
      Matrix edited = source;
      edit_expression(edited, spec.gene_index, edit, opt.shift, medians);
      Matrix linear_pert = expm1_of(ridge.predict(log1p_of(edited)));
      if (spec.kind == "ko") linear_pert.col(spec.gene_index).setZero();
      out["linear"][p][t - 1] = {linear_ctrl, std::move(linear_pert)};
      Vector mean = Vector::Zero(ctrl.cols());
      for (size_t q = 0; q < P; ++q)
        if (q != p) mean += true_lfc[q][t];
      if (P > 1) mean /= static_cast<double>(P - 1);
      const Vector factor = (mean.array() * std::log(2.0)).exp().matrix();
      Matrix shifted = ((ctrl.array() + 1.0).rowwise() * factor.transpose().array()).matrix();
      shifted.array() -= 1.0;
      out["mean_other"][p][t - 1] = {ctrl, shifted.cwiseMax(0.0)};
    }
  }
  return out;
}

BenchmarkResult score_benchmark(const BenchmarkInput& in,
                                const std::map<std::string, MethodPrediction>& methods, uint64_t seed) {
  BenchmarkResult res;
  const size_t T = in.time_points.size(), P = in.perturbations.size();
  const auto n_groups = static_cast<int32_t>(in.group_names.size());
  // Per later time point: the null spread of ‖lfc‖ and (with >= 2 groups) a fate classifier.
  std::vector<double> null_norm(T, kNaN);
  std::vector<std::unique_ptr<GroupClassifier>> fate(T);
  for (size_t t = 1; t < T; ++t) {
    null_norm[t] = lfc_null_norm(in.control[t].norm, 0.99, 50, seed + t);
    if (n_groups < 2) continue;
    std::set<int32_t> present(in.control[t].group.begin(), in.control[t].group.end());
    present.erase(-1);
    if (present.size() < 2) continue;
    Indices labelled;
    std::vector<int32_t> labels;
    for (size_t i = 0; i < in.control[t].group.size(); ++i)
      if (in.control[t].group[i] >= 0)
        labelled.push_back(static_cast<int64_t>(i)), labels.push_back(in.control[t].group[i]);
    fate[t] = std::make_unique<GroupClassifier>(select_rows(in.control[t].norm, labelled), labels, n_groups,
                                                15, 20, seed);
  }
  const auto add = [&](const std::string& m, size_t p, const std::string& tp, const std::string& metric,
                       double v) {
    res.rows.push_back({m, in.perturbations[p].name, tp, metric, v});
  };
  std::vector<bool> has_effect(P, false);
  std::vector<std::vector<Vector>> true_lfc(P, std::vector<Vector>(T));
  // Observed fate shift per perturbation and time point (classified once).
  std::vector<std::vector<std::vector<double>>> true_shift(P, std::vector<std::vector<double>>(T));
  for (size_t p = 0; p < P; ++p) {
    nlohmann::json ratios = nlohmann::json::object();
    for (size_t t = 1; t < T; ++t) {
      true_lfc[p][t] = pseudobulk_lfc(in.perturbed[p][t].norm, in.control[t].norm);
      const double r = norm_excluding(true_lfc[p][t], in.perturbations[p].gene_index) / null_norm[t];
      ratios[in.time_points[t]] = r;
      has_effect[p] = has_effect[p] || r > 1.0;
      add("observed", p, in.time_points[t], "true_effect_ratio", r);
      if (fate[t]) {
        const auto fp = fate[t]->fractions(in.perturbed[p][t].norm),
                   fc = fate[t]->fractions(in.control[t].norm);
        for (int32_t g = 0; g < n_groups; ++g) {
          true_shift[p][t].push_back(fp[static_cast<size_t>(g)] - fc[static_cast<size_t>(g)]);
          add("observed", p, in.time_points[t], "fate_shift:" + in.group_names[static_cast<size_t>(g)],
              true_shift[p][t].back());
        }
      }
    }
    res.truth[in.perturbations[p].name] = {{"effect_ratio", ratios},
                                           {"has_true_effect", bool(has_effect[p])}};
  }
  for (const auto& [method, pred] : methods) {
    if (pred.size() != P) throw std::invalid_argument("score_benchmark: " + method + " lacks perturbations");
    std::vector<double> pearsons, pos, neg;
    for (size_t p = 0; p < P; ++p) {
      const auto& spec = in.perturbations[p];
      const int64_t g = spec.gene_index;
      double size = 0;
      for (size_t t = 1; t < T; ++t) {
        const PredictedEffect& pe = pred[p][t - 1];
        const std::string& tp = in.time_points[t];
        const Vector lfc = pseudobulk_lfc(pe.perturbed, pe.control);
        const Vector& truth = true_lfc[p][t];
        const double r = pearson_excluding(lfc, truth, g);
        add(method, p, tp, "pearson_lfc", r);
        add(method, p, tp, "pearson_lfc_all_genes", pearson_excluding(lfc, truth, -1));
        add(method, p, tp, "direction_acc_top20", direction_accuracy(lfc, truth, g, 20));
        add(method, p, tp, "e_distance_ratio",
            e_distance_ratio(pe.perturbed, in.perturbed[p][t].norm, in.control[t].norm, 20, seed));
        const double effect = norm_excluding(lfc, g);
        add(method, p, tp, "effect_size", effect);
        size += effect / static_cast<double>(T - 1);
        if (has_effect[p]) pearsons.push_back(r);
        if (!fate[t]) continue;
        const auto pp = fate[t]->fractions(pe.perturbed), pc = fate[t]->fractions(pe.control);
        std::vector<double> dp(pp.size());
        for (size_t k = 0; k < pp.size(); ++k) {
          dp[k] = pp[k] - pc[k];
          add(method, p, tp, "fate_shift:" + in.group_names[k], dp[k]);
        }
        add(method, p, tp, "fate_shift_error", total_variation(dp, true_shift[p][t]));
        // Per group: cells of the group (observed labels for the truth, the
        // classifier's for the predictions), when both sides have >= 5 cells.
        const auto cls_p = fate[t]->classify(pe.perturbed), cls_c = fate[t]->classify(pe.control);
        for (int32_t k = 0; k < n_groups; ++k) {
          const auto pick = [&](const std::vector<int32_t>& lab) {
            Indices sel;
            for (size_t i = 0; i < lab.size(); ++i)
              if (lab[i] == k) sel.push_back(static_cast<int64_t>(i));
            return sel;
          };
          const Indices a = pick(in.perturbed[p][t].group), b = pick(in.control[t].group), c = pick(cls_p),
                        d = pick(cls_c);
          if (a.size() < 5 || b.size() < 5 || c.size() < 5 || d.size() < 5) continue;
          const Vector tg =
              pseudobulk_lfc(select_rows(in.perturbed[p][t].norm, a), select_rows(in.control[t].norm, b));
          const Vector pg = pseudobulk_lfc(select_rows(pe.perturbed, c), select_rows(pe.control, d));
          const std::string label = tp + "|" + in.group_names[static_cast<size_t>(k)];
          add(method, p, label, "pearson_lfc", pearson_excluding(pg, tg, g));
          add(method, p, label, "direction_acc_top20", direction_accuracy(pg, tg, g, 20));
        }
      }
      (has_effect[p] ? pos : neg).push_back(size);
    }
    double mean = kNaN;
    if (!pearsons.empty()) {
      mean = 0;
      for (double v : pearsons) mean += v;
      mean /= static_cast<double>(pearsons.size());
    }
    res.summary[method] = {{"mean_pearson_lfc", mean}, {"negative_control_auroc", auroc(pos, neg)}};
  }
  return res;
}

std::string benchmark_tsv(const std::vector<BenchmarkRow>& rows) {
  std::ostringstream s;
  s << "method\tperturbation\ttime_point\tmetric\tvalue\n";
  for (const auto& r : rows)
    s << r.method << '\t' << r.perturbation << '\t' << r.time_point << '\t' << r.metric << '\t'
      << (std::isfinite(r.value) ? shortest_text(r.value) : std::string("nan")) << '\n';
  return s.str();
}

}  // namespace pg::analysis
