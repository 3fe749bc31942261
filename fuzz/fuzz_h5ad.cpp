// libFuzzer target: arbitrary bytes as an .h5ad file, opened as an in-memory
// HDF5 image. The reader must either return a consistent CellMatrix or throw
// pg::Error: no crash, no hang, no leak.
#include <cstdint>
#include <string_view>

#include "core/error.h"
#include "io/formats.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const pg::io::CellMatrix m =
        pg::io::read_h5ad_image(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.h5ad");
    pg::io::validate(m.X, "fuzz.h5ad", "X");  // what the reader returned must be consistent
  } catch (const pg::Error&) {
    // Rejected with a clear error: the expected outcome for broken input.
  }
  return 0;
}
