#include "store/shard_view.h"

#include <cstring>

#include "core/error.h"
#include "store/crc32.h"

namespace pg::store {

namespace {

std::string num(uint64_t v) {
  return std::to_string(v);
}

}  // namespace

ShardView ShardView::open(const std::filesystem::path& dir, const ShardInfo& info,
                          const StoreSchema& schema) {
  ShardView v;
  const auto path = dir / info.file;
  if (!std::filesystem::exists(path))
    throw Error(path.string(), "", "is listed in meta.json but missing from the store");
  v.file_ = MappedFile(path);
  // Before the first touch: without read-ahead, reading the header faults in
  // one page, not the 128 KiB around it, so opening reads no shard data.
  v.file_.advise_random();
  const std::string file = path.string();
  const uint64_t size = v.file_.size();
  if (size != info.bytes)
    throw Error(
        file, "",
        "has " + num(size) + " bytes but meta.json says " + num(info.bytes) + " (truncated or replaced?)");
  if (size < sizeof(ShardHeader))
    throw Error(file, "header", "file has " + num(size) + " bytes, shorter than the 64-byte header");
  ShardHeader& h = v.header_;
  std::memcpy(&h, v.file_.data(), sizeof h);
  if (std::memcmp(h.magic, kShardMagic, sizeof h.magic) != 0)
    throw Error(file, "header.magic", "is not 'PGTSHARD' (not a perturbgen token-store shard)");
  if (h.endian != kEndianMarker)
    throw Error(file, "header.endian",
                "byte-order marker does not match this machine (the format is little-endian)");
  if (h.version != kShardVersion)
    throw Error(file, "header.version",
                "is " + num(h.version) + ", this perturbgen reads shard version " + num(kShardVersion));
  if (h.n_cells != static_cast<uint64_t>(info.n_cells))
    throw Error(file, "header.n_cells", "is " + num(h.n_cells) + " but meta.json says " + num(info.n_cells));
  if (h.first_cell != static_cast<uint64_t>(info.first_cell))
    throw Error(file, "header.first_cell",
                "is " + num(h.first_cell) + " but meta.json says " + num(info.first_cell));
  const ShardWidths w = ShardWidths::of(schema);
  if (h.token_width != w.token || h.gene_index_width != w.gene_index || h.state_width != w.state)
    throw Error(file, "header widths",
                "token/gene/state widths are " + num(h.token_width) + "/" + num(h.gene_index_width) + "/" +
                    num(h.state_width) + " bytes but meta.json implies " + num(w.token) + "/" +
                    num(w.gene_index) + "/" + num(w.state));
  std::vector<ObsColumnSpec::Kind> kinds;
  for (const auto& c : schema.obs) kinds.push_back(c.kind);
  if (h.n_sections != kFirstObsSection + kinds.size())
    throw Error(file, "header.n_sections",
                "is " + num(h.n_sections) + ", expected " + num(kFirstObsSection + kinds.size()) + " (9 + " +
                    num(kinds.size()) + " obs columns in meta.json)");
  // Counts larger than the file cannot be right, and would overflow the size arithmetic below.
  if (h.n_cells > size / 8 || h.n_tokens > size || h.n_count_values > size || h.n_cell_id_bytes > size)
    throw Error(file, "header",
                "cell/token/value counts exceed what a file of " + num(size) + " bytes can hold");
  const uint64_t table_end = sizeof(ShardHeader) + sizeof(SectionEntry) * h.n_sections;
  if (size < table_end)
    throw Error(file, "section table",
                "ends at byte " + num(table_end) + ", beyond the file size " + num(size));
  std::vector<SectionEntry> table(h.n_sections);
  std::memcpy(table.data(), v.file_.data() + sizeof(ShardHeader), sizeof(SectionEntry) * table.size());
  const auto sizes = expected_section_sizes(h, kinds);
  v.sections_.resize(table.size());
  for (size_t s = 0; s < table.size(); ++s) {
    const std::string el = std::string("section ") + section_name(s) +
                           (s >= kFirstObsSection ? " '" + schema.obs[s - kFirstObsSection].name + "'" : "");
    const auto& e = table[s];
    if (e.size != sizes[s])
      throw Error(file, el,
                  "has " + num(e.size) + " bytes, expected " + num(sizes[s]) + " from the header's counts");
    if (e.offset % kSectionAlignment != 0 || e.offset < table_end)
      throw Error(file, el,
                  "starts at byte " + num(e.offset) + ", not a 64-byte boundary after the section table");
    if (e.offset > size || e.size > size - e.offset)
      throw Error(
          file, el,
          "ends at byte " + num(e.offset + e.size) + ", beyond the file size " + num(size) + " (truncated?)");
    v.sections_[s] = v.file_.data() + e.offset;
  }
  return v;
}

void ShardView::corrupt(int64_t j, const std::string& element, const std::string& problem) const {
  throw Error(file_.path().string(), element + " of cell " + std::to_string(first_cell() + j),
              problem + " (the shard is corrupt)");
}

std::pair<uint64_t, uint64_t> ShardView::range(size_t section, int64_t j, uint64_t limit,
                                               const char* what) const {
  const auto* off = reinterpret_cast<const uint64_t*>(sections_[section]);
  const uint64_t b = off[j], e = off[j + 1];
  if (b > e || e > limit || (j == 0 && b != 0))
    corrupt(
        j, what,
        "offsets " + num(b) + ".." + num(e) + " are not an increasing range inside [0, " + num(limit) + "]");
  return {b, e};
}

std::pair<uint64_t, uint64_t> ShardView::token_range(int64_t j) const {
  return range(kTokenOffsets, j, header_.n_tokens, "token_offsets");
}

std::pair<uint64_t, uint64_t> ShardView::count_range(int64_t j) const {
  return range(kCountIndptr, j, header_.n_count_values, "count_indptr");
}

int32_t ShardView::state(int64_t j) const {
  if (header_.state_width == 2) return reinterpret_cast<const int16_t*>(sections_[kState])[j];
  return reinterpret_cast<const int32_t*>(sections_[kState])[j];
}

std::string_view ShardView::cell_id(int64_t j) const {
  const auto [b, e] = range(kCellIdOffsets, j, header_.n_cell_id_bytes, "cell_id_offsets");
  return {reinterpret_cast<const char*>(sections_[kCellIdBytes]) + b, static_cast<size_t>(e - b)};
}

void ShardView::verify(const std::string& expected_crc32) const {
  file_.advise_sequential();
  Crc32 crc;
  crc.update(file_.data(), file_.size());
  file_.advise_random();
  if (crc.hex() != expected_crc32)
    throw Error(
        file_.path().string(), "",
        "CRC-32 is " + crc.hex() + " but meta.json records " + expected_crc32 + " (the shard is corrupt)");
}

}  // namespace pg::store
