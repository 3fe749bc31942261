// A plain 1-D HDF5 dataset as a typed obs/var column: what h5ad dataframes
// and loom row/column attributes have in common.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <optional>
#include <utility>

#include "io/cell_matrix.h"

namespace pg::io {

// Fills `c` (type, dtype and values; not the name) from strings, h5py booleans,
// integers or floats, reading rows [begin, end) when given. Returns false,
// leaving `c` untouched but for dtype, for any other element type.
bool read_array_column(hid_t dataset, const std::optional<std::pair<int64_t, int64_t>>& rows, Column& c);

}  // namespace pg::io
