// Cell Ranger HDF5 feature-barcode matrices. Both layouts store genes x cells
// CSC, which read as-is is the cells x genes CSR we want (indptr per cell):
//   v3+: /matrix/{data,indices,indptr,shape,barcodes,features/{id,name,feature_type,genome}}
//   v2:  /<genome>/{data,indices,indptr,shape,barcodes,genes,gene_names}, one group per genome.
#include <algorithm>
#include <cmath>
#include <limits>
#include <set>
#include <tuple>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"
#include "io/hdf5.h"
#include "io/matrix_market.h"
#include "io/tabular.h"

namespace pg::io {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// v2 files: one root group per genome, each with its own barcodes (scanpy's
// multi-genome test file also has a stray scalar dataset at the root).
std::vector<std::string> genome_groups(hid_t file) {
  std::vector<std::string> out;
  for (const auto& name : h5::children(file)) {
    if (h5::is_group(file, name) && h5::is_dataset(file, name + "/barcodes")) out.push_back(name);
  }
  return out;
}

std::vector<std::string> read_string_list(hid_t group, const std::string& name, size_t expected,
                                          const std::string& what) {
  h5::Handle ds = h5::open_dataset(group, name);
  auto v = h5::read_strings(ds);
  if (v.size() != expected) {
    h5::fail(ds, "has " + std::to_string(v.size()) + " " + what + ", the shape dataset says " +
                     std::to_string(expected));
  }
  return v;
}

// Keeps the genes whose genome is `genome` (scanpy's read_10x_h5(genome=...) on v3 files).
void keep_genome(CellMatrix& m, const std::vector<std::string>& genomes, const std::string& genome,
                 const std::string& path) {
  std::vector<int32_t> remap(genomes.size(), -1);
  int32_t kept = 0;
  for (size_t i = 0; i < genomes.size(); ++i)
    if (genomes[i] == genome) remap[i] = kept++;
  if (kept == 0) {
    std::set<std::string> distinct(genomes.begin(), genomes.end());
    throw Error(path, "/matrix/features/genome",
                "no feature of genome '" + genome +
                    "' (genomes: " + join(std::vector<std::string>(distinct.begin(), distinct.end())) + ")");
  }
  DataFrame var;
  var.index_name = m.var.index_name;
  for (size_t i = 0; i < remap.size(); ++i)
    if (remap[i] >= 0) var.index.push_back(m.var.index[i]);
  for (const auto& c : m.var.columns) {
    std::vector<std::string> values;
    for (size_t i = 0; i < remap.size(); ++i)
      if (remap[i] >= 0) values.push_back(c.text(i));
    if (c.type == ColumnType::String) {
      Column s = c;
      s.strings = std::move(values);
      var.columns.push_back(std::move(s));
    } else {
      var.columns.push_back(string_column(c.name, std::move(values)));
    }
  }
  m.var = std::move(var);
  CsrMatrix x;
  x.n_rows = m.X.n_rows;
  x.n_cols = kept;
  x.storage = m.X.storage;
  x.indptr.assign(1, 0);
  for (int64_t r = 0; r < m.X.n_rows; ++r) {
    for (int64_t k = m.X.indptr[static_cast<size_t>(r)]; k < m.X.indptr[static_cast<size_t>(r) + 1]; ++k) {
      const int32_t j = remap[static_cast<size_t>(m.X.indices[static_cast<size_t>(k)])];
      if (j < 0) continue;
      x.indices.push_back(j);
      x.data.push_back(m.X.data[static_cast<size_t>(k)]);
    }
    x.indptr.push_back(static_cast<int64_t>(x.indices.size()));
  }
  m.X = std::move(x);
}

}  // namespace

CellMatrix read_10x_h5(const std::string& path, const ReadOptions& opt) {
  h5::Handle file = h5::open_file(path);
  std::string group;
  const bool v3 = h5::is_group(file, "matrix");
  if (v3) {
    group = "matrix";
  } else {
    const auto genomes = genome_groups(file);
    if (genomes.empty()) {
      throw Error(path, "/",
                  "no /matrix group and no per-genome groups with barcodes: not a Cell Ranger HDF5 file");
    }
    if (!opt.genome.empty()) {
      if (std::find(genomes.begin(), genomes.end(), opt.genome) == genomes.end()) {
        throw Error(path, "/",
                    "genome '" + opt.genome + "' not in the file (genomes: " + join(genomes) + ")");
      }
      group = opt.genome;
    } else if (genomes.size() > 1) {
      throw Error(path, "/", "holds several genomes (" + join(genomes) + "); choose one with --genome");
    } else {
      group = genomes[0];
    }
  }
  h5::Handle g = h5::open_group(file, group);
  const std::string element = "/" + group;

  h5::Handle shape_ds = h5::open_dataset(g, "shape");
  const auto shape = h5::read<int64_t>(shape_ds);
  if (shape.size() != 2) h5::fail(shape_ds, "has " + std::to_string(shape.size()) + " values, expected 2");
  for (int64_t d : shape) {
    if (d < 0 || d > std::numeric_limits<int32_t>::max())
      h5::fail(shape_ds, "invalid size " + std::to_string(d));
  }
  const int64_t n_genes = shape[0], n_cells = shape[1];
  int64_t begin = 0, end = n_cells;
  if (opt.rows) {
    std::tie(begin, end) = *opt.rows;
    if (begin < 0 || end < begin || end > n_cells) {
      throw Error(path, "rows",
                  "cell range [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside 0.." +
                      std::to_string(n_cells));
    }
  }

  CellMatrix m;
  {
    h5::Handle ds = h5::open_dataset(g, "barcodes");
    if (h5::dataset_info(ds).rows() != n_cells) {
      h5::fail(ds, "has " + std::to_string(h5::dataset_info(ds).rows()) +
                       " barcodes, the shape dataset says " + std::to_string(n_cells) + " cells");
    }
    m.obs.index = h5::read_strings(ds, std::make_pair(begin, end));
  }
  const auto n = static_cast<size_t>(n_genes);
  std::vector<std::string> genomes;
  m.var.index_name = "gene_ids";
  if (v3) {
    h5::Handle features = h5::open_group(g, "features");
    m.var.index = read_string_list(features, "id", n, "feature ids");
    Column names;
    names.name = "gene_symbols";
    names.dtype = "str";
    names.strings = read_string_list(features, "name", n, "feature names");
    m.var.columns.push_back(std::move(names));
    if (h5::is_dataset(features, "feature_type")) {
      m.var.columns.push_back(
          string_column("feature_types", read_string_list(features, "feature_type", n, "feature types")));
    }
    if (h5::is_dataset(features, "genome")) {
      genomes = read_string_list(features, "genome", n, "genomes");
      m.var.columns.push_back(string_column("genome", genomes));
    }
  } else {
    m.var.index = read_string_list(g, "genes", n, "gene ids");
    Column names;
    names.name = "gene_symbols";
    names.dtype = "str";
    names.strings = read_string_list(g, "gene_names", n, "gene names");
    m.var.columns.push_back(std::move(names));
  }

  h5::Handle indptr_ds = h5::open_dataset(g, "indptr");
  h5::Handle data_ds = h5::open_dataset(g, "data");
  h5::Handle indices_ds = h5::open_dataset(g, "indices");
  const auto data_info = h5::dataset_info(data_ds);
  const auto indices_info = h5::dataset_info(indices_ds);
  m.X.storage = {"csc", data_info.dtype, indices_info.dtype};
  if (opt.load_x) {
    if (h5::dataset_info(indptr_ds).rows() != n_cells + 1) {
      h5::fail(indptr_ds, "has " + std::to_string(h5::dataset_info(indptr_ds).rows()) +
                              " entries, the shape needs n_cells + 1 = " + std::to_string(n_cells + 1));
    }
    if (data_info.rows() != indices_info.rows()) {
      h5::fail(data_ds, "has " + std::to_string(data_info.rows()) + " values but indices has " +
                            std::to_string(indices_info.rows()));
    }
    // Only the slice of data/indices the requested cells use is read.
    auto indptr = h5::read<int64_t>(indptr_ds, std::make_pair(begin, end + 1));
    const int64_t first = indptr.front(), last = indptr.back();
    if (first < 0 || last < first || last > data_info.rows()) {
      h5::fail(indptr_ds, "points outside the " + std::to_string(data_info.rows()) + " stored values (" +
                              std::to_string(first) + ".." + std::to_string(last) + ")");
    }
    for (auto& p : indptr) p -= first;
    m.X.n_rows = end - begin;
    m.X.n_cols = n_genes;
    m.X.indptr = std::move(indptr);
    m.X.data = h5::read<float>(data_ds, std::make_pair(first, last));
    m.X.indices = h5::read<int32_t>(indices_ds, std::make_pair(first, last));
    validate(m.X, path, element);
    sort_row_indices(m.X);
  } else {  // shape and storage only: an X of empty rows, as the h5ad reader gives
    m.X.n_rows = end - begin;
    m.X.n_cols = n_genes;
    m.X.indptr.assign(static_cast<size_t>(end - begin) + 1, 0);
  }

  if (v3 && !opt.genome.empty()) {
    if (genomes.empty()) throw Error(path, element + "/features", "no genome dataset to select genome from");
    keep_genome(m, genomes, opt.genome, path);
  }
  return m;
}

void write_10x_h5(const CellMatrix& m, const std::string& path) {
  if (!m.has_x) throw Error(path, "X", "the data has no X matrix; a Cell Ranger HDF5 file needs one");
  if (m.X.n_rows != m.n_cells() || m.X.n_cols != m.n_genes()) {
    throw Error(path, "X",
                "matrix is " + std::to_string(m.X.n_rows) + " x " + std::to_string(m.X.n_cols) +
                    " but there are " + std::to_string(m.n_cells()) + " cells and " +
                    std::to_string(m.n_genes()) + " genes");
  }
  // Cell Ranger stores counts as int32; anything else is kept as float32.
  bool integer = all_integral(m.X);
  for (float v : m.X.data) {
    if (!integer) break;
    if (std::fabs(v) > 2147483647.0f) integer = false;
  }
  auto text_column = [&](std::initializer_list<const char*> names, const std::string& fallback) {
    std::vector<std::string> out(m.var.n_rows(), fallback);
    for (const char* name : names) {
      const Column* c = m.var.find(name);
      if (c == nullptr || (c->type != ColumnType::String && c->type != ColumnType::Categorical)) continue;
      for (size_t i = 0; i < out.size(); ++i) out[i] = c->is_missing(i) ? fallback : c->text(i);
      break;
    }
    return out;
  };
  std::vector<std::string> names =
      text_column({"gene_symbols", "gene_symbol", "gene_name", "gene_names", "feature_name", "Gene"}, "");
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i].empty()) names[i] = m.var.index[i];
  const auto types = text_column({"feature_types", "feature_type"}, "Gene Expression");
  const auto genomes = text_column({"genome"}, "");

  write_atomically(path, [&](const std::filesystem::path& tmp) {
    h5::Handle f = h5::create_file(tmp.string());
    h5::set_attr(f, "filetype", std::string("matrix"));
    h5::set_attr_int(f, "version", 2);
    h5::Handle g = h5::create_group(f, "matrix");
    h5::write_fixed_strings(g, "barcodes", m.obs.index);
    const auto nnz = m.X.nnz();
    if (integer) {
      std::vector<int32_t> data(m.X.data.size());
      for (size_t k = 0; k < data.size(); ++k) data[k] = static_cast<int32_t>(std::lround(m.X.data[k]));
      h5::write<int32_t>(g, "data", data, {nnz});
    } else {
      h5::write<float>(g, "data", m.X.data, {nnz});
    }
    h5::write<int64_t>(g, "indices", std::vector<int64_t>(m.X.indices.begin(), m.X.indices.end()), {nnz});
    h5::write<int64_t>(g, "indptr", m.X.indptr, {m.X.n_rows + 1});
    h5::write<int32_t>(g, "shape", {static_cast<int32_t>(m.X.n_cols), static_cast<int32_t>(m.X.n_rows)}, {2});
    h5::Handle features = h5::create_group(g, "features");
    h5::write_fixed_strings(features, "id", m.var.index);
    h5::write_fixed_strings(features, "name", names);
    h5::write_fixed_strings(features, "feature_type", types);
    h5::write_fixed_strings(features, "genome", genomes);
    h5::write_fixed_strings(features, "_all_tag_keys", {"genome"});
  });
}

}  // namespace pg::io
