// The MatrixMarket parser and writer on small in-memory texts: every value
// type, the layouts real files use (comments, CRLF, trailing blanks) and each
// kind of broken input, which must fail with a message naming what is wrong.
#include "io/matrix_market.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "core/error.h"
#include "io/gzip.h"
#include "test_support.h"

namespace pg::io {
namespace {

// The error message of parsing `text` (with `threads` threads), or "" if it parsed.
std::string parse_error(const std::string& text, int threads = 0) {
  try {
    parse_matrix_market(text, "test.mtx", threads);
  } catch (const Error& e) {
    EXPECT_EQ(e.file(), "test.mtx");
    return e.what();
  }
  return "";
}

TEST(MatrixMarket, IntegerIsTransposedToCellsByGenes) {
  // 3 genes x 2 cells; entries sorted by cell then gene, as 10x writes them.
  const std::string text =
      "%%MatrixMarket matrix coordinate integer general\n"
      "% a comment\n"
      "3 2 4\n"
      "1 1 5\n"
      "3 1 7\n"
      "2 2 1\n"
      "3 2 -2\n";
  const CsrMatrix m = parse_matrix_market(text, "x.mtx");
  EXPECT_EQ(m.n_rows, 2);  // cells
  EXPECT_EQ(m.n_cols, 3);  // genes
  EXPECT_EQ(m.nnz(), 4);
  EXPECT_EQ(m.indptr, (std::vector<int64_t>{0, 2, 4}));
  EXPECT_EQ(m.indices, (std::vector<int32_t>{0, 2, 1, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{5, 7, 1, -2}));
  EXPECT_EQ(m.storage.dtype, "int64");
  EXPECT_FLOAT_EQ(m.at(1, 2), -2.0f);
  EXPECT_FLOAT_EQ(m.at(0, 1), 0.0f);
}

TEST(MatrixMarket, RealValues) {
  const std::string text =
      "%%MatrixMarket matrix coordinate real general\n"
      "2 2 3\n"
      "1 1 0.5\n"
      "2 1 -1.25e2\n"
      "2 2 +3\n";
  const CsrMatrix m = parse_matrix_market(text, "x.mtx");
  EXPECT_EQ(m.storage.dtype, "float64");
  EXPECT_EQ(m.data, (std::vector<float>{0.5f, -125.0f, 3.0f}));
}

TEST(MatrixMarket, PatternStoresOnes) {
  const std::string text =
      "%%MatrixMarket matrix coordinate pattern general\n"
      "2 3 2\n"
      "2 1\n"
      "1 3\n";
  const CsrMatrix m = parse_matrix_market(text, "x.mtx");
  EXPECT_EQ(m.n_rows, 3);
  EXPECT_EQ(m.n_cols, 2);
  EXPECT_EQ(m.indptr, (std::vector<int64_t>{0, 1, 1, 2}));
  EXPECT_EQ(m.data, (std::vector<float>{1, 1}));
}

TEST(MatrixMarket, CaseInsensitiveBannerCrlfBlanksAndComments) {
  const std::string text =
      "%%MatrixMarket MATRIX Coordinate Integer General\r\n"
      "%comment 1\r\n"
      "\r\n"
      "% comment 2\r\n"
      "  2 2 2  \r\n"
      "1\t1\t3 \t\r\n"
      "% a comment between entries\r\n"
      "   2 2 4\r\n"
      "\r\n";
  const CsrMatrix m = parse_matrix_market(text, "x.mtx");
  EXPECT_EQ(m.nnz(), 2);
  EXPECT_FLOAT_EQ(m.at(0, 0), 3.0f);
  EXPECT_FLOAT_EQ(m.at(1, 1), 4.0f);
}

TEST(MatrixMarket, StrayCarriageReturns) {
  // Found by fuzzing: a CR not followed by LF once made the banner loop spin.
  EXPECT_EQ(parse_matrix_market("%%MatrixMarket\rmatrix coordinate integer general\n1 1 0\n", "x").n_rows, 1);
  EXPECT_NE(parse_error(std::string("%%MatrixMarket matrix coordinate integer general\n1 1 1\n1\r1 1\n"))
                .find("expected a row index"),
            std::string::npos);
}

TEST(MatrixMarket, NoFinalNewline) {
  const CsrMatrix m =
      parse_matrix_market("%%MatrixMarket matrix coordinate integer general\n1 1 1\n1 1 9", "x");
  EXPECT_FLOAT_EQ(m.at(0, 0), 9.0f);
}

TEST(MatrixMarket, UnsortedEntriesAreSortedWithinEachCell) {
  const std::string text =
      "%%MatrixMarket matrix coordinate integer general\n"
      "4 2 4\n"
      "4 2 1\n"
      "3 1 2\n"
      "1 2 3\n"
      "2 1 4\n";
  const CsrMatrix m = parse_matrix_market(text, "x.mtx");
  EXPECT_EQ(m.indices, (std::vector<int32_t>{1, 2, 0, 3}));
  EXPECT_EQ(m.data, (std::vector<float>{4, 2, 3, 1}));
}

TEST(MatrixMarket, EmptyMatrix) {
  const CsrMatrix m = parse_matrix_market("%%MatrixMarket matrix coordinate real general\n5 3 0\n", "x");
  EXPECT_EQ(m.n_rows, 3);
  EXPECT_EQ(m.n_cols, 5);
  EXPECT_EQ(m.nnz(), 0);
  EXPECT_EQ(m.indptr, (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(MatrixMarket, HeaderOnly) {
  const MtxHeader h =
      parse_matrix_market_header("%%MatrixMarket matrix coordinate real general\n%c\n7 9 11\n1 1 x\n", "x");
  EXPECT_EQ(h.field, MtxField::Real);
  EXPECT_EQ(h.n_rows, 7);
  EXPECT_EQ(h.n_cols, 9);
  EXPECT_EQ(h.nnz, 11);
}

constexpr const char* kInt = "%%MatrixMarket matrix coordinate integer general\n";
constexpr const char* kReal = "%%MatrixMarket matrix coordinate real general\n";

TEST(MatrixMarketErrors, FewerEntriesThanHeader) {
  const std::string e = parse_error(std::string(kInt) + "3 3 4\n1 1 1\n2 2 2\n");
  EXPECT_NE(e.find("premature end of data: header says 4 entries, found 2"), std::string::npos) << e;
}

TEST(MatrixMarketErrors, MoreEntriesThanHeader) {
  const std::string e = parse_error(std::string(kInt) + "3 3 1\n1 1 1\n2 2 2\n3 3 3\n");
  EXPECT_NE(e.find("header says 1 entries, found 3"), std::string::npos) << e;
  EXPECT_NE(e.find("line 4"), std::string::npos) << e;
}

TEST(MatrixMarketErrors, ZeroIndex) {
  const std::string e = parse_error(std::string(kInt) + "3 3 1\n0 1 1\n");
  EXPECT_NE(e.find("1-based"), std::string::npos) << e;
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
}

TEST(MatrixMarketErrors, IndexOutOfRange) {
  EXPECT_NE(parse_error(std::string(kInt) + "3 2 1\n4 1 1\n").find("row index '4' out of range 1..3"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "3 2 1\n1 3 1\n").find("column index '3' out of range 1..2"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "3 2 1\n1 99999999999999999999999 1\n").find("out of range"),
            std::string::npos);
}

TEST(MatrixMarketErrors, NegativeIndex) {
  EXPECT_NE(parse_error(std::string(kInt) + "3 2 1\n-1 1 1\n").find("expected a row index"),
            std::string::npos);
}

TEST(MatrixMarketErrors, NonNumericTokens) {
  EXPECT_NE(parse_error(std::string(kInt) + "3 2 1\n1 1 abc\n").find("expected an integer value"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "3 2 1\n1 1 1.5\n").find("expected an integer value"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1 1.5x\n").find("expected a number"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 x 1\n").find("expected a column index"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1\n").find("expected a value"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1 2 5\n").find("unexpected '5' after the entry"),
            std::string::npos);
}

TEST(MatrixMarketErrors, NanAndInf) {
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1 nan\n").find("non-finite"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1 -inf\n").find("non-finite"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1 1e999\n").find("out of range"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kReal) + "3 2 1\n1 1 1e300\n").find("float32"), std::string::npos);
}

TEST(MatrixMarketErrors, HugeSizes) {
  EXPECT_NE(parse_error(std::string(kInt) + "99999999999 2 1\n").find("too large"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "2 2 99999999999999999999999\n").find("too large"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "2 2 5\n").find("cannot fit a 2 x 2 matrix"), std::string::npos);
  // Fits int32 but would need gigabytes of row pointers for a few bytes of text.
  EXPECT_NE(parse_error(std::string(kInt) + "1 2000000000 0\n").find("implausible"), std::string::npos);
  // A huge entry count with little text is a premature end, found without reserving memory for it.
  const std::string e = parse_error(std::string(kInt) + "2000000000 2 4000000000\n1 1 1\n");
  EXPECT_NE(e.find("header says 4000000000 entries, found 1"), std::string::npos) << e;
}

TEST(MatrixMarketErrors, MissingSizeLineAndBadBanner) {
  EXPECT_NE(parse_error(std::string(kInt) + "% only comments\n").find("missing size line"),
            std::string::npos);
  EXPECT_NE(parse_error("").find("empty file"), std::string::npos);
  EXPECT_NE(parse_error("1 1 1\n1 1 1\n").find("%%MatrixMarket"), std::string::npos);
  EXPECT_NE(parse_error("%%MatrixMarket matrix array real general\n2 2\n").find("array"), std::string::npos);
  EXPECT_NE(parse_error("%%MatrixMarket matrix coordinate complex general\n").find("complex"),
            std::string::npos);
  EXPECT_NE(parse_error("%%MatrixMarket matrix coordinate real symmetric\n").find("symmetric"),
            std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "2 2\n").find("entry count"), std::string::npos);
  EXPECT_NE(parse_error(std::string(kInt) + "2 2 1 7\n").find("unexpected '7'"), std::string::npos);
}

TEST(MatrixMarketWriter, RoundTripsIntegerAndReal) {
  CsrMatrix m;
  m.n_rows = 3;
  m.n_cols = 4;
  m.indptr = {0, 2, 2, 4};
  m.indices = {1, 3, 0, 2};
  m.data = {1.0f, 250.0f, 7.0f, 3.0f};
  ASSERT_TRUE(all_integral(m));
  const std::string text = format_matrix_market(m, true);
  EXPECT_EQ(text.substr(0, text.find('\n')), "%%MatrixMarket matrix coordinate integer general");
  EXPECT_NE(text.find("\n4 3 4\n2 1 1\n4 1 250\n1 3 7\n3 3 3\n"), std::string::npos) << text;
  CsrMatrix back = parse_matrix_market(text, "x");
  EXPECT_EQ(back.indptr, m.indptr);
  EXPECT_EQ(back.indices, m.indices);
  EXPECT_EQ(back.data, m.data);

  m.data = {0.1f, 1e-7f, 3.4028235e38f, -2.5f};
  ASSERT_FALSE(all_integral(m));
  back = parse_matrix_market(format_matrix_market(m, false), "x");
  EXPECT_EQ(back.data, m.data);  // shortest round-trip text keeps every float bit-exact
  EXPECT_EQ(back.storage.dtype, "float64");
}

TEST(MatrixMarketWriter, SliceRows) {
  const CsrMatrix m = parse_matrix_market(std::string(kInt) + "3 3 3\n1 1 1\n2 2 2\n3 3 3\n", "x");
  const CsrMatrix s = slice_rows(m, 1, 3);
  EXPECT_EQ(s.n_rows, 2);
  EXPECT_EQ(s.indptr, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(s.indices, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(s.data, (std::vector<float>{2, 3}));
}

// ---- Parallel and streaming reads ------------------------------------------

struct Entries {
  int genes = 0;
  int cells = 0;
  std::vector<std::tuple<int, int, int>> list;  // 1-based gene, cell, value in file order
};

// `n` random entries over genes x cells, sorted by cell then gene (as 10x
// writes) or in random order.
Entries random_entries(std::mt19937& rng, int genes, int cells, int n, bool sorted) {
  Entries e{genes, cells, {}};
  for (int i = 0; i < n; ++i) {
    e.list.emplace_back(1 + static_cast<int>(rng() % static_cast<unsigned>(genes)),
                        1 + static_cast<int>(rng() % static_cast<unsigned>(cells)),
                        static_cast<int>(rng() % 2000) - 100);
  }
  if (sorted) {
    std::sort(e.list.begin(), e.list.end(), [](const auto& x, const auto& y) {
      return std::tie(std::get<1>(x), std::get<0>(x)) < std::tie(std::get<1>(y), std::get<0>(y));
    });
  }
  return e;
}

// The text of `e`; with `decorate`, some lines get CRLF, tabs, extra blanks,
// leading zeros or a '+', and comment and blank lines fall between entries.
std::string mtx_text(const Entries& e, std::mt19937& rng, bool decorate) {
  std::string t = "%%MatrixMarket matrix coordinate integer general\n% generated\n" +
                  std::to_string(e.genes) + " " + std::to_string(e.cells) + " " +
                  std::to_string(e.list.size()) + "\n";
  for (const auto& [g, c, v] : e.list) {
    const unsigned r = decorate ? static_cast<unsigned>(rng() % 16) : 15;
    const std::string sep = r == 0 ? "\t" : r == 1 ? "  " : " ";
    t += (r == 2 ? "0" : "") + std::to_string(g) + sep + std::to_string(c) + sep +
         (r == 3 && v >= 0 ? "+" : "") + std::to_string(v) +
         (r == 4   ? " \r\n"
          : r == 5 ? "\r\n"
                   : "\n");
    if (r == 6) t += "% between entries\n";
    if (r == 7) t += "\n";
  }
  return t;
}

// What the parser must give for `e`: cells x genes, each cell's entries
// stably sorted by gene.
CsrMatrix expected_csr(const Entries& e) {
  auto list = e.list;
  std::stable_sort(list.begin(), list.end(), [](const auto& x, const auto& y) {
    return std::tie(std::get<1>(x), std::get<0>(x)) < std::tie(std::get<1>(y), std::get<0>(y));
  });
  CsrMatrix m;
  m.n_rows = e.cells;
  m.n_cols = e.genes;
  m.indptr.assign(static_cast<size_t>(e.cells) + 1, 0);
  for (const auto& [g, c, v] : list) {
    ++m.indptr[static_cast<size_t>(c)];
    m.indices.push_back(g - 1);
    m.data.push_back(static_cast<float>(v));
  }
  for (size_t i = 1; i < m.indptr.size(); ++i) m.indptr[i] += m.indptr[i - 1];
  m.storage.dtype = "int64";
  return m;
}

TEST(MatrixMarketParallel, EveryThreadCountGivesTheSameMatrix) {
  std::mt19937 rng(7);
  for (const bool sorted : {true, false}) {
    for (const bool decorate : {false, true}) {
      SCOPED_TRACE(std::string(sorted ? "sorted" : "unsorted") + (decorate ? ", decorated" : ""));
      const Entries e = random_entries(rng, 40, 9, 300, sorted);
      const std::string text = mtx_text(e, rng, decorate);
      const CsrMatrix expected = expected_csr(e);
      for (int threads = 1; threads <= 40; ++threads)
        pg::test::expect_same_matrix(parse_matrix_market(text, "x", threads), expected);
      pg::test::expect_same_matrix(parse_matrix_market(text, "x"), expected);
    }
  }
}

TEST(MatrixMarketParallel, ChunkBoundaryAfterEveryLine) {
  // Lines of equal length: with one thread per line every line start is a
  // chunk boundary, cells included that continue across it, sorted or not.
  std::string text = std::string(kInt) + "9 3 24\n";
  const char* lines[] = {"1 1 1\n", "2 1 2\n", "3 1 3\n", "9 1 4\n", "1 2 5\n", "1 2 6\n",
                         "5 2 7\n", "2 2 8\n", "8 3 9\n", "7 3 1\n", "6 1 2\n", "5 3 3\n",
                         "4 3 4\n", "3 2 5\n", "2 3 6\n", "1 3 7\n", "9 3 8\n", "9 3 9\n",
                         "8 2 1\n", "7 2 2\n", "6 2 3\n", "5 1 4\n", "4 1 5\n", "3 3 6\n"};
  for (const char* line : lines) text += line;
  const CsrMatrix one = parse_matrix_market(text, "x", 1);
  EXPECT_EQ(one.indptr, (std::vector<int64_t>{0, 7, 15, 24}));
  EXPECT_EQ(one.indices[0], 0);
  for (int threads = 2; threads <= 60; ++threads)
    pg::test::expect_same_matrix(parse_matrix_market(text, "x", threads), one);
}

TEST(MatrixMarketParallel, ErrorsAreTheOnesASerialReadFinds) {
  const std::string body = "1 1 1\n2 1 2\n% note\n3 2 3\n\n1 2 4\n2 2 5\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {std::string(kInt) + "3 2 5\n" + body, ""},
      {std::string(kInt) + "3 2 6\n" + body,
       "line 10: premature end of data: header says 6 entries, found 5"},
      {std::string(kInt) + "3 2 4\n" + body,
       "line 9: more entries than the header says: header says 4 entries, found 5"},
      {std::string(kInt) + "3 2 3\n" + body + "x\n", "line 8: more entries than the header says"},
      {std::string(kInt) + "3 2 5\n" + "1 1 1\n2 1 x\n" + body, "line 4: expected an integer value"},
      {std::string(kInt) + "3 2 6\n" + body + "1 1\n", "line 10: expected a value"},
      {std::string(kInt) + "3 2 6\n" + body + "4 1 1\n", "line 10: row index '4' out of range 1..3"},
      {std::string(kInt) + "4 2 7\n" + "1 1 1\n" + body + "3 3 1\n",
       "line 11: column index '3' out of range"},
  };
  for (const auto& [text, message] : cases) {
    SCOPED_TRACE(text);
    const std::string serial = parse_error(text, 1);
    if (message.empty()) {
      EXPECT_EQ(serial, "");
    } else {
      EXPECT_NE(serial.find(message), std::string::npos) << serial;
    }
    for (int threads = 2; threads <= 12; ++threads) EXPECT_EQ(parse_error(text, threads), serial);
  }
}

// The raw bytes of `text` written with write_gzip.
std::string gzip_bytes(const std::string& text) {
  const std::string path = (test::temp_dir() / "tmp.gz").string();
  write_gzip(path, text, 1);
  return std::string(read_file_bytes(path).view());
}

TEST(MatrixMarketGzip, StreamedReadMatchesTheInMemoryParse) {
  // Several 1 MiB pieces, so that cells and their runs cross piece ends.
  std::mt19937 rng(11);
  for (const bool sorted : {true, false}) {
    const Entries e = random_entries(rng, 30000, 300, 250000, sorted);
    const std::string text = mtx_text(e, rng, true);
    ASSERT_GT(text.size(), 3u << 20);
    const auto dir = test::temp_dir();
    write_gzip((dir / "m.mtx.gz").string(), text, 1);
    write_text((dir / "m.mtx").string(), text);
    const CsrMatrix expected = expected_csr(e);
    pg::test::expect_same_matrix(read_matrix_market((dir / "m.mtx.gz").string()), expected);
    pg::test::expect_same_matrix(read_matrix_market((dir / "m.mtx").string()), expected);
    pg::test::expect_same_matrix(parse_matrix_market(text, "x", 3), expected);
  }
}

TEST(MatrixMarketGzip, StreamedErrorsMatchTheInMemoryParse) {
  std::mt19937 rng(3);
  const Entries e = random_entries(rng, 500, 50, 200000, true);
  const std::string good = mtx_text(e, rng, false);
  const std::string last_line = good.substr(good.rfind('\n', good.size() - 2) + 1);
  const std::vector<std::string> broken = {
      good.substr(0, good.size() - last_line.size()),                              // one entry short
      good + "1 1 1\n",                                                            // one too many
      good.substr(0, good.size() / 2) + "1 x 1\n" + good.substr(good.size() / 2),  // mid-file, a later piece
      good.substr(0, good.size() - 1) + " 7\n",                                    // junk on the last line
      std::string(kInt) + "3 3 1\n",                                               // header only
      "",
  };
  const auto dir = test::temp_dir();
  for (size_t i = 0; i < broken.size(); ++i) {
    SCOPED_TRACE(i);
    const std::string path = (dir / ("b" + std::to_string(i) + ".mtx.gz")).string();
    write_gzip(path, broken[i]);
    std::string streamed, in_memory;
    try {
      read_matrix_market(path);
    } catch (const Error& err) {
      streamed = err.what();
    }
    try {
      parse_matrix_market(broken[i], path);
    } catch (const Error& err) {
      in_memory = err.what();
    }
    EXPECT_NE(in_memory, "");
    EXPECT_EQ(streamed, in_memory);
  }
}

TEST(MatrixMarketGzip, MultipleMembersAndTrailingPadding) {
  const std::string a = std::string(kInt) + "% first member\n4 3 4\n1 1 1\n2 1 2\n";
  const std::string b = "3 2 3\n4 3";  // an entry split between members
  const std::string c = " 4\n";
  const std::string gz =
      gzip_bytes(a) + gzip_bytes("") + gzip_bytes(b) + gzip_bytes(c) + std::string(8, '\0');
  const auto path = (test::temp_dir() / "multi.mtx.gz").string();
  write_text(path, gz);
  EXPECT_EQ(read_maybe_gzip(path), a + b + c);
  std::string streamed;
  gunzip_lines(gz, path, [&](std::string_view lines) {
    EXPECT_EQ(lines.back(), '\n');
    streamed += lines;
  });
  EXPECT_EQ(streamed, a + b + c);
  pg::test::expect_same_matrix(read_matrix_market(path), parse_matrix_market(a + b + c, "x"));
}

TEST(MatrixMarketGzip, TruncatedOrCorruptDataIsAnError) {
  const std::string text = std::string(kInt) + "3 3 3\n1 1 1\n2 2 2\n3 3 3\n";
  const std::string gz = gzip_bytes(text);
  const auto path = (test::temp_dir() / "t.mtx.gz").string();
  auto error = [&](const std::function<void()>& read) {
    try {
      read();
    } catch (const Error& e) {
      EXPECT_EQ(e.file(), path);
      return std::string(e.what());
    }
    return std::string();
  };
  for (size_t n = 2; n < gz.size(); ++n) {  // every cut, header and trailer included
    SCOPED_TRACE(n);
    write_text(path, gz.substr(0, n));
    const std::string e = error([&] { read_maybe_gzip(path); });
    EXPECT_TRUE(e.find("truncated gzip") != std::string::npos || e.find("corrupt gzip") != std::string::npos)
        << e;
    EXPECT_EQ(error([&] { read_matrix_market(path); }), e);
  }
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] = static_cast<char>(bad_crc[bad_crc.size() - 6] ^ 1);
  write_text(path, bad_crc);
  EXPECT_NE(error([&] { read_maybe_gzip(path); }).find("corrupt gzip data"), std::string::npos);
  EXPECT_NE(error([&] { gunzip_lines(bad_crc, path, [](std::string_view) {}); }).find("corrupt gzip data"),
            std::string::npos);
}

TEST(MatrixMarketGzip, PiecesEndAtNewlinesWhateverTheLineLength) {
  std::string text;
  for (int i = 0; i < 200000; ++i) text += std::to_string(i) + (i % 7 == 0 ? " x\n" : "\n");
  text += std::string(3u << 20, 'y') + "\n";  // a line longer than a piece
  text += "no final newline";
  const std::string gz = gzip_bytes(text);
  std::string streamed;
  size_t pieces = 0;
  gunzip_lines(gz, "x.gz", [&](std::string_view lines) {
    ++pieces;
    if (streamed.size() + lines.size() < text.size()) {
      EXPECT_EQ(lines.back(), '\n');
    }
    streamed += lines;
  });
  EXPECT_EQ(streamed, text);
  EXPECT_GT(pieces, 2u);
  // An exception from the consumer stops the stream and reaches the caller.
  EXPECT_THROW(gunzip_lines(gz, "x.gz", [](std::string_view) { throw std::runtime_error("stop"); }),
               std::runtime_error);
}

}  // namespace
}  // namespace pg::io
