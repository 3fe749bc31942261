// h5py's LZF compression filter (HDF5 filter id 32000), decompression only.
// anndata 0.7 compressed every dataset with it, and Debian's
// hdf5-plugin-lzf cannot be loaded (it leaves lzf_decompress undefined), so
// the reader registers the filter itself, decoding with liblzf.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pg::io::h5 {

// Registers the filter with HDF5 (once; later calls do nothing). Called by h5::init().
void register_lzf_filter();

// Decodes one LZF block with liblzf's lzf_decompress into `out`.
// Returns the number of bytes written, or 0 if the input is malformed or
// needs more than `out_size` bytes (`too_small` is then set).
size_t lzf_decode(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size, bool& too_small);

}  // namespace pg::io::h5
