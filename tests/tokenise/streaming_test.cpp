// Streaming at scale: a synthetic corpus of 1,000,000 cells (generated here by
// tests/python/make_corpus.py, never committed) is tokenised with bounded
// memory. Peak RSS is compared with a 100,000-cell corpus of the same shape:
// whatever grows with the number of cells must be the few bytes per cell of
// the pairing bookkeeping, not the data (a reader that held the matrix would
// need >= 240 bytes per cell for its values and indices alone).
#include <gtest/gtest.h>

#include <fstream>

#include "store/token_store.h"
#include "test_support.h"
#include "tokenise/chunked_input.h"

namespace fs = std::filesystem;

namespace {

struct TokeniseRun {
  double peak_rss_mib = 0;
  int64_t cells = 0;
};

fs::path make_corpus(const fs::path& dir, int64_t cells) {
  const fs::path out = dir / ("corpus_" + std::to_string(cells) + ".h5ad");
  const auto r = pg::test::run_command(
      pg::test::python() + " '" + (pg::test::source_dir() / "tests/python/make_corpus.py").string() + "' '" +
      out.string() + "' --cells " + std::to_string(cells) +
      " --genes 2000 --nnz-per-cell 30 --seed 3 --dictionary '" +
      (pg::test::source_dir() / "resources/gc95M/token_dictionary.tsv").string() + "'");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

TokeniseRun tokenise(const fs::path& input, const fs::path& store) {
  const auto r =
      pg::test::run_command(pg::test::cli() + " tokenise '" + input.string() + "' -o '" + store.string() +
                            "' --time-key time --time-order t0,t1,t2 --genes hvg --n-hvg 1000"
                            " --chunk-cells 32768 --cells-per-shard 65536");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const auto s = pg::store::TokenStore::open(store);
  return TokeniseRun{s.meta()["resources"]["peak_rss_mib"].get<double>(), s.n_cells()};
}

}  // namespace

TEST(Streaming, MillionCellCorpusWithBoundedMemory) {
  const fs::path dir = pg::test::temp_dir();
  const TokeniseRun small = tokenise(make_corpus(dir, 100'000), dir / "small");
  const fs::path big_input = make_corpus(dir, 1'000'000);
  const TokeniseRun big = tokenise(big_input, dir / "big");
  ASSERT_EQ(small.cells, 100'000);
  ASSERT_EQ(big.cells, 1'000'000);
  const double per_cell = (big.peak_rss_mib - small.peak_rss_mib) * 1024 * 1024 / 900'000;
  std::cout << "peak RSS: 100k cells " << small.peak_rss_mib << " MiB, 1M cells " << big.peak_rss_mib
            << " MiB: " << per_cell << " bytes per extra cell\n";
#if !defined(__SANITIZE_ADDRESS__)  // ASan's quarantine keeps freed memory resident: RSS means nothing there
  EXPECT_LT(per_cell, 64.0);
#endif

  // The last cells made it, with one token per expressed gene (<cls>/<eos> around).
  const auto store = pg::store::TokenStore::open(dir / "big");
  EXPECT_GE(store.n_shards(), 15u);
  const pg::tokenise::ChunkedInput input(big_input.string());
  const auto tail = input.read(999'990, 1'000'000, {});
  std::vector<uint32_t> tokens;
  std::vector<uint32_t> genes;
  std::vector<float> values;
  for (int64_t i = 0; i < 10; ++i) {
    store.tokens(999'990 + i, tokens);
    store.counts(999'990 + i, genes, values);
    EXPECT_EQ(tokens.front(), 2u);
    EXPECT_EQ(tokens.back(), 3u);
    EXPECT_EQ(tokens.size(), genes.size() + 2);  // every gene of the store is in the vocabulary
    EXPECT_EQ(store.cell_id(999'990 + i), tail.obs.index[static_cast<size_t>(i)]);
    EXPECT_LE(static_cast<int64_t>(genes.size()),
              tail.X.indptr[static_cast<size_t>(i) + 1] - tail.X.indptr[static_cast<size_t>(i)]);
  }
  fs::remove_all(dir);  // about 300 MB
}
