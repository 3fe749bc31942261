#include "perturb/perturb_output.h"

#include <cmath>
#include <sstream>

#include "core/number_text.h"
#include "generate/output.h"

namespace pg::perturb {

namespace {

pg::io::DenseMatrix dense(const torch::Tensor& x, const std::string& dtype = "float32") {
  const auto c = x.to(torch::kCPU, torch::kFloat64).contiguous();
  pg::io::DenseMatrix m;
  m.n_rows = c.size(0);
  m.n_cols = c.dim() > 1 ? c.size(1) : 1;
  m.values.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  m.dtype = dtype;
  return m;
}

torch::Tensor stack_times(const PerturbResult& r, torch::Tensor PerturbTime::*field) {
  std::vector<torch::Tensor> parts;
  for (const auto& [t, pt] : r.times)
    if ((pt.*field).defined()) parts.push_back(pt.*field);
  return parts.size() == r.times.size() && !parts.empty() ? torch::cat(parts) : torch::Tensor();
}

std::string gene_list(const std::vector<int64_t>& genes, const pg::store::TokenStore& store) {
  std::string s;
  for (int64_t g : genes) {
    const auto& row = store.genes()[static_cast<size_t>(g)];
    s += (s.empty() ? "" : ",") + (row.gene_name.empty() ? row.gene_id : row.gene_name);
  }
  return s;
}

std::string number(double x) {
  return std::isnan(x) ? "NA" : pg::shortest_text(x);
}

}  // namespace

std::string perturbation_file_name(Validation validation, const std::vector<std::string>& genes, Sequence on,
                                   EditMode mode) {
  std::string g;
  for (size_t k = 0; k < genes.size() && k < 5; ++k) g += (k ? "_" : "") + genes[k];
  for (auto& c : g)
    if (c == '/' || c == ' ') c = '-';
  return std::string("m") + (validation == Validation::generate ? "generate" : "inference") + "_g" + g +
         "_s" + (on == Sequence::source ? "src" : "tgt") + "_t" + edit_mode_name(mode) + ".h5ad";
}

pg::io::CellMatrix perturbation_cells(const PerturbResult& r, const std::map<int64_t, TimeSummary>& summaries,
                                      const pg::store::TokenStore& store,
                                      const pg::model::ModelConfig& config,
                                      const nlohmann::json& perturbation) {
  pg::io::CellMatrix m;
  m.var = pg::generate::gene_table(store);
  std::map<int64_t, std::vector<int64_t>> targets;
  for (const auto& [t, pt] : r.times) targets[t] = pt.target_cells;
  m.obs = pg::generate::paired_cell_table(store, r.rows, r.source_cells, targets);
  const auto n = static_cast<int64_t>(m.obs.n_rows());
  const auto G = static_cast<int64_t>(store.genes().size());
  const auto perturbed = stack_times(r, &PerturbTime::perturbed_counts);
  if (perturbed.defined()) {
    pg::generate::append_rows(m.X, perturbed);
    pg::generate::append_rows(m.layers["pred_counts"], stack_times(r, &PerturbTime::control_counts));
  } else {
    m.X.n_rows = n;
    m.X.n_cols = G;
    m.X.indptr.assign(static_cast<size_t>(n + 1), 0);
  }
  const auto truth = stack_times(r, &PerturbTime::true_counts);
  if (truth.defined()) pg::generate::append_rows(m.layers["true_counts"], truth);
  if (n > 0) {
    m.obsm["true_cls"] = dense(stack_times(r, &PerturbTime::control_embedding));
    m.obsm["perturbed_cls"] = dense(stack_times(r, &PerturbTime::perturbed_embedding));
    m.obsm["mean_cos_similarity"] = dense(stack_times(r, &PerturbTime::cosine).unsqueeze(1));
    m.varm["gene_cos_similarity"] = dense(stack_times(r, &PerturbTime::gene_cosine).t());
  }
  if (!summaries.empty()) {
    pg::io::DenseMatrix shift{G, static_cast<int64_t>(summaries.size()), {}, "float32"};
    shift.values.resize(static_cast<size_t>(G) * summaries.size());
    size_t k = 0;
    for (const auto& [t, s] : summaries) {
      for (int64_t g = 0; g < G && g < static_cast<int64_t>(s.gene_shift.size()); ++g)
        shift.values[static_cast<size_t>(g) * summaries.size() + k] = s.gene_shift[static_cast<size_t>(g)];
      ++k;
    }
    m.varm["gene_shift"] = shift;
  }
  auto info = pg::generate::time_info(store, config);
  info["method"] = "perturbgen";
  info["perturbation"] = perturbation;
  nlohmann::json sj = nlohmann::json::object();
  const auto& labels = store.pairing().columns;
  for (const auto& [t, s] : summaries) {
    sj[labels[static_cast<size_t>(t)]] = {{"n_cells", s.n_cells},
                                          {"mean_shift", s.mean_shift},
                                          {"ci_low", s.ci_low},
                                          {"ci_high", s.ci_high},
                                          {"n_de", s.n_de},
                                          {"n_up", s.n_up},
                                          {"n_down", s.n_down},
                                          {"top_up", gene_list(s.top_up, store)},
                                          {"top_down", gene_list(s.top_down, store)},
                                          {"top_shifted", gene_list(s.top_shifted, store)}};
  }
  info["summary"] = sj;
  m.uns["perturbgen"] = info;
  return m;
}

std::string summary_header() {
  return "perturbation\tgenes\tmode\ton\tvalidation\ttime_point\tn_cells\tn_skipped\tmean_shift\tshift_ci_"
         "low\t"
         "shift_ci_high\tn_de\tn_up\tn_down\ttop_up\ttop_down\ttop_shifted_genes";
}

std::string summary_line(const SummaryRow& row, const pg::store::TokenStore& store) {
  const auto& s = row.summary;
  std::ostringstream o;
  std::string genes;
  for (const auto& g : row.genes) genes += (genes.empty() ? "" : ",") + g;
  o << row.perturbation << '\t' << genes << '\t' << row.settings.value("mode", "") << '\t'
    << row.settings.value("on", "") << '\t' << row.settings.value("validation", "") << '\t' << row.time_point
    << '\t' << s.n_cells << '\t' << row.skipped << '\t' << number(s.mean_shift) << '\t' << number(s.ci_low)
    << '\t' << number(s.ci_high) << '\t' << (s.n_de < 0 ? "NA" : std::to_string(s.n_de)) << '\t'
    << (s.n_up < 0 ? "NA" : std::to_string(s.n_up)) << '\t'
    << (s.n_down < 0 ? "NA" : std::to_string(s.n_down)) << '\t' << gene_list(s.top_up, store) << '\t'
    << gene_list(s.top_down, store) << '\t' << gene_list(s.top_shifted, store);
  return o.str();
}

}  // namespace pg::perturb
