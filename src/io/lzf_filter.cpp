#include "io/lzf_filter.h"

#include <hdf5.h>
#include <liblzf/lzf.h>

#include <cerrno>

#include <mutex>

namespace pg::io::h5 {

size_t lzf_decode(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size, bool& too_small) {
  // liblzf (Debian liblzf-dev) is the decoder h5py's filter itself wraps.
  errno = 0;
  const unsigned n = lzf_decompress(in, static_cast<unsigned>(in_size), out, static_cast<unsigned>(out_size));
  too_small = n == 0 && errno == E2BIG;
  return n;
}

namespace {

// The HDF5 filter callback. cd_values[2] is the chunk size in bytes as h5py
// records it; the buffer grows if a chunk turns out larger.
size_t lzf_filter(unsigned flags, size_t cd_nelmts, const unsigned cd_values[], size_t nbytes,
                  size_t* buf_size, void** buf) {
  if ((flags & H5Z_FLAG_REVERSE) == 0) return 0;  // writing LZF is not supported
  size_t out_size = (cd_nelmts >= 3 && cd_values[2] != 0) ? cd_values[2] : *buf_size;
  if (out_size == 0) out_size = 1;
  for (int attempt = 0; attempt < 24; ++attempt) {
    auto* out = static_cast<uint8_t*>(H5allocate_memory(out_size, false));
    if (out == nullptr) return 0;
    bool too_small = false;
    const size_t n = lzf_decode(static_cast<const uint8_t*>(*buf), nbytes, out, out_size, too_small);
    if (n > 0) {
      H5free_memory(*buf);
      *buf = out;
      *buf_size = out_size;
      return n;
    }
    H5free_memory(out);
    if (!too_small) return 0;
    out_size *= 2;
  }
  return 0;
}

}  // namespace

void register_lzf_filter() {
  static std::once_flag once;
  std::call_once(once, [] {
    static const H5Z_class2_t cls = {H5Z_CLASS_T_VERS,
                                     static_cast<H5Z_filter_t>(32000),
                                     0,
                                     1,
                                     "lzf (perturbgen decoder)",
                                     nullptr,
                                     nullptr,
                                     lzf_filter};
    H5Zregister(&cls);
  });
}

}  // namespace pg::io::h5
