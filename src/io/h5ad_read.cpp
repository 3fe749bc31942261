// The AnnData .h5ad reader: obs/var first (their lengths are the shape every
// other element is checked against), then X and layers, obsm/varm and uns.
// Elements the model has no place for (raw, obsp, varp, dataframes in obsm,
// record arrays in uns) are named in CellMatrix::skipped rather than dropped
// silently. Works for files from anndata 0.5 to 0.12.
#include <algorithm>
#include <set>
#include <string>

#include "core/error.h"
#include "io/formats.h"
#include "io/h5ad_elements.h"

namespace pg::io {

namespace {

using h5ad::RowRange;

// uns arrays above this many values are listed as skipped instead of loaded:
// uns is for small metadata, not for matrices that slipped in.
constexpr int64_t kMaxUnsValues = int64_t{1} << 20;

std::string join(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string out;
  for (int64_t d : shape) out += (out.empty() ? "" : " x ") + std::to_string(d);
  return out.empty() ? "scalar" : out;
}

struct Reader {
  hid_t file;
  const ReadOptions& opt;
  int64_t n_obs = 0;
  int64_t n_var = 0;
  CellMatrix& m;

  void layers() {
    const h5::Kind k = h5::kind(file, "layers");
    std::vector<std::string> names;
    if (k == h5::Kind::Group) {
      h5::Handle g = h5::open_group(file, "layers");
      names = h5::children(g);
    } else if (k != h5::Kind::Missing) {
      h5::fail(file, "layers", "is a dataset, expected a group of matrices");
    }
    if (opt.layers) {
      for (const auto& want : *opt.layers) {
        if (std::find(names.begin(), names.end(), want) == names.end()) {
          throw Error(
              h5::file_name(file), "/layers/" + want,
              "no such layer (the file has " + (names.empty() ? std::string("none") : join(names)) + ")");
        }
      }
    }
    for (const auto& name : names) {
      const bool wanted =
          !opt.layers || std::find(opt.layers->begin(), opt.layers->end(), name) != opt.layers->end();
      if (wanted) {
        m.layers[name] = h5ad::read_matrix(file, "layers/" + name, n_obs, n_var, opt.rows, true);
      } else {
        m.skipped.push_back("layers/" + name + ": not requested, not loaded");
      }
    }
  }

  // obsm or varm: dense arrays with one row per cell (gene).
  void arrays(const std::string& key, int64_t n_rows, const RowRange& rows, bool load,
              std::map<std::string, DenseMatrix>& out) {
    const h5::Kind k = h5::kind(file, key);
    if (k == h5::Kind::Missing) return;
    if (k == h5::Kind::Dataset) {
      h5::Handle ds = h5::open_dataset(file, key);
      const h5::DatasetInfo info = h5::dataset_info(ds);
      if (info.type_class != H5T_COMPOUND || info.rows() != n_rows) {
        m.skipped.push_back(key + ": dataset of " + info.dtype + " (" + shape_text(info.shape) +
                            "), not loaded");
      } else if (!load) {
        m.skipped.push_back(key + ": " + join(h5::compound_fields(ds)) + ", not requested");
      } else {
        for (auto& [name, dense] : h5ad::read_record_arrays(ds, rows, m.skipped, key)) {
          out[name] = std::move(dense);
        }
      }
      return;
    }
    h5::Handle g = h5::open_group(file, key);
    const std::vector<std::string> names = h5::children(g);
    if (!load) {
      if (!names.empty()) m.skipped.push_back(key + ": " + join(names) + ", not requested");
      return;
    }
    for (const auto& name : names) {
      const std::string why = unsupported_array(g, name, n_rows);
      if (why.empty()) {
        out[name] = h5ad::read_dense(g, name, rows);
      } else {
        m.skipped.push_back(key + "/" + name + ": " + why + ", not loaded");
      }
    }
  }

  // Why an obsm/varm entry is not a per-row numeric array, or "" if it is.
  static std::string unsupported_array(hid_t g, const std::string& name, int64_t n_rows) {
    if (h5::kind(g, name) == h5::Kind::Group) {
      h5::Handle sub = h5::open_group(g, name);
      if (h5ad::sparse_format(sub).empty()) {
        const std::string enc = h5::encoding_type(sub);
        return enc.empty() ? "group without encoding" : enc;
      }
      const auto shape = h5ad::sparse_shape(sub);
      if (shape.first != n_rows) return "sparse matrix with " + std::to_string(shape.first) + " rows";
      return "";
    }
    if (h5::kind(g, name) != h5::Kind::Dataset) return "not a group or dataset";
    h5::Handle ds = h5::open_dataset(g, name);
    const h5::DatasetInfo info = h5::dataset_info(ds);
    if (info.type_class == H5T_COMPOUND) return "record array";
    if (info.type_class != H5T_INTEGER && info.type_class != H5T_FLOAT && info.dtype != "bool") {
      return "array of " + info.dtype;
    }
    if (info.shape.empty() || info.shape.size() > 2) return "array of shape " + shape_text(info.shape);
    if (info.shape[0] != n_rows) return "array with " + std::to_string(info.shape[0]) + " rows";
    return "";
  }

  // One uns dataset as JSON, or nullopt (with a note in skipped).
  std::optional<nlohmann::json> uns_value(hid_t ds, const std::string& where) {
    const h5::DatasetInfo info = h5::dataset_info(ds);
    int64_t count = 1;
    for (int64_t d : info.shape) count *= d;
    std::string why;
    if (info.type_class == H5T_COMPOUND) {
      why = "record array (" + shape_text(info.shape) + ")";
    } else if (info.shape.size() > 2) {
      why = "array of shape " + shape_text(info.shape);
    } else if (count > kMaxUnsValues) {
      why = info.dtype + " array of " + shape_text(info.shape) + " values, too large for uns";
    }
    std::vector<nlohmann::json> values;
    if (why.empty()) {
      if (info.is_string()) {
        for (auto& s : h5::read_strings(ds)) values.emplace_back(std::move(s));
      } else if (info.dtype == "bool") {
        for (uint8_t b : h5::read<uint8_t>(ds)) values.emplace_back(b != 0);
      } else if (info.type_class == H5T_INTEGER && info.dtype.rfind("uint", 0) == 0) {
        for (uint64_t v : h5::read<uint64_t>(ds)) values.emplace_back(v);
      } else if (info.type_class == H5T_INTEGER) {
        for (int64_t v : h5::read<int64_t>(ds)) values.emplace_back(v);
      } else if (info.type_class == H5T_FLOAT) {
        for (double v : h5::read<double>(ds)) values.emplace_back(v);
      } else {
        why = "array of " + info.dtype;
      }
    }
    if (!why.empty()) {
      m.skipped.push_back(where + ": " + why + ", not loaded");
      return std::nullopt;
    }
    if (info.shape.empty()) return values.empty() ? nlohmann::json() : values.front();
    if (info.shape.size() == 1) return nlohmann::json(values);
    nlohmann::json rows = nlohmann::json::array();
    const auto cols = static_cast<size_t>(info.shape[1]);
    for (size_t r = 0; r < static_cast<size_t>(info.shape[0]); ++r) {
      rows.push_back(nlohmann::json(
          std::vector<nlohmann::json>(values.begin() + static_cast<std::ptrdiff_t>(r * cols),
                                      values.begin() + static_cast<std::ptrdiff_t>((r + 1) * cols))));
    }
    return rows;
  }

  // A uns mapping. Never throws for an odd entry: it is skipped with a note.
  nlohmann::json uns_group(hid_t g, const std::string& label, const std::set<std::string>& exclude) {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& name : h5::children(g)) {
      if (exclude.count(name) != 0) continue;
      const std::string where = label + "/" + name;
      try {
        const h5::Kind k = h5::kind(g, name);
        if (k == h5::Kind::Group) {
          h5::Handle sub = h5::open_group(g, name);
          const std::string enc = h5::encoding_type(sub);
          if (!h5ad::sparse_format(sub).empty()) {
            const auto [r, c] = h5ad::sparse_shape(sub);
            m.skipped.push_back(where + ": sparse matrix " + std::to_string(r) + " x " + std::to_string(c) +
                                ", not loaded");
          } else if (enc.empty() || enc == "dict") {
            obj[name] = uns_group(sub, where, {});
          } else {
            m.skipped.push_back(where + ": " + enc + ", not loaded");
          }
        } else if (k == h5::Kind::Dataset) {
          h5::Handle ds = h5::open_dataset(g, name);
          if (auto v = uns_value(ds, where)) obj[name] = std::move(*v);
        } else {
          m.skipped.push_back(where + ": not a group or dataset, not loaded");
        }
      } catch (const Error& e) {
        m.skipped.push_back(where + ": " + e.problem() + ", not loaded");
      }
    }
    return obj;
  }

  // Root elements the model does not hold, named so users know they exist.
  void note_other(const std::string& name) {
    static const std::set<std::string> loaded{"obs", "var", "X", "layers", "obsm", "varm", "uns"};
    if (loaded.count(name) != 0) return;
    std::string what;
    try {
      if (name == "raw" || name == "raw.var") {
        const std::string var = name == "raw" ? "raw/var" : "raw.var";
        what = std::to_string(h5ad::dataframe_length(file, var)) + " genes";
      } else if (name == "raw.X" && h5::is_group(file, name)) {
        h5::Handle g = h5::open_group(file, name);
        const auto [r, c] = h5ad::sparse_shape(g);
        what = std::to_string(r) + " x " + std::to_string(c) + " matrix";
      } else if ((name == "obsp" || name == "varp") && h5::is_group(file, name)) {
        h5::Handle g = h5::open_group(file, name);
        const auto names = h5::children(g);
        if (names.empty()) return;
        what = join(names) + " (pairwise matrices)";
      } else if (name.rfind("raw", 0) == 0) {
        what = "part of raw";
      } else {
        what = "unknown element";
      }
    } catch (const Error&) {
      what = "unreadable";
    }
    m.skipped.push_back(name + ": " + what + ", not loaded");
  }
};

}  // namespace

namespace {

CellMatrix read_h5ad_file(const h5::Handle& file, const std::string& path, const ReadOptions& opt) {
  const std::string root_encoding = h5::encoding_type(file);
  if (!root_encoding.empty() && root_encoding != "anndata") {
    h5::fail(file, "encoding-type '" + root_encoding + "', expected 'anndata'");
  }
  CellMatrix m;
  Reader r{file, opt, 0, 0, m};
  r.n_obs = h5ad::dataframe_length(file, "obs");
  r.n_var = h5ad::dataframe_length(file, "var");
  if (opt.rows && (opt.rows->first < 0 || opt.rows->second < opt.rows->first || opt.rows->second > r.n_obs)) {
    throw Error(path, "/obs",
                "row range [" + std::to_string(opt.rows->first) + ", " + std::to_string(opt.rows->second) +
                    ") outside the file's " + std::to_string(r.n_obs) + " cells");
  }
  h5ad::DataFrameNotes notes;
  m.obs = h5ad::read_dataframe(file, "obs", opt.rows, notes, opt.obs_columns);
  m.var = h5ad::read_dataframe(file, "var", std::nullopt, notes);

  if (h5::kind(file, "X") == h5::Kind::Missing) {
    m.has_x = false;
    m.X.n_rows = m.n_cells();
    m.X.n_cols = r.n_var;
    m.X.indptr.assign(static_cast<size_t>(m.X.n_rows) + 1, 0);
  } else {
    m.X = h5ad::read_matrix(file, "X", r.n_obs, r.n_var, opt.rows, opt.load_x);
  }
  r.layers();
  r.arrays("obsm", r.n_obs, opt.rows, opt.load_obsm, m.obsm);
  r.arrays("varm", r.n_var, std::nullopt, opt.load_varm, m.varm);
  m.skipped.insert(m.skipped.end(), notes.skipped.begin(), notes.skipped.end());

  const h5::Kind uns = h5::kind(file, "uns");
  if (uns == h5::Kind::Group && opt.load_uns) {
    h5::Handle g = h5::open_group(file, "uns");
    m.uns = r.uns_group(g, "uns", notes.used_uns_arrays);
  } else if (uns != h5::Kind::Missing) {
    m.skipped.push_back(std::string("uns: ") + (opt.load_uns ? "not a group" : "not requested") +
                        ", not loaded");
  }
  for (const auto& name : h5::children(file)) r.note_other(name);
  return m;
}

}  // namespace

CellMatrix read_h5ad(const std::string& path, const ReadOptions& opt) {
  return read_h5ad_file(h5::open_file(path), path, opt);
}

int64_t h5ad_n_cells(const std::string& path) {
  return h5ad::dataframe_length(h5::open_file(path), "obs");
}

CellMatrix read_h5ad_image(std::string_view bytes, const std::string& label, const ReadOptions& opt) {
  return read_h5ad_file(h5::open_file_image(bytes, label), label, opt);
}

}  // namespace pg::io
