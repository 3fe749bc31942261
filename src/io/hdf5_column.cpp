#include "io/hdf5_column.h"

#include "io/hdf5.h"

namespace pg::io {

bool read_array_column(hid_t ds, const std::optional<std::pair<int64_t, int64_t>>& rows, Column& c) {
  const h5::DatasetInfo info = h5::dataset_info(ds);
  c.dtype = info.dtype;
  if (info.is_string()) {
    c.type = ColumnType::String;
    c.dtype = "str";
    c.strings = h5::read_strings(ds, rows);
  } else if (info.dtype == "bool") {
    c.type = ColumnType::Bool;
    c.bools = h5::read<uint8_t>(ds, rows);
  } else if (info.type_class == H5T_INTEGER) {
    c.type = ColumnType::Int;
    c.ints = h5::read<int64_t>(ds, rows);
  } else if (info.type_class == H5T_FLOAT) {
    c.type = ColumnType::Float;
    c.floats = h5::read<double>(ds, rows);
  } else {
    return false;
  }
  return true;
}

}  // namespace pg::io
