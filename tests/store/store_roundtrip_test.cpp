// Token store round trips: random cells written in random-sized batches
// across many small shards and read back value by value; element widths;
// appending; the byte cap; determinism; concurrent readers; and NumPy reading
// a store with the snippet of docs/token_store.md.
#include <gtest/gtest.h>

#include <array>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "store/store_writer.h"
#include "store/token_store.h"
#include "store_fixture.h"
#include "test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace pg::store {
namespace {

using test::Cell;

void spit_file(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
}

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Writes `cells` in batches of random size 1..max_batch.
fs::path write_store(const fs::path& dir, const StoreSchema& schema, const std::vector<Cell>& cells,
                     size_t max_batch, const json& extra = json::object()) {
  StoreWriter w(dir, schema, test::make_genes(schema.n_count_genes));
  std::mt19937 rng(7);
  for (size_t b = 0; b < cells.size();) {
    const size_t n = std::uniform_int_distribution<size_t>(1, max_batch)(rng);
    const size_t e = std::min(cells.size(), b + n);
    w.append(test::to_batch(cells, b, e, schema));
    b = e;
  }
  EXPECT_EQ(w.n_cells(), static_cast<int64_t>(cells.size()));
  w.finish(extra);
  return dir;
}

TEST(TokenStore, RoundTripAcrossShards) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(1000, 50, 37);
  const auto cells = test::random_cells(500, schema, 1);
  const json extra = {{"dictionaries", {{"gene_median", "sha256:aa"}}}, {"time_points", {"day0", "day2"}}};
  write_store(tmp / "store", schema, cells, 90, extra);

  // 500 cells at 37 per shard: 13 full shards and one of 19; nothing else beside the store.
  EXPECT_EQ(entries(tmp), std::set<std::string>{"store"});
  std::set<std::string> expected_files = {"meta.json", "genes.tsv"};
  for (int k = 0; k < 14; ++k)
    expected_files.insert((k < 10 ? "shard-0000" : "shard-000") + std::to_string(k) + ".pgts");
  EXPECT_EQ(entries(tmp / "store"), expected_files);

  const auto st = TokenStore::open(tmp / "store");
  ASSERT_EQ(st.n_cells(), 500);
  ASSERT_EQ(st.n_shards(), 14u);
  EXPECT_EQ(st.token_width(), 2);
  for (int64_t i = 0; i < 500; ++i) test::expect_cell(st, i, cells[static_cast<size_t>(i)]);

  const json& m = st.meta();
  EXPECT_EQ(m["format"], "perturbgen-token-store");
  EXPECT_EQ(m["format_version"], 1);
  EXPECT_EQ(m["n_cells"], 500);
  EXPECT_EQ(m["vocabulary"], (json{{"name", "test-vocab"}, {"hash", "sha256:0123abcd"}, {"size", 1000}}));
  EXPECT_EQ(m["token_width"], 2);
  EXPECT_EQ(m["states"], (json{"day0", "day2", "day4"}));
  EXPECT_EQ(m["obs"][0]["categories"], (json{"myoblast", "myotube", "fibroblast"}));
  EXPECT_EQ(m["obs"][1]["kind"], "float");
  EXPECT_EQ(m["dictionaries"]["gene_median"], "sha256:aa");
  EXPECT_EQ(m["time_points"], (json{"day0", "day2"}));
  EXPECT_TRUE(m["pairing_table"].is_null());
  for (size_t k = 0; k < 14; ++k) {
    EXPECT_EQ(m["shards"][k]["first_cell"], 37 * static_cast<int64_t>(k));
    EXPECT_EQ(m["shards"][k]["n_cells"], k < 13 ? 37 : 19);
    EXPECT_EQ(m["shards"][k]["bytes"],
              fs::file_size(tmp / "store" / m["shards"][k]["file"].get<std::string>()));
  }
  EXPECT_EQ(st.genes(), test::make_genes(50));
  const std::string genes_head =
      "gene_id\tgene_name\tsource_token\trow_id\nENSG100000\tGENE0\t10\t4\nENSG100001\t";
  EXPECT_EQ(pg::test::read_text(tmp / "store" / "genes.tsv").substr(0, genes_head.size()), genes_head);
  EXPECT_EQ(st.obs_column("pseudotime"), 1u);
  EXPECT_NE(pg::test::error_of([&] {
              st.obs_column("nope");
            }).find("has no column 'nope' (columns: cell_type, pseudotime, batch)"),
            std::string::npos);
  EXPECT_NO_THROW(st.verify());
}

// Reads the widths straight from the first shard's header bytes 60..62.
std::array<int, 3> header_widths(const fs::path& shard) {
  const std::string bytes = pg::test::read_text(shard);
  return {bytes[60], bytes[61], bytes[62]};
}

TEST(TokenStore, Uint16TokensUpToVocabularySize65536) {
  const auto tmp = pg::test::temp_dir();
  auto schema = test::make_schema(65536, 8, 100);
  auto cells = test::random_cells(60, schema, 2);
  cells[3].tokens = {65535, 0, 65534, 1};
  write_store(tmp / "s", schema, cells, 25);
  EXPECT_EQ(header_widths(tmp / "s" / "shard-00000.pgts"), (std::array<int, 3>{2, 2, 2}));
  const auto st = TokenStore::open(tmp / "s");
  EXPECT_EQ(st.meta()["token_width"], 2);
  for (int64_t i = 0; i < 60; ++i) test::expect_cell(st, i, cells[static_cast<size_t>(i)]);
}

TEST(TokenStore, Uint32TokensAndGeneIndicesBeyond65536) {
  const auto tmp = pg::test::temp_dir();
  auto schema = test::make_schema(200000, 70000, 16);
  schema.obs.clear();
  std::vector<Cell> cells(40);
  std::mt19937 rng(3);
  for (size_t i = 0; i < cells.size(); ++i) {
    cells[i].tokens = {static_cast<uint32_t>(199999 - i), 65536, static_cast<uint32_t>(rng() % 200000)};
    cells[i].genes = {1, static_cast<uint32_t>(65536 + i), 69999};
    cells[i].values = {1.5f, static_cast<float>(i), 3.0f};
    cells[i].library_size = 1000.0 + static_cast<double>(i);
    cells[i].state = static_cast<int32_t>(i % 3);
    cells[i].id = "c" + std::to_string(i);
  }
  write_store(tmp / "s", schema, cells, 11);
  EXPECT_EQ(header_widths(tmp / "s" / "shard-00000.pgts"), (std::array<int, 3>{4, 4, 2}));
  const auto st = TokenStore::open(tmp / "s");
  EXPECT_EQ(st.token_width(), 4);
  EXPECT_EQ(st.meta()["gene_index_width"], 4);
  for (int64_t i = 0; i < 40; ++i) test::expect_cell(st, i, cells[static_cast<size_t>(i)]);
  // Shard 0 holds 16 cells x 3 tokens x 4 bytes = 192 bytes of tokens.
  const std::string bytes = pg::test::read_text(tmp / "s" / "shard-00000.pgts");
  uint64_t tokens_size = 0;
  std::memcpy(&tokens_size, bytes.data() + 64 + 16 * 1 + 8, 8);
  EXPECT_EQ(tokens_size, 192u);
}

TEST(TokenStore, AppendAddsShardsAndKeepsOldOnes) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(300, 20, 32);
  const auto first = test::random_cells(100, schema, 4);
  const auto second = test::random_cells(150, schema, 5);
  write_store(tmp / "s", schema, first, 40, json{{"run", 1}, {"kept", "yes"}});
  const json meta_before = TokenStore::open(tmp / "s").meta();
  std::map<std::string, std::string> old_bytes;
  for (const auto& sh : meta_before["shards"])
    old_bytes[sh["file"]] = pg::test::read_text(tmp / "s" / sh["file"].get<std::string>());
  ASSERT_EQ(old_bytes.size(), 4u);  // 32 + 32 + 32 + 4

  {
    auto w = StoreWriter::append_to(tmp / "s");
    EXPECT_EQ(w.n_cells(), 100);
    test::append_cells(w, second, 70);
    w.finish(json{{"run", 2}});
  }
  const auto st = TokenStore::open(tmp / "s");
  ASSERT_EQ(st.n_cells(), 250);
  ASSERT_EQ(st.n_shards(), 9u);  // 4 old + 150 new at 32 per shard (4 full + 22)
  for (int64_t i = 0; i < 100; ++i) test::expect_cell(st, i, first[static_cast<size_t>(i)]);
  for (int64_t i = 0; i < 150; ++i) test::expect_cell(st, 100 + i, second[static_cast<size_t>(i)]);
  for (const auto& [file, bytes] : old_bytes) EXPECT_EQ(pg::test::read_text(tmp / "s" / file), bytes) << file;
  EXPECT_EQ(st.meta()["shards"][4]["first_cell"], 100);
  EXPECT_EQ(st.meta()["shards"][8]["n_cells"], 22);
  EXPECT_EQ(st.meta()["created"], meta_before["created"]);
  EXPECT_TRUE(st.meta()["updated"].contains("utc"));
  EXPECT_EQ(st.meta()["run"], 2);
  EXPECT_EQ(st.meta()["kept"], "yes");
  EXPECT_NO_THROW(st.verify());
}

TEST(TokenStore, ByteCapClosesShardsEarly) {
  const auto tmp = pg::test::temp_dir();
  auto schema = test::make_schema(1000, 10, 1000);
  schema.max_shard_bytes = 4000;
  const auto cells = test::random_cells(300, schema, 6, 200);
  write_store(tmp / "s", schema, cells, 120);
  const auto st = TokenStore::open(tmp / "s");
  ASSERT_GT(st.n_shards(), 5u);
  for (const auto& sh : st.meta()["shards"]) {
    // Data bytes <= cap; header, table and 64-byte padding add at most 64 + 16*12 + 13*63.
    EXPECT_LE(sh["bytes"].get<uint64_t>(), 4000u + 64 + 16 * 12 + 13 * 63) << sh.dump();
  }
  for (int64_t i = 0; i < 300; ++i) test::expect_cell(st, i, cells[static_cast<size_t>(i)]);
}

TEST(TokenStore, EmptyStoreOpens) {
  const auto tmp = pg::test::temp_dir();
  StoreWriter w(tmp / "s", test::make_schema(10, 0, 4), {});
  w.append(CellBatch{});
  w.finish();
  const auto st = TokenStore::open(tmp / "s");
  EXPECT_EQ(st.n_cells(), 0);
  EXPECT_EQ(st.n_shards(), 0u);
  EXPECT_NE(pg::test::error_of([&] { st.length(0); }).find("cell 0: is outside the store's 0 cells"),
            std::string::npos);
}

TEST(TokenStore, SameInputsGiveIdenticalBytes) {
  const auto tmp = pg::test::temp_dir();
  ::setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
  const auto schema = test::make_schema(500, 12, 25);
  const auto cells = test::random_cells(120, schema, 8);
  write_store(tmp / "a", schema, cells, 13);
  write_store(tmp / "b", schema, cells, 13);
  ::unsetenv("SOURCE_DATE_EPOCH");
  for (const auto& name : entries(tmp / "a"))
    EXPECT_EQ(pg::test::read_text(tmp / "a" / name), pg::test::read_text(tmp / "b" / name)) << name;
  EXPECT_EQ(json::parse(pg::test::read_text(tmp / "a" / "meta.json"))["created"]["utc"],
            "2023-11-14T22:13:20Z");
}

TEST(TokenStore, NewStoreReplacesOldStoreButNotOtherFolders) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 5, 10);
  write_store(tmp / "s", schema, test::random_cells(30, schema, 9), 7);
  const auto cells = test::random_cells(12, schema, 10);
  write_store(tmp / "s", schema, cells, 5);
  const auto st = TokenStore::open(tmp / "s");
  ASSERT_EQ(st.n_cells(), 12);
  EXPECT_EQ(st.n_shards(), 2u);
  EXPECT_FALSE(fs::exists(tmp / "s" / "shard-00002.pgts"));
  for (int64_t i = 0; i < 12; ++i) test::expect_cell(st, i, cells[static_cast<size_t>(i)]);

  fs::create_directories(tmp / "mine");
  std::ofstream(tmp / "mine" / "notes.txt") << "keep me";
  const auto msg = pg::test::error_of([&] { StoreWriter(tmp / "mine", schema, test::make_genes(5)); });
  EXPECT_NE(msg.find("exists and is not a token store (no meta.json); refusing to replace it"),
            std::string::npos)
      << msg;
  EXPECT_EQ(pg::test::read_text(tmp / "mine" / "notes.txt"), "keep me");
}

TEST(TokenStore, ConcurrentReadersSeeTheSameCells) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(2000, 30, 64);
  const auto cells = test::random_cells(1000, schema, 11);
  write_store(tmp / "s", schema, cells, 100);
  const auto st = TokenStore::open(tmp / "s");
  std::vector<int> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::vector<uint32_t> tokens, genes;
      std::vector<float> values;
      std::mt19937 rng(static_cast<unsigned>(t));
      for (int k = 0; k < 20000; ++k) {
        const auto i = static_cast<int64_t>(rng() % 1000);
        const Cell& c = cells[static_cast<size_t>(i)];
        st.tokens(i, tokens);
        st.counts(i, genes, values);
        if (tokens != c.tokens || genes != c.genes || values != c.values || st.cell_id(i) != c.id)
          ++mismatches[static_cast<size_t>(t)];
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

// The Python snippet of docs/token_store.md, run as written on a real store.
TEST(TokenStore, NumpyReadsCellsWithTheDocumentedSnippet) {
  const auto tmp = pg::test::temp_dir();
  const std::string doc = pg::test::read_text(pg::test::source_dir() / "docs" / "token_store.md");
  const auto start = doc.find("```python\n");
  ASSERT_NE(start, std::string::npos);
  const auto end = doc.find("```", start + 10);
  std::string script = doc.substr(start + 10, end - start - 10);
  script += R"(
import sys
out = []
for i in map(int, sys.argv[2:]):
    c = read_cell(sys.argv[1], i)
    c["tokens"] = c["tokens"].tolist(); c["count_genes"] = c["count_genes"].tolist()
    c["count_values"] = [float(v) for v in c["count_values"]]
    out.append(c)
print(json.dumps(out))
)";
  std::ofstream(tmp / "read_cell.py") << script;

  auto schema = test::make_schema(70000, 40, 23);  // uint32 tokens
  const auto cells = test::random_cells(100, schema, 12);
  write_store(tmp / "s", schema, cells, 30);
  const std::vector<int64_t> probe = {0, 22, 23, 24, 57, 99};
  std::string cmd = pg::test::python() + " " + (tmp / "read_cell.py").string() + " " + (tmp / "s").string();
  for (auto i : probe) cmd += " " + std::to_string(i);
  const auto r = pg::test::run_command(cmd);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json got = json::parse(r.output);
  ASSERT_EQ(got.size(), probe.size());
  for (size_t p = 0; p < probe.size(); ++p) {
    const Cell& c = cells[static_cast<size_t>(probe[p])];
    const json& g = got[p];
    EXPECT_EQ(g["tokens"].get<std::vector<uint32_t>>(), c.tokens) << probe[p];
    EXPECT_EQ(g["count_genes"].get<std::vector<uint32_t>>(), c.genes) << probe[p];
    const auto values = g["count_values"].get<std::vector<double>>();
    ASSERT_EQ(values.size(), c.values.size());
    for (size_t k = 0; k < values.size(); ++k) EXPECT_EQ(values[k], static_cast<double>(c.values[k]));
    EXPECT_EQ(g["library_size"].get<double>(), c.library_size);
    EXPECT_EQ(g["state"].get<int>(), c.state);
    EXPECT_EQ(g["cell_id"].get<std::string>(), c.id);
    EXPECT_EQ(g["obs"]["cell_type"].get<int>(), c.codes[0]);
    EXPECT_EQ(g["obs"]["pseudotime"].get<double>(), c.numbers[1]);
    EXPECT_EQ(g["obs"]["batch"].get<int>(), c.codes[2]);
  }
  // meta.json's crc32 is zlib's CRC-32 of the whole file.
  const auto crc = pg::test::run_command(
      pg::test::python() +
      " -c 'import zlib, sys; print(\"%08x\" % zlib.crc32(open(sys.argv[1], \"rb\").read()))' " +
      (tmp / "s" / "shard-00002.pgts").string());
  EXPECT_EQ(crc.output, TokenStore::open(tmp / "s").meta()["shards"][2]["crc32"].get<std::string>() + "\n");
}

}  // namespace
}  // namespace pg::store

namespace pg::store {
namespace {

TEST(TokenStore, ExtraExtendsVocabularyAndToolAndAuxFilesAreListed) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(1000, 6, 16);
  const auto cells = test::random_cells(40, schema, 13);
  {
    StoreWriter w(tmp / "s", schema, test::make_genes(6));
    test::append_cells(w, cells, 40);
    w.add_file("gene_report.tsv", "123456789");  // CRC-32 check value: cbf43926
    EXPECT_NE(pg::test::error_of([&] { w.add_file("meta.json", "x"); }).find("is not a plain file name"),
              std::string::npos);
    EXPECT_NE(pg::test::error_of([&] { w.add_file("../escape.txt", "x"); }).find("is not a plain file name"),
              std::string::npos);
    const json bad = {{"vocabulary", {{"hash", "sha256:other"}}}};
    EXPECT_NE(pg::test::error_of([&] {
                w.finish(bad);
              }).find("extra.vocabulary.hash: is \"sha256:other\" but the store records \"sha256:0123abcd\""),
              std::string::npos);
    w.finish(json{
        {"vocabulary",
         {{"name", "test-vocab"}, {"hash", "sha256:0123abcd"}, {"files_sha256", {{"dict.pkl", "ab12"}}}}},
        {"tool", {{"name", "perturbgen"}}},
        {"genes", {{"selected", 6}}},
        {"pairing", {{"mode", "random"}}}});
  }
  auto st = TokenStore::open(tmp / "s");
  const json& m = st.meta();
  EXPECT_EQ(m["vocabulary"], (json{{"name", "test-vocab"},
                                   {"hash", "sha256:0123abcd"},
                                   {"size", 1000},
                                   {"files_sha256", {{"dict.pkl", "ab12"}}}}));
  EXPECT_EQ(m["genes"], (json{{"selected", 6}}));
  EXPECT_EQ(m["gene_table"], (json{{"file", "genes.tsv"}, {"n_rows", 6}}));
  EXPECT_EQ(m["pairing"], (json{{"mode", "random"}}));
  EXPECT_EQ(m["files"], (json::array({{{"file", "gene_report.tsv"}, {"bytes", 9}, {"crc32", "cbf43926"}}})));
  EXPECT_EQ(pg::test::read_text(tmp / "s" / "gene_report.tsv"), "123456789");

  {  // An append keeps the caller's keys and can replace an auxiliary file.
    auto w = StoreWriter::append_to(tmp / "s");
    test::append_cells(w, cells, 40);
    w.add_file("gene_report.tsv", "new");
    w.finish();
  }
  st = TokenStore::open(tmp / "s");
  EXPECT_EQ(st.n_cells(), 80);
  EXPECT_EQ(st.meta()["vocabulary"]["files_sha256"], (json{{"dict.pkl", "ab12"}}));
  EXPECT_EQ(st.meta()["pairing"], (json{{"mode", "random"}}));
  EXPECT_EQ(st.meta()["files"].size(), 1u);
  EXPECT_EQ(st.meta()["files"][0]["bytes"], 3);
  EXPECT_NO_THROW(st.verify());
  spit_file(tmp / "s" / "gene_report.tsv", "NEW");
  EXPECT_NE(pg::test::error_of([&] { st.verify(); }).find("gene_report.tsv: has 3 bytes with CRC-32 "),
            std::string::npos);
}

}  // namespace
}  // namespace pg::store
