// obs/var dataframes of an .h5ad file, in the three layouts anndata has used:
// the annotated dataframe group (>= 0.8), the 0.7 group whose categoricals are
// code datasets pointing at __categories/ by object reference, and the record
// (compound) dataset of anndata < 0.7 with categories kept in uns.
#include <algorithm>
#include <charconv>
#include <string>

#include "core/error.h"
#include "io/h5ad_elements.h"
#include "io/hdf5_column.h"

namespace pg::io::h5ad {

namespace {

template <typename T>
std::vector<T> slice(std::vector<T> v, const RowRange& rows) {
  if (!rows) return v;
  return std::vector<T>(v.begin() + rows->first, v.begin() + rows->second);
}

void check_length(hid_t ds, int64_t n) {
  const h5::DatasetInfo info = h5::dataset_info(ds);
  if (info.shape.size() != 1) {
    h5::fail(ds, "expected a 1-D column, found " + std::to_string(info.shape.size()) + " dimensions");
  }
  if (info.shape[0] != n) {
    h5::fail(ds, "has " + std::to_string(info.shape[0]) + " rows but the dataframe index has " +
                     std::to_string(n));
  }
}

void fill_mask(Column& c, std::vector<uint8_t> mask) {
  bool any = false;
  for (auto& m : mask) {
    m = m != 0 ? 1 : 0;
    any = any || m != 0;
  }
  if (any) c.missing = std::move(mask);
}

void check_codes(hid_t codes_ds, const Column& c) {
  const auto n_cat = static_cast<int32_t>(c.categories.size());
  for (size_t i = 0; i < c.codes.size(); ++i) {
    if (c.codes[i] < -1 || c.codes[i] >= n_cat) {
      h5::fail(codes_ds, "categorical code " + std::to_string(c.codes[i]) + " at row " + std::to_string(i) +
                             " outside its " + std::to_string(n_cat) + " categories");
    }
  }
}

// Codes (rows selected) plus categories from another dataset.
void categorical_column(hid_t codes, hid_t categories, const RowRange& rows, Column& c) {
  const h5::DatasetInfo info = h5::dataset_info(codes);
  if (info.type_class != H5T_INTEGER)
    h5::fail(codes, "categorical codes are " + info.dtype + ", not integers");
  c.type = ColumnType::Categorical;
  c.dtype = info.dtype;
  c.categories = read_labels(categories, std::nullopt, c.categories_dtype);
  c.codes = h5::read<int32_t>(codes, rows);
  check_codes(codes, c);
}

// A column stored as a group (anndata >= 0.8 categorical and nullable types).
// Returns the reason when the encoding is not one this reader loads.
std::string group_column(hid_t g, int64_t n, const RowRange& rows, Column& c) {
  const std::string enc = h5::encoding_type(g);
  if (enc == "categorical") {
    h5::Handle codes = h5::open_dataset(g, "codes");
    check_length(codes, n);
    if (h5::kind(g, "categories") != h5::Kind::Dataset)
      return "categorical whose categories are not an array";
    h5::Handle cats = h5::open_dataset(g, "categories");
    categorical_column(codes, cats, rows, c);
    c.ordered = h5::has_attr(g, "ordered") && h5::attr_bool(g, "ordered");
    return "";
  }
  if (enc != "nullable-integer" && enc != "nullable-boolean" && enc != "nullable-string-array") {
    return "encoding '" + (enc.empty() ? std::string("none") : enc) + "' is not a supported column type";
  }
  h5::Handle values = h5::open_dataset(g, "values");
  h5::Handle mask = h5::open_dataset(g, "mask");
  check_length(values, n);
  check_length(mask, n);
  const h5::DatasetInfo info = h5::dataset_info(values);
  c.dtype = info.dtype;
  if (enc == "nullable-integer") {
    c.type = ColumnType::Int;
    c.ints = h5::read<int64_t>(values, rows);
  } else if (enc == "nullable-boolean") {
    c.type = ColumnType::Bool;
    c.bools = h5::read<uint8_t>(values, rows);
  } else {
    c.type = ColumnType::String;
    c.dtype = "str";
    c.strings = h5::read_strings(values, rows);
  }
  fill_mask(c, h5::read<uint8_t>(mask, rows));
  // Whatever the writer left under the mask is meaningless; make it neutral.
  for (size_t i = 0; i < c.missing.size(); ++i) {
    if (c.missing[i] == 0) continue;
    if (c.type == ColumnType::Int) c.ints[i] = 0;
    if (c.type == ColumnType::Bool) c.bools[i] = 0;
    if (c.type == ColumnType::String) c.strings[i].clear();
  }
  return "";
}

std::vector<std::string> column_order(hid_t g, const std::string& index_name) {
  std::vector<std::string> order;
  if (h5::has_attr(g, "column-order")) {
    // h5py stores an empty list as an empty float array.
    if (h5::attr_is_string(g, "column-order")) order = h5::attr_strings(g, "column-order");
  } else {
    for (const auto& name : h5::children(g)) {
      if (name != index_name && name != "__categories") order.push_back(name);
    }
  }
  return order;
}

std::string index_name_of(hid_t g) {
  if (h5::has_attr(g, "_index")) return h5::attr_string(g, "_index");
  if (h5::is_dataset(g, "_index")) return "_index";
  if (h5::is_dataset(g, "index")) return "index";
  h5::fail(g, "dataframe without an '_index' attribute naming its row labels");
}

DataFrame read_group_dataframe(hid_t file, const std::string& path, const RowRange& rows,
                               DataFrameNotes& notes, const ColumnFilter& only) {
  h5::Handle g = h5::open_group(file, path);
  const std::string enc = h5::encoding_type(g);
  if (!enc.empty() && enc != "dataframe") h5::fail(g, "encoding-type '" + enc + "', expected a dataframe");
  DataFrame df;
  df.index_name = index_name_of(g);
  h5::Handle index = h5::open_dataset(g, df.index_name);
  const int64_t n = h5::dataset_info(index).rows();
  check_length(index, n);
  std::string index_dtype;
  df.index = read_labels(index, rows, index_dtype);
  for (const std::string& name : column_order(g, df.index_name)) {
    if (only && std::find(only->begin(), only->end(), name) == only->end()) continue;
    Column c;
    c.name = name;
    std::string why;
    switch (h5::kind(g, name)) {
      case h5::Kind::Dataset: {
        h5::Handle ds = h5::open_dataset(g, name);
        const h5::DatasetInfo info = h5::dataset_info(ds);
        if (info.shape.size() != 1) {
          why = "array of " + std::to_string(info.shape.size()) + " dimensions is not a column";
          break;
        }
        check_length(ds, n);
        if (h5::has_attr(ds, "categories")) {
          h5::Handle cats = h5::attr_reference(ds, "categories");
          categorical_column(ds, cats, rows, c);
          c.ordered = h5::has_attr(cats, "ordered") && h5::attr_bool(cats, "ordered");
        } else if (!read_array_column(ds, rows, c)) {
          why = "array of " + info.dtype + " is not a supported column type";
        }
        break;
      }
      case h5::Kind::Group: {
        h5::Handle cg = h5::open_group(g, name);
        why = group_column(cg, n, rows, c);
        break;
      }
      case h5::Kind::Missing:
        h5::fail(g, name, "column listed in column-order is missing");
      case h5::Kind::Other:
        why = "not a group or dataset";
        break;
    }
    if (why.empty()) {
      df.columns.push_back(std::move(c));
    } else {
      notes.skipped.push_back(path + "/" + name + ": " + why + ", not loaded");
    }
  }
  return df;
}

std::string field_dtype(hid_t ds, const std::string& field) {
  h5::Handle type(H5Dget_type(ds));
  h5::Handle ft(H5Tget_member_type(type, static_cast<unsigned>(H5Tget_member_index(type, field.c_str()))));
  const size_t bits = H5Tget_size(ft) * 8;
  switch (H5Tget_class(ft)) {
    case H5T_INTEGER:
      return std::string(H5Tget_sign(ft) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(bits);
    case H5T_FLOAT:
      return "float" + std::to_string(bits);
    case H5T_ENUM:
      return "bool";  // numpy bools are the only enums h5py writes
    case H5T_STRING:
      return "str";
    default:
      return "";
  }
}

// anndata < 0.7: the dataframe is one record dataset; field `index` holds the
// row labels; an integer field `col` with a string array uns/col_categories is
// a categorical column.
DataFrame read_record_dataframe(hid_t file, const std::string& path, const RowRange& rows,
                                DataFrameNotes& notes) {
  h5::Handle ds = h5::open_dataset(file, path);
  const h5::DatasetInfo info = h5::dataset_info(ds);
  if (info.type_class != H5T_COMPOUND || info.shape.size() != 1) {
    h5::fail(ds, "is a dataset of " + info.dtype + ", expected a dataframe group or a record dataset");
  }
  const std::vector<std::string> fields = h5::compound_fields(ds);
  DataFrame df;
  df.index_name = "index";
  bool have_index = false;
  for (const auto& f : fields) {
    if (f == "index" && field_dtype(ds, f) == "str") have_index = true;
  }
  if (have_index) {
    df.index = slice(h5::read_field_strings(ds, "index"), rows);
  } else {
    const auto [b, e] = rows ? *rows : std::pair<int64_t, int64_t>{0, info.shape[0]};
    for (int64_t i = b; i < e; ++i) df.index.push_back(std::to_string(i));
  }
  for (const auto& field : fields) {
    if (have_index && field == "index") continue;
    Column c;
    c.name = field;
    c.dtype = field_dtype(ds, field);
    const std::string cats_path = "uns/" + field + "_categories";
    const bool integer = c.dtype.find("int") != std::string::npos;
    if (integer && h5::is_dataset(file, cats_path)) {
      h5::Handle cats = h5::open_dataset(file, cats_path);
      c.type = ColumnType::Categorical;
      c.categories = read_labels(cats, std::nullopt, c.categories_dtype);
      c.codes = slice(h5::read_field<int32_t>(ds, field), rows);
      check_codes(ds, c);
      notes.used_uns_arrays.insert(field + "_categories");
    } else if (c.dtype == "str") {
      c.type = ColumnType::String;
      c.strings = slice(h5::read_field_strings(ds, field), rows);
    } else if (c.dtype == "bool") {
      c.type = ColumnType::Bool;
      c.bools = slice(h5::read_field<uint8_t>(ds, field), rows);
    } else if (integer) {
      c.type = ColumnType::Int;
      c.ints = slice(h5::read_field<int64_t>(ds, field), rows);
    } else if (c.dtype.rfind("float", 0) == 0) {
      c.type = ColumnType::Float;
      c.floats = slice(h5::read_field<double>(ds, field), rows);
    } else {
      notes.skipped.push_back(path + "/" + field + ": record field of unsupported type, not loaded");
      continue;
    }
    df.columns.push_back(std::move(c));
  }
  return df;
}

}  // namespace

std::string number_text(double v) {
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), v);
  std::string s(buf, res.ptr);
  if (s.find_first_of(".ena") == std::string::npos) s += ".0";
  return s;
}

std::vector<std::string> read_labels(hid_t dataset, const RowRange& rows, std::string& dtype) {
  const h5::DatasetInfo info = h5::dataset_info(dataset);
  if (info.shape.size() > 1) h5::fail(dataset, "expected a 1-D array of labels");
  dtype = info.is_string() ? "str" : info.dtype;
  if (info.is_string()) return h5::read_strings(dataset, rows);
  std::vector<std::string> out;
  if (info.dtype == "bool") {
    for (uint8_t b : h5::read<uint8_t>(dataset, rows)) out.emplace_back(b != 0 ? "True" : "False");
  } else if (info.type_class == H5T_INTEGER) {
    for (int64_t v : h5::read<int64_t>(dataset, rows)) out.push_back(std::to_string(v));
  } else if (info.type_class == H5T_FLOAT) {
    for (double v : h5::read<double>(dataset, rows)) out.push_back(number_text(v));
  } else {
    h5::fail(dataset, "holds " + info.dtype + ", expected strings or numbers");
  }
  return out;
}

int64_t dataframe_length(hid_t file, const std::string& path) {
  switch (h5::kind(file, path)) {
    case h5::Kind::Group: {
      h5::Handle g = h5::open_group(file, path);
      h5::Handle index = h5::open_dataset(g, index_name_of(g));
      return h5::dataset_info(index).rows();
    }
    case h5::Kind::Dataset: {
      h5::Handle ds = h5::open_dataset(file, path);
      return h5::dataset_info(ds).rows();
    }
    case h5::Kind::Missing:
      h5::fail(file, path, "missing: an .h5ad file needs obs and var dataframes");
    case h5::Kind::Other:
      break;
  }
  h5::fail(file, path, "is not a dataframe");
}

DataFrame read_dataframe(hid_t file, const std::string& path, const RowRange& rows, DataFrameNotes& notes,
                         const ColumnFilter& only) {
  if (rows) {
    const int64_t n = dataframe_length(file, path);
    if (rows->first < 0 || rows->second < rows->first || rows->second > n) {
      h5::fail(file, path,
               "row range [" + std::to_string(rows->first) + ", " + std::to_string(rows->second) +
                   ") outside its " + std::to_string(n) + " rows");
    }
  }
  if (h5::kind(file, path) == h5::Kind::Group) return read_group_dataframe(file, path, rows, notes, only);
  DataFrame df = read_record_dataframe(file, path, rows, notes);
  if (only) keep_columns(df, *only);
  return df;
}

}  // namespace pg::io::h5ad
