#include "tokenise/gene_ids.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/error.h"
#include "io/formats.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace pg::tokenise;

namespace {

const Vocabulary& gc95m() {
  static const Vocabulary v = load_gc95m();
  return v;
}

pg::io::DataFrame var_of(const std::string& dataset) {
  pg::io::ReadOptions opt;
  opt.load_x = false;
  return pg::io::read_10x_mtx(pg::test::dataset(dataset).string(), opt).var;
}

pg::io::Column text_column(const std::string& name, std::vector<std::string> values) {
  pg::io::Column c;
  c.name = name;
  c.type = pg::io::ColumnType::String;
  c.strings = std::move(values);
  return c;
}

pg::io::DataFrame frame(std::vector<std::string> index, std::vector<pg::io::Column> columns = {}) {
  pg::io::DataFrame df;
  df.index = std::move(index);
  df.columns = std::move(columns);
  return df;
}

int32_t token(const std::string& ensembl) {
  return gc95m().id_of.at(ensembl);
}

// Expected counts by plain-Python dictionary logic, independent of the C++:
// version-strip ENS IDs, upper-case, map through the mapping restricted to
// vocabulary targets. Prints "mapped targets collapsed unmapped".
std::vector<int64_t> python_counts(const std::string& dataset, int column) {
  const fs::path script = pg::test::temp_dir() / "counts.py";
  std::ofstream(script)
      << "import gzip, re, sys, collections\n"
         "d, feats, col = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
         "tok = dict(l.rstrip('\\n').split('\\t') for l in open(d + '/token_dictionary.tsv'))\n"
         "mp = dict(l.rstrip('\\n').split('\\t') for l in open(d + '/ensembl_mapping.tsv'))\n"
         "mp = {k: v for k, v in mp.items() if v in tok}\n"
         "names = [l.rstrip('\\n').split('\\t')[col] for l in gzip.open(feats, 'rt')]\n"
         "def key(n):\n"
         "    u = n.upper()\n"
         "    m = re.fullmatch(r'(ENS[A-Z]+[0-9]{5,})\\.[0-9]+(_PAR_[A-Z]*)?', u)\n"
         "    return m.group(1) if m else u\n"
         "hits = [mp[key(n)] for n in names if key(n) in mp]\n"
         "c = collections.Counter(hits)\n"
         "print(len(hits), len(c), sum(v for v in c.values() if v > 1), len(names) - len(hits))\n";
  const auto r = pg::test::run_command(pg::test::python() + " " + script.string() + " " +
                                       (pg::test::source_dir() / "resources" / "gc95M").string() + " " +
                                       pg::test::dataset(dataset + "/features.tsv.gz").string() + " " +
                                       std::to_string(column));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::istringstream in(r.output);
  std::vector<int64_t> out(4, -1);
  for (auto& x : out) in >> x;
  return out;
}

}  // namespace

// Golden tokenizer fixture (shared/golden/README.md §10): versioned IDs,
// 18,460 exact dictionary keys after the strip; the mapping would rename 358
// retired IDs into the dictionary (18,818 IDs -> 18,521 targets).
TEST(GeneIds, HsmmDefaultMapsRetiredIdsAndSums) {
  const auto var = var_of("hsmm_myoblast_timecourse");
  ASSERT_EQ(var.n_rows(), 47192u);
  const GeneResolution r = resolve_genes(var, gc95m(), {}, "hsmm");
  EXPECT_EQ(r.source, "var index");
  EXPECT_EQ(r.how, "ensembl id (version stripped)");
  EXPECT_EQ(r.n_mapped, 18818);
  EXPECT_EQ(r.kept_tokens.size(), 18521u);
  EXPECT_EQ(r.n_unmapped, 47192 - 18818);
  EXPECT_EQ(r.unmapped.size(), static_cast<size_t>(r.n_unmapped));
  // By Python over the same files: 279 tokens receive 576 columns (261 pairs, 18 triples).
  EXPECT_EQ(r.n_collapsed, 576);
  ASSERT_EQ(r.collapsed.size(), 279u);
  EXPECT_EQ(r.collapsed[0].first, "ENSG00000001626");  // first in var order
  EXPECT_EQ(r.collapsed[0].second, (std::vector<std::string>{"ENSG00000001626.9", "ENSG00000238202.1"}));
  EXPECT_EQ(r.vocabulary, "gc95M");
  EXPECT_EQ(r.vocabulary_hash, gc95m().hash());
  // kept_tokens in first-appearance (var) order; every column points at its token.
  EXPECT_EQ(r.kept_tokens[0], token("ENSG00000000003"));
  for (size_t j = 0; j < r.names.size(); ++j) {
    const int32_t k = r.kept_index_of_column[j];
    if (k >= 0)
      ASSERT_EQ(r.kept_tokens[static_cast<size_t>(k)], r.token_of_column[j]);
    else
      ASSERT_EQ(r.token_of_column[j], -1);
  }
}

TEST(GeneIds, HsmmReferenceExactKeeps18460Identity) {
  const auto var = var_of("hsmm_myoblast_timecourse");
  GeneIdOptions opt;
  opt.reference_exact = true;
  const GeneResolution exact = resolve_genes(var, gc95m(), opt, "hsmm");
  EXPECT_EQ(exact.n_mapped, 18460);
  EXPECT_EQ(exact.kept_tokens.size(), 18460u);
  EXPECT_EQ(exact.n_collapsed, 0);
  EXPECT_TRUE(exact.collapsed.empty());
  const GeneResolution all = resolve_genes(var, gc95m(), {}, "hsmm");
  int64_t retired = 0;
  for (size_t j = 0; j < var.n_rows(); ++j) {
    const std::string stripped = var.index[j].substr(0, var.index[j].find('.'));
    if (exact.token_of_column[j] >= 0) {
      // identity: the kept gene is the input ID itself
      ASSERT_EQ(exact.resolved_id[j], stripped);
      ASSERT_EQ(exact.token_of_column[j], all.token_of_column[j]);
    } else if (all.token_of_column[j] >= 0) {
      ++retired;
      ASSERT_EQ(exact.why_unmapped[j], Unmapped::NotExactKey);
      ASSERT_NE(all.resolved_id[j], stripped);
    }
  }
  EXPECT_EQ(retired, 358);
  // kept order is var order, as the reference's filtered AnnData.
  std::vector<int32_t> in_var_order;
  for (const int32_t t : exact.token_of_column)
    if (t >= 0) in_var_order.push_back(t);
  EXPECT_EQ(exact.kept_tokens, in_var_order);
}

TEST(GeneIds, HsmmWithoutStripOrBySymbol) {
  const auto var = var_of("hsmm_myoblast_timecourse");
  GeneIdOptions opt;
  opt.strip_versions = false;
  opt.gene_key = "gene_ids";  // the index's name
  const GeneResolution kept_versions = resolve_genes(var, gc95m(), opt, "hsmm");
  EXPECT_EQ(kept_versions.n_mapped, 0);
  ASSERT_FALSE(kept_versions.warnings.empty());
  EXPECT_NE(kept_versions.warnings[0].find("dataset vocabulary"), std::string::npos);

  opt = {};
  opt.gene_key = "gene_symbols";
  const GeneResolution symbols = resolve_genes(var, gc95m(), opt, "hsmm");
  EXPECT_EQ(symbols.source, "var column 'gene_symbols'");
  EXPECT_EQ(symbols.how, "symbol");
  const auto expected = python_counts("hsmm_myoblast_timecourse", 1);
  EXPECT_EQ(symbols.n_mapped, expected[0]);  // 18,706 when written
  EXPECT_EQ(static_cast<int64_t>(symbols.kept_tokens.size()), expected[1]);
  EXPECT_EQ(symbols.n_collapsed, expected[2]);

  opt.gene_key = "no_such_column";
  const std::string msg =
      pg::test::error_of([&] { resolve_genes(var, gc95m(), opt, "hsmm/features.tsv.gz"); });
  EXPECT_NE(msg.find("hsmm/features.tsv.gz: var/no_such_column: no such gene column"), std::string::npos)
      << msg;
  EXPECT_NE(msg.find("'gene_symbols'"), std::string::npos) << msg;
}

// pbmc3k has symbols only (README); counts checked against Python.
TEST(GeneIds, Pbmc3kSymbolsMatchPython) {
  const auto var = var_of("pbmc3k_raw");
  const GeneResolution r = resolve_genes(var, gc95m(), {}, "pbmc3k");
  const auto expected = python_counts("pbmc3k_raw", 0);
  EXPECT_EQ(r.how, "symbol");
  EXPECT_EQ(r.source, "var index");
  EXPECT_EQ(r.n_mapped, expected[0]);                                  // 18,565 when written
  EXPECT_EQ(static_cast<int64_t>(r.kept_tokens.size()), expected[1]);  // 18,477
  EXPECT_EQ(r.n_collapsed, expected[2]);                               // 172
  EXPECT_EQ(r.n_unmapped, expected[3]);
  EXPECT_EQ(r.token_of_column[static_cast<size_t>(std::find(var.index.begin(), var.index.end(), "IL1B") -
                                                  var.index.begin())],
            1977);
}

// Mouse data: upper-case mouse symbols mostly coincide with human symbols,
// so they map (an orthology assumption the report makes visible); mixed-case
// mouse symbols are flagged.
TEST(GeneIds, MouseSymbolsAreReported) {
  const auto lps = var_of("lps_bmdc_timecourse");
  const GeneResolution r = resolve_genes(lps, gc95m(), {}, "lps");
  const auto expected = python_counts("lps_bmdc_timecourse", 0);
  EXPECT_EQ(r.how, "symbol");
  EXPECT_EQ(r.n_mapped, expected[0]);  // 3,393 of 4,016 when written
  EXPECT_EQ(static_cast<int64_t>(r.kept_tokens.size()), expected[1]);
  EXPECT_EQ(r.n_unmapped, expected[3]);

  const GeneResolution paul = resolve_genes(var_of("paul15_myeloid_subset"), gc95m(), {}, "paul15");
  EXPECT_EQ(paul.n_mapped, python_counts("paul15_myeloid_subset", 0)[0]);
  ASSERT_EQ(paul.warnings.size(), 1u);
  EXPECT_NE(paul.warnings[0].find("mouse/rat symbols"), std::string::npos) << paul.warnings[0];

  // Mouse Ensembl IDs map nothing in the human vocabulary.
  const GeneResolution ens = resolve_names({"ENSMUSG00000035042.3", "ENSMUSG00000034855"}, gc95m(), {});
  EXPECT_EQ(ens.n_mapped, 0);
  EXPECT_EQ(ens.form[0], GeneForm::EnsemblIdStripped);
  EXPECT_EQ(ens.form[1], GeneForm::EnsemblId);
  EXPECT_EQ(ens.why_unmapped[0], Unmapped::NotInMapping);
}

TEST(GeneIds, VersionsSymbolsAliasesByHand) {
  const std::vector<std::string> names = {
      "ENSG00000125538.12",        // IL1B, versioned
      "ENSG00000198851",           // CD3E
      "ensg00000102145.3",         // GATA1, lower case
      "T3E",                       // alias of CD3E -> collapses with the line above
      "AL627309.1",                // a symbol with a dot: not stripped, unknown
      "ENSG00000182378.14_PAR_Y",  // GENCODE PAR_Y copy: stripped
      "5S_RRNA",                   // maps to ENSG00000277411, which has no token
      "spi1",                      // symbol, lower case
  };
  const GeneResolution r = resolve_names(names, gc95m(), {});
  EXPECT_EQ(r.token_of_column[0], 1977);
  EXPECT_EQ(r.token_of_column[1], 8228);
  EXPECT_EQ(r.token_of_column[2], 15814);
  EXPECT_EQ(r.token_of_column[3], 8228);
  EXPECT_EQ(r.token_of_column[4], -1);
  EXPECT_EQ(r.resolved_id[5], "ENSG00000182378");
  EXPECT_EQ(r.token_of_column[6], -1);
  EXPECT_EQ(r.token_of_column[7], 7753);
  EXPECT_EQ(r.form[0], GeneForm::EnsemblIdStripped);
  EXPECT_EQ(r.form[1], GeneForm::EnsemblId);
  EXPECT_EQ(r.form[3], GeneForm::Symbol);
  EXPECT_EQ(r.form[4], GeneForm::Symbol);
  EXPECT_EQ(r.why_unmapped[4], Unmapped::NotInMapping);
  EXPECT_EQ(r.why_unmapped[6], Unmapped::OutsideVocabulary);
  EXPECT_EQ(r.resolved_id[6], "ENSG00000277411");
  EXPECT_EQ(r.kept_tokens, (std::vector<int32_t>{1977, 8228, 15814, r.token_of_column[5], 7753}));
  EXPECT_EQ(r.n_mapped, 6);
  EXPECT_EQ(r.n_unmapped, 2);
  EXPECT_EQ(r.n_collapsed, 2);
  ASSERT_EQ(r.collapsed.size(), 1u);
  EXPECT_EQ(r.collapsed[0].first, "ENSG00000198851");
  EXPECT_EQ(r.collapsed[0].second, (std::vector<std::string>{"ENSG00000198851", "T3E"}));
  EXPECT_EQ(r.unmapped, (std::vector<std::string>{"AL627309.1", "5S_RRNA"}));
  EXPECT_EQ(r.how, "ensembl id (version stripped)");  // 3 stripped vs 1 plain vs 2 symbols among mapped

  GeneIdOptions no_strip;
  no_strip.strip_versions = false;
  const GeneResolution kept = resolve_names(names, gc95m(), no_strip);
  EXPECT_EQ(kept.token_of_column[0], -1);
  EXPECT_EQ(kept.form[0], GeneForm::EnsemblIdVersioned);
  EXPECT_EQ(kept.token_of_column[1], 8228);

  GeneIdOptions exact;
  exact.reference_exact = true;
  const GeneResolution ref = resolve_names(names, gc95m(), exact);
  EXPECT_EQ(ref.token_of_column[0], 1977);  // exact key after the strip
  EXPECT_EQ(ref.token_of_column[1], 8228);
  EXPECT_EQ(ref.why_unmapped[2], Unmapped::NotExactKey);  // lower case is not an exact key
  EXPECT_EQ(ref.why_unmapped[3], Unmapped::NotExactKey);  // symbols never are
  EXPECT_EQ(ref.n_mapped, 3);
}

TEST(GeneIds, AutoDetectPrefersMappingEnsemblColumn) {
  // Symbols in the index, IDs in gene_ids (scanpy's read_10x_mtx default).
  const auto a = frame({"IL1B", "CD3E", "FOO"},
                       {text_column("gene_ids", {"ENSG00000125538", "ENSG00000198851", "ENSG00000102145"})});
  const GeneResolution ra = resolve_genes(a, gc95m(), {}, "a");
  EXPECT_EQ(ra.source, "var column 'gene_ids'");
  EXPECT_EQ(ra.n_mapped, 3);
  // Both Ensembl: the one mapping more wins; a tie keeps the index.
  const auto b =
      frame({"ENSG00000125538", "ENSG99999999999", "ENSG99999999998"},
            {text_column("ensembl_id", {"ENSG00000125538", "ENSG00000198851", "ENSG99999999998"})});
  EXPECT_EQ(resolve_genes(b, gc95m(), {}, "b").source, "var column 'ensembl_id'");
  const auto c = frame({"ENSG00000125538", "ENSG00000198851"},
                       {text_column("gene_id", {"ENSG00000125538", "ENSG99999999999"})});
  EXPECT_EQ(resolve_genes(c, gc95m(), {}, "c").source, "var index");
  // Ensembl IDs of another species map nothing: fall back to symbols, and say so.
  const auto d =
      frame({"ENSMUSG00000035042", "ENSMUSG00000034855"}, {text_column("gene_symbols", {"CCL5", "CXCL10"})});
  const GeneResolution rd = resolve_genes(d, gc95m(), {}, "d");
  EXPECT_EQ(rd.source, "var column 'gene_symbols'");
  EXPECT_EQ(rd.n_mapped, 2);
  ASSERT_EQ(rd.warnings.size(), 1u);
  EXPECT_NE(rd.warnings[0].find("another species"), std::string::npos);
  // Missing values in a categorical column are unmapped, not errors.
  pg::io::Column cat;
  cat.name = "gene_ids";
  cat.type = pg::io::ColumnType::Categorical;
  cat.categories = {"ENSG00000125538", "ENSG00000198851"};
  cat.codes = {1, -1, 0};
  const auto e = frame({"x", "y", "z"}, {cat});
  const GeneResolution re = resolve_genes(e, gc95m(), {}, "e");
  EXPECT_EQ(re.token_of_column, (std::vector<int32_t>{8228, -1, 1977}));
  EXPECT_EQ(re.why_unmapped[1], Unmapped::MissingName);
}

TEST(GeneIds, DatasetVocabularyMatchesNames) {
  const Vocabulary v = dataset_vocabulary({"Ccl5", "Cxcl10"}, {1.0, 2.0});
  const GeneResolution r = resolve_names({"Cxcl10", "Foo", "Ccl5", "CCL5"}, v, {});
  EXPECT_EQ(r.token_of_column, (std::vector<int32_t>{5, -1, 4, -1}));
  EXPECT_EQ(r.kept_tokens, (std::vector<int32_t>{5, 4}));
  EXPECT_EQ(r.vocabulary, "dataset");
}

TEST(GeneIds, CollapseColumnsSums) {
  // Inputs: IL1B, ENSG00000125538 (IL1B again), FOO (unmapped), CD3E, il1b (IL1B a third time).
  const GeneResolution r = resolve_names({"IL1B", "ENSG00000125538", "FOO", "CD3E", "il1b"}, gc95m(), {});
  ASSERT_EQ(r.kept_tokens, (std::vector<int32_t>{1977, 8228}));
  pg::io::CsrMatrix m;
  m.n_rows = 4;
  m.n_cols = 5;
  // row 0: [1, 2, 100, 3, 4] ; row 1: unsorted {3:7, 0:1.5, 2:9} ; row 2: empty ; row 3: stored zero at 4, 2
  // at 2
  m.indptr = {0, 5, 8, 8, 10};
  m.indices = {0, 1, 2, 3, 4, 3, 0, 2, 4, 2};
  m.data = {1, 2, 100, 3, 4, 7, 1.5f, 9, 0, 2};
  m.storage = {"csr", "int64", "int32"};
  const pg::io::CsrMatrix out = collapse_columns(m, r);
  EXPECT_EQ(out.n_rows, 4);
  EXPECT_EQ(out.n_cols, 2);
  EXPECT_EQ(out.indptr, (std::vector<int64_t>{0, 2, 4, 4, 5}));
  EXPECT_EQ(out.indices, (std::vector<int32_t>{0, 1, 0, 1, 0}));
  EXPECT_EQ(out.data, (std::vector<float>{1 + 2 + 4, 3, 1.5f, 7, 0}));
  EXPECT_EQ(out.storage.dtype, "int64");

  // A hand-built resolution (only token_of_column and kept_tokens) works too.
  GeneResolution hand;
  hand.token_of_column = {10, -1, 11, 10, -1};
  hand.kept_tokens = {11, 10};
  const pg::io::CsrMatrix h = collapse_columns(m, hand);
  EXPECT_EQ(h.indptr, (std::vector<int64_t>{0, 2, 4, 4, 5}));
  EXPECT_EQ(h.indices, (std::vector<int32_t>{0, 1, 0, 1, 0}));
  EXPECT_EQ(h.data, (std::vector<float>{100, 1 + 3, 9, 1.5f + 7, 2}));

  m.n_cols = 6;
  EXPECT_NE(
      pg::test::error_of([&] { collapse_columns(m, r); }).find("6 genes but the gene resolution covers 5"),
      std::string::npos);
}

TEST(GeneIds, Reports) {
  const GeneResolution r = resolve_names({"IL1B", "ENSG00000125538.2", "FOO\tBAR", "5S_RRNA"}, gc95m(), {});
  const nlohmann::json j = r.report();
  EXPECT_EQ(j["n_input"], 4);
  EXPECT_EQ(j["n_mapped"], 2);
  EXPECT_EQ(j["n_unmapped"], 2);
  EXPECT_EQ(j["n_collapsed"], 2);
  EXPECT_EQ(j["n_tokens"], 1);
  EXPECT_EQ(j["vocabulary"], "gc95M");
  EXPECT_EQ(j["vocabulary_hash"], gc95m().hash());
  EXPECT_EQ(j["forms"]["symbol"], 3);
  EXPECT_EQ(j["forms"]["ensembl id (version stripped)"], 1);
  EXPECT_EQ(j["unmapped_reasons"]["unknown gene name"], 1);
  EXPECT_EQ(j["unmapped_reasons"]["maps to a gene without a token"], 1);
  EXPECT_EQ(j["collapsed"][0]["gene"], "ENSG00000125538");
  EXPECT_EQ(j["collapsed"][0]["inputs"], (nlohmann::json{"IL1B", "ENSG00000125538.2"}));
  EXPECT_EQ(j["unmapped"], (nlohmann::json{"FOO\tBAR", "5S_RRNA"}));
  EXPECT_EQ(r.report_tsv(),
            "input\tresolved_id\ttoken\tstatus\tform\tdetail\n"
            "IL1B\tENSG00000125538\t1977\tcollapsed\tsymbol\tsummed with 1 other input(s)\n"
            "ENSG00000125538.2\tENSG00000125538\t1977\tcollapsed\tensembl id (version stripped)\tsummed with "
            "1 other "
            "input(s)\n"
            "FOO BAR\t\t\tunmapped\tsymbol\tunknown gene name\n"
            "5S_RRNA\tENSG00000277411\t\tunmapped\tsymbol\tmaps to a gene without a token\n");
}
