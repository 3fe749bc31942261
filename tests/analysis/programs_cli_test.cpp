// perturbgen programs end to end on a small EMBED.h5ad written here: planted
// gene groups in the varm embeddings are recovered as programs, and the
// per-cell scores equal an independent score_genes on the log-normalised X.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "analysis/normalise.h"
#include "analysis/rand_index.h"
#include "analysis/score_genes.h"
#include "core/random.h"
#include "io/formats.h"
#include "test_support.h"

namespace {

using pg::test::quote;
using pg::test::run_cli;

constexpr int kGenes = 60, kGroups = 3, kCells = 80, kDims = 64;

int group_of(int gene) {
  return gene % kGroups;
}

pg::io::Column text_column(const std::string& name, std::vector<std::string> values) {
  pg::io::Column c;
  c.name = name;
  c.type = pg::io::ColumnType::String;
  c.dtype = "str";
  c.strings = std::move(values);
  return c;
}

// Cells with Poisson-like counts; three conditions whose gene embeddings put
// gene g near the centre of group g % 3 (the same centres in every
// condition); a few all-zero rows; a varm entry that is not a gene embedding.
pg::io::CellMatrix make_embed(uint64_t seed) {
  pg::Rng rng(seed);
  pg::io::CellMatrix m;
  for (int c = 0; c < kCells; ++c) m.obs.index.push_back("cell" + std::to_string(c));
  std::vector<std::string> tp;
  for (int c = 0; c < kCells; ++c) tp.push_back(c < kCells / 2 ? "t0" : "t1");
  m.obs.columns.push_back(text_column("time_point", tp));
  std::vector<std::string> names;
  for (int g = 0; g < kGenes; ++g) {
    m.var.index.push_back("ENSG" + std::to_string(1000 + g));
    names.push_back("G" + std::to_string(g));
  }
  m.var.columns.push_back(text_column("gene_name", names));
  m.X.n_rows = kCells;
  m.X.n_cols = kGenes;
  for (int c = 0; c < kCells; ++c) {
    for (int g = 0; g < kGenes; ++g) {
      const auto v = static_cast<float>(rng.below(static_cast<uint64_t>(1 + (g % 7) + (c % 5))));
      if (v == 0) continue;
      m.X.indices.push_back(g);
      m.X.data.push_back(v);
    }
    m.X.indptr.push_back(static_cast<int64_t>(m.X.indices.size()));
  }
  m.X.storage = {"csr", "float32", "int32"};
  pg::io::DenseMatrix cells{kCells, 4, std::vector<double>(kCells * 4), "float32"};
  for (auto& v : cells.values) v = rng.uniform();
  m.obsm["X_perturbgen"] = cells;
  std::vector<std::vector<double>> centre(kGroups, std::vector<double>(kDims));
  for (auto& c : centre)
    for (auto& v : c) v = 4 * rng.uniform() - 2;
  for (const std::string key : {"c0", "c1", "c2"}) {
    pg::io::DenseMatrix e{kGenes, kDims, std::vector<double>(kGenes * kDims), "float32"};
    for (int g = 0; g < kGenes; ++g)
      for (int j = 0; j < kDims; ++j)
        e.values[static_cast<size_t>(g * kDims + j)] =
            centre[static_cast<size_t>(group_of(g))][static_cast<size_t>(j)] + 0.3 * (rng.uniform() - 0.5);
    m.varm[key] = e;
  }
  for (int j = 0; j < kDims; ++j) {  // never expressed: gene 0 in c2, gene 7 in c1
    m.varm["c2"].values[static_cast<size_t>(0 * kDims + j)] = 0;
    m.varm["c1"].values[static_cast<size_t>(7 * kDims + j)] = 0;
  }
  m.varm["PCs"] = pg::io::DenseMatrix{kGenes, 2, std::vector<double>(kGenes * 2, 1.0), "float64"};
  m.uns["perturbgen"] = {{"gene_embedding_keys", {"c0", "c1", "c2"}}};
  return m;
}

std::vector<std::vector<std::string>> read_tsv(const std::filesystem::path& p) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream s(line);
    std::string x;
    while (std::getline(s, x, '\t')) f.push_back(x);
    rows.push_back(f);
  }
  return rows;
}

TEST(ProgramsCli, RecoversPlantedProgramsAndScoresCells) {
  const auto dir = pg::test::temp_dir();
  const auto embed = make_embed(3);
  pg::io::write_h5ad(embed, (dir / "embed.h5ad").string());
  const auto r = run_cli("programs " + quote(dir / "embed.h5ad") + " -o " + quote(dir / "out"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(
      r.output.find("178 (gene, condition) embeddings over 3 conditions (2 all-zero dropped) -> 3 programs"),
      std::string::npos)
      << r.output;

  const auto tsv = read_tsv(dir / "out" / "programs.tsv");
  ASSERT_EQ(tsv.size(), 179u);
  EXPECT_EQ(tsv[0], (std::vector<std::string>{"gene_id", "gene_name", "condition", "program"}));
  std::vector<int> truth, found;
  std::map<int, std::set<int64_t>> genes_of;
  for (size_t i = 1; i < tsv.size(); ++i) {
    const int g = std::stoi(tsv[i][0].substr(4)) - 1000;
    EXPECT_EQ(tsv[i][1], "G" + std::to_string(g));
    EXPECT_FALSE((g == 0 && tsv[i][2] == "c2") || (g == 7 && tsv[i][2] == "c1"));
    truth.push_back(group_of(g));
    found.push_back(std::stoi(tsv[i][3]));
    genes_of[found.back()].insert(g);
  }
  EXPECT_DOUBLE_EQ(pg::analysis::adjusted_rand_index(found, truth), 1.0);

  // Scores: score_genes on normalize_total + log1p of X, program by program.
  const auto scored = pg::io::read_h5ad((dir / "out" / "program_scores.h5ad").string());
  EXPECT_EQ(scored.n_cells(), kCells);
  EXPECT_TRUE(scored.varm.empty());
  EXPECT_TRUE(scored.obsm.count("X_perturbgen"));
  ASSERT_NE(scored.obs.find("time_point"), nullptr);
  pg::analysis::Matrix counts = pg::analysis::Matrix::Zero(kCells, kGenes);
  for (int c = 0; c < kCells; ++c)
    for (auto e = embed.X.indptr[static_cast<size_t>(c)]; e < embed.X.indptr[static_cast<size_t>(c) + 1]; ++e)
      counts(c, embed.X.indices[static_cast<size_t>(e)]) = embed.X.data[static_cast<size_t>(e)];
  const auto expr = pg::analysis::log_normalise(counts);
  for (const auto& [p, genes] : genes_of) {
    const auto* col = scored.obs.find("program_" + std::to_string(p));
    ASSERT_NE(col, nullptr) << p;
    const std::vector<int64_t> set(genes.begin(), genes.end());
    const auto expected = pg::analysis::score_genes(expr, set);
    for (int c = 0; c < kCells; ++c) EXPECT_NEAR(col->floats[static_cast<size_t>(c)], expected(c), 1e-12);
  }
  EXPECT_EQ(scored.uns["perturbgen_programs"]["program_genes"], nlohmann::json({20, 20, 20}));
}

TEST(ProgramsCli, ConditionsAndMinGenes) {
  const auto dir = pg::test::temp_dir();
  pg::io::write_h5ad(make_embed(4), (dir / "embed.h5ad").string());
  const auto r = run_cli("programs " + quote(dir / "embed.h5ad") + " -o " + quote(dir / "out") +
                         " --conditions c1 --min-genes 50 --neighbors 10");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto tsv = read_tsv(dir / "out" / "programs.tsv");
  ASSERT_EQ(tsv.size(), 60u);  // 59 rows of c1 (gene 7 is zero there) + header
  for (size_t i = 1; i < tsv.size(); ++i) EXPECT_EQ(tsv[i][2], "c1");
  const auto scored = pg::io::read_h5ad((dir / "out" / "program_scores.h5ad").string());
  for (const auto& c : scored.obs.columns) EXPECT_NE(c.name.rfind("program_", 0), 0u) << c.name;
  EXPECT_NE(r.output.find("not scored"), std::string::npos);
}

TEST(ProgramsCli, ErrorsAreOneLine) {
  const auto dir = pg::test::temp_dir();
  const auto check = [&](const pg::io::CellMatrix& m, const std::string& args, const std::string& expected) {
    pg::io::write_h5ad(m, (dir / "bad.h5ad").string());
    const auto r = run_cli("programs " + quote(dir / "bad.h5ad") + " -o " + quote(dir / "out") + args);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_NE(r.output.find("perturbgen: error: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(expected), std::string::npos) << r.output;
  };
  auto m = make_embed(5);
  m.varm.clear();
  check(m, "", "varm: has no gene embeddings");
  m = make_embed(5);
  m.varm["c1"].values[5] = std::numeric_limits<double>::quiet_NaN();
  check(m, "", "varm/c1: value nan at gene 0, column 5");
  m = make_embed(5);
  m.varm["c1"] = pg::io::DenseMatrix{kGenes, 3, std::vector<double>(kGenes * 3, 1.0), "float64"};
  check(m, "", "varm/c1: is 3 wide, varm/c0 64");
  check(make_embed(5), " --conditions c0,nope",
        "--conditions: varm has no 'nope' (varm keys: PCs, c0, c1, c2)");
  m = make_embed(5);
  m.uns["perturbgen"]["gene_embedding_keys"] = {"c9"};
  check(m, "", "uns/perturbgen/gene_embedding_keys: varm has no 'c9'");
  EXPECT_FALSE(std::filesystem::exists(dir / "out" / "programs.tsv"));
}

}  // namespace
