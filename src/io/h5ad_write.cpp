// AnnData .h5ad writer, following the anndata >= 0.8 on-disk spec
// (docs/formats_metrics_users.md §D.3) so that anndata, scanpy and our own
// reader get the same types back. Encoding choices, in short:
//   X, layers   csr_matrix; data keeps an integer or float64 storage dtype when
//               the values allow it (else float32), indices int32, indptr int32
//               unless nnz needs int64 (what scipy and anndata themselves write).
//   obs, var    dataframe 0.2.0; strings -> string-array, missing strings ->
//               nullable-string-array (only anndata >= 0.11 reads it; our
//               readers make such columns only from files that already need
//               0.11, the tabular reader turns them into categoricals), categoricals
//               with numeric/bool categories keep them numeric, ints/bools with
//               missing values -> nullable-integer / nullable-boolean.
//   obsm, varm  dense arrays in their stored dtype (float64 by default).
//   uns         JSON -> string / numeric-scalar / array / string-array / dict;
//               null is skipped and lists no array can hold are kept as JSON text.
// Everything is validated before the first byte is written, and the file is
// written to a temporary sibling that is renamed into place.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <type_traits>
#include <utility>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"
#include "io/hdf5.h"

namespace pg::io {

namespace {

using h5::Handle;

// ---- dtype choice ---------------------------------------------------------

// Calls f(T{}) for the numpy dtype name `d`; false for names without a C++ type here.
template <typename F>
bool visit_dtype(const std::string& d, F&& f) {
  if (d == "float32") return f(float{}), true;
  if (d == "float64") return f(double{}), true;
  if (d == "int8") return f(int8_t{}), true;
  if (d == "int16") return f(int16_t{}), true;
  if (d == "int32") return f(int32_t{}), true;
  if (d == "int64") return f(int64_t{}), true;
  if (d == "uint8") return f(uint8_t{}), true;
  if (d == "uint16") return f(uint16_t{}), true;
  if (d == "uint32") return f(uint32_t{}), true;
  if (d == "uint64") return f(uint64_t{}), true;
  return false;
}

// Whether every value of `v` converts to T without change. A float source
// fits a float target by definition: the dtype says where it came from.
template <typename T, typename S>
bool fits(const std::vector<S>& v) {
  if constexpr (std::is_floating_point_v<T>) {
    return std::is_floating_point_v<S>;
  } else if constexpr (std::is_floating_point_v<S>) {
    const double lo = static_cast<double>(std::numeric_limits<T>::min());
    const double hi_excl = std::ldexp(1.0, std::numeric_limits<T>::digits);  // exact power of two
    return std::all_of(v.begin(), v.end(), [&](S x) {
      const auto d = static_cast<double>(x);
      return d == std::floor(d) && d >= lo && d < hi_excl;  // NaN fails the first test
    });
  } else {
    return std::all_of(v.begin(), v.end(), [](S x) { return std::in_range<T>(x); });
  }
}

// Writes `v` as a numeric dataset of dtype `wanted` when the values survive
// that, else as `fallback`; tags it as an anndata array.
template <typename S>
Handle write_values(hid_t loc, const std::string& name, const std::vector<S>& v,
                    const std::vector<int64_t>& shape, const std::string& wanted, const std::string& fallback,
                    bool tag = true) {
  bool ok = false;
  visit_dtype(wanted, [&](auto t) { ok = fits<decltype(t)>(v); });
  Handle ds;
  visit_dtype(ok ? wanted : fallback, [&](auto t) {
    using T = decltype(t);
    if constexpr (std::is_same_v<T, S>) {
      ds = h5::write<T>(loc, name, v, shape);  // no copy of a large X
    } else {
      std::vector<T> out(v.size());
      std::transform(v.begin(), v.end(), out.begin(), [](S x) { return static_cast<T>(x); });
      ds = h5::write<T>(loc, name, out, shape);
    }
  });
  if (tag) h5::set_encoding(ds, "array", "0.2.0");
  return ds;
}

// A 0-d h5py-style bool (int8 enum FALSE/TRUE), which hdf5.h only offers as 1-d.
Handle write_scalar_bool(hid_t loc, const std::string& name, bool value) {
  Handle type(H5Tenum_create(H5T_NATIVE_INT8));
  const int8_t f = 0, t = 1;
  H5Tenum_insert(type, "FALSE", &f);
  H5Tenum_insert(type, "TRUE", &t);
  Handle space(H5Screate(H5S_SCALAR));
  Handle ds(H5Dcreate2(loc, name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  const int8_t v = value ? 1 : 0;
  if (!ds.valid() || H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) < 0) {
    h5::fail(loc, name, "cannot write boolean scalar");
  }
  return ds;
}

Handle dict_group(hid_t loc, const std::string& name) {
  Handle g = h5::create_group(loc, name);
  h5::set_encoding(g, "dict", "0.1.0");
  return g;
}

// ---- validation (before anything is written) --------------------------------

struct Checker {
  std::string file;
  [[noreturn]] void fail(const std::string& element, const std::string& problem) const {
    throw Error(file, element, problem);
  }
  // HDF5 link names: '/' would silently create nested groups.
  void key(const std::string& element, const std::string& k) const {
    if (k.empty() || k == "." || k.find('/') != std::string::npos) {
      fail(element, "name '" + k + "' cannot be stored in h5ad (empty, '.' or contains '/')");
    }
  }
};

bool is_int_name(const std::string& d) {
  return d.rfind("int", 0) == 0 || d.rfind("uint", 0) == 0;
}

// Categories of numeric/bool categoricals are held as text; parse them back.
template <typename T>
std::vector<T> parse_categories(const Column& c, const Checker& chk, const std::string& element) {
  std::vector<T> out;
  for (const auto& s : c.categories) {
    size_t used = 0;
    try {
      if constexpr (std::is_same_v<T, int64_t>) {
        out.push_back(std::stoll(s, &used));
      } else if constexpr (std::is_same_v<T, double>) {
        out.push_back(std::stod(s, &used));
      } else {
        if (s != "True" && s != "False" && s != "true" && s != "false") throw std::invalid_argument(s);
        out.push_back(s[0] == 'T' || s[0] == 't');
        used = s.size();
      }
    } catch (const std::exception&) {
      used = std::string::npos;
    }
    if (used != s.size()) {
      chk.fail(element, "category '" + s + "' is not a " + c.categories_dtype + " value");
    }
  }
  return out;
}

std::string frame_index_name(const DataFrame& df) {
  const std::string& n = df.index_name;
  if (n.empty() || df.find(n) != nullptr) return "_index";
  return n;
}

void check_frame(const DataFrame& df, const std::string& what, const Checker& chk) {
  const size_t n = df.n_rows();
  const std::string index = frame_index_name(df);
  chk.key(what, index);
  std::set<std::string> names;
  for (const auto& c : df.columns) {
    const std::string el = what + "/" + c.name;
    chk.key(what, c.name);
    if (c.name == index) chk.fail(el, "column has the same name as the index '" + index + "'");
    if (!names.insert(c.name).second) chk.fail(el, "duplicate column name");
    if (c.size() != n) {
      chk.fail(el, "column has " + std::to_string(c.size()) + " values, the table has " + std::to_string(n) +
                       " rows");
    }
    if (!c.missing.empty() && c.missing.size() != n) chk.fail(el, "missing-value mask has the wrong length");
    if (c.type != ColumnType::Categorical) continue;
    const auto n_cat = static_cast<int64_t>(c.categories.size());
    for (size_t i = 0; i < n; ++i) {
      if (c.codes[i] < -1 || c.codes[i] >= n_cat) {
        chk.fail(el, "categorical code " + std::to_string(c.codes[i]) + " at row " + std::to_string(i) +
                         " outside [-1, " + std::to_string(n_cat) + ")");
      }
    }
    if (std::set<std::string>(c.categories.begin(), c.categories.end()).size() != c.categories.size()) {
      chk.fail(el, "categories are not unique");
    }
    if (is_int_name(c.categories_dtype)) parse_categories<int64_t>(c, chk, el);
    if (c.categories_dtype.rfind("float", 0) == 0) parse_categories<double>(c, chk, el);
    if (c.categories_dtype == "bool") parse_categories<bool>(c, chk, el);
  }
}

void check_sparse(const CsrMatrix& m, const CellMatrix& cm, const std::string& what, const Checker& chk) {
  if (m.n_rows != cm.n_cells() || m.n_cols != cm.n_genes()) {
    chk.fail(what, "shape " + std::to_string(m.n_rows) + " x " + std::to_string(m.n_cols) + " but obs has " +
                       std::to_string(cm.n_cells()) + " rows and var " + std::to_string(cm.n_genes()));
  }
  validate(m, chk.file, what);
}

void check_dense(const DenseMatrix& d, int64_t rows, const std::string& what, const Checker& chk) {
  if (d.n_rows != rows) {
    chk.fail(what, std::to_string(d.n_rows) + " rows, expected " + std::to_string(rows));
  }
  if (d.n_cols < 0 || d.values.size() != static_cast<size_t>(d.n_rows * d.n_cols)) {
    chk.fail(what, "holds " + std::to_string(d.values.size()) + " values for shape " +
                       std::to_string(d.n_rows) + " x " + std::to_string(d.n_cols));
  }
}

void check_uns(const nlohmann::json& j, const std::string& what, const Checker& chk) {
  if (!j.is_object()) return;
  for (const auto& [k, v] : j.items()) {
    chk.key(what, k);
    check_uns(v, what + "/" + k, chk);
  }
}

void check(const CellMatrix& m, const Checker& chk) {
  check_frame(m.obs, "obs", chk);
  check_frame(m.var, "var", chk);
  if (m.has_x) check_sparse(m.X, m, "X", chk);
  for (const auto& [k, l] : m.layers) {
    chk.key("layers", k);
    check_sparse(l, m, "layers/" + k, chk);
  }
  for (const auto& [k, d] : m.obsm) {
    chk.key("obsm", k);
    check_dense(d, m.n_cells(), "obsm/" + k, chk);
  }
  for (const auto& [k, d] : m.varm) {
    chk.key("varm", k);
    check_dense(d, m.n_genes(), "varm/" + k, chk);
  }
  if (!m.uns.is_object()) chk.fail("uns", "must be a JSON object");
  check_uns(m.uns, "uns", chk);
}

// ---- elements -----------------------------------------------------------------

void write_csr(hid_t loc, const std::string& name, const CsrMatrix& m) {
  Handle g = h5::create_group(loc, name);
  h5::set_encoding(g, "csr_matrix", "0.1.0");
  h5::set_attr(g, "shape", std::vector<int64_t>{m.n_rows, m.n_cols});
  const int64_t nnz = m.nnz();
  // Integer counts stay integers and float64 stays float64 when the values allow it.
  write_values(g, "data", m.data, {nnz}, m.storage.dtype, "float32", false);
  h5::write<int32_t>(g, "indices", m.indices, {nnz});
  if (nnz <= std::numeric_limits<int32_t>::max()) {
    write_values(g, "indptr", m.indptr, {m.n_rows + 1}, "int32", "int64", false);
  } else {
    h5::write<int64_t>(g, "indptr", m.indptr, {m.n_rows + 1});
  }
}

void write_string_array(hid_t loc, const std::string& name, const std::vector<std::string>& v) {
  Handle ds = h5::write_strings(loc, name, v);
  h5::set_encoding(ds, "string-array", "0.2.0");
}

void write_bool_array(hid_t loc, const std::string& name, const std::vector<uint8_t>& v) {
  Handle ds = h5::write_bools(loc, name, v);
  h5::set_encoding(ds, "array", "0.2.0");
}

// values + mask group of the nullable encodings.
Handle nullable_group(hid_t loc, const Column& c, const std::string& type) {
  Handle g = h5::create_group(loc, c.name);
  h5::set_encoding(g, type, "0.1.0");
  std::vector<uint8_t> mask(c.size());
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = c.is_missing(i) ? 1 : 0;
  write_bool_array(g, "mask", mask);
  return g;
}

void write_categories(hid_t g, const Column& c) {
  const Checker chk{};  // already validated: parsing cannot fail here
  const std::string& d = c.categories_dtype;
  if (is_int_name(d)) {
    write_values(g, "categories", parse_categories<int64_t>(c, chk, ""), {std::ssize(c.categories)}, "int64",
                 "int64");
  } else if (d.rfind("float", 0) == 0) {
    write_values(g, "categories", parse_categories<double>(c, chk, ""), {std::ssize(c.categories)}, "float64",
                 "float64");
  } else if (d == "bool") {
    auto b = parse_categories<bool>(c, chk, "");
    write_bool_array(g, "categories", std::vector<uint8_t>(b.begin(), b.end()));
  } else {
    write_string_array(g, "categories", c.categories);
  }
}

template <typename T>
void write_codes(hid_t g, const Column& c) {
  std::vector<T> codes(c.codes.size());
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<T>(c.is_missing(i) ? -1 : c.codes[i]);
  Handle ds = h5::write<T>(g, "codes", codes, {std::ssize(codes)});
  h5::set_encoding(ds, "array", "0.2.0");
}

bool any_missing(const Column& c) {
  return std::any_of(c.missing.begin(), c.missing.end(), [](uint8_t m) { return m != 0; });
}

// A string column with missing values as a categorical: sorted unique values
// as categories, -1 where missing.
Column as_categorical(const Column& c) {
  Column out;
  out.name = c.name;
  out.type = ColumnType::Categorical;
  out.categories_dtype = "str";
  for (size_t i = 0; i < c.size(); ++i)
    if (!c.is_missing(i)) out.categories.push_back(c.strings[i]);
  std::sort(out.categories.begin(), out.categories.end());
  out.categories.erase(std::unique(out.categories.begin(), out.categories.end()), out.categories.end());
  out.codes.resize(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    out.codes[i] = c.is_missing(i)
                       ? -1
                       : static_cast<int32_t>(
                             std::lower_bound(out.categories.begin(), out.categories.end(), c.strings[i]) -
                             out.categories.begin());
  }
  return out;
}

void write_column(hid_t frame, const Column& c) {
  const auto n = static_cast<int64_t>(c.size());
  switch (c.type) {
    case ColumnType::String: {
      if (!any_missing(c)) return write_string_array(frame, c.name, c.strings);
      // anndata < 0.11 cannot read nullable-string-array; a categorical with
      // code -1 for missing is what every anndata >= 0.8 reads (and what
      // anndata itself writes for string columns with NaN).
      return write_column(frame, as_categorical(c));
    }
    case ColumnType::Categorical: {
      Handle g = h5::create_group(frame, c.name);
      h5::set_encoding(g, "categorical", "0.2.0");
      h5::set_attr_bool(g, "ordered", c.ordered);
      // Smallest signed type that holds every code, as pandas chooses.
      const size_t k = c.categories.size();
      if (k < 128)
        write_codes<int8_t>(g, c);
      else if (k < 32768)
        write_codes<int16_t>(g, c);
      else
        write_codes<int32_t>(g, c);
      return write_categories(g, c);
    }
    case ColumnType::Float: {
      std::vector<double> v = c.floats;
      for (size_t i = 0; i < v.size(); ++i)
        if (c.is_missing(i)) v[i] = std::numeric_limits<double>::quiet_NaN();
      write_values(frame, c.name, v, {n}, c.dtype == "float32" ? "float32" : "float64", "float64");
      return;
    }
    case ColumnType::Int: {
      if (!any_missing(c)) {
        write_values(frame, c.name, c.ints, {n}, c.dtype, "int64");
        return;
      }
      Handle g = nullable_group(frame, c, "nullable-integer");
      std::vector<int64_t> v = c.ints;
      for (size_t i = 0; i < v.size(); ++i)
        if (c.is_missing(i)) v[i] = 0;  // as anndata: masked slots hold 0
      write_values(g, "values", v, {n}, c.dtype, "int64");
      return;
    }
    case ColumnType::Bool: {
      if (!any_missing(c)) return write_bool_array(frame, c.name, c.bools);
      Handle g = nullable_group(frame, c, "nullable-boolean");
      std::vector<uint8_t> v = c.bools;
      for (size_t i = 0; i < v.size(); ++i)
        if (c.is_missing(i)) v[i] = 0;
      return write_bool_array(g, "values", v);
    }
  }
}

void write_frame(hid_t file, const std::string& name, const DataFrame& df) {
  Handle g = h5::create_group(file, name);
  const std::string index = frame_index_name(df);
  h5::set_attr(g, "_index", index);
  std::vector<std::string> order;
  for (const auto& c : df.columns) order.push_back(c.name);
  // An empty list becomes an empty float64 array, as h5py writes it and anndata expects.
  h5::set_attr(g, "column-order", order);
  h5::set_encoding(g, "dataframe", "0.2.0");
  write_string_array(g, index, df.index);
  for (const auto& c : df.columns) write_column(g, c);
}

void write_dense(hid_t loc, const std::string& name, const DenseMatrix& d) {
  write_values(loc, name, d.values, {d.n_rows, d.n_cols}, d.dtype, "float64");
}

// ---- uns ---------------------------------------------------------------------

bool all_of(const nlohmann::json& a, bool (nlohmann::json::*pred)() const noexcept) {
  return std::all_of(a.begin(), a.end(), [&](const nlohmann::json& x) { return (x.*pred)(); });
}

// Numbers of a (flattened) JSON list as int64 when all are integers that fit, else float64.
void write_number_list(hid_t loc, const std::string& key, const std::vector<const nlohmann::json*>& items,
                       const std::vector<int64_t>& shape) {
  const bool ints = !items.empty() && std::all_of(items.begin(), items.end(), [](const nlohmann::json* x) {
    return x->is_number_integer() &&
           (!x->is_number_unsigned() ||
            x->get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
  });
  if (ints) {
    std::vector<int64_t> v;
    for (const auto* x : items) v.push_back(x->get<int64_t>());
    write_values(loc, key, v, shape, "int64", "int64");
  } else {
    std::vector<double> v;
    for (const auto* x : items) v.push_back(x->get<double>());
    write_values(loc, key, v, shape, "float64", "float64");
  }
}

void write_uns_list(hid_t loc, const std::string& key, const nlohmann::json& a) {
  std::vector<const nlohmann::json*> flat;
  for (const auto& x : a) flat.push_back(&x);
  if (a.empty()) return write_number_list(loc, key, flat, {0});  // float64, numpy's default for []
  if (all_of(a, &nlohmann::json::is_string))
    return write_string_array(loc, key, a.get<std::vector<std::string>>());
  if (all_of(a, &nlohmann::json::is_boolean)) {
    std::vector<uint8_t> b;
    for (const auto& x : a) b.push_back(x.get<bool>() ? 1 : 0);
    return write_bool_array(loc, key, b);
  }
  if (all_of(a, &nlohmann::json::is_number)) return write_number_list(loc, key, flat, {std::ssize(a)});
  // A rectangular list of number lists is a 2-d array.
  if (all_of(a, &nlohmann::json::is_array) && !a[0].empty() && all_of(a[0], &nlohmann::json::is_number)) {
    const size_t cols = a[0].size();
    flat.clear();
    bool rect = true;
    for (const auto& row : a) {
      rect = rect && row.size() == cols && all_of(row, &nlohmann::json::is_number);
      for (const auto& x : row) flat.push_back(&x);
    }
    if (rect) return write_number_list(loc, key, flat, {std::ssize(a), static_cast<int64_t>(cols)});
  }
  // Mixed lists have no h5ad array encoding; keep them readable as JSON text.
  Handle ds = h5::write_scalar_string(loc, key, a.dump());
  h5::set_encoding(ds, "string", "0.2.0");
}

void write_uns(hid_t loc, const std::string& key, const nlohmann::json& v) {
  Handle ds;
  switch (v.type()) {
    case nlohmann::json::value_t::object: {
      Handle g = dict_group(loc, key);
      for (const auto& [k, x] : v.items()) write_uns(g, k, x);
      return;
    }
    case nlohmann::json::value_t::array:
      return write_uns_list(loc, key, v);
    case nlohmann::json::value_t::string:
      ds = h5::write_scalar_string(loc, key, v.get<std::string>());
      h5::set_encoding(ds, "string", "0.2.0");
      return;
    case nlohmann::json::value_t::boolean:
      ds = write_scalar_bool(loc, key, v.get<bool>());
      break;
    case nlohmann::json::value_t::number_integer:
      ds = h5::write_scalar<int64_t>(loc, key, v.get<int64_t>());
      break;
    case nlohmann::json::value_t::number_unsigned:
      ds = v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
               ? h5::write_scalar<int64_t>(loc, key, v.get<int64_t>())
               : h5::write_scalar<uint64_t>(loc, key, v.get<uint64_t>());
      break;
    case nlohmann::json::value_t::number_float:
      ds = h5::write_scalar<double>(loc, key, v.get<double>());
      break;
    default:
      return;  // null (and binary) have no h5ad encoding: anndata cannot store None either
  }
  h5::set_encoding(ds, "numeric-scalar", "0.2.0");
}

void write_file(const CellMatrix& m, const std::string& path) {
  Handle file = h5::create_file(path);
  h5::set_encoding(file, "anndata", "0.1.0");
  if (m.has_x) write_csr(file, "X", m.X);
  write_frame(file, "obs", m.obs);
  write_frame(file, "var", m.var);
  Handle layers = dict_group(file, "layers");
  for (const auto& [k, l] : m.layers) write_csr(layers, k, l);
  Handle obsm = dict_group(file, "obsm");
  for (const auto& [k, d] : m.obsm) write_dense(obsm, k, d);
  Handle varm = dict_group(file, "varm");
  for (const auto& [k, d] : m.varm) write_dense(varm, k, d);
  // Empty pairwise groups, as anndata itself writes them.
  dict_group(file, "obsp");
  dict_group(file, "varp");
  Handle uns = dict_group(file, "uns");
  for (const auto& [k, x] : m.uns.items()) write_uns(uns, k, x);
  if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0) throw Error(path, "", "cannot flush HDF5 file");
}

}  // namespace

void write_h5ad(const CellMatrix& m, const std::string& path) {
  check(m, Checker{path});
  write_atomically(path, [&](const std::filesystem::path& tmp) { write_file(m, tmp.string()); });
}

}  // namespace pg::io
