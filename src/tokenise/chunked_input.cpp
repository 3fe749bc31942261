#include "tokenise/chunked_input.h"

#include <algorithm>

#include "core/error.h"
#include "io/formats.h"
#include "io/tabular.h"

namespace pg::tokenise {

namespace {

io::ReadOptions counts_only(const std::string& layer) {
  io::ReadOptions opt;
  opt.load_x = layer.empty();
  opt.layers = layer.empty() ? std::vector<std::string>{} : std::vector<std::string>{layer};
  opt.load_obsm = false;
  opt.load_varm = false;
  opt.load_uns = false;
  return opt;
}

// Moves the requested layer into X so callers see one matrix whatever its source.
void select_matrix(io::CellMatrix& m, const std::string& path, const std::string& layer) {
  if (layer.empty()) {
    if (!m.has_x) throw Error(path, "X", "the file has no X matrix; name the counts layer with --layer");
    return;
  }
  auto it = m.layers.find(layer);
  if (it == m.layers.end()) {
    std::string have;
    for (const auto& [name, _] : m.layers) have += (have.empty() ? "" : ", ") + name;
    throw Error(path, "layers/" + layer,
                "no such layer (the file has: " + (have.empty() ? std::string("none") : have) + ")");
  }
  m.X = std::move(it->second);
  m.layers.clear();
}

void check_columns(const io::DataFrame& obs, const std::string& path, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (obs.find(name)) continue;
    throw Error(path, "obs/" + name, "no such obs column");
  }
}

}  // namespace

ChunkedInput::ChunkedInput(std::string path, std::string layer)
    : path_(std::move(path)), layer_(std::move(layer)) {
  if (io::detect_format(path_) == io::Format::H5ad) {
    n_cells_ = io::h5ad_n_cells(path_);
    io::ReadOptions opt = counts_only(layer_);
    opt.rows = std::pair<int64_t, int64_t>{0, 0};
    opt.obs_columns = std::vector<std::string>{};
    io::CellMatrix head = io::read_h5ad(path_, opt);
    select_matrix(head, path_, layer_);
    var_ = std::move(head.var);
    storage_ = head.X.storage;
    // CSC cannot be read by rows; dense and CSR can.
    if (storage_.layout != "csc") return;
  }
  io::CellMatrix m = io::read_any(path_, counts_only(layer_));
  select_matrix(m, path_, layer_);
  n_cells_ = m.n_cells();
  var_ = m.var;
  storage_ = m.X.storage;
  whole_ = std::move(m);
}

std::string ChunkedInput::matrix_name() const {
  return layer_.empty() ? "X" : "layers/" + layer_;
}

io::CellMatrix ChunkedInput::read(int64_t begin, int64_t end,
                                  const std::vector<std::string>& obs_columns) const {
  io::CellMatrix out;
  if (whole_) {
    check_columns(whole_->obs, path_, obs_columns);
    out.X = io::slice_rows(whole_->X, begin, end);
    out.obs.index_name = whole_->obs.index_name;
    out.obs.index.assign(whole_->obs.index.begin() + begin, whole_->obs.index.begin() + end);
    for (const auto& c : whole_->obs.columns) {
      if (std::find(obs_columns.begin(), obs_columns.end(), c.name) == obs_columns.end()) continue;
      out.obs.columns.push_back(io::slice_column(c, begin, end));
    }
    out.var = var_;
    return out;
  }
  io::ReadOptions opt = counts_only(layer_);
  opt.rows = std::pair<int64_t, int64_t>{begin, end};
  opt.obs_columns = obs_columns;
  out = io::read_h5ad(path_, opt);
  select_matrix(out, path_, layer_);
  check_columns(out.obs, path_, obs_columns);
  return out;
}

std::shared_ptr<const io::CellMatrix> ChunkedInput::read_shared(
    int64_t begin, int64_t end, const std::vector<std::string>& obs_columns) const {
  if (last_.cells && last_.begin == begin && last_.end == end && last_.columns == obs_columns)
    return last_.cells;
  last_ = Cached{};  // release the previous chunk before reading the next
  last_ =
      Cached{begin, end, obs_columns, std::make_shared<const io::CellMatrix>(read(begin, end, obs_columns))};
  return last_.cells;
}

void for_each_chunk(const ChunkedInput& input, int64_t chunk_cells,
                    const std::vector<std::string>& obs_columns,
                    const std::function<void(int64_t, const io::CellMatrix&)>& fn) {
  const int64_t step = std::max<int64_t>(1, chunk_cells);
  for (int64_t begin = 0; begin < input.n_cells(); begin += step) {
    const int64_t end = std::min(input.n_cells(), begin + step);
    fn(begin, *input.read_shared(begin, end, obs_columns));
  }
}

}  // namespace pg::tokenise
