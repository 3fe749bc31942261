// A damaged or inconsistent store is refused with one pg::Error naming the
// file and element; bad batches are refused whole; an interrupted writer
// leaves nothing under the store's name.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "store/store_writer.h"
#include "store/token_store.h"
#include "store_fixture.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pg::store {
namespace {

void spit(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

uint64_t read_u64(const std::string& bytes, size_t at) {
  uint64_t v = 0;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}

void put_u64(std::string& bytes, size_t at, uint64_t v) {
  std::memcpy(bytes.data() + at, &v, 8);
}

// 100 cells in shards of 30: shard-00000..00003 (30, 30, 30, 10).
struct Fixture {
  fs::path dir;
  std::vector<test::Cell> cells;
  StoreSchema schema;
};

Fixture make_store(const fs::path& tmp) {
  Fixture f{tmp / "s", {}, test::make_schema(500, 10, 30)};
  f.cells = test::random_cells(100, f.schema, 21);
  for (auto& c : f.cells)
    if (c.tokens.empty()) c.tokens = {1, 2};  // every cell has tokens to corrupt
  StoreWriter w(f.dir, f.schema, test::make_genes(10));
  test::append_cells(w, f.cells, 45);
  w.finish();
  return f;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

#define EXPECT_MESSAGE(msg, part) \
  EXPECT_TRUE(contains(msg, part)) << "message: " << (msg) << "\nexpected: " << (part)

TEST(TokenStoreErrors, MissingMetaJson) {
  const auto tmp = pg::test::temp_dir();
  fs::create_directories(tmp / "empty");
  const auto msg = pg::test::error_of([&] { TokenStore::open(tmp / "empty"); });
  EXPECT_MESSAGE(msg,
                 (tmp / "empty" / "meta.json").string() + ": cannot open (is this a token store directory?)");
}

TEST(TokenStoreErrors, WrongMagic) {
  const auto f = make_store(pg::test::temp_dir());
  const auto shard = f.dir / "shard-00001.pgts";
  std::string bytes = pg::test::read_text(shard);
  bytes.replace(0, 8, "NOTASHRD");
  spit(shard, bytes);
  const auto msg = pg::test::error_of([&] { TokenStore::open(f.dir); });
  EXPECT_MESSAGE(msg, shard.string() + ": header.magic: is not 'PGTSHARD'");
}

TEST(TokenStoreErrors, TruncatedShard) {
  const auto f = make_store(pg::test::temp_dir());
  const auto shard = f.dir / "shard-00002.pgts";
  const auto size = fs::file_size(shard);
  fs::resize_file(shard, size - 100);
  const auto msg = pg::test::error_of([&] { TokenStore::open(f.dir); });
  EXPECT_MESSAGE(msg, shard.string() + ": has " + std::to_string(size - 100) + " bytes but meta.json says " +
                          std::to_string(size) + " (truncated or replaced?)");
}

TEST(TokenStoreErrors, TruncatedShardWithMatchingMetaStillFails) {
  // Even if meta.json is edited to the short size, the section table exposes the truncation.
  const auto f = make_store(pg::test::temp_dir());
  const auto shard = f.dir / "shard-00000.pgts";
  const auto size = fs::file_size(shard);
  fs::resize_file(shard, size - 200);
  json meta = json::parse(pg::test::read_text(f.dir / "meta.json"));
  meta["shards"][0]["bytes"] = size - 200;
  spit(f.dir / "meta.json", meta.dump());
  const auto msg = pg::test::error_of([&] { TokenStore::open(f.dir); });
  EXPECT_MESSAGE(msg, shard.string() + ": section ");
  EXPECT_MESSAGE(msg, "beyond the file size " + std::to_string(size - 200) + " (truncated?)");
}

TEST(TokenStoreErrors, MetaCellCountsDisagreeWithShards) {
  const auto f = make_store(pg::test::temp_dir());
  const json good = json::parse(pg::test::read_text(f.dir / "meta.json"));

  json meta = good;
  meta["n_cells"] = 101;
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "meta.json: n_cells: is 101 but the shards hold 100 cells");

  meta = good;
  meta["shards"][3]["n_cells"] = 11;
  meta["n_cells"] = 101;
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "shard-00003.pgts: header.n_cells: is 10 but meta.json says 11");

  meta = good;
  meta["shards"][1]["first_cell"] = 29;
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(
      pg::test::error_of([&] { TokenStore::open(f.dir); }),
      "meta.json: shards[1].first_cell: is 29, expected 30 (shards must follow each other without gaps)");

  meta = good;
  meta["format_version"] = 7;
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "meta.json: format_version: is 7, this perturbgen");

  meta = good;
  meta["vocabulary"]["size"] = 70000;  // implies uint32 tokens, but token_width still says 2
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "meta.json: token_width: is 2 but the schema implies 4");

  meta = good;
  meta["obs"].erase(2);
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "shard-00000.pgts: header.n_sections: is 12, expected 11 (9 + 2 obs columns in meta.json)");

  meta = good;
  meta.erase("shards");
  spit(f.dir / "meta.json", meta.dump());
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }), "meta.json: shards: is missing");

  spit(f.dir / "meta.json", "{\"format\": ");
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }), "meta.json: is not valid JSON");
}

TEST(TokenStoreErrors, ShardHeaderCountsDisagreeWithSections) {
  const auto f = make_store(pg::test::temp_dir());
  const auto shard = f.dir / "shard-00001.pgts";
  std::string bytes = pg::test::read_text(shard);
  put_u64(bytes, 32, read_u64(bytes, 32) + 1);  // n_tokens one larger than the tokens section
  spit(shard, bytes);
  const uint64_t tokens_size = read_u64(bytes, 64 + 16 + 8);  // section 1's size in the table
  const auto msg = pg::test::error_of([&] { TokenStore::open(f.dir); });
  EXPECT_MESSAGE(msg, shard.string() + ": section tokens: has " + std::to_string(tokens_size) +
                          " bytes, expected " + std::to_string(tokens_size + 2) +
                          " from the header's counts");
}

TEST(TokenStoreErrors, MissingShardFile) {
  const auto f = make_store(pg::test::temp_dir());
  fs::remove(f.dir / "shard-00002.pgts");
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "shard-00002.pgts: is listed in meta.json but missing from the store");
}

TEST(TokenStoreErrors, CorruptDataIsFoundWhenReadNotAtOpen) {
  const auto f = make_store(pg::test::temp_dir());
  const auto shard = f.dir / "shard-00001.pgts";
  std::string bytes = pg::test::read_text(shard);
  // Section table entry 0 (token_offsets) at byte 64; make cell 35's (local 5) end offset huge.
  const uint64_t offsets_at = read_u64(bytes, 64);
  put_u64(bytes, offsets_at + 8 * 6, 1u << 30);
  // Section 1 (tokens, uint16) at byte 80: make the first token of local cell 0 (cell 30) 60000 >= 500.
  const uint64_t tokens_at = read_u64(bytes, 80);
  const uint16_t bad = 60000;
  std::memcpy(bytes.data() + tokens_at, &bad, 2);
  spit(shard, bytes);

  const auto st = TokenStore::open(f.dir);  // open reads headers only, so it still succeeds
  std::vector<uint32_t> tokens;
  EXPECT_MESSAGE(pg::test::error_of([&] { st.tokens(35, tokens); }),
                 shard.string() + ": token_offsets of cell 35: offsets ");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.tokens(35, tokens); }), "(the shard is corrupt)");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.tokens(30, tokens); }),
                 shard.string() + ": tokens of cell 30: token 60000 is outside the vocabulary (size 500)");
  // Untouched cells still read fine.
  st.tokens(0, tokens);
  EXPECT_EQ(tokens, f.cells[0].tokens);
  EXPECT_MESSAGE(pg::test::error_of([&] { st.verify(); }), shard.string() + ": CRC-32 is ");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.verify(); }), "(the shard is corrupt)");
}

TEST(TokenStoreErrors, GenesTsvMismatch) {
  const auto f = make_store(pg::test::temp_dir());
  std::string genes = pg::test::read_text(f.dir / "genes.tsv");
  genes = genes.substr(0, genes.rfind('\n', genes.size() - 2) + 1);  // drop the last row
  spit(f.dir / "genes.tsv", genes);
  EXPECT_MESSAGE(pg::test::error_of([&] { TokenStore::open(f.dir); }),
                 "genes.tsv: has 9 gene rows but meta.json says n_count_genes = 10");
}

TEST(TokenStoreErrors, VocabularyMismatchNamesBoth) {
  const auto f = make_store(pg::test::temp_dir());
  const auto st = TokenStore::open(f.dir);
  EXPECT_NO_THROW(st.check_vocabulary("sha256:0123abcd", "the model"));
  EXPECT_MESSAGE(
      pg::test::error_of([&] { st.check_vocabulary("sha256:ffff", "model 'tiny' (config.json)"); }),
      "meta.json: vocabulary: the store was tokenised with vocabulary 'test-vocab' (hash sha256:0123abcd), "
      "but model 'tiny' (config.json) expects hash sha256:ffff");
}

TEST(TokenStoreErrors, BadBatchesAreRefusedWhole) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 10, 8);
  const auto cells = test::random_cells(20, schema, 22);
  StoreWriter w(tmp / "s", schema, test::make_genes(10));
  test::append_cells(w, std::vector<test::Cell>(cells.begin(), cells.begin() + 5), 5);

  auto batch = test::to_batch(cells, 5, 10, schema);
  auto b = batch;
  b.tokens.back() = 100;
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }),
                 "batch cell 4 (cell 9 of the store): token 100 is outside the vocabulary (size 100)");
  b = batch;
  b.count_genes = {3, 3};
  b.count_values = {1, 2};
  b.count_offsets = {0, 2, 2, 2, 2, 2};
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }),
                 "batch cell 0 (cell 5 of the store): count genes must be strictly increasing within a cell, "
                 "got 3 then 3");
  b = batch;
  b.state[2] = 3;
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }),
                 "batch cell 2 (cell 7 of the store): state code 3 is outside [-1, 3)");
  b = batch;
  b.library_size.pop_back();
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }), "batch library_size: has 4 entries for 5 cells");
  b = batch;
  b.obs_codes[2][1] = 2;
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }),
                 "batch cell 1 (cell 6 of the store): obs 'batch' code 2 is outside [-1, 2)");
  b = batch;
  b.obs_values[0] = {1, 2, 3, 4, 5};
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }),
                 "batch obs column 'cell_type': is categorical but float values were given");
  b = batch;
  b.token_offsets[2] = b.token_offsets[3] + 1;
  EXPECT_MESSAGE(pg::test::error_of([&] { w.append(b); }),
                 "batch cell 2 (cell 7 of the store): token_offsets decrease from " +
                     std::to_string(b.token_offsets[2]) + " to " + std::to_string(b.token_offsets[3]));

  EXPECT_EQ(w.n_cells(), 5);  // nothing of the refused batches was kept
  w.append(batch);
  test::append_cells(w, std::vector<test::Cell>(cells.begin() + 10, cells.end()), 4);
  EXPECT_MESSAGE(pg::test::error_of([&] {
                   w.finish(json{{"shards", 1}});
                 }),
                 "extra.shards: is a key the token store writes itself; choose another name");
  w.finish(json{{"note", "ok"}});
  const auto st = TokenStore::open(tmp / "s");
  ASSERT_EQ(st.n_cells(), 20);
  for (int64_t i = 0; i < 20; ++i) test::expect_cell(st, i, cells[static_cast<size_t>(i)]);
}

TEST(TokenStoreErrors, BadSchemaAndGenes) {
  const auto tmp = pg::test::temp_dir();
  auto schema = test::make_schema(0, 2, 8);
  EXPECT_MESSAGE(pg::test::error_of([&] { StoreWriter(tmp / "s", schema, test::make_genes(2)); }),
                 "schema.vocab_size: must be in [1, 2^32], got 0");
  schema = test::make_schema(10, 3, 8);
  EXPECT_MESSAGE(pg::test::error_of([&] { StoreWriter(tmp / "s", schema, test::make_genes(2)); }),
                 "genes: has 2 rows but schema.n_count_genes is 3");
  auto genes = test::make_genes(3);
  genes[1].gene_name = "A\tB";
  EXPECT_MESSAGE(pg::test::error_of([&] { StoreWriter(tmp / "s", schema, genes); }),
                 "genes[1].gene_name: contains a tab or newline");
  schema.obs.push_back(schema.obs[0]);
  EXPECT_MESSAGE(pg::test::error_of([&] { StoreWriter(tmp / "s", schema, test::make_genes(3)); }),
                 "schema.obs[3] 'cell_type': obs column name appears twice");
  EXPECT_MESSAGE(
      pg::test::error_of([&] { StoreWriter(tmp / "no" / "such" / "s", test::make_schema(10, 0, 8), {}); }),
      "does not exist");
  EXPECT_EQ(entries(tmp), std::set<std::string>{});
}

TEST(TokenStoreErrors, InterruptedWriterLeavesNoStore) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 10, 8);
  const auto cells = test::random_cells(50, schema, 23);
  {
    StoreWriter w(tmp / "s", schema, test::make_genes(10));
    test::append_cells(w, cells, 9);  // six shards already on disk, in the staging directory
    EXPECT_EQ(entries(tmp).size(), 1u);
    EXPECT_FALSE(fs::exists(tmp / "s"));
  }  // destroyed without finish(), as when an exception unwinds the tokeniser
  EXPECT_EQ(entries(tmp), std::set<std::string>{});

  // A failure thrown mid-way unwinds the same way.
  EXPECT_THROW(
      {
        StoreWriter w(tmp / "s", schema, test::make_genes(10));
        test::append_cells(w, cells, 9);
        throw pg::Error("input.h5ad", "X", "read error");
      },
      pg::Error);
  EXPECT_EQ(entries(tmp), std::set<std::string>{});
}

TEST(TokenStoreErrors, InterruptedAppendLeavesTheStoreAsItWas) {
  const auto f = make_store(pg::test::temp_dir());
  const auto before = entries(f.dir);
  const std::string meta_before = pg::test::read_text(f.dir / "meta.json");
  const auto more = test::random_cells(70, f.schema, 24);
  {
    auto w = StoreWriter::append_to(f.dir);
    test::append_cells(w, more, 35);  // two new shards written
    EXPECT_TRUE(fs::exists(f.dir / "shard-00004.pgts"));
    // A store being appended to still opens as its old self.
    EXPECT_EQ(TokenStore::open(f.dir).n_cells(), 100);
    // And a second appender is refused while the first holds the lock.
    EXPECT_MESSAGE(pg::test::error_of([&] { StoreWriter::append_to(f.dir); }),
                   "another writer is appending to this store");
  }
  auto after = entries(f.dir);
  after.erase(".writer.lock");
  EXPECT_EQ(after, before);
  EXPECT_EQ(pg::test::read_text(f.dir / "meta.json"), meta_before);

  // Leftovers of a crashed append (kill -9: no destructor) are cleared by the next append.
  fs::copy_file(f.dir / "shard-00000.pgts", f.dir / "shard-00004.pgts");
  spit(f.dir / "shard-00005.pgts.tmp", "partial");
  {
    auto w = StoreWriter::append_to(f.dir);
    EXPECT_FALSE(fs::exists(f.dir / "shard-00005.pgts.tmp"));
    test::append_cells(w, more, 35);
    w.finish();
  }
  const auto st = TokenStore::open(f.dir);
  ASSERT_EQ(st.n_cells(), 170);
  for (int64_t i = 0; i < 100; ++i) test::expect_cell(st, i, f.cells[static_cast<size_t>(i)]);
  for (int64_t i = 0; i < 70; ++i) test::expect_cell(st, 100 + i, more[static_cast<size_t>(i)]);
  EXPECT_NO_THROW(st.verify());
}

TEST(TokenStoreErrors, CellAndColumnOutOfRange) {
  const auto f = make_store(pg::test::temp_dir());
  const auto st = TokenStore::open(f.dir);
  EXPECT_MESSAGE(pg::test::error_of([&] { st.state(100); }), "cell 100: is outside the store's 100 cells");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.state(-1); }), "cell -1: is outside the store's 100 cells");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.obs_code(0, 1); }),
                 "obs column 'pseudotime': is a float column; read it with obs_value");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.obs_value(0, 3); }),
                 "obs column 3: is outside the store's 3 obs columns");
  EXPECT_MESSAGE(pg::test::error_of([&] { st.pairing(); }),
                 "meta.json: pairing_table: the store has no pairing table");
}

}  // namespace
}  // namespace pg::store
