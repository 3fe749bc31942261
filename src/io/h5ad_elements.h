// Pieces of the AnnData .h5ad layout shared by the reader's translation units
// (and meant for reuse by the writer): how a sparse-matrix group is recognised
// in every anndata generation, and the readers for matrices, dense per-row
// arrays and dataframes. Private to src/io; formats.h is the public face.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "io/cell_matrix.h"
#include "io/hdf5.h"

namespace pg::io::h5ad {

using RowRange = std::optional<std::pair<int64_t, int64_t>>;

// "csr" or "csc" for a sparse-matrix group: anndata >= 0.7 writes the
// encoding-type "csr_matrix"/"csc_matrix", anndata < 0.7 the attribute
// h5sparse_format. "" for anything else.
std::string sparse_format(hid_t group);
// Its (rows, cols) from the `shape` (>= 0.7) or `h5sparse_shape` (< 0.7) attribute.
std::pair<int64_t, int64_t> sparse_shape(hid_t group);

// Reads a sparse group at `path` (relative to `loc`) as CSR in its own
// orientation, rows [begin, end) only. `expected` is the shape the element
// must have (checked before any data is read). CSR groups read only the
// selected part of data/indices; CSC groups are read whole, then converted.
// With load_values false only the header is read (shape, storage) and the
// result has no entries. Every result has passed validate().
CsrMatrix read_sparse(hid_t loc, const std::string& path, const RowRange& rows, bool load_values,
                      std::optional<std::pair<int64_t, int64_t>> expected = std::nullopt);

// A cells x genes element (X or a layer): sparse group or 2-D dataset, of
// shape n_obs x n_var. Dense arrays keep only their non-zero values.
CsrMatrix read_matrix(hid_t loc, const std::string& path, int64_t n_obs, int64_t n_var, const RowRange& rows,
                      bool load_values);

// A dense per-row array (obsm/varm entry): 2-D numeric dataset, 1-D dataset
// (one column) or sparse group (densified). Throws pg::Error if it is none of these.
DenseMatrix read_dense(hid_t loc, const std::string& path, const RowRange& rows);

// obsm/varm of anndata < 0.7: one record dataset whose fields are the
// entries (a fixed-size array field is one row of a matrix). Non-numeric
// fields are listed in `skipped` under `label`/field.
std::vector<std::pair<std::string, DenseMatrix>> read_record_arrays(hid_t dataset, const RowRange& rows,
                                                                    std::vector<std::string>& skipped,
                                                                    const std::string& label);

// Number of rows of the obs/var dataframe at `path`: the length of its index
// (group) or of the record dataset (anndata < 0.7).
int64_t dataframe_length(hid_t file, const std::string& path);

// Everything reading a dataframe produces besides the table itself.
struct DataFrameNotes {
  std::vector<std::string> skipped;       // columns present but not loaded, with why
  std::set<std::string> used_uns_arrays;  // uns/<col>_categories consumed by legacy categoricals
};

// Reads the obs/var dataframe at `path` (a dataframe group, anndata 0.7's
// group with __categories/, or a record dataset of anndata < 0.7 whose
// categorical columns keep their categories in uns/<col>_categories).
// `only`, when set, names the columns to read; the others are not touched.
using ColumnFilter = std::optional<std::vector<std::string>>;
DataFrame read_dataframe(hid_t file, const std::string& path, const RowRange& rows, DataFrameNotes& notes,
                         const ColumnFilter& only = std::nullopt);

// How pandas prints a category label: integers plainly, floats in their
// shortest round-trip form ("1.5", "2.0"), booleans as True/False.
std::string number_text(double v);

// Values of a 1-D dataset as text (strings as they are, numbers via
// number_text); `dtype` receives "str" or the stored numeric dtype.
std::vector<std::string> read_labels(hid_t dataset, const RowRange& rows, std::string& dtype);

}  // namespace pg::io::h5ad
