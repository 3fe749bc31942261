#include "store/store_writer.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <random>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "store/cell_batch.h"
#include "store/file_sink.h"
#include "store/meta.h"
#include "store/pairing_file.h"
#include "store/shard_buffer.h"
#include "store/token_store.h"

namespace pg::store {

namespace fs = std::filesystem;

namespace {

std::string shard_name(size_t index) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "shard-%05zu.pgts", index);
  return buf;
}

bool is_token_store(const fs::path& dir) {
  try {
    const auto j = read_json_file(dir / "meta.json");
    return j.is_object() && j.value("format", "") == kFormatName;
  } catch (const Error&) {
    return false;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

// A new store may replace an old token store, never an unrelated folder or file.
void check_replaceable(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return;
  if (!fs::is_directory(dir, ec))
    throw Error(dir.string(), "", "exists and is not a directory; refusing to replace it with a token store");
  if (fs::is_empty(dir, ec) || is_token_store(dir)) return;
  throw Error(dir.string(), "", "exists and is not a token store (no meta.json); refusing to replace it");
}

fs::path staging_sibling(const fs::path& target) {
  std::random_device rd;
  fs::path parent = target.parent_path();
  if (parent.empty()) parent = ".";
  return parent /
         ("." + target.filename().string() + ".staging-" + std::to_string(rd()) + std::to_string(rd()));
}

// flock on dir/.writer.lock: two appenders on one store would both pick the
// same next shard names and lose cells.
int lock_store(const fs::path& dir) {
  const auto path = dir / ".writer.lock";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    throw Error(path.string(), "", std::string("cannot create the writer lock: ") + std::strerror(errno));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    throw Error(dir.string(), "", "another writer is appending to this store (locked through .writer.lock)");
  }
  return fd;
}

}  // namespace

struct StoreWriter::Impl {
  fs::path final_dir;
  fs::path work_dir;  // staging sibling (new store) or final_dir (append)
  bool appending = false;
  MetaContents meta;
  std::optional<ShardBuffer> buffer;
  int64_t n_cells = 0;
  int64_t n_flushed = 0;
  size_t next_shard = 0;
  std::optional<PairingTable> pairing;
  std::vector<fs::path> written;  // shards written by this writer (removed when abandoned)
  uint64_t peak = 0;
  int lock_fd = -1;
  bool finished = false;

  ~Impl() {
    if (!finished) {
      std::error_code ec;
      if (appending) {
        for (const auto& p : written) fs::remove(p, ec);
      } else if (!work_dir.empty()) {
        fs::remove_all(work_dir, ec);
      }
    }
    if (lock_fd >= 0) ::close(lock_fd);
  }

  void flush() {
    if (buffer->n_cells() == 0) return;
    peak = std::max(peak, buffer->capacity_bytes());
    while (std::any_of(meta.shards.begin(), meta.shards.end(),
                       [&](const ShardInfo& s) { return s.file == shard_name(next_shard); }))
      ++next_shard;
    const auto path = work_dir / shard_name(next_shard++);
    written.push_back(path);
    meta.shards.push_back(buffer->write(path, n_flushed));
    n_flushed += meta.shards.back().n_cells;
  }

  // In an append, files a crashed earlier append left behind (shards and
  // pairing files meta.json does not list, temporaries) are removed first.
  void remove_orphans() {
    std::set<std::string> listed;
    for (const auto& s : meta.shards) listed.insert(s.file);
    if (meta.pairing) listed.insert(meta.pairing->file);
    for (const auto& e : fs::directory_iterator(final_dir)) {
      const std::string name = e.path().filename().string();
      const bool ours =
          name.ends_with(".tmp") || ((name.rfind("shard-", 0) == 0 || name.rfind("pairing", 0) == 0) &&
                                     (name.ends_with(".pgts") || name.ends_with(".pgtp")));
      if (ours && listed.count(name) == 0) fs::remove(e.path());
    }
  }
};

StoreWriter::StoreWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StoreWriter::StoreWriter(fs::path dir, StoreSchema schema, std::vector<GeneRow> genes)
    : impl_(std::make_unique<Impl>()) {
  const std::string where = dir.string();
  validate_schema(schema, where);
  validate_genes(genes, schema, where);
  if (dir.filename().empty()) dir = dir.parent_path();  // "out/" -> "out"
  check_replaceable(dir);
  const fs::path parent = dir.parent_path().empty() ? fs::path(".") : dir.parent_path();
  if (!fs::is_directory(parent))
    throw Error(where, "", "output directory '" + parent.string() + "' does not exist");
  Impl& m = *impl_;
  m.final_dir = dir;
  m.work_dir = staging_sibling(dir);
  std::error_code ec;
  if (!fs::create_directory(m.work_dir, ec))
    throw Error(m.work_dir.string(), "", "cannot create the staging directory: " + ec.message());
  m.meta.schema = std::move(schema);
  m.buffer.emplace(m.meta.schema);
  write_genes_tsv(m.work_dir / "genes.tsv", genes);
}

StoreWriter StoreWriter::append_to(const fs::path& dir) {
  auto m = std::make_unique<Impl>();
  m->appending = true;
  m->final_dir = dir;
  m->work_dir = dir;
  if (!fs::is_directory(dir))
    throw Error(dir.string(), "", "is not a token store directory; cannot append to it");
  m->lock_fd = lock_store(dir);
  {
    // Opening checks every shard header against meta.json before we extend it.
    const TokenStore existing = TokenStore::open(dir);
    m->meta = meta_from_json(existing.meta(), (dir / "meta.json").string());
  }
  m->n_cells = m->n_flushed = m->meta.n_cells;
  m->next_shard = m->meta.shards.size();
  m->buffer.emplace(m->meta.schema);
  m->remove_orphans();
  return StoreWriter(std::move(m));
}

StoreWriter::~StoreWriter() = default;
StoreWriter::StoreWriter(StoreWriter&&) noexcept = default;
StoreWriter& StoreWriter::operator=(StoreWriter&&) noexcept = default;

void StoreWriter::append(const CellBatch& batch) {
  Impl& m = *impl_;
  if (m.finished)
    throw Error(m.final_dir.string(), "", "append after finish(); the store is already published");
  validate_batch(batch, m.meta.schema, m.final_dir.string(), m.n_cells);
  const auto per_shard = static_cast<size_t>(m.meta.schema.cells_per_shard);
  const auto max_bytes = static_cast<uint64_t>(m.meta.schema.max_shard_bytes);
  const size_t n = batch.size();
  size_t i = 0;
  while (i < n) {
    const size_t end = std::min(n, i + (per_shard - static_cast<size_t>(m.buffer->n_cells())));
    // The byte cap: stop before the cell that would overflow it (a shard
    // always takes at least one cell, however large).
    uint64_t bytes = m.buffer->data_bytes();
    size_t k = i;
    for (; k < end; ++k) {
      const uint64_t cb = m.buffer->cell_bytes(batch, k);
      if (bytes + cb > max_bytes && (m.buffer->n_cells() > 0 || k > i)) break;
      bytes += cb;
    }
    m.buffer->append(batch, i, k);
    m.n_cells += static_cast<int64_t>(k - i);
    i = k;
    m.peak = std::max(m.peak, m.buffer->capacity_bytes());
    if (static_cast<size_t>(m.buffer->n_cells()) == per_shard || k < end) m.flush();
  }
}

void StoreWriter::set_pairing(PairingTable table) {
  Impl& m = *impl_;
  // Everything but the upper bound of the cell indices can be checked now.
  validate_pairing(table, std::numeric_limits<int64_t>::max(), m.final_dir.string());
  m.pairing = std::move(table);
}

void StoreWriter::add_file(const std::string& name, std::string_view content) {
  Impl& m = *impl_;
  if (m.finished)
    throw Error(m.final_dir.string(), "", "add_file after finish(); the store is already published");
  const bool reserved = name == "meta.json" || name == "genes.tsv" || name.rfind("shard-", 0) == 0 ||
                        name.rfind("pairing", 0) == 0 || name.ends_with(".tmp");
  if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos || reserved)
    throw Error(
        m.final_dir.string(), "file '" + name + "'",
        "is not a plain file name the store can hold beside its own files (meta.json, genes.tsv, shard-*, "
        "pairing*, *.tmp, dot files)");
  const auto path = m.work_dir / name;
  auto tmp = path;
  tmp += ".tmp";
  FileSink out(tmp);
  out.write(content.data(), content.size());
  out.finish();
  rename_file(tmp, path);
  std::erase_if(m.meta.files, [&](const AuxFile& f) { return f.file == name; });
  m.meta.files.push_back(AuxFile{name, out.offset(), out.crc().hex()});
}

void StoreWriter::finish(const nlohmann::json& extra) {
  Impl& m = *impl_;
  if (m.finished) throw Error(m.final_dir.string(), "", "finish() called twice");
  const std::string meta_file = (m.final_dir / "meta.json").string();
  merge_extra(m.meta.extra, extra, to_json(m.meta), meta_file);
  m.flush();
  std::optional<std::string> old_pairing;
  if (m.pairing) {
    validate_pairing(*m.pairing, m.n_cells, m.final_dir.string());
    if (m.meta.pairing) old_pairing = m.meta.pairing->file;
    m.meta.pairing = write_pairing_file(m.work_dir, *m.pairing, m.appending);
  }
  m.meta.n_cells = m.n_cells;
  if (m.appending)
    m.meta.updated = creation_stamp();
  else
    m.meta.created = creation_stamp();
  fsync_directory(m.work_dir);  // the shard renames are durable before meta.json names them
  write_json_file(m.work_dir / "meta.json", to_json(m.meta));
  fsync_directory(m.work_dir);
  if (m.appending) {
    if (old_pairing && *old_pairing != m.meta.pairing->file) {
      std::error_code ec;
      fs::remove(m.work_dir / *old_pairing, ec);
    }
  } else {
    check_replaceable(m.final_dir);
    write_atomically(m.final_dir, [&](const fs::path& tmp) { rename_file(m.work_dir, tmp); });
    m.work_dir.clear();
    const fs::path parent = m.final_dir.parent_path().empty() ? fs::path(".") : m.final_dir.parent_path();
    fsync_directory(parent);
  }
  m.finished = true;
  if (m.lock_fd >= 0) {
    ::close(m.lock_fd);
    m.lock_fd = -1;
  }
}

int64_t StoreWriter::n_cells() const {
  return impl_->n_cells;
}

const StoreSchema& StoreWriter::schema() const {
  return impl_->meta.schema;
}

uint64_t StoreWriter::buffer_bytes() const {
  return impl_->buffer->capacity_bytes();
}

uint64_t StoreWriter::peak_buffer_bytes() const {
  return std::max(impl_->peak, impl_->buffer->capacity_bytes());
}

}  // namespace pg::store
