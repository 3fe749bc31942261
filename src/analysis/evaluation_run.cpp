#include "analysis/evaluation_run.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>

#include "analysis/baselines.h"
#include "analysis/normalise.h"
#include "analysis/prediction_contract.h"
#include "analysis/rouge.h"
#include "analysis/sampling.h"
#include "core/error.h"

namespace pg::analysis {

namespace {

void check_counts(const io::CellMatrix& m, const std::string& file) {
  if (!m.has_x) throw Error(file, "X", "missing (evaluate needs the counts)");
  for (size_t k = 0; k < m.X.data.size(); ++k) {
    const double v = m.X.data[k];
    if (!std::isfinite(v) || v < 0)
      throw Error(file, "X",
                  std::string(std::isfinite(v) ? "negative" : "non-finite") + " value " + std::to_string(v) +
                      " (stored entry " + std::to_string(k) + "; evaluate expects counts)");
  }
}

std::string join(const std::vector<std::string>& v, size_t max_items = 8) {
  std::string out;
  for (size_t i = 0; i < v.size() && i < max_items; ++i) out += (i ? ", " : "") + v[i];
  if (v.size() > max_items) out += ", ...";
  return out;
}

std::string fixed(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

class Evaluation {
 public:
  Evaluation(const io::CellMatrix& pred, const std::string& pred_file, const io::CellMatrix& truth,
             const std::string& true_file, const EvaluationOptions& opt)
      : pred_(pred), truth_(truth), pred_file_(pred_file), true_file_(true_file), opt_(opt) {
    check_counts(pred, pred_file);
    check_counts(truth, true_file);
    contract_ = read_contract(pred, pred_file, opt.time_order);
    resolve_times();
    match_genes();
    resolve_cells();
    resolve_groups();
  }

  EvaluationReport run() {
    for (const std::string& t : contract_.time_order)
      if (pred_rows_at_.count(t) != 0) time_point(t);
    return std::move(report_);
  }

 private:
  // ---- setup ----------------------------------------------------------------
  void resolve_times() {
    const std::string key = opt_.time_key.empty() ? contract_.time_key : opt_.time_key;
    if (key.empty()) throw Error(pred_file_, "uns/perturbgen/time_key", "missing (pass --time-key)");
    const io::Column* col = truth_.obs.find(key);
    if (col == nullptr)
      throw Error(true_file_, "obs/" + key, "no such column (the time key; see --time-key)");
    true_time_ = column_texts(*col);
    for (size_t i = 0; i < true_time_.size(); ++i)
      true_rows_at_[true_time_[i]].push_back(static_cast<int64_t>(i));
    auto require = [&](const std::string& label) {
      if (true_rows_at_.count(label) == 0) {
        std::vector<std::string> have;
        for (const auto& [l, rows] : true_rows_at_) have.push_back(l);
        throw Error(true_file_, "obs/" + key,
                    "no cells at time point '" + label + "' (labels: " + join(have) + ")");
      }
    };
    require(contract_.time_order.front());
    for (size_t i = 0; i < contract_.time_point.size(); ++i) {
      pred_rows_at_[contract_.time_point[i]].push_back(static_cast<int64_t>(i));
      if (i == 0 || contract_.time_point[i] != contract_.time_point[i - 1]) require(contract_.time_point[i]);
    }
    if (!opt_.time_values.empty() && opt_.time_values.size() != contract_.time_order.size())
      throw Error("", "--time-values",
                  std::to_string(opt_.time_values.size()) + " values for " +
                      std::to_string(contract_.time_order.size()) + " time points");
    for (size_t i = 0; i < contract_.time_order.size(); ++i)
      position_[contract_.time_order[i]] =
          opt_.time_values.empty() ? static_cast<double>(i) : opt_.time_values[i];
    observed_.insert(contract_.time_order.front());
    for (const auto& t : contract_.train_time_points)
      if (position_.count(t) != 0 && true_rows_at_.count(t) != 0) observed_.insert(t);
  }

  // An Ensembl id without its version (ENSG00000000003.10 -> ENSG00000000003):
  // the tokeniser strips versions, so a prediction's gene ids may lack them.
  static std::string gene_key(const std::string& id) {
    const auto dot = id.rfind('.');
    if (id.rfind("ENS", 0) != 0 || dot == std::string::npos || dot + 1 == id.size()) return id;
    for (size_t k = dot + 1; k < id.size(); ++k)
      if (id[k] < '0' || id[k] > '9') return id;
    return id.substr(0, dot);
  }

  // Genes are matched by var index (Ensembl versions ignored); the dense
  // columns follow the prediction's order. A name repeated on either side is
  // used once (its first occurrence).
  void match_genes() {
    std::unordered_map<std::string, int64_t> true_index;
    for (size_t g = 0; g < truth_.var.index.size(); ++g)
      true_index.emplace(gene_key(truth_.var.index[g]), static_cast<int64_t>(g));
    pred_genes_.dense_of_file.assign(pred_.var.index.size(), -1);
    true_genes_.dense_of_file.assign(truth_.var.index.size(), -1);
    std::set<std::string> used;
    int32_t next = 0;
    for (size_t g = 0; g < pred_.var.index.size(); ++g) {
      const auto key = gene_key(pred_.var.index[g]);
      const auto it = true_index.find(key);
      if (it == true_index.end() || !used.insert(key).second) continue;
      pred_genes_.dense_of_file[g] = next;
      true_genes_.dense_of_file[static_cast<size_t>(it->second)] = next;
      ++next;
    }
    pred_genes_.n_dense = true_genes_.n_dense = next;
    if (next == 0) throw Error(pred_file_, "var", "no gene id in common with " + true_file_);
    report_.n_genes = next;
    report_.notes.push_back("genes: " + std::to_string(next) + " shared; " +
                            std::to_string(pred_.n_genes() - next) + " only in the prediction and " +
                            std::to_string(truth_.n_genes() - next) + " only in the true data dropped");
  }

  void resolve_cells() {
    for (size_t i = 0; i < truth_.obs.index.size(); ++i)
      true_row_of_.emplace(truth_.obs.index[i], static_cast<int64_t>(i));
    auto rows_of = [&](const std::vector<std::string>& names, const char* element) {
      std::vector<int64_t> rows(names.size(), -1);
      for (size_t i = 0; i < names.size(); ++i) {
        if (names[i].empty()) continue;
        auto it = true_row_of_.find(names[i]);
        if (it == true_row_of_.end())
          throw Error(pred_file_, std::string("obs/") + element,
                      "'" + names[i] + "' (cell " + std::to_string(i) + ") is not a cell of " + true_file_);
        rows[i] = it->second;
      }
      return rows;
    };
    source_row_ = rows_of(contract_.source_cell, "source_cell");
    target_row_ = rows_of(contract_.target_cell, "target_cell");
    for (size_t i = 0; i < target_row_.size(); ++i)
      if (target_row_[i] >= 0) validation_[contract_.time_point[i]].insert(target_row_[i]);
  }

  void resolve_groups() {
    if (opt_.group_key.empty()) return;
    const io::Column* p = pred_.obs.find(opt_.group_key);
    if (p == nullptr) throw Error(pred_file_, "obs/" + opt_.group_key, "no such column (--group-key)");
    const io::Column* t = truth_.obs.find(opt_.group_key);
    if (t == nullptr) throw Error(true_file_, "obs/" + opt_.group_key, "no such column (--group-key)");
    pred_group_ = column_texts(*p);
    true_group_ = column_texts(*t);
  }

  // ---- populations ------------------------------------------------------------
  Population true_population(const Indices& rows) const {
    Population p{log_normalised_rows(truth_.X, rows, true_genes_, true_file_), {}};
    if (!true_group_.empty())
      for (const int64_t r : rows) p.groups.push_back(true_group_[static_cast<size_t>(r)]);
    return p;
  }

  Indices capped(Indices rows, const std::string& what) const {
    const Indices keep =
        subsample(static_cast<int64_t>(rows.size()), opt_.max_cells, derive_seed(opt_.seed, what));
    Indices out;
    for (const int64_t k : keep) out.push_back(rows[static_cast<size_t>(k)]);
    return out;
  }

  // Training cells of time point x (all cells of the source state), capped.
  const Population& pool(const std::string& x) {
    auto it = pools_.find(x);
    if (it != pools_.end()) return it->second;
    Indices rows;
    const auto& held = validation_[x];
    for (const int64_t r : true_rows_at_.at(x))
      if (x == contract_.time_order.front() || held.count(r) == 0) rows.push_back(r);
    return pools_.emplace(x, true_population(capped(rows, "pool/" + x))).first->second;
  }

  using Maker = std::function<Matrix(const std::vector<const Matrix*>&, int64_t, uint64_t)>;

  // A baseline population with as many cells per group as the prediction,
  // each group built from the pools' cells of that group (the whole pools
  // when a pool has none); without groups, one build from the whole pools.
  Population stratified(const std::vector<std::string>& pred_groups,
                        const std::vector<const Population*>& pools, const Maker& make, uint64_t seed) const {
    std::vector<const Matrix*> whole;
    for (const Population* p : pools) whole.push_back(&p->log);
    if (pred_groups.empty()) return {make(whole, pred_n_, seed), {}};
    Population out;
    out.log.resize(0, pools.front()->log.cols());
    for (const std::string& g : distinct_groups(pred_groups)) {
      const auto n = static_cast<int64_t>(rows_of_group(pred_groups, g).size());
      std::vector<Matrix> parts;
      std::vector<const Matrix*> use = whole;
      for (const Population* p : pools) {
        const Indices r = rows_of_group(p->groups, g);
        if (r.empty()) {
          parts.clear();
          break;
        }
        parts.push_back(select_rows(p->log, r));
      }
      if (!parts.empty())
        for (size_t k = 0; k < parts.size(); ++k) use[k] = &parts[k];
      out.log = stack_rows(out.log, make(use, n, derive_seed(seed, "group/" + g)));
      out.groups.insert(out.groups.end(), static_cast<size_t>(n), g);
    }
    return out;
  }

  // ---- one time point -----------------------------------------------------------
  void time_point(const std::string& t) {
    const Indices pred_rows = capped(pred_rows_at_.at(t), "pred/" + t);
    pred_n_ = static_cast<int64_t>(pred_rows.size());
    const bool trained = std::find(contract_.train_time_points.begin(), contract_.train_time_points.end(),
                                   t) != contract_.train_time_points.end();
    Indices true_rows;
    if (trained && validation_.count(t) != 0 && !validation_[t].empty()) {
      true_rows.assign(validation_[t].begin(), validation_[t].end());
      note(t,
           "true = the " + std::to_string(true_rows.size()) + " distinct target cells (trained time point)");
    } else {
      true_rows = true_rows_at_.at(t);
      note(t, "true = all " + std::to_string(true_rows.size()) + " cells" + (trained ? "" : " (held out)"));
    }
    const Population truth = true_population(capped(true_rows, "true/" + t));
    const Population control = pool(contract_.time_order.front());
    const std::string src = contract_.time_order.front();

    Population model{log_normalised_rows(pred_.X, pred_rows, pred_genes_, pred_file_), {}};
    if (!pred_group_.empty())
      for (const int64_t r : pred_rows) model.groups.push_back(pred_group_[static_cast<size_t>(r)]);
    add(evaluate(contract_.method, t, model, truth, control, opt_.metrics));
    rouge(t, pred_rows, model.groups);

    const uint64_t seed = derive_seed(opt_.seed, "baselines/" + t);
    auto wanted = [&](const char* name) {
      return std::find(opt_.baselines.begin(), opt_.baselines.end(), name) != opt_.baselines.end();
    };
    if (wanted("copy_source")) {
      Indices src_rows;
      for (const int64_t r : pred_rows)
        if (!source_row_.empty() && source_row_[static_cast<size_t>(r)] >= 0)
          src_rows.push_back(source_row_[static_cast<size_t>(r)]);
      if (src_rows.size() == pred_rows.size()) {
        Population p = true_population(src_rows);
        p.groups = model.groups;  // each copy stands for its predicted cell
        add(evaluate("copy_source", t, p, truth, control, opt_.metrics));
      } else {
        add(evaluate("copy_source", t, stratified(model.groups, {&pool(src)}, resample_maker(), seed), truth,
                     control, opt_.metrics));
      }
    }
    if (wanted("target_mean") && trained && pool(t).log.rows() > 0) {
      const Maker mean = [](const std::vector<const Matrix*>& p, int64_t n, uint64_t) {
        return mean_profile(*p[0], n);
      };
      add(evaluate("target_mean", t, stratified(model.groups, {&pool(t)}, mean, seed), truth, control,
                   opt_.metrics));
    }
    const std::string near = nearest(t);
    if (wanted("nearest_time") && !near.empty() && pool(near).log.rows() > 0) {
      note(t, "nearest_time uses " + near);
      add(evaluate("nearest_time", t, stratified(model.groups, {&pool(near)}, resample_maker(), seed), truth,
                   control, opt_.metrics));
    }
    const auto [a, b] = bracket(t);
    if (!a.empty() && !b.empty() && pool(a).log.rows() > 0 && pool(b).log.rows() > 0 &&
        (wanted("linear_interp") || wanted("ot_interp"))) {
      const double lambda = (position_.at(t) - position_.at(a)) / (position_.at(b) - position_.at(a));
      note(t, "interpolation between " + a + " and " + b + " at lambda " + fixed(lambda));
      const std::vector<const Population*> ends = {&pool(a), &pool(b)};
      if (wanted("linear_interp")) {
        const Maker lin = [lambda](const std::vector<const Matrix*>& p, int64_t n, uint64_t s) {
          return linear_interpolation(*p[0], *p[1], lambda, n, s);
        };
        add(evaluate("linear_interp", t, stratified(model.groups, ends, lin, seed), truth, control,
                     opt_.metrics));
      }
      if (wanted("ot_interp")) {
        OtInterpolationOptions oo;
        oo.max_cells = opt_.metrics.transport.exact_max_cells;
        const Maker ot = [lambda, oo](const std::vector<const Matrix*>& p, int64_t n, uint64_t s) {
          return ot_interpolation(*p[0], *p[1], lambda, n, s, oo);
        };
        add(evaluate("ot_interp", t, stratified(model.groups, ends, ot, seed), truth, control, opt_.metrics));
      }
    }
  }

  static Maker resample_maker() {
    return [](const std::vector<const Matrix*>& p, int64_t n, uint64_t s) { return resample(*p[0], n, s); };
  }

  // Nearest observed time point other than t; ties to the earlier one.
  std::string nearest(const std::string& t) const {
    std::string best;
    double best_d = 0;
    for (const std::string& x : observed_) {
      if (x == t) continue;
      const double d = std::abs(position_.at(x) - position_.at(t));
      if (best.empty() || d < best_d || (d == best_d && position_.at(x) < position_.at(best))) {
        best = x;
        best_d = d;
      }
    }
    return best;
  }

  // The closest observed time points strictly before and after t ("" if none).
  std::pair<std::string, std::string> bracket(const std::string& t) const {
    std::string a, b;
    const double pt = position_.at(t);
    for (const std::string& x : observed_) {
      const double px = position_.at(x);
      if (px < pt && (a.empty() || px > position_.at(a))) a = x;
      if (px > pt && (b.empty() || px < position_.at(b))) b = x;
    }
    return {a, b};
  }

  // ---- ROUGE of the predicted gene rankings against the targets' rankings -----
  void rouge(const std::string& t, const Indices& pred_rows, const std::vector<std::string>& groups) {
    const auto it = pred_.obsm.find("gene_ranking");
    if (it == pred_.obsm.end() || target_row_.empty()) return;
    const io::DenseMatrix& ranking = it->second;
    std::vector<std::vector<int64_t>> predicted, reference;
    std::vector<std::string> pair_groups;
    Indices targets;
    for (size_t i = 0; i < pred_rows.size(); ++i) {
      const int64_t r = pred_rows[i];
      if (target_row_[static_cast<size_t>(r)] < 0) continue;
      std::vector<int64_t> seq;
      for (int64_t k = 0; k < ranking.n_cols; ++k) {
        const double v = ranking.at(r, k);
        if (v < 0 || v >= static_cast<double>(pred_genes_.dense_of_file.size())) continue;
        const int32_t d = pred_genes_.dense_of_file[static_cast<size_t>(v)];
        if (d >= 0) seq.push_back(d);
      }
      predicted.push_back(std::move(seq));
      targets.push_back(target_row_[static_cast<size_t>(r)]);
      if (!groups.empty()) pair_groups.push_back(groups[i]);
    }
    if (targets.empty()) return;
    const Matrix expr = normalised_counts(log_normalised_rows(truth_.X, targets, true_genes_, true_file_));
    const Vector& med = medians();
    for (Eigen::Index i = 0; i < expr.rows(); ++i) reference.push_back(rank_genes(expr.row(i), med));
    auto emit = [&](const std::string& group, const Indices& pairs) {
      std::vector<std::vector<int64_t>> p, q;
      for (const int64_t k : pairs) {
        p.push_back(predicted[static_cast<size_t>(k)]);
        q.push_back(reference[static_cast<size_t>(k)]);
      }
      const auto n = static_cast<int64_t>(pairs.size());
      for (const auto& [name, k] :
           {std::pair<const char*, int64_t>{"rouge1_25", 25}, {"rouge1_100", 100}, {"rouge1_all", 0}})
        report_.rows.push_back({contract_.method, t, group, name, mean_rouge1(p, q, k), n, n});
    };
    Indices all(predicted.size());
    for (size_t k = 0; k < all.size(); ++k) all[k] = static_cast<int64_t>(k);
    emit("all", all);
    for (const std::string& g :
         pair_groups.empty() ? std::vector<std::string>{} : distinct_groups(pair_groups))
      emit(g, rows_of_group(pair_groups, g));
  }

  // Per-gene medians of non-zero normalised values over (a capped sample of) all true cells.
  const Vector& medians() {
    if (medians_.size() == 0) {
      const Indices rows = subsample(truth_.n_cells(), opt_.max_cells, derive_seed(opt_.seed, "medians"));
      medians_ =
          nonzero_medians(normalised_counts(log_normalised_rows(truth_.X, rows, true_genes_, true_file_)));
    }
    return medians_;
  }

  void add(std::vector<MetricRow> rows) { report_.rows.insert(report_.rows.end(), rows.begin(), rows.end()); }
  void note(const std::string& t, const std::string& what) { report_.notes.push_back(t + ": " + what); }

  const io::CellMatrix& pred_;
  const io::CellMatrix& truth_;
  std::string pred_file_, true_file_;
  EvaluationOptions opt_;
  PredictionContract contract_;
  EvaluationReport report_;
  GeneColumns pred_genes_, true_genes_;
  std::vector<std::string> true_time_, pred_group_, true_group_;
  std::map<std::string, Indices> true_rows_at_, pred_rows_at_;
  std::map<std::string, double> position_;
  std::set<std::string> observed_;
  std::unordered_map<std::string, int64_t> true_row_of_;
  std::vector<int64_t> source_row_, target_row_;
  std::map<std::string, std::set<int64_t>> validation_;
  std::map<std::string, Population> pools_;
  Vector medians_;
  int64_t pred_n_ = 0;
};

}  // namespace

EvaluationReport evaluate_prediction(const io::CellMatrix& pred, const std::string& pred_file,
                                     const io::CellMatrix& truth, const std::string& true_file,
                                     const EvaluationOptions& opt) {
  return Evaluation(pred, pred_file, truth, true_file, opt).run();
}

}  // namespace pg::analysis
