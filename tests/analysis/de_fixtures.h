// The scanpy results of tests/data/de/ (written by tests/python/make_de_fixtures.py):
// inputs.safetensors (kang_x: 300 x 200 log values; pbmc_counts: 300 x 200
// UMI counts) and de_expected.json (gene names, group labels, and per
// comparison scanpy's scores, pvals, pvals_adj, logfoldchanges and means in
// var order), plus the tolerances the C++ must meet against them.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "analysis/differential_expression.h"
#include "io/safetensors.h"
#include "test_support.h"

namespace pg::test {

inline std::filesystem::path de_dir() {
  return source_dir() / "tests" / "data" / "de";
}

inline const nlohmann::json& de_expected() {
  static const nlohmann::json j = [] {
    std::ifstream in(de_dir() / "de_expected.json");
    return nlohmann::json::parse(in);
  }();
  return j;
}

inline const io::SafeTensors& de_inputs() {
  static const io::SafeTensors t = io::SafeTensors::read((de_dir() / "inputs.safetensors").string());
  return t;
}

// Rows of a row-major cells x genes array, copied in order.
inline std::vector<float> rows_of(const std::vector<float>& x, int64_t n_genes,
                                  const std::vector<int64_t>& rows) {
  std::vector<float> out;
  for (int64_t r : rows) out.insert(out.end(), x.begin() + r * n_genes, x.begin() + (r + 1) * n_genes);
  return out;
}

inline std::vector<int64_t> rows_labelled(const nlohmann::json& labels, const std::string& label,
                                          bool equal = true) {
  std::vector<int64_t> rows;
  for (size_t i = 0; i < labels.size(); ++i)
    if ((labels[i].get<std::string>() == label) == equal) rows.push_back(static_cast<int64_t>(i));
  return rows;
}

// The largest deviations from scanpy over one comparison, for the report.
struct DeAgreement {
  double score_rel = 0, pvalue_rel = 0, pvalue_adj_rel = 0, lfc_abs = 0, mean_abs = 0;
};

// Checks `tests` against scanpy's comparison `expected`:
//   score: |d| <= 1e-6 |s| + 1e-9; p-values: |d| <= 1e-6 p + 1e-12; logFC, means: |d| <= 1e-5.
inline DeAgreement expect_matches_scanpy(const std::vector<analysis::GeneTest>& tests,
                                         const nlohmann::json& expected, const std::string& what) {
  DeAgreement a;
  const auto& s = expected["scores"];
  EXPECT_EQ(tests.size(), s.size()) << what;
  auto rel = [](double x, double y) { return std::abs(x - y) / std::max(std::abs(y), 1e-300); };
  for (size_t g = 0; g < std::min(tests.size(), s.size()); ++g) {
    const double score = s[g].get<double>(), p = expected["pvals"][g].get<double>();
    const double padj = expected["pvals_adj"][g].get<double>(),
                 lfc = expected["logfoldchanges"][g].get<double>();
    const auto& t = tests[g];
    EXPECT_NEAR(t.score, score, 1e-6 * std::abs(score) + 1e-9) << what << " gene " << g;
    EXPECT_NEAR(t.pvalue, p, 1e-6 * p + 1e-12) << what << " gene " << g;
    EXPECT_NEAR(t.pvalue_adj, padj, 1e-6 * padj + 1e-12) << what << " gene " << g;
    EXPECT_NEAR(t.log_fold_change, lfc, 1e-5) << what << " gene " << g;
    EXPECT_NEAR(t.mean_group, expected["mean_group"][g].get<double>(), 1e-5) << what << " gene " << g;
    EXPECT_NEAR(t.mean_reference, expected["mean_reference"][g].get<double>(), 1e-5) << what << " gene " << g;
    if (score != 0) a.score_rel = std::max(a.score_rel, rel(t.score, score));
    if (p > 0) a.pvalue_rel = std::max(a.pvalue_rel, rel(t.pvalue, p));
    if (padj > 0) a.pvalue_adj_rel = std::max(a.pvalue_adj_rel, rel(t.pvalue_adj, padj));
    a.lfc_abs = std::max(a.lfc_abs, std::abs(t.log_fold_change - lfc));
    a.mean_abs = std::max({a.mean_abs, std::abs(t.mean_group - expected["mean_group"][g].get<double>()),
                           std::abs(t.mean_reference - expected["mean_reference"][g].get<double>())});
  }
  return a;
}

inline void report(const DeAgreement& a, const std::string& what) {
  std::printf(
      "[ scanpy   ] %-40s score rel %.1e, p rel %.1e, padj rel %.1e, logFC abs %.1e, means abs %.1e\n",
      what.c_str(), a.score_rel, a.pvalue_rel, a.pvalue_adj_rel, a.lfc_abs, a.mean_abs);
}

}  // namespace pg::test
