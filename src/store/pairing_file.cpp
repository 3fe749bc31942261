#include "store/pairing_file.h"

#include <cstring>

#include "core/error.h"
#include "store/file_sink.h"
#include "store/shard_format.h"

namespace pg::store {

void validate_pairing(const PairingTable& t, int64_t n_cells, const std::string& store) {
  if (t.columns.empty()) throw Error(store, "pairing.columns", "must name at least the source column");
  if (t.n_rows < 0) throw Error(store, "pairing.n_rows", "is negative: " + std::to_string(t.n_rows));
  const auto expected = static_cast<uint64_t>(t.n_rows) * t.columns.size();
  if (t.cells.size() != expected)
    throw Error(store, "pairing.cells",
                "has " + std::to_string(t.cells.size()) + " entries, expected n_rows x columns = " +
                    std::to_string(t.n_rows) + " x " + std::to_string(t.columns.size()));
  for (size_t k = 0; k < t.cells.size(); ++k) {
    const int64_t c = t.cells[k];
    if (c < -1 || c >= n_cells)
      throw Error(store,
                  "pairing row " + std::to_string(k / t.columns.size()) + " column '" +
                      t.columns[k % t.columns.size()] + "'",
                  "cell " + std::to_string(c) + " is outside [-1, " + std::to_string(n_cells) +
                      ") (the store has " + std::to_string(n_cells) + " cells)");
  }
}

PairingFileInfo write_pairing_file(const std::filesystem::path& dir, const PairingTable& t,
                                   bool content_named) {
  PairingHeader h{};
  std::memcpy(h.magic, kPairingMagic, sizeof h.magic);
  h.version = kPairingVersion;
  h.endian = kEndianMarker;
  h.n_rows = static_cast<uint64_t>(t.n_rows);
  h.n_columns = t.columns.size();
  h.data_offset = sizeof(PairingHeader);
  const auto tmp = dir / (std::string(kPairingFileName) + ".tmp");
  FileSink out(tmp);
  try {
    out.write(&h, sizeof h);
    out.write(t.cells.data(), t.cells.size() * sizeof(int64_t));
    out.finish();
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
  const std::string name = content_named ? "pairing-" + out.crc().hex() + ".pgtp" : kPairingFileName;
  rename_file(tmp, dir / name);
  return PairingFileInfo{name, t.columns, t.n_rows, out.offset(), out.crc().hex()};
}

const int64_t* check_pairing_file(const std::byte* data, size_t size, const PairingFileInfo& info,
                                  const std::string& file) {
  if (size < sizeof(PairingHeader))
    throw Error(file, "header",
                "file has " + std::to_string(size) + " bytes, shorter than the 64-byte header");
  PairingHeader h{};
  std::memcpy(&h, data, sizeof h);
  if (std::memcmp(h.magic, kPairingMagic, sizeof h.magic) != 0)
    throw Error(file, "header.magic", "is not 'PGTPAIRS' (not a perturbgen pairing file)");
  if (h.endian != kEndianMarker)
    throw Error(file, "header.endian",
                "byte-order marker does not match this machine (the format is little-endian)");
  if (h.version != kPairingVersion)
    throw Error(file, "header.version",
                "is " + std::to_string(h.version) + ", this perturbgen reads version " +
                    std::to_string(kPairingVersion));
  if (h.n_rows != static_cast<uint64_t>(info.n_rows) || h.n_columns != info.columns.size())
    throw Error(file, "header",
                "says " + std::to_string(h.n_rows) + " rows x " + std::to_string(h.n_columns) +
                    " columns but meta.json says " + std::to_string(info.n_rows) + " x " +
                    std::to_string(info.columns.size()));
  if (h.n_columns == 0 || h.n_rows > size / sizeof(int64_t) / h.n_columns)
    throw Error(file, "header",
                "claims " + std::to_string(h.n_rows) + " rows x " + std::to_string(h.n_columns) +
                    " columns, more than a file of " + std::to_string(size) + " bytes holds");
  if (h.data_offset != sizeof(PairingHeader))
    throw Error(file, "header.data_offset", "is " + std::to_string(h.data_offset) + ", expected 64");
  const uint64_t expected = sizeof(PairingHeader) + h.n_rows * h.n_columns * sizeof(int64_t);
  if (size != expected || size != info.bytes)
    throw Error(file, "",
                "has " + std::to_string(size) + " bytes, expected " + std::to_string(expected) +
                    " (meta.json says " + std::to_string(info.bytes) + "; truncated or overwritten?)");
  return reinterpret_cast<const int64_t*>(data + sizeof(PairingHeader));
}

}  // namespace pg::store
