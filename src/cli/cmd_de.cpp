// perturbgen de: differential expression as scanpy's rank_genes_groups
// (method="wilcoxon", BH-adjusted; analysis/differential_expression.h).
//
//   de INPUT --groupby COL --group NAME [--reference rest|NAME]: one group of
//      cells against the rest or another group; X (or --layer) holds counts,
//      normalised per cell to --target-sum and log1p-transformed first, or
//      log-normalised values with --log-normalised.
//   de --perturbation PERTURB.h5ad: a perturbation output (X = perturbed
//      predicted counts, layers['pred_counts'] = control predicted counts of
//      the same cells, obs time_point); per time point (and per group of
//      --group-key) perturbed vs control cells, normalised + log1p, Wilcoxon
//      with control as the reference (spec §6.6).
// With --truth TABLE.tsv the pathway reversal score of each comparison
// (analysis/differential_expression_reversal.h) goes to OUT.reversal.tsv.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "analysis/differential_expression.h"
#include "analysis/differential_expression_reversal.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/number_text.h"
#include "io/formats.h"

namespace pg::cli {

namespace {

struct Options {
  std::string input, groupby, group, reference = "rest", layer, out, perturbation, group_key;
  std::string time_key = "time_point", control_layer = "pred_counts", target_sum = "1e4", gene_names;
  std::string truth, gene_sets;
  bool log_normalised = false, no_tie_correct = false;
  int64_t permutations = 5000;
  uint64_t seed = 0;
};

// One comparison: its key columns (group/reference, or time_point/group) and results.
struct Comparison {
  std::vector<std::string> key;
  int64_t n_group = 0, n_reference = 0;
  std::vector<analysis::GeneTest> tests;
};

std::string num(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return shortest_text(v);
}

std::string joined(const std::vector<std::string>& items, size_t max_items = 10) {
  std::string s;
  for (size_t i = 0; i < items.size() && i < max_items; ++i) s += (i ? ", " : "") + items[i];
  if (items.size() > max_items) s += ", ...";
  return s;
}

// Values must be finite; counts also >= 0.
void check_values(const io::CsrMatrix& m, const std::string& file, const std::string& element, bool counts) {
  for (int64_t r = 0; r < m.n_rows; ++r)
    for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
      const float v = m.data[static_cast<size_t>(k)];
      const std::string where =
          " at cell " + std::to_string(r) + ", gene " + std::to_string(m.indices[static_cast<size_t>(k)]);
      if (!std::isfinite(v)) throw Error(file, element, "non-finite value" + where);
      if (counts && v < 0)
        throw Error(
            file, element,
            "negative value " + num(v) + where + " (counts expected; --log-normalised for log values)");
    }
}

double parse_target_sum(const std::string& text, const std::vector<const io::CsrMatrix*>& all) {
  if (text == "median") return analysis::median_total(all);
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || !(v > 0) || !std::isfinite(v))
    throw Error("", "--target-sum", "'" + text + "' is neither a positive number nor 'median'");
  return v;
}

const io::Column& obs_column(const io::CellMatrix& m, const std::string& name, const std::string& file) {
  const auto* c = m.obs.find(name);
  if (c == nullptr) {
    std::vector<std::string> names;
    for (const auto& col : m.obs.columns) names.push_back(col.name);
    throw Error(file, "obs/" + name, "no such column (obs has: " + joined(names) + ")");
  }
  return *c;
}

const io::CsrMatrix& layer_of(const io::CellMatrix& m, const std::string& name, const std::string& file) {
  const auto it = m.layers.find(name);
  if (it == m.layers.end()) {
    std::vector<std::string> names;
    for (const auto& [n, l] : m.layers) names.push_back(n);
    throw Error(file, "layers/" + name,
                "no such layer" +
                    (names.empty() ? std::string(" (the file has none)") : " (has: " + joined(names) + ")"));
  }
  return it->second;
}

std::vector<std::string> gene_names(const io::CellMatrix& m, const std::string& column,
                                    const std::string& file) {
  if (column.empty()) return m.var.index;
  const auto* c = m.var.find(column);
  if (c == nullptr) throw Error(file, "var/" + column, "no such column (--gene-names)");
  std::vector<std::string> out;
  for (size_t i = 0; i < c->size(); ++i) out.push_back(c->text(i));
  return out;
}

// Labels in display order: categories for a categorical, else first appearance.
std::vector<std::string> label_order(const io::Column& c) {
  std::vector<std::string> out;
  if (c.type == io::ColumnType::Categorical) {
    std::vector<uint8_t> present(c.categories.size(), 0);
    for (int32_t code : c.codes)
      if (code >= 0) present[static_cast<size_t>(code)] = 1;
    for (size_t i = 0; i < c.categories.size(); ++i)
      if (present[i]) out.push_back(c.categories[i]);
    return out;
  }
  for (size_t i = 0; i < c.size(); ++i)
    if (!c.is_missing(i) && std::find(out.begin(), out.end(), c.text(i)) == out.end())
      out.push_back(c.text(i));
  return out;
}

std::vector<int64_t> rows_with(const io::Column& c, const std::string& label) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i < c.size(); ++i)
    if (!c.is_missing(i) && c.text(i) == label) rows.push_back(static_cast<int64_t>(i));
  return rows;
}

analysis::DeOptions de_options(const Options& o) {
  analysis::DeOptions d;
  d.tie_correct = !o.no_tie_correct;
  return d;
}

std::vector<Comparison> run_groups(const Options& o, std::vector<std::string>& genes) {
  io::ReadOptions ro;
  ro.layers = o.layer.empty() ? std::vector<std::string>{} : std::vector<std::string>{o.layer};
  ro.load_obsm = ro.load_varm = ro.load_uns = false;
  const io::CellMatrix m = io::read_any(o.input, ro);
  const io::Column& col = obs_column(m, o.groupby, o.input);
  const std::string element = o.layer.empty() ? "X" : "layers/" + o.layer;
  if (o.layer.empty() && !m.has_x) throw Error(o.input, "X", "the file has no X (use --layer)");
  const io::CsrMatrix& x = o.layer.empty() ? m.X : layer_of(m, o.layer, o.input);
  check_values(x, o.input, element, !o.log_normalised);
  genes = gene_names(m, o.gene_names, o.input);

  const auto labels = label_order(col);
  auto rows_of = [&](const std::string& label, const char* option) {
    auto rows = rows_with(col, label);
    if (rows.empty())
      throw Error(o.input, "obs/" + o.groupby,
                  std::string(option) + " '" + label + "' has no cells (groups: " + joined(labels) + ")");
    if (rows.size() < 2)
      throw Error(o.input, "obs/" + o.groupby,
                  std::string(option) + " '" + label + "' has 1 cell; the test needs at least 2");
    return rows;
  };
  const auto group = rows_of(o.group, "--group");
  std::vector<int64_t> reference;
  if (o.reference == "rest") {
    std::vector<uint8_t> in(static_cast<size_t>(m.n_cells()), 0);
    for (int64_t r : group) in[static_cast<size_t>(r)] = 1;
    for (int64_t r = 0; r < m.n_cells(); ++r)
      if (!in[static_cast<size_t>(r)]) reference.push_back(r);  // scanpy's rest: every other cell
    if (reference.size() < 2)
      throw Error(o.input, "obs/" + o.groupby,
                  "the rest (every other cell) has " + std::to_string(reference.size()) +
                      (reference.size() == 1 ? " cell" : " cells") + "; the test needs at least 2");
  } else {
    if (o.reference == o.group) throw Error("", "--reference", "the reference is the group itself");
    reference = rows_of(o.reference, "--reference");
  }
  Comparison c;
  c.key = {o.group, o.reference};
  c.n_group = static_cast<int64_t>(group.size());
  c.n_reference = static_cast<int64_t>(reference.size());
  if (o.log_normalised) {
    c.tests = analysis::wilcoxon(x, group, reference, de_options(o));
  } else {
    const double target = parse_target_sum(o.target_sum, {&x});
    c.tests = analysis::wilcoxon_counts(x, group, x, reference, target, de_options(o));
  }
  return {c};
}

std::vector<Comparison> run_perturbation(const Options& o, std::vector<std::string>& genes) {
  io::ReadOptions ro;
  ro.layers = std::vector<std::string>{o.control_layer};
  ro.load_obsm = ro.load_varm = false;
  const io::CellMatrix m = io::read_any(o.perturbation, ro);
  if (!m.has_x) throw Error(o.perturbation, "X", "the file has no X (perturbed predicted counts)");
  const io::CsrMatrix& control = layer_of(m, o.control_layer, o.perturbation);
  check_values(m.X, o.perturbation, "X", true);
  check_values(control, o.perturbation, "layers/" + o.control_layer, true);
  const io::Column& time = obs_column(m, o.time_key, o.perturbation);
  const io::Column* groups = o.group_key.empty() ? nullptr : &obs_column(m, o.group_key, o.perturbation);
  genes = gene_names(m, o.gene_names, o.perturbation);
  // The whole file is normalised as one (perturbed and control concatenated),
  // so the median target, if asked for, is over all of it.
  const double target = parse_target_sum(o.target_sum, {&m.X, &control});

  std::vector<Comparison> out;
  for (const auto& t : label_order(time)) {
    const auto at_time = rows_with(time, t);
    std::vector<std::pair<std::string, std::vector<int64_t>>> blocks = {{"all", at_time}};
    if (groups != nullptr)
      for (const auto& g : label_order(*groups)) {
        std::vector<int64_t> rows;
        for (int64_t r : at_time)
          if (!groups->is_missing(static_cast<size_t>(r)) && groups->text(static_cast<size_t>(r)) == g)
            rows.push_back(r);
        if (!rows.empty()) blocks.emplace_back(g, std::move(rows));
      }
    for (const auto& [g, rows] : blocks) {
      if (rows.size() < 2) {
        std::cout << "note: " << o.time_key << " " << t << ", group " << g << ": " << rows.size()
                  << " cell, skipped (the test needs at least 2)\n";
        continue;
      }
      Comparison c;
      c.key = {t, g};
      c.n_group = c.n_reference = static_cast<int64_t>(rows.size());
      c.tests = analysis::wilcoxon_counts(m.X, rows, control, rows, target, de_options(o));
      out.push_back(std::move(c));
    }
  }
  if (out.empty()) throw Error(o.perturbation, "obs/" + o.time_key, "no time point has 2 cells or more");
  return out;
}

std::string de_table(const std::vector<Comparison>& comps, const std::vector<std::string>& genes,
                     bool perturbation) {
  std::ostringstream s;
  s << (perturbation
            ? "time_point\tgroup\tgene\tscore\tlogfoldchange\tpvalue\tpvalue_adj\tmean_perturbed\tmean_"
              "control\n"
            : "group\treference\tgene\tscore\tlogfoldchange\tpvalue\tpvalue_adj\tmean_group\tmean_reference\t"
              "frac_group\tfrac_reference\n");
  for (const auto& c : comps)
    for (int64_t g : analysis::rank_by_score(c.tests)) {
      const auto& t = c.tests[static_cast<size_t>(g)];
      s << c.key[0] << '\t' << c.key[1] << '\t' << genes[static_cast<size_t>(g)] << '\t' << num(t.score)
        << '\t' << num(t.log_fold_change) << '\t' << num(t.pvalue) << '\t' << num(t.pvalue_adj) << '\t'
        << num(t.mean_group) << '\t' << num(t.mean_reference);
      if (!perturbation) s << '\t' << num(t.frac_group) << '\t' << num(t.frac_reference);
      s << '\n';
    }
  return s.str();
}

std::string reversal_table(const std::vector<std::pair<const Comparison*, analysis::ReversalResult>>& results,
                           bool perturbation) {
  std::ostringstream s;
  s << (perturbation ? "time_point\tgroup" : "group\treference")
    << "\tkind\tpathway\tset_size\tn_in_universe\tn_true_degs\tora_pvalue\tora_padj\tn_"
       "scored\treversal\tused\t"
       "permutation_p\n";
  for (const auto& [c, r] : results) {
    s << c->key[0] << '\t' << c->key[1] << "\tsummary\t\t\t\t" << r.n_true_degs << "\t\t\t" << r.n_used
      << '\t' << num(r.score) << "\t\t" << num(r.pvalue) << '\n';
    for (const auto& p : r.pathways)
      s << c->key[0] << '\t' << c->key[1] << "\tpathway\t" << p.name << '\t' << p.set_size << '\t'
        << p.n_in_universe << '\t' << p.n_true_degs << '\t' << num(p.ora_pvalue) << '\t' << num(p.ora_padj)
        << '\t' << p.n_scored << '\t' << num(p.reversal) << '\t' << (p.used ? 1 : 0) << "\t\n";
  }
  return s.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path.string(), "", "cannot create the file");
  out << text;
  out.close();
  if (!out) throw Error(path.string(), "", "write failed (disk full?)");
}

std::filesystem::path reversal_path(const std::string& out) {
  std::filesystem::path p(out);
  const std::string ext = p.extension().string();
  p.replace_extension();
  return p.string() + ".reversal" + (ext.empty() ? std::string(".tsv") : ext);
}

void run(const Options& o) {
  const bool perturbation = !o.perturbation.empty();
  if (perturbation && (!o.input.empty() || !o.groupby.empty() || !o.group.empty()))
    throw Error("", "--perturbation",
                "takes no INPUT, --groupby or --group (it compares perturbed with control)");
  if (perturbation && (o.log_normalised || !o.layer.empty()))
    throw Error("", "--perturbation",
                "reads counts from X and --control-layer; --layer and --log-normalised do not apply");
  if (!perturbation && (o.input.empty() || o.groupby.empty() || o.group.empty()))
    throw Error("", "de", "needs INPUT --groupby COL --group NAME, or --perturbation FILE");
  if (!o.gene_sets.empty() && o.truth.empty()) throw Error("", "--gene-sets", "needs --truth");

  std::vector<std::string> genes;
  const auto comps = perturbation ? run_perturbation(o, genes) : run_groups(o, genes);
  std::vector<std::filesystem::path> inputs = {perturbation ? o.perturbation : o.input};
  if (!o.truth.empty()) inputs.emplace_back(o.truth);
  if (!o.gene_sets.empty()) inputs.emplace_back(o.gene_sets);

  const std::string text = de_table(comps, genes, perturbation);
  write_atomically(
      o.out, [&](const std::filesystem::path& tmp) { write_text(tmp, text); }, inputs);
  for (const auto& c : comps) {
    std::cout << c.key[0] << (perturbation ? " / " : " vs ") << c.key[1] << ": " << c.n_group << " vs "
              << c.n_reference << " cells, " << analysis::count_significant(c.tests) << " DEGs (padj < 0.05; "
              << analysis::top_up(c.tests, -1).size() << " up, " << analysis::top_down(c.tests, -1).size()
              << " down)\n";
  }
  std::cout << "Wrote " << comps.size() * genes.size() << " rows to " << o.out << ".\n";
  if (o.truth.empty()) return;

  const auto truth = analysis::read_true_de(o.truth);
  const auto sets = o.gene_sets.empty() ? std::vector<analysis::GeneSet>{} : analysis::read_gmt(o.gene_sets);
  analysis::ReversalOptions ro;
  ro.permutations = o.permutations;
  ro.seed = o.seed;
  std::vector<std::pair<const Comparison*, analysis::ReversalResult>> results;
  for (const auto& c : comps) {
    std::vector<double> lfc;
    for (const auto& t : c.tests) lfc.push_back(t.log_fold_change);
    results.emplace_back(&c, analysis::reversal_score(genes, lfc, truth, sets, ro));
    const auto& r = results.back().second;
    std::cout << "reversal " << c.key[0] << (perturbation ? " / " : " vs ") << c.key[1]
              << ": T = " << num(r.score) << " over " << r.n_used
              << (r.n_used == 1 ? " pathway" : " pathways") << " (" << r.n_true_degs
              << " true DEGs), p = " << num(r.pvalue) << " (" << r.permutations << " permutations)\n";
  }
  const auto path = reversal_path(o.out);
  const std::string rtext = reversal_table(results, perturbation);
  write_atomically(
      path, [&](const std::filesystem::path& tmp) { write_text(tmp, rtext); }, inputs);
  std::cout << "Wrote the reversal scores to " << path.string() << ".\n";
}

}  // namespace

void add_de(CLI::App& app) {
  auto opt = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "de",
      "Differential expression (Wilcoxon, as scanpy rank_genes_groups): a group of cells vs the rest or "
      "another group, or perturbed vs control per time point of a perturbation output");
  cmd->add_option("input", opt->input,
                  "Input file (h5ad, loom, 10x) with counts, or log values (--log-normalised)");
  cmd->add_option("--groupby", opt->groupby, "obs column with the groups");
  cmd->add_option("--group", opt->group, "The group tested");
  cmd->add_option("--reference", opt->reference, "rest (every other cell) or another group")
      ->capture_default_str();
  cmd->add_option("--layer", opt->layer, "Read this layer instead of X");
  cmd->add_flag("--log-normalised", opt->log_normalised,
                "The values are log-normalised already (no normalisation)");
  cmd->add_option("--perturbation", opt->perturbation,
                  "Perturbation output (.h5ad): X = perturbed counts, --control-layer = control counts");
  cmd->add_option("--group-key", opt->group_key, "With --perturbation: also per group of this obs column");
  cmd->add_option("--time-key", opt->time_key, "With --perturbation: obs column of the time points")
      ->capture_default_str();
  cmd->add_option("--control-layer", opt->control_layer, "With --perturbation: layer with the control counts")
      ->capture_default_str();
  cmd->add_option(
         "--target-sum", opt->target_sum,
         "normalize_total target per cell, or 'median' (scanpy's default: the median total of the file)")
      ->capture_default_str();
  cmd->add_flag("--no-tie-correct", opt->no_tie_correct,
                "No tie correction of the z-scores (scanpy's default)");
  cmd->add_option("--gene-names", opt->gene_names,
                  "var column with the gene names to write (default: var index)");
  cmd->add_option("-o,--output", opt->out, "Output TSV, sorted by score within each comparison")->required();
  cmd->add_option("--truth", opt->truth,
                  "Ground-truth DE table (TSV: gene, logFC, padj columns): adds the pathway reversal score, "
                  "written to OUT.reversal.tsv");
  cmd->add_option("--gene-sets", opt->gene_sets,
                  "GMT file of pathways for the reversal score (default: all genes as one set)");
  cmd->add_option("--permutations", opt->permutations, "Random sign vectors of the reversal null")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", opt->seed, "Seed of the reversal null")->capture_default_str();
  cmd->callback([opt] { run(*opt); });
}

}  // namespace pg::cli
