// Matrices of an .h5ad file: X and layers (cells x genes, sparse or dense)
// and the dense per-row arrays of obsm/varm. Everything that reaches the
// caller has been checked against its declared shape and by validate().
#include <algorithm>
#include <string>

#include "core/error.h"
#include "io/h5ad_elements.h"

namespace pg::io::h5ad {

namespace {

std::string shape_text(int64_t rows, int64_t cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

// Dense arrays are converted in blocks of about this many values, so a large
// dense X never exists twice in memory.
constexpr int64_t kDenseBlockValues = int64_t{1} << 22;
// Sparse obsm/varm entries are densified only up to this many values.
constexpr int64_t kMaxDensify = int64_t{1} << 28;

bool is_numeric(const h5::DatasetInfo& info) {
  return info.type_class == H5T_INTEGER || info.type_class == H5T_FLOAT ||
         (info.type_class == H5T_ENUM && info.dtype == "bool");
}

h5::DatasetInfo vector_info(hid_t ds, bool numeric, bool integer_only = false) {
  h5::DatasetInfo info = h5::dataset_info(ds);
  if (info.shape.size() != 1) {
    h5::fail(ds, "expected a 1-D array, found " + std::to_string(info.shape.size()) + " dimensions");
  }
  if (integer_only && info.type_class != H5T_INTEGER)
    h5::fail(ds, "holds " + info.dtype + ", expected integers");
  if (numeric && !is_numeric(info)) h5::fail(ds, "holds " + info.dtype + ", expected numbers");
  return info;
}

// The wider of the indices and indptr dtypes: what a writer must use to keep both.
std::string wider_index_dtype(const std::string& a, const std::string& b) {
  if (a == b) return a;
  return (a.find("64") != std::string::npos || b.find("64") == std::string::npos) ? a : b;
}

std::pair<int64_t, int64_t> resolve(const RowRange& rows, int64_t n) {
  return rows ? *rows : std::pair<int64_t, int64_t>{0, n};
}

void check_row_range(hid_t obj, const RowRange& rows, int64_t n) {
  if (!rows) return;
  const auto [b, e] = *rows;
  if (b < 0 || e < b || e > n) {
    h5::fail(obj, "row range [" + std::to_string(b) + ", " + std::to_string(e) + ") outside its " +
                      std::to_string(n) + " rows");
  }
}

CsrMatrix empty_rows(int64_t n_rows, int64_t n_cols, StorageInfo storage) {
  CsrMatrix m;
  m.n_rows = n_rows;
  m.n_cols = n_cols;
  m.indptr.assign(static_cast<size_t>(n_rows) + 1, 0);
  m.storage = std::move(storage);
  return m;
}

CsrMatrix read_dense_x(hid_t ds, int64_t n_obs, int64_t n_var, const RowRange& rows, bool load_values) {
  const h5::DatasetInfo info = h5::dataset_info(ds);
  if (info.shape.size() != 2) {
    h5::fail(ds, "dense matrix must be 2-D, found " + std::to_string(info.shape.size()) + " dimensions");
  }
  if (!is_numeric(info)) h5::fail(ds, "holds " + info.dtype + ", expected numbers");
  if (info.shape[0] != n_obs || info.shape[1] != n_var) {
    h5::fail(ds, "dense shape " + shape_text(info.shape[0], info.shape[1]) +
                     " does not match obs x var = " + shape_text(n_obs, n_var));
  }
  check_row_range(ds, rows, n_obs);
  const auto [begin, end] = resolve(rows, n_obs);
  CsrMatrix m = empty_rows(end - begin, n_var, StorageInfo{"dense", info.dtype, ""});
  if (!load_values) return m;
  m.indptr.assign(1, 0);
  const int64_t block = std::max<int64_t>(1, kDenseBlockValues / std::max<int64_t>(1, n_var));
  for (int64_t r0 = begin; r0 < end; r0 += block) {
    const int64_t r1 = std::min(end, r0 + block);
    // Read as double so that the stored pattern follows the file's values: a
    // float64 value too small for float is kept (as 0), like in a sparse file.
    const std::vector<double> values = h5::read<double>(ds, std::pair{r0, r1});
    for (int64_t r = 0; r < r1 - r0; ++r) {
      for (int64_t c = 0; c < n_var; ++c) {
        const double v = values[static_cast<size_t>(r * n_var + c)];
        if (v != 0.0) {
          m.indices.push_back(static_cast<int32_t>(c));
          m.data.push_back(static_cast<float>(v));
        }
      }
      m.indptr.push_back(m.nnz());
    }
  }
  validate(m, h5::file_name(ds), h5::object_path(ds));
  return m;
}

// The memory type that reads the compound field `field` as
// `n_values` doubles per record (an array field gives several).
h5::Handle double_field_type(const std::string& field, hid_t field_type, size_t& n_values) {
  n_values = 1;
  h5::Handle mem_field;
  if (H5Tget_class(field_type) == H5T_ARRAY) {
    const int rank = H5Tget_array_ndims(field_type);
    std::vector<hsize_t> dims(static_cast<size_t>(std::max(rank, 0)));
    if (rank > 0) H5Tget_array_dims2(field_type, dims.data());
    for (hsize_t d : dims) n_values *= static_cast<size_t>(d);
    mem_field = h5::Handle(H5Tarray_create2(H5T_NATIVE_DOUBLE, static_cast<unsigned>(rank), dims.data()));
  } else {
    mem_field = h5::Handle(H5Tcopy(H5T_NATIVE_DOUBLE));
  }
  h5::Handle mem(H5Tcreate(H5T_COMPOUND, n_values * sizeof(double)));
  H5Tinsert(mem, field.c_str(), 0, mem_field);
  return mem;
}

std::string numeric_dtype(hid_t type) {
  const size_t bits = H5Tget_size(type) * 8;
  if (H5Tget_class(type) == H5T_FLOAT) return "float" + std::to_string(bits);
  if (H5Tget_class(type) == H5T_INTEGER) {
    return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
  }
  return "";
}

}  // namespace

std::string sparse_format(hid_t group) {
  const std::string enc = h5::encoding_type(group);
  if (enc == "csr_matrix") return "csr";
  if (enc == "csc_matrix") return "csc";
  if (enc.empty() && h5::has_attr(group, "h5sparse_format") && h5::attr_is_string(group, "h5sparse_format")) {
    const std::string f = h5::attr_string(group, "h5sparse_format");
    if (f == "csr" || f == "csc") return f;
  }
  return "";
}

std::pair<int64_t, int64_t> sparse_shape(hid_t group) {
  const char* name = h5::has_attr(group, "shape") ? "shape" : "h5sparse_shape";
  if (!h5::has_attr(group, name)) h5::fail(group, "sparse matrix without a 'shape' attribute");
  const std::vector<int64_t> shape = h5::attr_ints(group, name);
  if (shape.size() != 2 || shape[0] < 0 || shape[1] < 0) {
    h5::fail(group, std::string("attribute '") + name + "' is not a (rows, columns) pair");
  }
  return {shape[0], shape[1]};
}

CsrMatrix read_sparse(hid_t loc, const std::string& path, const RowRange& rows, bool load_values,
                      std::optional<std::pair<int64_t, int64_t>> expected) {
  h5::Handle g = h5::open_group(loc, path);
  const std::string format = sparse_format(g);
  if (format.empty()) {
    const std::string enc = h5::encoding_type(g);
    h5::fail(g, "is a group but not a sparse matrix (encoding-type '" + enc + "')");
  }
  const auto [n_rows, n_cols] = sparse_shape(g);
  h5::Handle data = h5::open_dataset(g, "data");
  h5::Handle indices = h5::open_dataset(g, "indices");
  h5::Handle indptr = h5::open_dataset(g, "indptr");
  const h5::DatasetInfo data_info = vector_info(data, true);
  const h5::DatasetInfo indices_info = vector_info(indices, true, true);
  const h5::DatasetInfo indptr_info = vector_info(indptr, true, true);
  const bool csr = format == "csr";
  const int64_t major = csr ? n_rows : n_cols;
  if (indptr_info.shape[0] != major + 1) {
    h5::fail(indptr, "index pointer has " + std::to_string(indptr_info.shape[0]) + " entries but shape " +
                         shape_text(n_rows, n_cols) + " (" + format + ") needs " + std::to_string(major + 1));
  }
  const int64_t nnz = data_info.shape[0];
  if (indices_info.shape[0] != nnz) {
    h5::fail(g, "data has " + std::to_string(nnz) + " values but indices has " +
                    std::to_string(indices_info.shape[0]) + " entries");
  }
  if (expected && (n_rows != expected->first || n_cols != expected->second)) {
    h5::fail(g, "shape " + shape_text(n_rows, n_cols) +
                    " does not match obs x var = " + shape_text(expected->first, expected->second));
  }
  check_row_range(g, rows, n_rows);
  const auto [begin, end] = resolve(rows, n_rows);
  const StorageInfo storage{format, data_info.dtype,
                            wider_index_dtype(indices_info.dtype, indptr_info.dtype)};
  if (!load_values) return empty_rows(end - begin, n_cols, storage);

  const std::string file = h5::file_name(g);
  const std::string element = h5::object_path(g);
  if (csr) {
    CsrMatrix m;
    m.n_rows = end - begin;
    m.n_cols = n_cols;
    m.storage = storage;
    m.indptr = h5::read<int64_t>(indptr, std::pair{begin, end + 1});
    const int64_t first = m.indptr.front();
    const int64_t last = m.indptr.back();
    // Checked before reading: these bound the slice of data/indices read next.
    if (first < 0 || last < 0) throw Error(file, element + "/indptr", "index pointer has negative entries");
    if (last < first) {
      throw Error(file, element + "/indptr",
                  "index pointer not monotone (" + std::to_string(first) + " at row " +
                      std::to_string(begin) + ", " + std::to_string(last) + " at row " + std::to_string(end) +
                      ")");
    }
    if (last > nnz) {
      throw Error(file, element + "/indptr",
                  "index pointer reaches " + std::to_string(last) + " but only " + std::to_string(nnz) +
                      " values are stored");
    }
    if (end < n_rows || begin > 0) {
      const int64_t stored_end = h5::read<int64_t>(indptr, std::pair{n_rows, n_rows + 1}).front();
      if (stored_end != nnz) {
        throw Error(file, element + "/indptr",
                    "index pointer ends at " + std::to_string(stored_end) + " but " + std::to_string(nnz) +
                        " values are stored");
      }
    }
    if (last > first) {
      m.indices = h5::read<int32_t>(indices, std::pair{first, last});
      m.data = h5::read<float>(data, std::pair{first, last});
    }
    for (auto& p : m.indptr) p -= first;
    validate(m, file, element);
    return m;
  }
  // CSC keeps each cell's values scattered over the whole file, so it is read
  // whole and converted; a row range is cut afterwards.
  CsrMatrix stored;
  stored.n_rows = n_cols;
  stored.n_cols = n_rows;
  stored.indptr = h5::read<int64_t>(indptr);
  stored.indices = h5::read<int32_t>(indices);
  stored.data = h5::read<float>(data);
  validate(stored, file, element);
  CsrMatrix m = transpose(stored);
  m.storage = storage;
  return rows ? slice_rows(m, begin, end) : m;
}

CsrMatrix read_matrix(hid_t loc, const std::string& path, int64_t n_obs, int64_t n_var, const RowRange& rows,
                      bool load_values) {
  switch (h5::kind(loc, path)) {
    case h5::Kind::Group:
      return read_sparse(loc, path, rows, load_values, std::pair{n_obs, n_var});
    case h5::Kind::Dataset: {
      h5::Handle ds = h5::open_dataset(loc, path);
      return read_dense_x(ds, n_obs, n_var, rows, load_values);
    }
    case h5::Kind::Missing:
      h5::fail(loc, path, "missing");
    case h5::Kind::Other:
      break;
  }
  h5::fail(loc, path, "is neither a group (sparse matrix) nor a dataset (dense matrix)");
}

DenseMatrix read_dense(hid_t loc, const std::string& path, const RowRange& rows) {
  DenseMatrix out;
  if (h5::kind(loc, path) == h5::Kind::Group) {
    const CsrMatrix m = read_sparse(loc, path, rows, true);
    if (m.n_rows * m.n_cols > kMaxDensify) {
      h5::fail(loc, path, "sparse array of " + shape_text(m.n_rows, m.n_cols) + " is too large to densify");
    }
    out.n_rows = m.n_rows;
    out.n_cols = m.n_cols;
    out.dtype = m.storage.dtype;
    out.values.assign(static_cast<size_t>(m.n_rows * m.n_cols), 0.0);
    for (int64_t r = 0; r < m.n_rows; ++r) {
      for (int64_t k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
        const auto c = m.indices[static_cast<size_t>(k)];
        out.values[static_cast<size_t>(r * m.n_cols + c)] = m.data[static_cast<size_t>(k)];
      }
    }
    return out;
  }
  h5::Handle ds = h5::open_dataset(loc, path);
  const h5::DatasetInfo info = h5::dataset_info(ds);
  if (info.shape.empty() || info.shape.size() > 2) {
    h5::fail(ds, "expected a 1-D or 2-D array, found " + std::to_string(info.shape.size()) + " dimensions");
  }
  if (!is_numeric(info)) h5::fail(ds, "holds " + info.dtype + ", expected numbers");
  check_row_range(ds, rows, info.shape[0]);
  const auto [begin, end] = resolve(rows, info.shape[0]);
  out.n_rows = end - begin;
  out.n_cols = info.shape.size() == 2 ? info.shape[1] : 1;
  out.dtype = info.dtype;
  out.values = h5::read<double>(ds, rows);
  return out;
}

std::vector<std::pair<std::string, DenseMatrix>> read_record_arrays(hid_t ds, const RowRange& rows,
                                                                    std::vector<std::string>& skipped,
                                                                    const std::string& label) {
  std::vector<std::pair<std::string, DenseMatrix>> out;
  const int64_t n = h5::dataset_info(ds).rows();
  check_row_range(ds, rows, n);
  const auto [begin, end] = resolve(rows, n);
  h5::Handle type(H5Dget_type(ds));
  for (const std::string& field : h5::compound_fields(ds)) {
    h5::Handle ft(H5Tget_member_type(type, static_cast<unsigned>(H5Tget_member_index(type, field.c_str()))));
    h5::Handle base(H5Tget_class(ft) == H5T_ARRAY ? H5Tget_super(ft) : H5Tcopy(ft));
    const std::string dtype = numeric_dtype(base);
    if (dtype.empty()) {
      skipped.push_back(label + "/" + field + ": record field that is not numeric, not loaded");
      continue;
    }
    size_t width = 0;
    h5::Handle mem = double_field_type(field, ft, width);
    std::vector<double> values(static_cast<size_t>(n) * width);
    if (!values.empty() && H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
      H5Eclear2(H5E_DEFAULT);
      h5::fail(ds, "cannot read record field '" + field + "'");
    }
    DenseMatrix m;
    m.n_rows = end - begin;
    m.n_cols = static_cast<int64_t>(width);
    m.dtype = dtype;
    m.values.assign(values.begin() + static_cast<std::ptrdiff_t>(begin * m.n_cols),
                    values.begin() + static_cast<std::ptrdiff_t>(end * m.n_cols));
    out.emplace_back(field, std::move(m));
  }
  return out;
}

}  // namespace pg::io::h5ad
