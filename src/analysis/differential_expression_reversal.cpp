#include "analysis/differential_expression_reversal.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <limits>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "analysis/differential_expression.h"
#include "core/error.h"
#include "core/random.h"
#include "io/tabular.h"

namespace pg::analysis {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path, "", "cannot open the file");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw Error(path, "", "read failed");
  return text;
}

std::string line_of(size_t row) {
  return "line " + std::to_string(row + 1);
}

double parse_number(std::string_view text, const std::string& file, size_t row, const std::string& column) {
  std::string s(text);
  if (s == "NA" || s == "nan" || s == "NaN") return kNaN;
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != s.size()) throw Error(file, line_of(row), column + " '" + s + "' is not a number");
  return v;
}

int find_column(const std::vector<std::string>& header, std::initializer_list<const char*> names) {
  for (const char* n : names)
    for (size_t j = 0; j < header.size(); ++j)
      if (header[j] == n) return static_cast<int>(j);
  return -1;
}

double log_choose(int64_t n, int64_t k) {
  return std::lgamma(static_cast<double>(n) + 1) - std::lgamma(static_cast<double>(k) + 1) -
         std::lgamma(static_cast<double>(n - k) + 1);
}

}  // namespace

std::vector<GeneSet> read_gmt(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<GeneSet> sets;
  io::for_each_tsv_row(text, [&](size_t row, const std::vector<std::string_view>& f) {
    if (f.size() == 1 && f[0].find_first_not_of(" \t") == std::string_view::npos) return;  // blank line
    if (f.size() < 3 || f[0].empty())
      throw Error(path, line_of(row), "a gene set needs a name, a description and genes");
    GeneSet s{std::string(f[0]), std::string(f[1]), {}};
    std::unordered_set<std::string> seen;
    for (size_t j = 2; j < f.size(); ++j) {
      std::string g(f[j]);
      if (!g.empty() && seen.insert(g).second) s.genes.push_back(std::move(g));
    }
    if (s.genes.empty()) throw Error(path, line_of(row), "gene set '" + s.name + "' lists no genes");
    sets.push_back(std::move(s));
  });
  return sets;
}

std::vector<TrueDe> read_true_de(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<std::string> header;
  int gene = -1, lfc = -1, padj = -1;
  std::vector<TrueDe> out;
  std::unordered_set<std::string> seen;
  io::for_each_tsv_row(text, [&](size_t row, const std::vector<std::string_view>& f) {
    if (row == 0) {
      for (auto v : f) header.emplace_back(v);
      gene = find_column(header, {"gene", "names", "gene_id", "gene_name", "symbol"});
      lfc = find_column(header, {"logFC", "logfoldchange", "logfoldchanges", "log2FoldChange", "avg_log2FC"});
      padj =
          find_column(header, {"padj", "pvalue_adj", "pvals_adj", "p_val_adj", "adj.P.Val", "FDR", "qvalue"});
      if (gene < 0 || lfc < 0 || padj < 0)
        throw Error(path, "header",
                    std::string("needs a ") +
                        (gene < 0  ? "gene"
                         : lfc < 0 ? "logFC"
                                   : "padj") +
                        " column (see perturbgen de --help)");
      return;
    }
    if (f.size() == 1 && f[0].empty()) return;  // blank line
    if (f.size() != header.size())
      throw Error(path, line_of(row),
                  std::to_string(f.size()) + " fields, the header has " + std::to_string(header.size()));
    TrueDe d;
    d.gene = std::string(f[static_cast<size_t>(gene)]);
    d.log_fold_change =
        parse_number(f[static_cast<size_t>(lfc)], path, row, header[static_cast<size_t>(lfc)]);
    d.pvalue_adj = parse_number(f[static_cast<size_t>(padj)], path, row, header[static_cast<size_t>(padj)]);
    if (!seen.insert(d.gene).second)
      throw Error(path, line_of(row), "gene '" + d.gene + "' appears twice (one comparison per table)");
    out.push_back(std::move(d));
  });
  if (header.empty()) throw Error(path, "", "empty table");
  return out;
}

double hypergeometric_sf(int64_t k, int64_t N, int64_t K, int64_t n) {
  if (N < 0 || K < 0 || n < 0 || K > N || n > N)
    throw std::invalid_argument("pg::analysis::hypergeometric_sf: invalid parameters");
  const int64_t lo = std::max<int64_t>(0, n - (N - K)), hi = std::min(n, K);
  if (k <= lo) return 1.0;
  if (k > hi) return 0.0;
  // pmf(k) from log-gammas, then the ratio pmf(i+1)/pmf(i) up to hi.
  double term = std::exp(log_choose(K, k) + log_choose(N - K, n - k) - log_choose(N, n));
  double sum = 0;
  for (int64_t i = k; i <= hi; ++i) {
    sum += term;
    term *= static_cast<double>(K - i) * static_cast<double>(n - i) /
            (static_cast<double>(i + 1) * static_cast<double>(N - K - n + i + 1));
  }
  return std::min(sum, 1.0);
}

ReversalResult reversal_score(std::span<const std::string> genes, std::span<const double> predicted_lfc,
                              const std::vector<TrueDe>& truth, const std::vector<GeneSet>& sets,
                              const ReversalOptions& opt) {
  if (genes.size() != predicted_lfc.size())
    throw std::invalid_argument("pg::analysis::reversal_score: genes and predictions differ in length");
  if (opt.permutations < 0)
    throw std::invalid_argument("pg::analysis::reversal_score: negative permutations");
  std::unordered_map<std::string, double> predicted;
  for (size_t i = 0; i < genes.size(); ++i) predicted[genes[i]] = predicted_lfc[i];

  // The universe (truth table genes) and, per gene, its role.
  std::unordered_map<std::string, size_t> universe;
  std::vector<int64_t> scored_index(truth.size(), -1);  // position among the scored genes
  std::vector<double> weight, true_sign, pred_sign;     // per scored gene
  std::vector<uint8_t> is_deg(truth.size(), 0);
  ReversalResult res;
  for (size_t i = 0; i < truth.size(); ++i) {
    universe.emplace(truth[i].gene, i);
    const auto& t = truth[i];
    if (!(t.pvalue_adj < opt.truth_alpha && std::abs(t.log_fold_change) > opt.truth_min_abs_lfc)) continue;
    is_deg[i] = 1;
    ++res.n_true_degs;
    const auto p = predicted.find(t.gene);
    if (p == predicted.end() || !(p->second > 0 || p->second < 0)) continue;
    scored_index[i] = static_cast<int64_t>(weight.size());
    weight.push_back(std::abs(t.log_fold_change));
    true_sign.push_back(t.log_fold_change > 0 ? 1.0 : -1.0);
    pred_sign.push_back(p->second > 0 ? 1.0 : -1.0);
  }

  // Pathways: members as indices into the truth table.
  std::vector<GeneSet> all;
  const bool single = sets.empty();
  if (single) {
    GeneSet s{"all_genes", "every gene of the truth table", {}};
    for (const auto& t : truth) s.genes.push_back(t.gene);
    all.push_back(std::move(s));
  }
  const auto& use_sets = single ? all : sets;
  std::vector<std::vector<int64_t>> members;  // scored-gene indices per pathway
  std::vector<size_t> tested;
  for (const auto& s : use_sets) {
    std::vector<std::string> distinct;  // in listed order, so sums are in a fixed order
    std::unordered_set<std::string> seen;
    for (const auto& g : s.genes)
      if (seen.insert(g).second) distinct.push_back(g);
    if (!single && static_cast<int64_t>(distinct.size()) > opt.max_set_size) continue;
    PathwayReversal p;
    p.name = s.name;
    p.set_size = static_cast<int64_t>(distinct.size());
    std::vector<int64_t> m;
    for (const auto& g : distinct) {
      const auto u = universe.find(g);
      if (u == universe.end()) continue;
      ++p.n_in_universe;
      if (is_deg[u->second]) ++p.n_true_degs;
      if (scored_index[u->second] >= 0) m.push_back(scored_index[u->second]);
    }
    p.n_scored = static_cast<int64_t>(m.size());
    double num = 0, den = 0;
    for (int64_t j : m) {
      den += weight[static_cast<size_t>(j)];
      if (pred_sign[static_cast<size_t>(j)] == -true_sign[static_cast<size_t>(j)])
        num += weight[static_cast<size_t>(j)];
    }
    p.reversal = m.empty() ? kNaN : num / den;
    p.ora_pvalue = p.ora_padj = kNaN;
    if (!single && p.n_true_degs > 0) {
      p.ora_pvalue = hypergeometric_sf(p.n_true_degs, static_cast<int64_t>(truth.size()), res.n_true_degs,
                                       p.n_in_universe);
      tested.push_back(res.pathways.size());
    }
    res.pathways.push_back(std::move(p));
    members.push_back(std::move(m));
  }
  std::vector<double> ps;
  for (size_t i : tested) ps.push_back(res.pathways[i].ora_pvalue);
  const auto adj = benjamini_hochberg(ps);
  for (size_t j = 0; j < tested.size(); ++j) res.pathways[tested[j]].ora_padj = adj[j];

  std::vector<size_t> used;
  for (size_t i = 0; i < res.pathways.size(); ++i) {
    auto& p = res.pathways[i];
    p.used = (single || p.ora_padj < opt.ora_alpha) && p.n_scored >= opt.min_scored_genes && p.n_scored > 0;
    if (p.used) used.push_back(i);
  }
  res.n_used = static_cast<int64_t>(used.size());
  res.permutations = opt.permutations;
  if (used.empty()) {
    res.score = res.pvalue = kNaN;
    return res;
  }
  double total = 0;
  for (size_t i : used) total += res.pathways[i].reversal;
  res.score = total / static_cast<double>(used.size());

  // The null: random predicted signs, the same pathways and weights.
  Rng rng(opt.seed);
  std::vector<double> sign(weight.size());
  int64_t at_least = 0;
  for (int64_t b = 0; b < opt.permutations; ++b) {
    for (auto& s : sign) s = (rng.next() >> 63) ? 1.0 : -1.0;
    double t = 0;
    for (size_t i : used) {
      double num = 0, den = 0;
      for (int64_t j : members[i]) {
        const auto u = static_cast<size_t>(j);
        den += weight[u];
        if (sign[u] == -true_sign[u]) num += weight[u];
      }
      t += num / den;
    }
    if (t / static_cast<double>(used.size()) >= res.score) ++at_least;
  }
  res.pvalue = static_cast<double>(1 + at_least) / static_cast<double>(opt.permutations + 1);
  return res;
}

}  // namespace pg::analysis
