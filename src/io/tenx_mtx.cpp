// 10x Genomics MatrixMarket folders (Cell Ranger 2: genes.tsv; >= 3:
// features.tsv.gz) plus the obs.tsv[.gz] the shared datasets add. The var
// index is the gene id, as scanpy.read_10x_mtx(var_names="gene_ids") gives.
#include <algorithm>
#include <exception>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <system_error>
#include <thread>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"
#include "io/gzip.h"
#include "io/matrix_market.h"
#include "io/tabular.h"

namespace fs = std::filesystem;

namespace pg::io {

namespace {

// The first of `names` (with `prefix`) that is a file in `dir`, or an empty path.
fs::path find_file(const fs::path& dir, const std::string& prefix, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const fs::path p = dir / (prefix + name);
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p;
  }
  return {};
}

std::string alternatives(const std::string& prefix, std::initializer_list<const char*> names) {
  std::string out;
  for (const char* name : names) out += (out.empty() ? "" : " / ") + prefix + name;
  return out;
}

fs::path require_file(const fs::path& dir, const std::string& prefix,
                      std::initializer_list<const char*> names, const std::string& what) {
  fs::path p = find_file(dir, prefix, names);
  if (p.empty()) {
    throw Error(dir.string(), "",
                "missing " + what + " file: none of " + alternatives(prefix, names) + " in the folder");
  }
  return p;
}

// Text column chosen among the usual names for gene symbols / feature types.
const Column* find_text_column(const DataFrame& df, std::initializer_list<const char*> names) {
  for (const char* name : names) {
    const Column* c = df.find(name);
    if (c != nullptr && (c->type == ColumnType::String || c->type == ColumnType::Categorical)) return c;
  }
  return nullptr;
}

void check_field(const std::string& value, const std::string& file, const std::string& where) {
  if (value.find_first_of("\t\n\r") != std::string::npos) {
    throw Error(file, where, "contains a tab or newline, which a TSV file cannot hold: '" + value + "'");
  }
}

// Barcodes: one cell id per line (any further fields are ignored).
void read_barcodes(const std::string& file, DataFrame& obs) {
  const ByteBuffer text = read_maybe_gzip_bytes(file);
  obs.index.reserve(static_cast<size_t>(std::count(text.view().begin(), text.view().end(), '\n')) + 1);
  for_each_tsv_row(text.view(), [&](size_t i, const std::vector<std::string_view>& row) {
    if (row[0].empty()) throw Error(file, "line " + std::to_string(i + 1), "empty barcode");
    obs.index.emplace_back(row[0]);
  });
}

// Features: id, name, feature type (v3); id, name (v2); or id only.
void read_features(const std::string& file, DataFrame& var) {
  const ByteBuffer text = read_maybe_gzip_bytes(file);
  const auto lines = static_cast<size_t>(std::count(text.view().begin(), text.view().end(), '\n')) + 1;
  std::vector<std::string> names, types;
  size_t n_fields = 1;
  var.index_name = "gene_ids";
  var.index.reserve(lines);
  for_each_tsv_row(text.view(), [&](size_t i, const std::vector<std::string_view>& row) {
    if (i == 0) {
      n_fields = std::min<size_t>(row.size(), 3);
      if (n_fields >= 2) names.reserve(lines);
      if (n_fields >= 3) types.reserve(lines);
    }
    if (row.size() < n_fields) {
      throw Error(
          file, "line " + std::to_string(i + 1),
          "has " + std::to_string(row.size()) + " fields, the first line has " + std::to_string(n_fields));
    }
    if (row[0].empty()) throw Error(file, "line " + std::to_string(i + 1), "empty feature id");
    var.index.emplace_back(row[0]);
    if (n_fields >= 2) names.emplace_back(row[1]);
    if (n_fields >= 3) types.emplace_back(row[2]);
  });
  if (n_fields >= 2) {
    Column c;
    c.name = "gene_symbols";
    c.dtype = "str";
    c.strings = std::move(names);
    var.columns.push_back(std::move(c));
  }
  if (n_fields >= 3) var.columns.push_back(string_column("feature_types", std::move(types)));
}

}  // namespace

CellMatrix read_10x_mtx(const std::string& dir, const ReadOptions& opt, const std::string& prefix) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) throw Error(dir, "", "no such directory");
  if (!fs::is_directory(dir, ec)) {
    throw Error(
        dir, "",
        "is a file; a 10x MatrixMarket input is a folder holding matrix.mtx[.gz], features.tsv[.gz] and "
        "barcodes.tsv[.gz]");
  }
  const fs::path matrix_path = require_file(dir, prefix, {"matrix.mtx.gz", "matrix.mtx"}, "matrix");
  const fs::path features_path =
      require_file(dir, prefix, {"features.tsv.gz", "features.tsv", "genes.tsv.gz", "genes.tsv"}, "features");
  const fs::path barcodes_path = require_file(dir, prefix, {"barcodes.tsv.gz", "barcodes.tsv"}, "barcodes");
  const fs::path obs_path = find_file(dir, prefix, {"obs.tsv.gz", "obs.tsv"});

  // Barcodes, features and obs are read on a second thread while this one
  // reads the matrix. Errors are reported in the order of a serial read:
  // barcodes, features, the matrix, sizes that disagree, then obs.
  CellMatrix m;
  const std::string bfile = barcodes_path.string();
  const std::string ffile = features_path.string();
  const std::string mfile = matrix_path.string();
  const std::string ofile = obs_path.string();
  std::exception_ptr tables_error, obs_error;
  std::optional<DataFrame> obs;
  auto read_tables = [&] {
    try {
      read_barcodes(bfile, m.obs);
      read_features(ffile, m.var);
    } catch (...) {
      tables_error = std::current_exception();
      return;
    }
    try {
      if (!ofile.empty()) obs = parse_obs_tsv(read_maybe_gzip_bytes(ofile).view(), ofile, m.obs.index);
    } catch (...) {
      obs_error = std::current_exception();
    }
  };
  std::thread tables;
  try {
    tables = std::thread(read_tables);
  } catch (const std::system_error&) {  // no second thread: read them first
    read_tables();
  }
  std::exception_ptr matrix_error;
  try {
    if (opt.load_x) {
      m.X = read_matrix_market(mfile);  // checks every index and value
    } else {
      // Shape and storage only: an X of empty rows, as the h5ad reader gives.
      const MtxHeader h = parse_matrix_market_header(read_maybe_gzip_bytes(mfile).view(), mfile);
      m.X.n_rows = h.n_cols;
      m.X.n_cols = h.n_rows;
      m.X.indptr.assign(static_cast<size_t>(h.n_cols) + 1, 0);
      m.X.storage = {"coo", h.field == MtxField::Real ? "float64" : "int64", ""};
    }
  } catch (...) {
    matrix_error = std::current_exception();
  }
  if (tables.joinable()) tables.join();
  if (tables_error) std::rethrow_exception(tables_error);
  if (matrix_error) std::rethrow_exception(matrix_error);

  const int64_t n_cells = m.X.n_rows;
  const int64_t n_genes = m.X.n_cols;
  if (static_cast<int64_t>(m.var.index.size()) != n_genes) {
    throw Error(ffile, "",
                "has " + std::to_string(m.var.index.size()) + " features but " +
                    matrix_path.filename().string() + " has " + std::to_string(n_genes) + " rows (genes)");
  }
  if (static_cast<int64_t>(m.obs.index.size()) != n_cells) {
    throw Error(bfile, "",
                "has " + std::to_string(m.obs.index.size()) + " barcodes but " +
                    matrix_path.filename().string() + " has " + std::to_string(n_cells) + " columns (cells)");
  }
  if (obs_error) std::rethrow_exception(obs_error);
  if (obs) m.obs = std::move(*obs);

  if (opt.rows) {
    const auto [begin, end] = *opt.rows;
    if (begin < 0 || end < begin || end > n_cells) {
      throw Error(dir, "rows",
                  "cell range [" + std::to_string(begin) + ", " + std::to_string(end) + ") outside 0.." +
                      std::to_string(n_cells));
    }
    m.X = slice_rows(m.X, begin, end);
    m.obs = slice_rows(m.obs, begin, end);
  }
  return m;
}

void write_10x_mtx(const CellMatrix& m, const std::string& dir) {
  if (!m.has_x) throw Error(dir, "X", "the data has no X matrix; a 10x MatrixMarket folder needs one");
  if (m.X.n_rows != m.n_cells() || m.X.n_cols != m.n_genes()) {
    throw Error(dir, "X",
                "matrix is " + std::to_string(m.X.n_rows) + " x " + std::to_string(m.X.n_cols) +
                    " but there are " + std::to_string(m.n_cells()) + " cells and " +
                    std::to_string(m.n_genes()) + " genes");
  }
  const Column* symbols = find_text_column(
      m.var, {"gene_symbols", "gene_symbol", "gene_name", "gene_names", "feature_name", "Gene"});
  const Column* types = find_text_column(m.var, {"feature_types", "feature_type"});

  std::string features;
  for (size_t i = 0; i < m.var.n_rows(); ++i) {
    const std::string where = "feature " + std::to_string(i + 1);
    const std::string name =
        symbols != nullptr && !symbols->is_missing(i) ? symbols->text(i) : m.var.index[i];
    const std::string type =
        types != nullptr && !types->is_missing(i) ? types->text(i) : std::string("Gene Expression");
    check_field(m.var.index[i], dir, where);
    check_field(name, dir, where);
    check_field(type, dir, where);
    features += m.var.index[i] + '\t' + name + '\t' + type + '\n';
  }
  std::string barcodes;
  for (size_t i = 0; i < m.obs.n_rows(); ++i) {
    check_field(m.obs.index[i], dir, "barcode " + std::to_string(i + 1));
    barcodes += m.obs.index[i] + '\n';
  }
  std::string obs;
  if (!m.obs.columns.empty()) {
    const bool unnamed = m.obs.index_name.empty() || m.obs.index_name == "_index";
    obs = format_tsv(m.obs, unnamed ? std::string("cell_id") : m.obs.index_name, dir);
  }
  const std::string matrix = format_matrix_market(m.X, all_integral(m.X));

  write_atomically(dir, [&](const fs::path& tmp) {
    fs::create_directory(tmp);
    write_gzip((tmp / "matrix.mtx.gz").string(), matrix);
    write_gzip((tmp / "features.tsv.gz").string(), features);
    write_gzip((tmp / "barcodes.tsv.gz").string(), barcodes);
    if (!obs.empty()) write_gzip((tmp / "obs.tsv.gz").string(), obs);
  });
}

}  // namespace pg::io
