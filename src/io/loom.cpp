// Loom files (spec 2.0.1 and 3.0.0): a dense genes x cells /matrix, dense
// /layers of the same shape, per-gene /row_attrs and per-cell /col_attrs.
// Loom has no sparse storage, so reading keeps the non-zeros of each block of
// genes and writing fills the dense datasets block by block.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <optional>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"
#include "io/hdf5.h"
#include "io/hdf5_column.h"
#include "io/matrix_market.h"
#include "io/tabular.h"

namespace pg::io {

namespace {

// Where loom writers put the cell and gene names, most specific first.
const std::vector<std::string> kCellIndex = {"CellID", "obs_names", "cell_id", "cell_ids",
                                             "CellId", "barcode",   "barcodes"};
const std::vector<std::string> kGeneIndex = {"Accession", "ensembl_id", "gene_ids",  "gene_id",
                                             "Gene",      "gene",       "var_names", "gene_symbols"};
// Format bookkeeping, not user metadata: not carried into uns.
bool is_format_attr(const std::string& name) {
  return name == "LOOM_SPEC_VERSION" || name == "CreationDate" || name == "last_modified";
}

// Genes x cells rows [0, n_genes) and cells [begin, end) of a dense dataset, as cells x genes CSR.
CsrMatrix read_dense(hid_t ds, int64_t n_genes, int64_t begin, int64_t end) {
  const int64_t width = end - begin;
  CsrMatrix g;  // genes x cells, built block by block, transposed at the end
  g.n_rows = n_genes;
  g.n_cols = width;
  // Blocks of whole 64-row chunk strips (loompy chunks 64 x 64), about 16 MB each.
  const int64_t strip = std::max<int64_t>(64, ((int64_t{1} << 22) / std::max<int64_t>(width, 1)) / 64 * 64);
  for (int64_t g0 = 0; g0 < n_genes; g0 += strip) {
    const int64_t g1 = std::min(n_genes, g0 + strip);
    const auto block = h5::read_block<float>(ds, {g0, g1}, {begin, end});
    for (int64_t i = 0; i < g1 - g0; ++i) {
      const float* row = block.data() + i * width;
      for (int64_t j = 0; j < width; ++j) {
        if (row[j] != 0.0f) {  // NaN is kept, so validate() reports it
          g.indices.push_back(static_cast<int32_t>(j));
          g.data.push_back(row[j]);
        }
      }
      g.indptr.push_back(static_cast<int64_t>(g.indices.size()));
    }
  }
  CsrMatrix x = transpose(g);
  x.storage = {"dense", h5::dataset_info(ds).dtype, ""};
  return x;
}

// One 1-D attribute as a column (strings, numbers, h5py bools).
std::optional<Column> read_column(hid_t ds, const std::string& name, std::pair<int64_t, int64_t> rows) {
  if (h5::dataset_info(ds).is_string()) return string_column(name, h5::read_strings(ds, rows));
  Column c;
  c.name = name;
  if (!read_array_column(ds, rows, c)) return std::nullopt;
  return c;
}

// /row_attrs or /col_attrs into a DataFrame (1-D) and a dense map (2-D, loompy's multidimensional
// attributes).
void read_attrs(CellMatrix& m, hid_t file, const std::string& group, int64_t n,
                std::pair<int64_t, int64_t> rows, const std::vector<std::string>& index_names, DataFrame& df,
                std::map<std::string, DenseMatrix>* dense) {
  const int64_t n_sel = rows.second - rows.first;
  df.index.clear();
  if (h5::kind(file, group) == h5::Kind::Group) {
    h5::Handle g = h5::open_group(file, group);
    const auto names = h5::children(g);
    std::string index_attr;
    for (const auto& candidate : index_names) {
      if (std::find(names.begin(), names.end(), candidate) != names.end() && h5::is_dataset(g, candidate)) {
        h5::Handle ds = h5::open_dataset(g, candidate);
        const auto info = h5::dataset_info(ds);
        if (info.is_string() && info.shape.size() == 1) {
          index_attr = candidate;
          break;
        }
      }
    }
    for (const auto& name : names) {
      const std::string element = "/" + group + "/" + name;
      if (!h5::is_dataset(g, name)) {
        m.skipped.push_back(element + ": not a dataset");
        continue;
      }
      h5::Handle ds = h5::open_dataset(g, name);
      const auto info = h5::dataset_info(ds);
      if (info.shape.empty() || info.shape[0] != n) {
        h5::fail(ds, "has " + (info.shape.empty() ? std::string("no") : std::to_string(info.shape[0])) +
                         " entries, /matrix has " + std::to_string(n));
      }
      if (name == index_attr) {
        df.index_name = name;
        df.index = h5::read_strings(ds, rows);
      } else if (info.shape.size() == 1) {
        auto c = read_column(ds, name, rows);
        if (c) {
          df.columns.push_back(std::move(*c));
        } else {
          m.skipped.push_back(element + ": " + info.dtype + " values are not supported");
        }
      } else if (info.shape.size() == 2 && dense != nullptr && !info.is_string() &&
                 (info.type_class == H5T_INTEGER || info.type_class == H5T_FLOAT)) {
        DenseMatrix d;
        d.n_rows = n_sel;
        d.n_cols = info.shape[1];
        d.dtype = info.dtype;
        d.values = h5::read_block<double>(ds, rows, {0, info.shape[1]});
        (*dense)[name] = std::move(d);
      } else {
        m.skipped.push_back(element + ": " + std::to_string(info.shape.size()) + "-D " + info.dtype +
                            " attribute not loaded");
      }
    }
  }
  if (df.index.empty() && n_sel > 0) {  // no name attribute: positions, as anndata does
    for (int64_t i = rows.first; i < rows.second; ++i) df.index.push_back(std::to_string(i));
  }
}

void read_global_attrs(CellMatrix& m, hid_t file) {
  if (h5::kind(file, "attrs") == h5::Kind::Group) {  // loom 3: one dataset per attribute
    h5::Handle g = h5::open_group(file, "attrs");
    for (const auto& name : h5::children(g)) {
      if (is_format_attr(name) || !h5::is_dataset(g, name)) continue;
      h5::Handle ds = h5::open_dataset(g, name);
      const auto info = h5::dataset_info(ds);
      if (info.is_string()) {
        const auto v = h5::read_strings(ds);
        m.uns[name] = info.shape.empty() && v.size() == 1 ? nlohmann::json(v[0]) : nlohmann::json(v);
      } else if (info.type_class == H5T_INTEGER || info.type_class == H5T_FLOAT) {
        const auto v = h5::read<double>(ds);
        m.uns[name] = info.shape.empty() && v.size() == 1 ? nlohmann::json(v[0]) : nlohmann::json(v);
      }
    }
  }
  for (const auto& name : h5::attr_names(file)) {  // loom 2: HDF5 attributes on the root
    if (is_format_attr(name) || m.uns.contains(name)) continue;
    if (h5::attr_is_string(file, name)) {
      const auto v = h5::attr_strings(file, name);
      m.uns[name] = v.size() == 1 ? nlohmann::json(v[0]) : nlohmann::json(v);
    } else {
      try {
        const auto v = h5::attr_doubles(file, name);
        m.uns[name] = v.size() == 1 ? nlohmann::json(v[0]) : nlohmann::json(v);
      } catch (const Error&) {  // compound or reference attributes: not metadata we can carry
        m.skipped.push_back("/ attribute " + name + ": not a string or number");
      }
    }
  }
}

}  // namespace

CellMatrix read_loom(const std::string& path, const ReadOptions& opt) {
  h5::Handle file = h5::open_file(path);
  h5::Handle matrix = h5::open_dataset(file, "matrix");
  const auto info = h5::dataset_info(matrix);
  if (info.shape.size() != 2) h5::fail(matrix, "expected a 2-D genes x cells matrix");
  const int64_t n_genes = info.shape[0], n_cells = info.shape[1];
  if (n_genes > std::numeric_limits<int32_t>::max()) h5::fail(matrix, "too many genes for int32 indices");
  std::pair<int64_t, int64_t> rows{0, n_cells};
  if (opt.rows) {
    rows = *opt.rows;
    if (rows.first < 0 || rows.second < rows.first || rows.second > n_cells) {
      throw Error(path, "rows",
                  "cell range [" + std::to_string(rows.first) + ", " + std::to_string(rows.second) +
                      ") outside 0.." + std::to_string(n_cells));
    }
  }

  CellMatrix m;
  read_attrs(m, file, "col_attrs", n_cells, rows, kCellIndex, m.obs, opt.load_obsm ? &m.obsm : nullptr);
  read_attrs(m, file, "row_attrs", n_genes, {0, n_genes}, kGeneIndex, m.var,
             opt.load_varm ? &m.varm : nullptr);

  if (opt.load_x) {
    m.X = read_dense(matrix, n_genes, rows.first, rows.second);
    validate(m.X, path, "/matrix");
  } else {  // shape and storage only: an X of empty rows, as the h5ad reader gives
    m.X.n_rows = rows.second - rows.first;
    m.X.n_cols = n_genes;
    m.X.indptr.assign(static_cast<size_t>(m.X.n_rows) + 1, 0);
    m.X.storage = {"dense", info.dtype, ""};
  }
  if (h5::kind(file, "layers") == h5::Kind::Group) {
    h5::Handle layers = h5::open_group(file, "layers");
    for (const auto& name : h5::children(layers)) {
      if (opt.layers && std::find(opt.layers->begin(), opt.layers->end(), name) == opt.layers->end())
        continue;
      if (!h5::is_dataset(layers, name)) {
        m.skipped.push_back("/layers/" + name + ": not a dataset");
        continue;
      }
      h5::Handle ds = h5::open_dataset(layers, name);
      if (h5::dataset_info(ds).shape != info.shape) h5::fail(ds, "shape differs from /matrix");
      m.layers[name] = read_dense(ds, n_genes, rows.first, rows.second);
      validate(m.layers[name], path, "/layers/" + name);
    }
  }
  for (const char* graphs : {"row_graphs", "col_graphs"}) {
    if (h5::kind(file, graphs) != h5::Kind::Group) continue;
    h5::Handle g = h5::open_group(file, graphs);
    for (const auto& name : h5::children(g)) {
      m.skipped.push_back(std::string("/") + graphs + "/" + name + ": graphs are not loaded");
    }
  }
  if (opt.load_uns) read_global_attrs(m, file);
  return m;
}

namespace {

template <typename T>
void write_dense_as(hid_t loc, const std::string& name, const CsrMatrix& genes_by_cells) {
  const int64_t n_genes = genes_by_cells.n_rows, n_cells = genes_by_cells.n_cols;
  h5::Handle ds = h5::create_2d<T>(loc, name, n_genes, n_cells, {64, 64});
  const int64_t strip = std::max<int64_t>(64, ((int64_t{1} << 22) / std::max<int64_t>(n_cells, 1)) / 64 * 64);
  for (int64_t g0 = 0; g0 < n_genes; g0 += strip) {
    const int64_t g1 = std::min(n_genes, g0 + strip);
    std::vector<T> block(static_cast<size_t>((g1 - g0) * n_cells), T{0});
    for (int64_t i = g0; i < g1; ++i) {
      for (int64_t k = genes_by_cells.indptr[static_cast<size_t>(i)];
           k < genes_by_cells.indptr[static_cast<size_t>(i) + 1]; ++k) {
        const float v = genes_by_cells.data[static_cast<size_t>(k)];
        block[static_cast<size_t>((i - g0) * n_cells + genes_by_cells.indices[static_cast<size_t>(k)])] =
            std::is_integral_v<T> ? static_cast<T>(std::lround(v)) : static_cast<T>(v);
      }
    }
    h5::write_rows<T>(ds, g0, block);
  }
}

// Integer counts as int32 (what loompy stores for counts), anything else float32.
void write_dense(hid_t loc, const std::string& name, const CsrMatrix& cells_by_genes) {
  bool integer = all_integral(cells_by_genes);
  for (float v : cells_by_genes.data) {
    if (!integer) break;
    if (std::fabs(v) > 2147483647.0f) integer = false;
  }
  const CsrMatrix t = transpose(cells_by_genes);
  if (integer) {
    write_dense_as<int32_t>(loc, name, t);
  } else {
    write_dense_as<float>(loc, name, t);
  }
}

void write_column(hid_t g, const Column& c) {
  const size_t n = c.size();
  switch (c.type) {
    case ColumnType::Int:
      if (c.missing.empty()) {
        h5::write<int64_t>(g, c.name, c.ints, {static_cast<int64_t>(n)});
        return;
      }
      break;
    case ColumnType::Float:
      h5::write<double>(g, c.name, c.floats, {static_cast<int64_t>(n)});
      return;
    case ColumnType::Bool:
      if (c.missing.empty()) {
        h5::write_bools(g, c.name, c.bools);
        return;
      }
      break;
    default:
      break;
  }
  if (c.type == ColumnType::Int) {  // loom has no nullable integers: NaN marks the missing ones
    std::vector<double> v(n);
    for (size_t i = 0; i < n; ++i) v[i] = c.is_missing(i) ? std::nan("") : static_cast<double>(c.ints[i]);
    h5::write<double>(g, c.name, v, {static_cast<int64_t>(n)});
    return;
  }
  std::vector<std::string> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = c.is_missing(i) ? std::string() : c.text(i);
  h5::write_strings(g, c.name, v);
}

// The attribute name the reader will take back as the index: the frame's own
// index name when the reader looks for it and no column outranks it, else the
// reader's first choice.
std::string index_attr(const DataFrame& df, const std::vector<std::string>& priority, const std::string& path,
                       const std::string& group) {
  auto rank = [&](const std::string& name) {
    return static_cast<size_t>(std::find(priority.begin(), priority.end(), name) - priority.begin());
  };
  std::string name = rank(df.index_name) < priority.size() ? df.index_name : priority[0];
  for (const auto& c : df.columns)
    if (rank(c.name) < rank(name)) name = priority[0];
  if (df.find(name) != nullptr) {
    throw Error(path, "/" + group + "/" + name, "a column has the name loom readers take for the index");
  }
  return name;
}

void write_attrs(hid_t file, const std::string& group, const DataFrame& df,
                 const std::map<std::string, DenseMatrix>& dense, const std::string& index_name,
                 const std::string& path) {
  h5::Handle g = h5::create_group(file, group);
  h5::write_strings(g, index_name, df.index);
  for (const auto& c : df.columns) {
    if (c.name.empty() || c.name.find('/') != std::string::npos || c.name == "." || c.name == index_name) {
      throw Error(path, "/" + group, "column name '" + c.name + "' cannot be a loom attribute name");
    }
    write_column(g, c);
  }
  for (const auto& [name, d] : dense) {
    if (name.find('/') != std::string::npos || df.find(name) != nullptr || name == index_name) {
      throw Error(path, "/" + group + "/" + name,
                  "name clashes with a column or is not a valid attribute name");
    }
    h5::write<double>(g, name, d.values, {d.n_rows, d.n_cols});
  }
}

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%S.000000Z", &tm);
  return buf;
}

}  // namespace

void write_loom(const CellMatrix& m, const std::string& path) {
  if (!m.has_x) throw Error(path, "X", "the data has no X matrix; a loom file needs /matrix");
  if (m.X.n_rows != m.n_cells() || m.X.n_cols != m.n_genes()) {
    throw Error(path, "X",
                "matrix is " + std::to_string(m.X.n_rows) + " x " + std::to_string(m.X.n_cols) +
                    " but there are " + std::to_string(m.n_cells()) + " cells and " +
                    std::to_string(m.n_genes()) + " genes");
  }
  for (const auto& [name, layer] : m.layers) {
    if (layer.n_rows != m.X.n_rows || layer.n_cols != m.X.n_cols || name.find('/') != std::string::npos) {
      throw Error(path, "/layers/" + name, "layer shape differs from X or its name is not valid in loom");
    }
  }
  const std::string cell_attr = index_attr(m.obs, kCellIndex, path, "col_attrs");
  const std::string gene_attr = index_attr(m.var, kGeneIndex, path, "row_attrs");

  write_atomically(path, [&](const std::filesystem::path& tmp) {
    h5::Handle f = h5::create_file(tmp.string());
    write_dense(f, "matrix", m.X);
    h5::Handle layers = h5::create_group(f, "layers");
    for (const auto& [name, layer] : m.layers) write_dense(layers, name, layer);
    write_attrs(f, "row_attrs", m.var, m.varm, gene_attr, path);
    write_attrs(f, "col_attrs", m.obs, m.obsm, cell_attr, path);
    h5::create_group(f, "row_graphs");
    h5::create_group(f, "col_graphs");
    h5::Handle attrs = h5::create_group(f, "attrs");
    h5::write_scalar_string(attrs, "LOOM_SPEC_VERSION", "3.0.0");
    h5::write_scalar_string(attrs, "CreationDate", utc_now());
    for (const auto& [key, value] : m.uns.items()) {  // scalars only: loom global attributes are flat
      if (is_format_attr(key) || key.find('/') != std::string::npos) continue;
      if (value.is_string()) {
        h5::write_scalar_string(attrs, key, value.get<std::string>());
      } else if (value.is_number_integer()) {
        h5::write_scalar<int64_t>(attrs, key, value.get<int64_t>());
      } else if (value.is_number()) {
        h5::write_scalar<double>(attrs, key, value.get<double>());
      }
    }
  });
}

}  // namespace pg::io
