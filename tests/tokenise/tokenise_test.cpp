// End-to-end tokenisation on the shared time courses: the reference's golden
// sentences through the whole pipeline (HSMM, gc95M), the species-agnostic
// path on mouse LPS data checked against an independent computation, HVG
// mode, determinism across thread counts, and the bad-input errors.
#include "tokenise/tokenise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <numeric>

#include "io/formats.h"
#include "io/safetensors.h"
#include "store/token_store.h"
#include "test_support.h"

namespace {

using pg::tokenise::TokeniseOptions;

TokeniseOptions hsmm_options(const std::filesystem::path& out) {
  TokeniseOptions o;
  o.input = pg::test::dataset("hsmm_myoblast_timecourse").string();
  o.output = out.string();
  o.time_key = "Hours";
  o.time_order = {"0", "24", "48", "72"};
  o.vocab = pg::tokenise::VocabChoice::Gc95M;
  o.allow_non_integer = true;  // FPKM
  return o;
}

TokeniseOptions lps_options(const std::filesystem::path& out) {
  TokeniseOptions o;
  o.input = pg::test::dataset("lps_bmdc_timecourse").string();
  o.output = out.string();
  o.time_key = "grouping";
  o.time_order = {"LPS#1h", "LPS#2h", "LPS#4h", "LPS#6h"};
  o.obs_keys = {"replicate_batch", "slingshot_pseudotime"};
  // Upper-case mouse symbols also map to human genes by name (3,393 of 4,016):
  // species-agnostic mode must be asked for.
  o.vocab = pg::tokenise::VocabChoice::Dataset;
  return o;
}

TEST(Tokenise, HsmmThroughThePipelineMatchesTheReferenceSentences) {
  const auto dir = pg::test::temp_dir();
  auto o = hsmm_options(dir / "store");
  o.reference_gene_filter = true;  // the golden harness's exact-key filter
  o.chunk_cells = 64;              // several chunks, several threads
  o.threads = 2;
  const auto result = pg::tokenise::tokenise(o);
  const auto store = pg::store::TokenStore::open(dir / "store");
  ASSERT_EQ(store.n_cells(), 271);
  EXPECT_EQ(store.genes().size(), 18460u);  // golden README §10 step 3
  const auto golden =
      pg::io::SafeTensors::read((pg::test::shared_dir() / "golden/tokenizer_hsmm200.safetensors").string());
  const auto ids = golden.values<int32_t>("f32.input_ids_flat");
  const auto offsets = golden.values<int64_t>("f32.offsets");
  const auto n_counts = golden.values<float>("f32.n_counts");
  std::vector<uint32_t> tokens;
  for (int64_t c = 0; c < 200; ++c) {
    store.tokens(c, tokens);
    const std::vector<uint32_t> want(ids.begin() + offsets[static_cast<size_t>(c)],
                                     ids.begin() + offsets[static_cast<size_t>(c) + 1]);
    ASSERT_EQ(tokens, want) << "cell " << c;
    EXPECT_EQ(static_cast<float>(store.library_size(c)), n_counts[static_cast<size_t>(c)]);
  }
  // Non-integer FPKM values are reported, not silently accepted.
  EXPECT_GT(result.report["cells"]["non_integer_values"].get<int64_t>(), 0);
}

TEST(Tokenise, MouseSymbolsGetADatasetVocabularyWithExactMediansAndIndependentSentences) {
  const auto dir = pg::test::temp_dir();
  const auto result = pg::tokenise::tokenise(lps_options(dir / "store"));
  const auto store = pg::store::TokenStore::open(dir / "store");
  const auto m = pg::io::read_any(pg::test::dataset("lps_bmdc_timecourse").string());
  ASSERT_EQ(store.n_cells(), m.n_cells());
  ASSERT_EQ(store.schema().vocabulary_name, "dataset");

  // Independent medians: numpy-median of x / total * 1e4 over cells with x > 0.
  const auto& X = m.X;
  std::vector<std::vector<double>> per_gene(static_cast<size_t>(m.n_genes()));
  std::vector<double> totals(static_cast<size_t>(m.n_cells()), 0);
  for (size_t c = 0; c < totals.size(); ++c) {
    for (auto k = X.indptr[c]; k < X.indptr[c + 1]; ++k) totals[c] += X.data[static_cast<size_t>(k)];
  }
  for (size_t c = 0; c < totals.size(); ++c) {
    for (auto k = X.indptr[c]; k < X.indptr[c + 1]; ++k) {
      const double v = X.data[static_cast<size_t>(k)];
      if (v > 0)
        per_gene[static_cast<size_t>(X.indices[static_cast<size_t>(k)])].push_back(v / totals[c] * 1e4);
    }
  }
  std::map<std::string, double> median;
  for (size_t g = 0; g < per_gene.size(); ++g) {
    auto& v = per_gene[g];
    if (v.empty()) continue;
    std::sort(v.begin(), v.end());
    const size_t n = v.size();
    median[m.var.index[g]] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }
  ASSERT_EQ(store.genes().size(), median.size());

  // Sentences: genes by x / library / median descending, ties by token.
  std::map<std::string, int64_t> token_of;
  for (const auto& g : store.genes()) token_of[g.gene_id] = g.source_token;
  std::vector<uint32_t> tokens;
  std::vector<uint32_t> genes;
  std::vector<float> values;
  for (int64_t c : {int64_t{0}, int64_t{100}, int64_t{389}}) {
    std::vector<std::pair<double, int64_t>> keyed;
    double lib = 0;
    for (auto k = X.indptr[static_cast<size_t>(c)]; k < X.indptr[static_cast<size_t>(c) + 1]; ++k) {
      lib += X.data[static_cast<size_t>(k)];
    }
    for (auto k = X.indptr[static_cast<size_t>(c)]; k < X.indptr[static_cast<size_t>(c) + 1]; ++k) {
      const std::string& gene = m.var.index[static_cast<size_t>(X.indices[static_cast<size_t>(k)])];
      const double v = X.data[static_cast<size_t>(k)];
      if (v > 0) keyed.emplace_back(v / lib * 1e4 / median.at(gene), token_of.at(gene));
    }
    std::sort(keyed.begin(), keyed.end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    store.tokens(c, tokens);
    ASSERT_EQ(tokens.size(), keyed.size() + 2);
    EXPECT_EQ(tokens.front(), 2u);
    EXPECT_EQ(tokens.back(), 3u);
    // Float rounding may swap near-equal neighbours; the multiset is exact and
    // at least 99% of ranks agree.
    int64_t same = 0;
    std::vector<uint32_t> want;
    for (const auto& [v, t] : keyed) want.push_back(static_cast<uint32_t>(t));
    for (size_t i = 0; i < want.size(); ++i) same += tokens[i + 1] == want[i];
    EXPECT_GE(static_cast<double>(same), 0.99 * static_cast<double>(want.size())) << "cell " << c;
    std::vector<uint32_t> got(tokens.begin() + 1, tokens.end() - 1);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    EXPECT_EQ(got, want);
    // Count row = the raw counts of the cell.
    store.counts(c, genes, values);
    EXPECT_EQ(static_cast<int64_t>(genes.size()), static_cast<int64_t>(keyed.size()));
    EXPECT_NEAR(std::accumulate(values.begin(), values.end(), 0.0), lib, 1e-6 * lib);
  }
  // States and the carried obs columns.
  const auto& grouping = *m.obs.find("grouping");
  const size_t batch_col = store.obs_column("replicate_batch");
  const size_t time_col = store.obs_column("slingshot_pseudotime");
  const auto& pseudo = *m.obs.find("slingshot_pseudotime");
  for (int64_t c = 0; c < store.n_cells(); ++c) {
    EXPECT_EQ(store.schema().states[static_cast<size_t>(store.state(c))],
              grouping.text(static_cast<size_t>(c)));
    EXPECT_EQ(store.cell_id(c), m.obs.index[static_cast<size_t>(c)]);
    const int32_t code = store.obs_code(c, batch_col);
    EXPECT_EQ(store.schema().obs[batch_col].categories[static_cast<size_t>(code)],
              m.obs.find("replicate_batch")->text(static_cast<size_t>(c)));
    EXPECT_DOUBLE_EQ(store.obs_value(c, time_col), pseudo.floats[static_cast<size_t>(c)]);
  }
  // Random pairing anchored on the source: every LPS#1h cell once, targets in their state.
  const auto& p = store.pairing();
  ASSERT_EQ(p.columns.size(), 4u);
  ASSERT_EQ(p.n_rows, 82);
  std::vector<int64_t> sources;
  for (int64_t r = 0; r < p.n_rows; ++r) {
    sources.push_back(p.at(r, 0));
    for (size_t k = 0; k < 4; ++k) EXPECT_EQ(store.state(p.at(r, k)), static_cast<int32_t>(k));
  }
  std::sort(sources.begin(), sources.end());
  EXPECT_EQ(std::unique(sources.begin(), sources.end()), sources.end());
}

TEST(Tokenise, HvgModeKeepsTheScanpyGenes) {
  const auto dir = pg::test::temp_dir();
  auto o = lps_options(dir / "store");
  o.genes = pg::tokenise::GeneFilter::Hvg;
  o.n_hvg = 500;
  o.vocab = pg::tokenise::VocabChoice::Dataset;
  pg::tokenise::tokenise(o);
  const auto store = pg::store::TokenStore::open(dir / "store");
  // The scanpy list (tests/data/hvg, made by tests/python/make_hvg_expected.py).
  std::ifstream in(pg::test::source_dir() / "tests/data/hvg/lps_bmdc_timecourse.tsv");
  ASSERT_TRUE(in) << "expected HVG list missing";
  std::vector<std::string> want;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#' || line.rfind("gene_index", 0) == 0) continue;
    std::vector<std::string> f;
    for (size_t b = 0, e = 0; e != std::string::npos; b = e + 1) {
      e = line.find('\t', b);
      f.push_back(line.substr(b, e == std::string::npos ? e : e - b));
    }
    if (f.at(2) == "1") want.push_back(f.at(1));
  }
  ASSERT_EQ(want.size(), 500u);
  std::vector<std::string> got;
  for (const auto& g : store.genes()) got.push_back(g.gene_id);
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  EXPECT_EQ(got, want);
}

TEST(Tokenise, SameStoreForAnyThreadCountAndChunkSize) {
  const auto dir = pg::test::temp_dir();
  auto a = lps_options(dir / "a");
  a.threads = 1;
  a.chunk_cells = 1000;
  auto b = lps_options(dir / "b");
  b.threads = 2;
  b.chunk_cells = 37;
  pg::tokenise::tokenise(a);
  pg::tokenise::tokenise(b);
  const auto sa = pg::store::TokenStore::open(dir / "a");
  const auto sb = pg::store::TokenStore::open(dir / "b");
  ASSERT_EQ(sa.n_cells(), sb.n_cells());
  std::vector<uint32_t> ta, tb, ga, gb;
  std::vector<float> va, vb;
  for (int64_t c = 0; c < sa.n_cells(); ++c) {
    sa.tokens(c, ta);
    sb.tokens(c, tb);
    ASSERT_EQ(ta, tb);
    sa.counts(c, ga, va);
    sb.counts(c, gb, vb);
    ASSERT_EQ(ga, gb);
    ASSERT_EQ(va, vb);
    ASSERT_EQ(sa.library_size(c), sb.library_size(c));
  }
  EXPECT_EQ(sa.pairing().cells, sb.pairing().cells);
}

TEST(Tokenise, BadInputGivesOneLineErrorsWithNumbers) {
  const auto dir = pg::test::temp_dir();
  auto o = lps_options(dir / "store");
  o.time_key = "no_such_column";
  EXPECT_NE(pg::test::error_of([&] { pg::tokenise::tokenise(o); }).find("obs/no_such_column"),
            std::string::npos);

  o = lps_options(dir / "store");
  o.time_order = {"LPS#1h", "LPS#3h"};
  const std::string typo = pg::test::error_of([&] { pg::tokenise::tokenise(o); });
  EXPECT_NE(typo.find("'LPS#3h' has no cells"), std::string::npos) << typo;
  EXPECT_NE(typo.find("LPS#4h (162)"), std::string::npos) << typo;

  // 230 of paul15's 240 mouse genes map by name: fewer than --min-mapped-genes.
  o = lps_options(dir / "store");
  o.input = pg::test::dataset("paul15_myeloid_subset").string();
  o.time_key = "cell_type";
  o.time_order = {"Multipotent progenitors", "Monocytes"};
  o.obs_keys.clear();
  o.vocab = pg::tokenise::VocabChoice::Gc95M;
  const std::string mouse = pg::test::error_of([&] { pg::tokenise::tokenise(o); });
  EXPECT_NE(mouse.find("only 230 of 240 genes"), std::string::npos) << mouse;
  EXPECT_NE(mouse.find("--vocab dataset"), std::string::npos) << mouse;
  // ... and auto mode recognises mixed-case mouse symbols and goes species-agnostic.
  o.vocab = pg::tokenise::VocabChoice::Auto;
  const auto r = pg::tokenise::tokenise(o);
  EXPECT_NE(r.warnings.front().find("mouse/rat"), std::string::npos);
  EXPECT_EQ(pg::store::TokenStore::open(dir / "store").schema().vocabulary_name, "dataset");
  std::filesystem::remove_all(dir / "store");

  o = lps_options(dir / "store");
  o.source = "LPS#9h";
  EXPECT_NE(pg::test::error_of([&] { pg::tokenise::tokenise(o); }).find("--source"), std::string::npos);

  o = lps_options(dir / "store");
  o.pairing.mode = pg::tokenise::PairingMode::Stratified;
  EXPECT_NE(pg::test::error_of([&] { pg::tokenise::tokenise(o); }).find("--group-key"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir / "store"));  // nothing half-written
}

TEST(Tokenise, NegativeValuesAreRefusedNamingTheCellAndGene) {
  const auto dir = pg::test::temp_dir();
  auto m = pg::io::read_any(pg::test::dataset("lps_bmdc_timecourse").string());
  m.X.data[5] = -2;
  pg::io::write_h5ad(m, (dir / "neg.h5ad").string());
  auto o = lps_options(dir / "store");
  o.input = (dir / "neg.h5ad").string();
  const std::string e = pg::test::error_of([&] { pg::tokenise::tokenise(o); });
  EXPECT_NE(e.find("negative value -2 at cell '" + m.obs.index[0] + "'"), std::string::npos) << e;
}

}  // namespace

namespace {

TEST(Tokenise, MappingPairingFollowsTheCsv) {
  const auto dir = pg::test::temp_dir();
  std::ofstream(dir / "map.csv") << "0,24,48,72\n1,1,2,3\n1,1,3,2\n";
  auto o = hsmm_options(dir / "store");
  o.genes = pg::tokenise::GeneFilter::Hvg;
  o.n_hvg = 500;
  o.pairing.mode = pg::tokenise::PairingMode::Mapping;
  o.pairing.mapping_file = (dir / "map.csv").string();
  o.group_keys = {"State"};
  pg::tokenise::tokenise(o);
  const auto store = pg::store::TokenStore::open(dir / "store");
  const auto m = pg::io::read_any(o.input);
  const auto& state = *m.obs.find("State");
  const auto& p = store.pairing();
  ASSERT_EQ(p.columns, (std::vector<std::string>{"0", "24", "48", "72"}));
  int64_t source_state1 = 0;
  for (size_t c = 0; c < state.size(); ++c)
    source_state1 += m.obs.find("Hours")->text(c) == "0" && state.text(c) == "1";
  EXPECT_EQ(p.n_rows, source_state1);
  for (int64_t r = 0; r < p.n_rows; ++r) {
    EXPECT_EQ(state.text(static_cast<size_t>(p.at(r, 0))), "1");
    EXPECT_EQ(state.text(static_cast<size_t>(p.at(r, 1))), "1");
    const std::string late = state.text(static_cast<size_t>(p.at(r, 2)));
    EXPECT_TRUE(late == "2" || late == "3") << late;
    for (size_t k = 0; k < 4; ++k) EXPECT_EQ(store.state(p.at(r, k)), static_cast<int32_t>(k));
  }
}

}  // namespace
