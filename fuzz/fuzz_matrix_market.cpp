// libFuzzer target: arbitrary text as a MatrixMarket file. The parser must
// either return a structurally valid matrix or throw pg::Error.
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/matrix_market.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const pg::io::CsrMatrix m = pg::io::parse_matrix_market(text, "fuzz.mtx");
    pg::io::validate(m, "fuzz.mtx", "matrix");
    // What it writes back must parse to the same shape and entry count.
    const auto again =
        pg::io::parse_matrix_market(pg::io::format_matrix_market(m, pg::io::all_integral(m)), "again");
    if (again.n_rows != m.n_rows || again.n_cols != m.n_cols || again.nnz() != m.nnz()) __builtin_trap();
  } catch (const pg::Error&) {
  }
  return 0;
}
