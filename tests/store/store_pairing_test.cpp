// The pairing table: round trip through pairing.pgtp, the TSV export for
// audit (checked against text built by hand), range checks, replacement by an
// append, and a damaged pairing file.
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

std::set<std::string> entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

// Six cells with readable ids, one with a tab, in shards of 4.
std::vector<test::Cell> six_cells(const StoreSchema& schema) {
  auto cells = test::random_cells(6, schema, 31);
  const char* ids[] = {"AAAC-1", "AAAG-1", "CCCT-1", "GG\tTA-2", "TTTA-2", "TTTC-2"};
  for (size_t i = 0; i < 6; ++i) cells[i].id = ids[i];
  return cells;
}

PairingTable three_rows() {
  PairingTable t;
  t.columns = {"source", "t1_day2", "t2_day4"};
  t.n_rows = 3;
  t.cells = {0, 3,  5,  //
             1, -1, 4,  //
             2, 3,  -1};
  return t;
}

fs::path write_paired(const fs::path& dir, const StoreSchema& schema, const std::vector<test::Cell>& cells,
                      const PairingTable& table) {
  StoreWriter w(dir, schema, test::make_genes(schema.n_count_genes));
  test::append_cells(w, cells, 6);
  w.set_pairing(table);
  w.finish();
  return dir;
}

TEST(TokenStorePairing, RoundTripAndFileLayout) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 5, 4);
  const auto cells = six_cells(schema);
  write_paired(tmp / "s", schema, cells, three_rows());
  EXPECT_EQ(entries(tmp / "s"), (std::set<std::string>{"meta.json", "genes.tsv", "shard-00000.pgts",
                                                       "shard-00001.pgts", "pairing.pgtp"}));
  const auto st = TokenStore::open(tmp / "s");
  ASSERT_TRUE(st.has_pairing());
  const PairingTable& p = st.pairing();
  EXPECT_EQ(p.columns, three_rows().columns);
  EXPECT_EQ(p.n_rows, 3);
  EXPECT_EQ(p.cells, three_rows().cells);
  EXPECT_EQ(p.at(1, 2), 4);
  const PairingView v = st.pairing_view();
  for (int64_t r = 0; r < 3; ++r)
    for (size_t c = 0; c < 3; ++c) EXPECT_EQ(v.at(r, c), three_rows().at(r, c));
  EXPECT_EQ(st.meta()["pairing_table"]["columns"], (json{"source", "t1_day2", "t2_day4"}));
  EXPECT_EQ(st.meta()["pairing_table"]["n_rows"], 3);

  // 64-byte header, then 3 x 3 int64 row-major.
  const std::string bytes = pg::test::read_text(tmp / "s" / "pairing.pgtp");
  ASSERT_EQ(bytes.size(), 64u + 9 * 8);
  EXPECT_EQ(bytes.substr(0, 8), "PGTPAIRS");
  int64_t row1[3];
  std::memcpy(row1, bytes.data() + 64 + 3 * 8, sizeof row1);
  EXPECT_EQ(row1[0], 1);
  EXPECT_EQ(row1[1], -1);
  EXPECT_EQ(row1[2], 4);
  EXPECT_NO_THROW(st.verify());
}

TEST(TokenStorePairing, TsvExportNamesCellsById) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 5, 4);
  write_paired(tmp / "s", schema, six_cells(schema), three_rows());
  const auto st = TokenStore::open(tmp / "s");
  export_pairing_tsv(st, tmp / "pairs.tsv");
  EXPECT_EQ(pg::test::read_text(tmp / "pairs.tsv"),
            "pair\tsource\tsource_index\tt1_day2\tt1_day2_index\tt2_day4\tt2_day4_index\n"
            "0\tAAAC-1\t0\tGG\\tTA-2\t3\tTTTC-2\t5\n"
            "1\tAAAG-1\t1\tNA\t-1\tTTTA-2\t4\n"
            "2\tCCCT-1\t2\tGG\\tTA-2\t3\tNA\t-1\n");
}

TEST(TokenStorePairing, CellsOutsideTheStoreAreRefusedAtFinish) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 5, 4);
  auto bad = three_rows();
  bad.cells[7] = 6;  // row 2, column t1_day2; the store has cells 0..5
  const auto msg = pg::test::error_of([&] { write_paired(tmp / "s", schema, six_cells(schema), bad); });
  EXPECT_NE(msg.find("pairing row 2 column 't1_day2': cell 6 is outside [-1, 6) (the store has 6 cells)"),
            std::string::npos)
      << msg;
  EXPECT_EQ(entries(tmp), std::set<std::string>{});

  StoreWriter w(tmp / "s", schema, test::make_genes(5));
  auto ragged = three_rows();
  ragged.cells.pop_back();
  EXPECT_NE(pg::test::error_of([&] {
              w.set_pairing(ragged);
            }).find("pairing.cells: has 8 entries, expected n_rows x columns = 3 x 3"),
            std::string::npos);
  auto negative = three_rows();
  negative.cells[0] = -2;
  EXPECT_NE(pg::test::error_of([&] { w.set_pairing(negative); }).find("cell -2 is outside"),
            std::string::npos);
}

TEST(TokenStorePairing, AppendKeepsOrReplacesThePairing) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 5, 4);
  const auto cells = six_cells(schema);
  write_paired(tmp / "s", schema, cells, three_rows());
  {
    auto w = StoreWriter::append_to(tmp / "s");
    test::append_cells(w, cells, 6);
    w.finish();
  }
  auto st = TokenStore::open(tmp / "s");
  EXPECT_EQ(st.n_cells(), 12);
  EXPECT_EQ(st.pairing().cells, three_rows().cells);

  PairingTable wider;
  wider.columns = {"source", "t1_day2"};
  wider.n_rows = 2;
  wider.cells = {0, 11, 6, -1};
  {
    auto w = StoreWriter::append_to(tmp / "s");
    w.set_pairing(wider);
    w.finish();
  }
  st = TokenStore::open(tmp / "s");
  EXPECT_EQ(st.pairing().columns, wider.columns);
  EXPECT_EQ(st.pairing().cells, wider.cells);
  // The replacement got a new name; the old file is gone once meta.json names the new one.
  const std::string file = st.meta()["pairing_table"]["file"];
  EXPECT_EQ(file, "pairing-" + st.meta()["pairing_table"]["crc32"].get<std::string>() + ".pgtp");
  EXPECT_FALSE(fs::exists(tmp / "s" / "pairing.pgtp"));
  EXPECT_NO_THROW(st.verify());
}

TEST(TokenStorePairing, DamagedPairingFile) {
  const auto tmp = pg::test::temp_dir();
  const auto schema = test::make_schema(100, 5, 4);
  write_paired(tmp / "s", schema, six_cells(schema), three_rows());
  const auto path = tmp / "s" / "pairing.pgtp";
  std::string bytes = pg::test::read_text(path);

  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 8);
  EXPECT_NE(
      pg::test::error_of([&] {
        TokenStore::open(tmp / "s");
      }).find("pairing.pgtp: has 128 bytes, expected 136 (meta.json says 136; truncated or overwritten?)"),
      std::string::npos);

  std::string wrong = bytes;
  wrong[0] = 'X';
  std::ofstream(path, std::ios::binary | std::ios::trunc) << wrong;
  EXPECT_NE(pg::test::error_of([&] {
              TokenStore::open(tmp / "s");
            }).find("pairing.pgtp: header.magic: is not 'PGTPAIRS'"),
            std::string::npos);

  // A cell index beyond the store: open (header only) succeeds, use and verify() catch it.
  std::string out_of_range = bytes;
  const int64_t big = 1000;
  std::memcpy(out_of_range.data() + 64 + 4 * 8, &big, 8);  // row 1, column 1
  std::ofstream(path, std::ios::binary | std::ios::trunc) << out_of_range;
  const auto st = TokenStore::open(tmp / "s");
  EXPECT_NE(pg::test::error_of([&] {
              st.pairing_view().at(1, 1);
            }).find("row 1 column 't1_day2': cell 1000 is outside [-1, 6) (corrupt)"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([&] { st.pairing(); }).find("cell 1000 is outside [-1, 6)"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([&] { st.verify(); }).find("pairing.pgtp: CRC-32 is "), std::string::npos);
}

}  // namespace
}  // namespace pg::store
