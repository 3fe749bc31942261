// `perturbgen perturb`, `atlas` and `embed` as a user runs them on the LPS
// time course with a small trained model: what the outputs hold, that the
// control and perturbed generations share their random draws (an edit that
// changes nothing changes nothing), determinism, the atlas against single
// perturbations, sharding and resumption, embeddings against the
// teacher-forced pass, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "io/formats.h"
#include "store/token_store.h"
#include "test_support.h"
#include "trained_model_fixture.h"

namespace fs = std::filesystem;

namespace {

using pg::test::quote;
using pg::test::run_cli;

// How often each gene (store index) is among the first `depth` genes of the
// source sentences, and which gene is most often ranked first.
struct SourceGenes {
  std::map<int64_t, int64_t> frequency;
  std::map<int64_t, int64_t> first;  // gene -> cells where it is ranked first
};

SourceGenes source_genes(int depth, size_t column = 0) {
  const auto store = pg::store::TokenStore::open(pg::test::trained_lps_model().store);
  std::map<uint32_t, int64_t> gene_of_token;
  for (size_t g = 0; g < store.genes().size(); ++g)
    gene_of_token[static_cast<uint32_t>(store.genes()[g].source_token)] = static_cast<int64_t>(g);
  SourceGenes s;
  std::vector<uint32_t> tokens;
  const auto& p = store.pairing();
  for (int64_t r = 0; r < p.n_rows; ++r) {
    const int64_t cell = p.at(r, column);
    if (cell < 0) continue;
    store.tokens(cell, tokens);
    // Source sentences start with <cls>; target cells are read the same way
    // (their stored sentence also does).
    for (int k = 1; k <= depth && k < static_cast<int>(tokens.size()); ++k) {
      auto it = gene_of_token.find(tokens[static_cast<size_t>(k)]);
      if (it == gene_of_token.end()) continue;
      ++s.frequency[it->second];
      if (k == 1) ++s.first[it->second];
    }
  }
  return s;
}

std::string gene_name(int64_t g) {
  const auto store = pg::store::TokenStore::open(pg::test::trained_lps_model().store);
  return store.genes()[static_cast<size_t>(g)].gene_name;
}

// The n genes most often in the top 60 of the source sentences.
std::vector<std::string> frequent_genes(size_t n) {
  const auto s = source_genes(60);
  std::vector<std::pair<int64_t, int64_t>> by(s.frequency.begin(), s.frequency.end());
  std::stable_sort(by.begin(), by.end(), [](auto a, auto b) { return a.second > b.second; });
  std::vector<std::string> out;
  for (size_t k = 0; k < n && k < by.size(); ++k) out.push_back(gene_name(by[k].first));
  return out;
}

pg::test::CommandResult perturb(const fs::path& out, const std::string& extra) {
  const auto& f = pg::test::trained_lps_model();
  return run_cli("perturb --model " + quote(f.model) + " --store " + quote(f.store) + " -o " + quote(out) +
                 " --iterations 6 --bootstrap 200 --overwrite " + extra);
}

const pg::io::DenseMatrix& obsm(const pg::io::CellMatrix& m, const std::string& k) {
  return m.obsm.at(k);
}

std::vector<float> dense_row(const pg::io::CsrMatrix& x, int64_t r) {
  std::vector<float> v(static_cast<size_t>(x.n_cols), 0.0f);
  for (int64_t k = x.indptr[static_cast<size_t>(r)]; k < x.indptr[static_cast<size_t>(r) + 1]; ++k)
    v[static_cast<size_t>(x.indices[static_cast<size_t>(k)])] = x.data[static_cast<size_t>(k)];
  return v;
}

TEST(PerturbCli, AnEditThatChangesNothingChangesNothingAndOthersDo) {
  // `up` of a gene already ranked first leaves those cells' sentences as they
  // were: with shared random draws their generated futures must be identical.
  const auto s = source_genes(60);
  int64_t top = -1, best = 0;
  for (const auto& [g, n] : s.first)
    if (n > best) best = n, top = g;
  ASSERT_GE(best, 2);
  const auto dir = pg::test::temp_dir();
  for (const std::string validation : {"generate", "inference"}) {
    SCOPED_TRACE(validation);
    const auto r = perturb(dir / validation,
                           "--genes " + gene_name(top) + " --mode up --shift 0.3 --validation " + validation);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto m = pg::io::read_h5ad(
        (dir / validation / ("m" + validation + "_g" + gene_name(top) + "_ssrc_tup.h5ad")).string());
    const auto& cos = obsm(m, "mean_cos_similarity");
    const auto &control = obsm(m, "true_cls"), &perturbed = obsm(m, "perturbed_cls");
    ASSERT_EQ(m.n_cells(), cos.n_rows);
    int unchanged = 0, changed = 0;
    const auto& pred = m.layers.at("pred_counts");
    for (int64_t i = 0; i < m.n_cells(); ++i) {
      bool same = true;
      for (int64_t k = 0; k < control.n_cols; ++k) same = same && control.at(i, k) == perturbed.at(i, k);
      if (same) {
        ++unchanged;
        EXPECT_EQ(dense_row(m.X, i), dense_row(pred, i)) << "row " << i;
        EXPECT_NEAR(cos.at(i, 0), 1.0, 1e-6);
      } else {
        ++changed;
      }
    }
    // Every kept cell at every time: ranked first (unchanged) or not (changed).
    EXPECT_EQ(unchanged, best * 3);
    EXPECT_GT(changed, 0);
    EXPECT_EQ(m.uns["perturbgen"]["perturbation"]["validation"], validation);
  }
}

TEST(PerturbCli, KnockOutOutputsSummaryAndDeterminism) {
  const auto genes = frequent_genes(2);
  const auto dir = pg::test::temp_dir();
  auto r = perturb(dir / "a", "--genes " + genes[0] + "," + genes[1] + " --each --mode delete --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto& g : genes) {
    const auto file = dir / "a" / ("mgenerate_g" + g + "_ssrc_tdelete.h5ad");
    ASSERT_TRUE(fs::exists(file)) << file;
    const auto m = pg::io::read_h5ad(file.string());
    EXPECT_EQ(m.n_genes(), 300);
    EXPECT_EQ(m.n_cells() % 3, 0);  // kept cells x 3 time points
    EXPECT_EQ(m.varm.at("gene_cos_similarity").n_rows, 300);
    EXPECT_EQ(m.varm.at("gene_cos_similarity").n_cols, m.n_cells());
    EXPECT_EQ(m.varm.at("gene_shift").n_cols, 3);
    EXPECT_EQ(obsm(m, "true_cls").n_cols, 32);
    EXPECT_EQ(m.layers.at("true_counts").n_rows, m.n_cells());
    const auto& p = m.uns["perturbgen"]["perturbation"];
    EXPECT_EQ(p["n_candidates"].get<int64_t>() - p["n_skipped"].get<int64_t>(), m.n_cells() / 3);
    // The deleted gene's own embedding cannot be compared: it is absent from
    // the perturbed pass of a generated cell only if not generated again; the
    // cosine is in [-1, 1] wherever defined.
    for (double v : m.varm.at("gene_cos_similarity").values) EXPECT_LE(std::abs(v), 1.0 + 1e-6);
  }
  const auto summary = pg::test::read_text(dir / "a" / "summary.tsv");
  EXPECT_EQ(std::count(summary.begin(), summary.end(), '\n'), 1 + 2 * 3);
  EXPECT_NE(summary.find("mean_shift\tshift_ci_low\tshift_ci_high\tn_de"), std::string::npos);
  // Same seed, same results; a combination keeps the cells holding either gene.
  r = perturb(dir / "b", "--genes " + genes[0] + " --mode delete --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto a0 = pg::io::read_h5ad((dir / "a" / ("mgenerate_g" + genes[0] + "_ssrc_tdelete.h5ad")).string());
  const auto b0 = pg::io::read_h5ad((dir / "b" / ("mgenerate_g" + genes[0] + "_ssrc_tdelete.h5ad")).string());
  EXPECT_EQ(a0.X.data, b0.X.data);
  EXPECT_EQ(obsm(a0, "mean_cos_similarity").values, obsm(b0, "mean_cos_similarity").values);
  r = perturb(dir / "c", "--genes " + genes[0] + "," + genes[1] + " --mode delete --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto c = pg::io::read_h5ad(
      (dir / "c" / ("mgenerate_g" + genes[0] + "_" + genes[1] + "_ssrc_tdelete.h5ad")).string());
  const auto a1 = pg::io::read_h5ad((dir / "a" / ("mgenerate_g" + genes[1] + "_ssrc_tdelete.h5ad")).string());
  EXPECT_GE(c.n_cells(), std::max(a0.n_cells(), a1.n_cells()));
  EXPECT_LE(c.n_cells(), a0.n_cells() + a1.n_cells());
}

TEST(PerturbCli, AtlasMatchesSinglePerturbationsAndResumesAcrossShards) {
  const auto genes = frequent_genes(5);
  const auto dir = pg::test::temp_dir();
  {
    std::ofstream list(dir / "genes.txt");
    for (const auto& g : genes) list << g << "\n";
    list << "NOT_A_GENE\n";
  }
  const auto& f = pg::test::trained_lps_model();
  const std::string atlas = "atlas --model " + quote(f.model) + " --store " + quote(f.store) +
                            " --genes-file " + quote(dir / "genes.txt") + " -o " + quote(dir / "atlas") +
                            " --mode delete --bootstrap 100 --pair-batch 7 --progress none";
  auto r = run_cli(atlas + " --shard 0/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("atlas incomplete"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "atlas" / "effects.tsv"));
  r = run_cli(atlas + " --shard 1/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("atlas complete"), std::string::npos) << r.output;
  const auto effects = pg::test::read_text(dir / "atlas" / "effects.tsv");
  // Rerunning finds every gene done.
  r = run_cli(atlas + " --shard 0/2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("0 run"), std::string::npos) << r.output;
  EXPECT_EQ(pg::test::read_text(dir / "atlas" / "effects.tsv"), effects);
  const auto m = pg::io::read_h5ad((dir / "atlas" / "atlas.h5ad").string());
  EXPECT_EQ(m.n_cells(), 5);
  EXPECT_EQ(m.n_genes(), 3 * 32);  // shift vectors: 3 time points x d
  ASSERT_NE(m.obs.find("program"), nullptr);
  // Each gene's mean shift equals `perturb --validation inference` of that gene alone.
  r = perturb(dir / "single", "--genes " + genes[2] + " --mode delete --validation inference");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto single = pg::test::read_text(dir / "single" / "summary.tsv");
  std::istringstream lines(single);
  std::string line;
  std::getline(lines, line);
  int compared = 0;
  while (std::getline(lines, line)) {
    std::vector<std::string> f1;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '\t');) f1.push_back(x);
    const double shift = std::stod(f1[8]);
    // The atlas row of the same gene and time point.
    std::istringstream al(effects);
    std::string aline;
    while (std::getline(al, aline)) {
      std::vector<std::string> f2;
      std::istringstream af(aline);
      for (std::string x; std::getline(af, x, '\t');) f2.push_back(x);
      if (f2[0] == genes[2] && f2[2] == f1[5]) {
        EXPECT_EQ(f2[3], f1[6]) << "cells";
        EXPECT_NEAR(std::stod(f2[4]), shift, 1e-6 + 1e-4 * shift) << aline;
        ++compared;
      }
    }
  }
  EXPECT_EQ(compared, 3);
}

// effects.tsv: (gene, time point) -> (cells, mean shift).
std::map<std::string, std::pair<std::string, double>> effect_table(const fs::path& file) {
  std::map<std::string, std::pair<std::string, double>> out;
  std::istringstream in(pg::test::read_text(file));
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::istringstream fields(line);
    for (std::string x; std::getline(fields, x, '\t');) f.push_back(x);
    out[f[0] + "|" + f[2]] = {f[3], f[4] == "NA" ? std::nan("") : std::stod(f[4])};
  }
  return out;
}

TEST(PerturbCli, AtlasWithTwoRanksEqualsOneProcess) {
  const auto genes = frequent_genes(4);
  const auto dir = pg::test::temp_dir();
  {
    std::ofstream list(dir / "genes.txt");
    for (const auto& g : genes) list << g << "\n";
  }
  const auto& f = pg::test::trained_lps_model();
  const std::string atlas = "atlas --model " + quote(f.model) + " --store " + quote(f.store) +
                            " --genes-file " + quote(dir / "genes.txt") +
                            " --mode mask --bootstrap 50 --progress none -o ";
  auto r = run_cli(atlas + quote(dir / "one"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  r = run_cli(atlas + quote(dir / "two") + " --nproc 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  // Other batches and thread counts: the same cells, the same shifts up to float rounding.
  const auto one = effect_table(dir / "one" / "effects.tsv"), two = effect_table(dir / "two" / "effects.tsv");
  ASSERT_EQ(one.size(), 4u * 3u);
  ASSERT_EQ(two.size(), one.size());
  for (const auto& [key, a] : one) {
    const auto& b = two.at(key);
    EXPECT_EQ(a.first, b.first) << key;
    EXPECT_NEAR(a.second, b.second, 1e-7 + 1e-4 * std::abs(a.second)) << key;
  }
}

TEST(PerturbCli, EmbedGivesTheTeacherForcedCellEmbeddingsAndGeneEmbeddingsPerTime) {
  const auto genes = frequent_genes(1);
  const auto dir = pg::test::temp_dir();
  const auto& f = pg::test::trained_lps_model();
  auto r = run_cli("embed --model " + quote(f.model) + " --store " + quote(f.store) + " -o " +
                   quote(dir / "e.h5ad"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto e = pg::io::read_h5ad((dir / "e.h5ad").string());
  EXPECT_EQ(e.uns["perturbgen"]["gene_embedding_keys"],
            (std::vector<std::string>{"LPS#2h", "LPS#4h", "LPS#6h"}));
  for (const char* k : {"LPS#2h", "LPS#4h", "LPS#6h"}) EXPECT_EQ(e.varm.at(k).n_cols, 32);
  // Gene embeddings are averaged over the cells holding the gene: at most
  // the cells with a non-zero count of it at that time.
  const auto& n = e.varm.at("n_cells");
  const auto* time = e.obs.find("time_point");
  for (int64_t g = 0; g < 300; g += 7)
    for (int64_t t = 0; t < 3; ++t) {
      int64_t expressing = 0;
      for (int64_t i = 0; i < e.n_cells(); ++i)
        if (time->codes[static_cast<size_t>(i)] == t && e.X.at(i, g) > 0) ++expressing;
      EXPECT_LE(n.at(g, t), static_cast<double>(expressing));
      if (n.at(g, t) == 0) {
        for (int64_t k = 0; k < 32; ++k)
          EXPECT_EQ(e.varm.at(time->categories[static_cast<size_t>(t)]).at(g, k), 0.0);
      }
    }
  // Cell embeddings: the control embeddings of an inference perturbation of the same cells.
  r = perturb(dir / "p", "--genes " + genes[0] + " --mode mask --validation inference");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto p = pg::io::read_h5ad((dir / "p" / ("minference_g" + genes[0] + "_ssrc_tmask.h5ad")).string());
  std::map<std::string, int64_t> row_of;
  for (int64_t i = 0; i < e.n_cells(); ++i) row_of[e.obs.index[static_cast<size_t>(i)]] = i;
  int compared = 0;
  for (int64_t i = 0; i < p.n_cells(); ++i) {
    const auto it = row_of.find(p.obs.index[static_cast<size_t>(i)]);
    ASSERT_NE(it, row_of.end());
    for (int64_t k = 0; k < 32; ++k)
      EXPECT_NEAR(p.obsm.at("true_cls").at(i, k), e.obsm.at("X_perturbgen").at(it->second, k), 1e-5);
    ++compared;
  }
  EXPECT_GT(compared, 0);
}

TEST(PerturbCli, TargetEditsActAtTheEditedTimeAndThroughTheContext) {
  // The gene most often among the 2 h cells' first 64 genes (the model's target length).
  const auto s = source_genes(64, 1);
  int64_t gene = -1, best = 0;
  for (const auto& [g, n] : s.frequency)
    if (n > best) best = n, gene = g;
  ASSERT_GE(best, 2);
  const auto dir = pg::test::temp_dir();
  auto r = perturb(dir / "i", "--genes " + gene_name(gene) +
                                  " --mode delete --on target --edit-times 'LPS#2h' --validation inference");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto m =
      pg::io::read_h5ad((dir / "i" / ("minference_g" + gene_name(gene) + "_stgt_tdelete.h5ad")).string());
  EXPECT_EQ(m.n_cells(), best * 3);
  // Every time point moves: 2 h through its edited cells, 4 h and 6 h through their context.
  const auto* time = m.obs.find("time_point");
  std::vector<double> shift(3, 0.0);
  for (int64_t i = 0; i < m.n_cells(); ++i)
    shift[static_cast<size_t>(time->codes[static_cast<size_t>(i)])] +=
        1 - obsm(m, "mean_cos_similarity").at(i, 0);
  for (double x : shift) EXPECT_GT(x, 0);
  // In generate mode the edited time point is context only and is not reported.
  r = perturb(dir / "g", "--genes " + gene_name(gene) +
                             " --mode delete --on target --edit-times 'LPS#2h' --context truth");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto g =
      pg::io::read_h5ad((dir / "g" / ("mgenerate_g" + gene_name(gene) + "_stgt_tdelete.h5ad")).string());
  EXPECT_EQ(g.obs.find("time_point")->categories, (std::vector<std::string>{"LPS#4h", "LPS#6h"}));
}

TEST(PerturbCli, GenesBeyondTheEncodersPositionsAreReportedAsSuch) {
  // The gene most often held by source sentences only below the encoder's
  // 128 positions (<cls> and 127 genes are seen).
  const auto seen = source_genes(127), all = source_genes(1000);
  int64_t gene = -1, beyond = 0;
  for (const auto& [g, n] : all.frequency) {
    const int64_t b = n - (seen.frequency.count(g) ? seen.frequency.at(g) : 0);
    if (b > beyond) beyond = b, gene = g;
  }
  ASSERT_GT(beyond, 0);
  const auto dir = pg::test::temp_dir();
  const auto r = perturb(dir / "b", "--genes " + gene_name(gene) + " --mode delete --validation inference");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find(std::to_string(beyond) + " of them hold it beyond the encoder's 128 positions"),
            std::string::npos)
      << r.output;
}

TEST(PerturbCli, BadInputIsOneLineAndNonZero) {
  const auto dir = pg::test::temp_dir();
  const auto genes = frequent_genes(1);
  for (const std::string& args : std::vector<std::string>{
           "--genes NOT_A_GENE --mode delete", "--genes " + genes[0] + " --mode knockout",
           "--genes " + genes[0] + " --on target", "--genes " + genes[0] + " --mode down --shift 2",
           "--mode delete", "--genes " + genes[0] + " --on sideways"}) {
    const auto r = perturb(dir / "x", args);
    EXPECT_NE(r.exit_code, 0) << args;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << args << ": " << r.output;
    EXPECT_NE(r.output.find("error"), std::string::npos) << r.output;
  }
}

}  // namespace
