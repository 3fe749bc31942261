// The MatrixMarket parser and writer on small in-memory texts: every value
// type, the layouts real files use (comments, CRLF, trailing blanks) and each
// kind of broken input, which must fail with a message naming what is wrong.
#include "io/matrix_market.h"

#include <gtest/gtest.h>

#include <string>

#include "core/error.h"

namespace pg::io {
namespace {

// The error message of parsing `text`, or "" if it parsed.
std::string parse_error(const std::string& text) {
  try {
    parse_matrix_market(text, "test.mtx");
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

}  // namespace
}  // namespace pg::io
