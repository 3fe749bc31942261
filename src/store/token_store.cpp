#include "store/token_store.h"

#include <algorithm>
#include <fstream>
#include <mutex>

#include "core/atomic_file.h"
#include "core/error.h"
#include "store/cell_batch.h"
#include "store/crc32.h"
#include "store/pairing_file.h"

namespace pg::store {

namespace fs = std::filesystem;

struct TokenStore::Lazy {
  std::once_flag pairing_once;
  PairingTable pairing;
};

int64_t PairingView::at(int64_t row, size_t column) const {
  if (row < 0 || row >= n_rows || column >= columns->size())
    throw Error(file, "pairing",
                "row " + std::to_string(row) + " column " + std::to_string(column) + " is outside the " +
                    std::to_string(n_rows) + " x " + std::to_string(columns->size()) + " table");
  const int64_t c = cells[static_cast<size_t>(row) * columns->size() + column];
  if (c < -1 || c >= n_cells)
    throw Error(file, "row " + std::to_string(row) + " column '" + (*columns)[column] + "'",
                "cell " + std::to_string(c) + " is outside [-1, " + std::to_string(n_cells) + ") (corrupt)");
  return c;
}

TokenStore TokenStore::open(const fs::path& dir) {
  TokenStore s;
  s.dir_ = dir;
  const auto meta_path = dir / "meta.json";
  const std::string meta_file = meta_path.string();
  if (!fs::is_directory(dir)) throw Error(dir.string(), "", "is not a directory (expected a token store)");
  s.meta_ = read_json_file(meta_path);
  s.contents_ = meta_from_json(s.meta_, meta_file);
  validate_schema(s.contents_.schema, meta_file);
  s.n_cells_ = s.contents_.n_cells;
  if (s.n_cells_ < 0) throw Error(meta_file, "n_cells", "is negative: " + std::to_string(s.n_cells_));

  // Shards must tile [0, n_cells) in order: that is what makes the binary search valid.
  int64_t next = 0;
  for (size_t k = 0; k < s.contents_.shards.size(); ++k) {
    const auto& sh = s.contents_.shards[k];
    const std::string el = "shards[" + std::to_string(k) + "]";
    if (sh.first_cell != next)
      throw Error(meta_file, el + ".first_cell",
                  "is " + std::to_string(sh.first_cell) + ", expected " + std::to_string(next) +
                      " (shards must follow each other without gaps)");
    if (sh.n_cells <= 0)
      throw Error(meta_file, el + ".n_cells", "must be positive, got " + std::to_string(sh.n_cells));
    next += sh.n_cells;
  }
  if (next != s.n_cells_)
    throw Error(
        meta_file, "n_cells",
        "is " + std::to_string(s.n_cells_) + " but the shards hold " + std::to_string(next) + " cells");

  s.genes_ = read_genes_tsv(dir / "genes.tsv", s.contents_.schema.n_count_genes);
  s.shards_.reserve(s.contents_.shards.size());
  for (const auto& sh : s.contents_.shards) {
    s.shards_.push_back(ShardView::open(dir, sh, s.contents_.schema));
    s.first_cells_.push_back(sh.first_cell);
  }
  if (s.contents_.pairing) {
    const auto path = dir / s.contents_.pairing->file;
    s.pairing_file_ = MappedFile(path);
    s.pairing_file_.advise_random();
    s.pairing_cells_ = check_pairing_file(s.pairing_file_.data(), s.pairing_file_.size(),
                                          *s.contents_.pairing, path.string());
  }
  s.lazy_ = std::make_shared<Lazy>();
  return s;
}

int TokenStore::token_width() const {
  return pg::store::token_width(contents_.schema.vocab_size);
}

std::pair<const ShardView*, int64_t> TokenStore::locate(int64_t cell) const {
  if (cell < 0 || cell >= n_cells_)
    throw Error(dir_.string(), "cell " + std::to_string(cell),
                "is outside the store's " + std::to_string(n_cells_) + " cells");
  const auto it = std::upper_bound(first_cells_.begin(), first_cells_.end(), cell);
  const auto k = static_cast<size_t>(it - first_cells_.begin()) - 1;
  return {&shards_[k], cell - first_cells_[k]};
}

TokenSpan TokenStore::token_span(int64_t cell) const {
  const auto [shard, j] = locate(cell);
  const auto [b, e] = shard->token_range(j);
  const int w = shard->header().token_width;
  return TokenSpan{shard->tokens() + b * static_cast<uint64_t>(w), static_cast<size_t>(e - b), w};
}

void TokenStore::tokens(int64_t cell, std::vector<uint32_t>& out) const {
  const auto [shard, j] = locate(cell);
  const auto [b, e] = shard->token_range(j);
  const auto n = static_cast<size_t>(e - b);
  out.resize(n);
  uint32_t max_token = 0;
  if (shard->header().token_width == 2) {
    const auto* src = reinterpret_cast<const uint16_t*>(shard->tokens()) + b;
    for (size_t k = 0; k < n; ++k) {
      out[k] = src[k];
      max_token = std::max(max_token, out[k]);
    }
  } else {
    const auto* src = reinterpret_cast<const uint32_t*>(shard->tokens()) + b;
    std::copy(src, src + n, out.begin());
    for (size_t k = 0; k < n; ++k) max_token = std::max(max_token, src[k]);
  }
  // A flipped bit must not become an out-of-range embedding index downstream.
  if (n > 0 && max_token >= static_cast<uint64_t>(contents_.schema.vocab_size))
    shard->corrupt(j, "tokens",
                   "token " + std::to_string(max_token) + " is outside the vocabulary (size " +
                       std::to_string(contents_.schema.vocab_size) + ")");
}

int64_t TokenStore::length(int64_t cell) const {
  const auto [shard, j] = locate(cell);
  const auto [b, e] = shard->token_range(j);
  return static_cast<int64_t>(e - b);
}

void TokenStore::counts(int64_t cell, std::vector<uint32_t>& genes, std::vector<float>& values) const {
  const auto [shard, j] = locate(cell);
  const auto [b, e] = shard->count_range(j);
  const auto n = static_cast<size_t>(e - b);
  genes.resize(n);
  values.assign(shard->count_values() + b, shard->count_values() + e);
  uint32_t max_gene = 0;
  if (shard->header().gene_index_width == 2) {
    const auto* src = reinterpret_cast<const uint16_t*>(shard->count_genes()) + b;
    for (size_t k = 0; k < n; ++k) genes[k] = src[k];
  } else {
    const auto* src = reinterpret_cast<const uint32_t*>(shard->count_genes()) + b;
    std::copy(src, src + n, genes.begin());
  }
  for (size_t k = 0; k < n; ++k) max_gene = std::max(max_gene, genes[k]);
  if (n > 0 && max_gene >= static_cast<uint64_t>(contents_.schema.n_count_genes))
    shard->corrupt(j, "count_genes",
                   "gene index " + std::to_string(max_gene) + " is outside genes.tsv (" +
                       std::to_string(contents_.schema.n_count_genes) + " rows)");
}

double TokenStore::library_size(int64_t cell) const {
  const auto [shard, j] = locate(cell);
  return shard->library_size(j);
}

int32_t TokenStore::state(int64_t cell) const {
  const auto [shard, j] = locate(cell);
  const int32_t st = shard->state(j);
  if (st < -1 || st >= static_cast<int64_t>(contents_.schema.states.size()))
    shard->corrupt(j, "state",
                   "code " + std::to_string(st) + " is outside [-1, " +
                       std::to_string(contents_.schema.states.size()) + ")");
  return st;
}

std::string_view TokenStore::cell_id(int64_t cell) const {
  const auto [shard, j] = locate(cell);
  return shard->cell_id(j);
}

const ObsColumnSpec& TokenStore::obs_spec(size_t column, ObsColumnSpec::Kind kind) const {
  const auto& obs = contents_.schema.obs;
  if (column >= obs.size())
    throw Error(dir_.string(), "obs column " + std::to_string(column),
                "is outside the store's " + std::to_string(obs.size()) + " obs columns");
  if (obs[column].kind != kind)
    throw Error(dir_.string(), "obs column '" + obs[column].name + "'",
                kind == ObsColumnSpec::Kind::Categorical ? "is a float column; read it with obs_value"
                                                         : "is categorical; read it with obs_code");
  return obs[column];
}

int32_t TokenStore::obs_code(int64_t cell, size_t column) const {
  const auto& spec = obs_spec(column, ObsColumnSpec::Kind::Categorical);
  const auto [shard, j] = locate(cell);
  const int32_t code = shard->obs_code(j, column);
  if (code < -1 || code >= static_cast<int64_t>(spec.categories.size()))
    shard->corrupt(
        j, "obs '" + spec.name + "'",
        "code " + std::to_string(code) + " is outside [-1, " + std::to_string(spec.categories.size()) + ")");
  return code;
}

double TokenStore::obs_value(int64_t cell, size_t column) const {
  obs_spec(column, ObsColumnSpec::Kind::Float);
  const auto [shard, j] = locate(cell);
  return shard->obs_value(j, column);
}

size_t TokenStore::obs_column(const std::string& name) const {
  const auto& obs = contents_.schema.obs;
  std::string names;
  for (size_t j = 0; j < obs.size(); ++j) {
    if (obs[j].name == name) return j;
    names += (j ? ", " : "") + obs[j].name;
  }
  throw Error((dir_ / "meta.json").string(), "obs", "has no column '" + name + "' (columns: " + names + ")");
}

PairingView TokenStore::pairing_view() const {
  if (!contents_.pairing)
    throw Error((dir_ / "meta.json").string(), "pairing_table", "the store has no pairing table");
  return PairingView{&contents_.pairing->columns, contents_.pairing->n_rows, pairing_cells_, n_cells_,
                     (dir_ / contents_.pairing->file).string()};
}

const PairingTable& TokenStore::pairing() const {
  const PairingView view = pairing_view();
  std::call_once(lazy_->pairing_once, [&] {
    PairingTable t;
    t.columns = *view.columns;
    t.n_rows = view.n_rows;
    t.cells.assign(view.cells, view.cells + static_cast<size_t>(view.n_rows) * view.columns->size());
    validate_pairing(t, n_cells_, view.file);
    lazy_->pairing = std::move(t);
  });
  return lazy_->pairing;
}

void TokenStore::check_vocabulary(const std::string& expected_hash, const std::string& who) const {
  const auto& s = contents_.schema;
  if (s.vocabulary_hash == expected_hash) return;
  throw Error((dir_ / "meta.json").string(), "vocabulary",
              "the store was tokenised with vocabulary '" + s.vocabulary_name + "' (hash " +
                  s.vocabulary_hash + "), but " + who + " expects hash " + expected_hash);
}

void TokenStore::verify() const {
  for (size_t k = 0; k < shards_.size(); ++k) shards_[k].verify(contents_.shards[k].crc32);
  if (contents_.pairing) {
    Crc32 crc;
    crc.update(pairing_file_.data(), pairing_file_.size());
    if (crc.hex() != contents_.pairing->crc32)
      throw Error(
          pairing_file_.path().string(), "",
          "CRC-32 is " + crc.hex() + " but meta.json records " + contents_.pairing->crc32 + " (corrupt)");
    pairing();  // range-checks every cell index
  }
  for (const auto& f : contents_.files) {
    const MappedFile file(dir_ / f.file);
    Crc32 crc;
    crc.update(file.data(), file.size());
    if (file.size() != f.bytes || crc.hex() != f.crc32)
      throw Error(file.path().string(), "",
                  "has " + std::to_string(file.size()) + " bytes with CRC-32 " + crc.hex() +
                      " but meta.json records " + std::to_string(f.bytes) + " bytes with " + f.crc32);
  }
}

namespace {

std::string escaped(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\t')
      out += "\\t";
    else if (c == '\n')
      out += "\\n";
    else if (c == '\r')
      out += "\\r";
    else if (c == '\\')
      out += "\\\\";
    else
      out += c;
  }
  return out;
}

}  // namespace

void export_pairing_tsv(const TokenStore& store, const fs::path& out) {
  const PairingView p = store.pairing_view();
  write_atomically(out, [&](const fs::path& tmp) {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw Error(tmp.string(), "", "cannot create");
    f << "pair";
    for (const auto& c : *p.columns) f << '\t' << escaped(c) << '\t' << escaped(c) << "_index";
    f << '\n';
    for (int64_t r = 0; r < p.n_rows; ++r) {
      f << r;
      for (size_t c = 0; c < p.columns->size(); ++c) {
        const int64_t cell = p.at(r, c);
        f << '\t' << (cell < 0 ? std::string("NA") : escaped(store.cell_id(cell))) << '\t' << cell;
      }
      f << '\n';
    }
    f.flush();
    if (!f) throw Error(out.string(), "", "cannot write the pairing TSV (disk full?)");
  });
}

}  // namespace pg::store
