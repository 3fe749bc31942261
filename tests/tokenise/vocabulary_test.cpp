#include "tokenise/vocabulary.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "core/error.h"
#include "core/sha256.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace pg::tokenise;

namespace {

fs::path gc95m_dir() {
  return pg::test::source_dir() / "resources" / "gc95M";
}

void spit(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// A dictionary folder from the three texts, with a matching SHA256SUMS.
void write_dictionary(const fs::path& dir, const std::string& tokens, const std::string& medians,
                      const std::string& mapping) {
  spit(dir / "token_dictionary.tsv", tokens);
  spit(dir / "gene_median.tsv", medians);
  spit(dir / "ensembl_mapping.tsv", mapping);
  std::string sums;
  for (const char* f : {"token_dictionary.tsv", "gene_median.tsv", "ensembl_mapping.tsv"})
    sums += pg::sha256_file(dir / f) + "  " + f + "\n";
  spit(dir / "SHA256SUMS", sums);
}

const std::string kTokens = "<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\nENSG01\t4\nENSG02\t5\nENSG03\t6\n";
const std::string kMedians = "ENSG01\t1.5\nENSG02\t0.25\nENSG03\t3\n";
const std::string kMapping = "ENSG01\tENSG01\nAAA\tENSG01\nENSG02\tENSG02\nBBB\tENSG99\n";

// Loads a small dictionary with one of its texts replaced; returns the error.
std::string load_error(const std::string& tokens, const std::string& medians, const std::string& mapping) {
  const auto dir = pg::test::temp_dir() / "dict";
  fs::create_directories(dir);
  write_dictionary(dir, tokens, medians, mapping);
  return pg::test::error_of([&] { load_vocabulary(dir); });
}

struct EnvGuard {  // restores PERTURBGEN_RESOURCES after a test
  std::string old;
  bool had = false;
  EnvGuard() {
    if (const char* v = std::getenv("PERTURBGEN_RESOURCES")) old = v, had = true;
  }
  ~EnvGuard() {
    if (had)
      setenv("PERTURBGEN_RESOURCES", old.c_str(), 1);
    else
      unsetenv("PERTURBGEN_RESOURCES");
  }
};

}  // namespace

// Spot values from shared/data/geneformer_gc95M/README.md and the spec §10.
TEST(Vocabulary, Gc95mSpotValues) {
  const Vocabulary v = load_vocabulary(gc95m_dir());
  EXPECT_EQ(v.name, "gc95M");
  ASSERT_EQ(v.size(), 18967);
  EXPECT_EQ(v.n_genes(), 18963);
  for (int32_t id = 0; id < 4; ++id) {
    EXPECT_EQ(v.tokens[static_cast<size_t>(id)], kSpecialNames[static_cast<size_t>(id)]);
    EXPECT_TRUE(std::isnan(v.median[static_cast<size_t>(id)]));
  }
  EXPECT_EQ(v.id_of.at("<cls>"), kCls);
  EXPECT_EQ(v.id_of.at("<eos>"), kEos);
  EXPECT_EQ(v.tokens[4], "ENSG00000187634");
  EXPECT_EQ(v.median[4], 1.6875120789238105);
  const std::vector<std::tuple<std::string, std::string, int32_t>> spots = {
      {"IL1B", "ENSG00000125538", 1977},
      {"CD3E", "ENSG00000198851", 8228},
      {"GATA1", "ENSG00000102145", 15814},
      {"FCGR3A", "ENSG00000203747", 1090},
      {"SPI1", "ENSG00000066336", 7753}};
  for (const auto& [symbol, ensembl, token] : spots) {
    EXPECT_EQ(v.ensembl_mapping.at(symbol), ensembl) << symbol;
    EXPECT_EQ(v.id_of.at(ensembl), token) << symbol;
    EXPECT_EQ(v.tokens[static_cast<size_t>(token)], ensembl);
  }
  EXPECT_EQ(v.median[1977], 4.201153976359509);  // exact: the file's text round-trips
  EXPECT_EQ(v.median[8228], 7.2538669407652305);
  EXPECT_EQ(v.ensembl_mapping.at("T3E"), "ENSG00000198851");  // an alias of CD3E

  // Table sizes of the README: 173,697 keys -> 63,675 IDs, 89,037 of them into the vocabulary.
  EXPECT_EQ(v.ensembl_mapping.size(), 173697u);
  std::unordered_set<std::string> targets;
  size_t into_vocab = 0;
  for (const auto& [k, val] : v.ensembl_mapping) {
    targets.insert(val);
    into_vocab += v.id_of.count(val);
  }
  EXPECT_EQ(targets.size(), 63675u);
  EXPECT_EQ(into_vocab, 89037u);
  const auto [lo, hi] = std::minmax_element(v.median.begin() + 4, v.median.end());
  EXPECT_NEAR(*lo, 0.007049, 5e-7);
  EXPECT_NEAR(*hi, 621.36, 5e-3);

  for (const char* f : {"token_dictionary.tsv", "gene_median.tsv", "ensembl_mapping.tsv"})
    EXPECT_EQ(v.file_sha256.at(f), pg::sha256_file(gc95m_dir() / f)) << f;
}

// The bundled copies are the shared files, byte for byte.
TEST(Vocabulary, ResourcesAreByteIdenticalToSharedDictionaries) {
  for (const char* f : {"token_dictionary.tsv", "gene_median.tsv", "ensembl_mapping.tsv"})
    EXPECT_EQ(pg::sha256_file(gc95m_dir() / f), pg::sha256_file(pg::test::dataset("geneformer_gc95M") / f))
        << f;
}

TEST(Vocabulary, LoadIsFast) {
  // Wall time on a shared machine is mostly waiting for a core, so the
  // thread's CPU time is reported too.
  auto cpu_ms = [] {
    timespec t{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
  };
  double best_wall = 1e9, best_cpu = 1e9;
  for (int i = 0; i < 3; ++i) {
    const double c0 = cpu_ms();
    const auto t0 = std::chrono::steady_clock::now();
    const Vocabulary v = load_gc95m();
    best_wall = std::min(
        best_wall, std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    best_cpu = std::min(best_cpu, cpu_ms() - c0);
    ASSERT_EQ(v.size(), 18967);
  }
  std::printf("load_gc95m: best of 3: wall %.1f ms, cpu %.1f ms\n", best_wall, best_cpu);
  // The target is < 100 ms; the bound is loose because test machines are shared.
  EXPECT_LT(best_cpu, 1000.0);
}

// The hash is sha256 of "perturbgen-vocabulary v1\n" + "id\ttoken\tmedian\n"
// per token, medians in shortest round-trip form ("nan" for specials);
// Python's repr is that form, and the file holds exactly repr text.
TEST(Vocabulary, HashMatchesIndependentPythonComputation) {
  const fs::path script = pg::test::temp_dir() / "hash.py";
  spit(
      script,
      "import hashlib, sys\n"
      "d = sys.argv[1]\n"
      "tok = dict(l.rstrip('\\n').split('\\t') for l in open(d + '/token_dictionary.tsv'))\n"
      "med = {k: float(v) for k, v in (l.rstrip('\\n').split('\\t') for l in open(d + '/gene_median.tsv'))}\n"
      "by_id = sorted((int(v), k) for k, v in tok.items())\n"
      "text = 'perturbgen-vocabulary v1\\n' + ''.join('%d\\t%s\\t%s\\n' % (i, k, repr(med[k]) if k in med "
      "else 'nan') for i, k in by_id)\n"
      "print(hashlib.sha256(text.encode()).hexdigest())\n");
  const auto r =
      pg::test::run_command(pg::test::python() + " " + script.string() + " " + gc95m_dir().string());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(load_gc95m().hash(), r.output.substr(0, 64));
}

TEST(Vocabulary, TamperedDictionaryIsAHashMismatch) {
  const auto dir = pg::test::temp_dir() / "gc95M";
  fs::create_directories(dir);
  for (const char* f : {"token_dictionary.tsv", "gene_median.tsv", "ensembl_mapping.tsv", "SHA256SUMS"})
    fs::copy_file(gc95m_dir() / f, dir / f);
  std::string text = pg::test::read_text(dir / "gene_median.tsv");
  const size_t at = text.find("4.201153976359509");
  ASSERT_NE(at, std::string::npos);
  text[at] = '5';  // IL1B's median 4.20 -> 5.20: still a valid file, but not the pinned one
  spit(dir / "gene_median.tsv", text);
  const std::string expected = pg::sha256_file(gc95m_dir() / "gene_median.tsv");
  const std::string actual = pg::sha256_file(dir / "gene_median.tsv");
  const std::string msg = pg::test::error_of([&] { load_vocabulary(dir); });
  EXPECT_NE(msg.find("gene_median.tsv"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected " + expected), std::string::npos) << msg;
  EXPECT_NE(msg.find(actual), std::string::npos) << msg;

  fs::remove(dir / "SHA256SUMS");
  EXPECT_NE(pg::test::error_of([&] { load_vocabulary(dir); }).find("SHA256SUMS"), std::string::npos);
}

TEST(Vocabulary, SmallDictionaryLoads) {
  const auto dir = pg::test::temp_dir() / "tiny";
  fs::create_directories(dir);
  // Lines in any order; CRLF and a missing final newline are tolerated.
  write_dictionary(dir, "ENSG03\t6\r\n<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\nENSG01\t4\nENSG02\t5",
                   kMedians, kMapping);
  const Vocabulary v = load_vocabulary(dir);
  EXPECT_EQ(v.name, "tiny");
  EXPECT_EQ(v.tokens,
            (std::vector<std::string>{"<pad>", "<mask>", "<cls>", "<eos>", "ENSG01", "ENSG02", "ENSG03"}));
  EXPECT_EQ(v.median[4], 1.5);
  EXPECT_EQ(v.median[5], 0.25);
  EXPECT_EQ(v.median[6], 3.0);
  EXPECT_EQ(v.ensembl_mapping.at("BBB"), "ENSG99");
  EXPECT_EQ(v.ensembl_mapping.size(), 4u);
}

TEST(Vocabulary, MalformedFilesNameFileAndLine) {
  auto has = [](const std::string& msg, const std::string& what) {
    EXPECT_NE(msg.find(what), std::string::npos) << "'" << what << "' not in: " << msg;
  };
  std::string msg = load_error(kTokens + "ENSG04 7\n", kMedians, kMapping);
  has(msg, "token_dictionary.tsv: line 8");
  has(msg, "no TAB");
  msg = load_error(kTokens, "ENSG01\t1.5\nENSG02\t0.25\n\nENSG03\t3\n", kMapping);
  has(msg, "gene_median.tsv: line 3");
  has(msg, "empty line");
  msg = load_error(kTokens, kMedians, kMapping + "CCC\tENSG01\textra\n");
  has(msg, "ensembl_mapping.tsv: line 5");
  msg = load_error("<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\nENSG01\tfour\n", "ENSG01\t1\n", kMapping);
  has(msg, "line 5");
  has(msg, "not an integer");
  // ids must be contiguous from 0
  msg = load_error("<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\nENSG01\t5\n", "ENSG01\t1\n", kMapping);
  has(msg, "line 5");
  has(msg, "outside 0..4");
  msg = load_error("<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\nENSG01\t3\n", "ENSG01\t1\n", kMapping);
  has(msg, "already used on line 4");
  msg =
      load_error("<pad>\t0\n<mask>\t1\n<cls>\t2\n<eos>\t3\nENSG01\t4\nENSG01\t5\n", "ENSG01\t1\n", kMapping);
  has(msg, "listed twice");
  msg = load_error("<mask>\t0\n<pad>\t1\n<cls>\t2\n<eos>\t3\nENSG01\t4\n", "ENSG01\t1\n", kMapping);
  has(msg, "token 0");
  has(msg, "<pad>");
  // medians: finite, > 0, exactly the gene tokens
  has(load_error(kTokens, "ENSG01\t1.5\nENSG02\t0\nENSG03\t3\n", kMapping),
      "line 2: median 0 must be finite and > 0");
  has(load_error(kTokens, "ENSG01\t1.5\nENSG02\tnan\nENSG03\t3\n", kMapping), "line 2");
  has(load_error(kTokens, "ENSG01\t1.5\nENSG02\t-inf\nENSG03\t3\n", kMapping), "line 2");
  has(load_error(kTokens, "ENSG01\t1.5\nENSG02\t2x\nENSG03\t3\n", kMapping), "is not a number");
  msg = load_error(kTokens, "ENSG01\t1.5\nENSG03\t3\n", kMapping);
  has(msg, "medians for 2 of the 3 gene tokens");
  has(msg, "ENSG02");
  has(load_error(kTokens, kMedians + "ENSG77\t1\n", kMapping), "line 4: gene 'ENSG77' is not a gene token");
  has(load_error(kTokens, kMedians + "<cls>\t1\n", kMapping), "line 4");
  has(load_error(kTokens, kMedians + "ENSG01\t2\n", kMapping), "listed twice");
  // mapping: unique, upper-case keys
  has(load_error(kTokens, kMedians, kMapping + "aaa\tENSG01\n"), "line 5: key 'aaa' is not upper-case");
  has(load_error(kTokens, kMedians, kMapping + "AAA\tENSG02\n"), "line 5: key 'AAA' listed twice");

  // SHA256SUMS itself
  const auto dir = pg::test::temp_dir() / "sums";
  fs::create_directories(dir);
  write_dictionary(dir, kTokens, kMedians, kMapping);
  spit(dir / "SHA256SUMS", "not a checksum line\n");
  has(pg::test::error_of([&] { load_vocabulary(dir); }), "SHA256SUMS: line 1");
  spit(dir / "SHA256SUMS", pg::sha256_file(dir / "token_dictionary.tsv") + "  token_dictionary.tsv\n");
  has(pg::test::error_of([&] { load_vocabulary(dir); }), "gene_median.tsv: no checksum listed");
  has(pg::test::error_of([&] { load_vocabulary(dir / "absent"); }), "does not exist");
}

TEST(Vocabulary, ResourcesDirSearchOrder) {
  EnvGuard guard;
  unsetenv("PERTURBGEN_RESOURCES");
  // Test executables are not installed, so the source tree's resources/ is found.
  EXPECT_TRUE(fs::equivalent(resources_dir(), pg::test::source_dir() / "resources"));
  const auto dir = pg::test::temp_dir();
  setenv("PERTURBGEN_RESOURCES", dir.c_str(), 1);
  EXPECT_EQ(resources_dir(), dir);
  setenv("PERTURBGEN_RESOURCES", (dir / "missing").c_str(), 1);
  EXPECT_NE(pg::test::error_of([] { resources_dir(); }).find("PERTURBGEN_RESOURCES"), std::string::npos);
}

TEST(Vocabulary, DatasetVocabulary) {
  const Vocabulary v = dataset_vocabulary({"Ccl5", "Cxcl10", "Actb"}, {2.0, 0.5, 10.0});
  EXPECT_EQ(v.name, "dataset");
  EXPECT_EQ(v.tokens,
            (std::vector<std::string>{"<pad>", "<mask>", "<cls>", "<eos>", "Ccl5", "Cxcl10", "Actb"}));
  EXPECT_EQ(v.id_of.at("Cxcl10"), 5);
  EXPECT_EQ(v.median[6], 10.0);
  EXPECT_TRUE(std::isnan(v.median[kPad]));
  EXPECT_TRUE(v.ensembl_mapping.empty());
  EXPECT_TRUE(v.file_sha256.empty());

  // The hash follows content only: same genes and medians -> same hash.
  EXPECT_EQ(v.hash(), dataset_vocabulary({"Ccl5", "Cxcl10", "Actb"}, {2.0, 0.5, 10.0}).hash());
  EXPECT_NE(v.hash(), dataset_vocabulary({"Ccl5", "Cxcl10", "Actb"}, {2.0, 0.5, 10.000000000000002}).hash());
  EXPECT_NE(v.hash(), dataset_vocabulary({"Cxcl10", "Ccl5", "Actb"}, {0.5, 2.0, 10.0}).hash());
  // Hand-computed canonical text.
  EXPECT_EQ(
      dataset_vocabulary({"G"}, {0.1}).hash(),
      pg::sha256_hex("perturbgen-vocabulary v1\n0\t<pad>\tnan\n1\t<mask>\tnan\n2\t<cls>\tnan\n3\t<eos>\tnan\n"
                     "4\tG\t0.1\n"));

  auto err = [](std::vector<std::string> g, std::vector<double> m) {
    return pg::test::error_of([&] { dataset_vocabulary(g, m); });
  };
  EXPECT_NE(err({"A", "B"}, {1.0}).find("2 genes but 1 medians"), std::string::npos);
  EXPECT_NE(err({"A", "A"}, {1.0, 1.0}).find("'A' appears twice"), std::string::npos);
  EXPECT_NE(err({"A", "<cls>"}, {1.0, 1.0}).find("'<cls>' appears twice"), std::string::npos);
  EXPECT_NE(err({"A", ""}, {1.0, 1.0}).find("empty name"), std::string::npos);
  EXPECT_NE(err({"A", "B"}, {1.0, 0.0}).find("'B' has median"), std::string::npos);
  EXPECT_NE(err({"A", "B"}, {NAN, 1.0}).find("'A' has median"), std::string::npos);
}
