#include "store/shard_buffer.h"

#include <cstring>

#include "core/error.h"
#include "store/file_sink.h"

namespace pg::store {

namespace {

template <typename Narrow, typename Wide>
void append_narrowed(std::vector<unsigned char>& section, const Wide* src, size_t n) {
  if (n == 0) return;  // src may be the null data() of an empty vector
  const size_t at = section.size();
  section.resize(at + n * sizeof(Narrow));
  auto* dst = section.data() + at;
  if constexpr (sizeof(Narrow) == sizeof(Wide)) {
    std::memcpy(dst, src, n * sizeof(Wide));
  } else {
    for (size_t k = 0; k < n; ++k) {
      const auto v = static_cast<Narrow>(src[k]);
      std::memcpy(dst + k * sizeof(Narrow), &v, sizeof(Narrow));
    }
  }
}

}  // namespace

ShardBuffer::ShardBuffer(const StoreSchema& schema) : widths_(ShardWidths::of(schema)) {
  for (const auto& c : schema.obs) obs_kinds_.push_back(c.kind);
  sections_.resize(kFirstObsSection + obs_kinds_.size());
  // Each shard's offset arrays start with 0 (offsets are shard-local).
  push<uint64_t>(sections_[kTokenOffsets], 0);
  push<uint64_t>(sections_[kCountIndptr], 0);
  push<uint64_t>(sections_[kCellIdOffsets], 0);
}

uint64_t ShardBuffer::cell_bytes(const CellBatch& b, size_t i) const {
  const uint64_t n_tok = b.token_offsets[i + 1] - b.token_offsets[i];
  const uint64_t n_cnt = b.count_offsets[i + 1] - b.count_offsets[i];
  uint64_t bytes = n_tok * static_cast<uint64_t>(widths_.token) +
                   n_cnt * static_cast<uint64_t>(widths_.gene_index + 4) + b.cell_ids[i].size() + 3 * 8 + 8 +
                   static_cast<uint64_t>(widths_.state);
  for (auto k : obs_kinds_) bytes += k == ObsColumnSpec::Kind::Categorical ? 4 : 8;
  return bytes;
}

void ShardBuffer::append(const CellBatch& b, size_t begin, size_t end) {
  if (begin >= end) return;
  const uint64_t t0 = b.token_offsets[begin], t1 = b.token_offsets[end];
  const uint64_t c0 = b.count_offsets[begin], c1 = b.count_offsets[end];
  for (size_t i = begin; i < end; ++i) {
    push<uint64_t>(sections_[kTokenOffsets], n_tokens_ + (b.token_offsets[i + 1] - t0));
    push<uint64_t>(sections_[kCountIndptr], n_counts_ + (b.count_offsets[i + 1] - c0));
  }
  if (widths_.token == 2)
    append_narrowed<uint16_t>(sections_[kTokens], b.tokens.data() + t0, t1 - t0);
  else
    append_narrowed<uint32_t>(sections_[kTokens], b.tokens.data() + t0, t1 - t0);
  if (widths_.gene_index == 2)
    append_narrowed<uint16_t>(sections_[kCountGenes], b.count_genes.data() + c0, c1 - c0);
  else
    append_narrowed<uint32_t>(sections_[kCountGenes], b.count_genes.data() + c0, c1 - c0);
  append_narrowed<float>(sections_[kCountValues], b.count_values.data() + c0, c1 - c0);
  append_narrowed<double>(sections_[kLibrarySize], b.library_size.data() + begin, end - begin);
  if (widths_.state == 2)
    append_narrowed<int16_t>(sections_[kState], b.state.data() + begin, end - begin);
  else
    append_narrowed<int32_t>(sections_[kState], b.state.data() + begin, end - begin);
  for (size_t i = begin; i < end; ++i) {
    const auto& id = b.cell_ids[i];
    auto& bytes = sections_[kCellIdBytes];
    bytes.insert(bytes.end(), id.begin(), id.end());
    n_id_bytes_ += id.size();
    push<uint64_t>(sections_[kCellIdOffsets], n_id_bytes_);
  }
  for (size_t j = 0; j < obs_kinds_.size(); ++j) {
    auto& sec = sections_[kFirstObsSection + j];
    if (obs_kinds_[j] == ObsColumnSpec::Kind::Categorical)
      append_narrowed<int32_t>(sec, b.obs_codes[j].data() + begin, end - begin);
    else
      append_narrowed<double>(sec, b.obs_values[j].data() + begin, end - begin);
  }
  n_tokens_ += t1 - t0;
  n_counts_ += c1 - c0;
  n_cells_ += static_cast<int64_t>(end - begin);
}

uint64_t ShardBuffer::data_bytes() const {
  uint64_t s = 0;
  for (const auto& sec : sections_) s += sec.size();
  return s;
}

uint64_t ShardBuffer::capacity_bytes() const {
  uint64_t s = 0;
  for (const auto& sec : sections_) s += sec.capacity();
  return s;
}

ShardInfo ShardBuffer::write(const std::filesystem::path& path, int64_t first_cell) {
  ShardHeader h{};
  std::memcpy(h.magic, kShardMagic, sizeof h.magic);
  h.version = kShardVersion;
  h.endian = kEndianMarker;
  h.n_cells = static_cast<uint64_t>(n_cells_);
  h.first_cell = static_cast<uint64_t>(first_cell);
  h.n_tokens = n_tokens_;
  h.n_count_values = n_counts_;
  h.n_cell_id_bytes = n_id_bytes_;
  h.n_sections = static_cast<uint32_t>(sections_.size());
  h.token_width = static_cast<uint8_t>(widths_.token);
  h.gene_index_width = static_cast<uint8_t>(widths_.gene_index);
  h.state_width = static_cast<uint8_t>(widths_.state);

  const auto sizes = expected_section_sizes(h, obs_kinds_);
  std::vector<SectionEntry> table(sections_.size());
  uint64_t at = align_up(sizeof(ShardHeader) + sizeof(SectionEntry) * table.size(), kSectionAlignment);
  for (size_t s = 0; s < sections_.size(); ++s) {
    if (sections_[s].size() != sizes[s])  // a bug in this file, not a user error
      throw Error(path.string(), std::string("section ") + section_name(s),
                  "internal error: buffered " + std::to_string(sections_[s].size()) +
                      " bytes, layout expects " + std::to_string(sizes[s]));
    table[s] = {at, sizes[s]};
    at = align_up(at + sizes[s], kSectionAlignment);
  }

  std::filesystem::path tmp = path;
  tmp += ".tmp";
  FileSink out(tmp);
  try {
    out.write(&h, sizeof h);
    out.write(table.data(), sizeof(SectionEntry) * table.size());
    for (size_t s = 0; s < sections_.size(); ++s) {
      out.pad_to(kSectionAlignment);
      out.write(sections_[s].data(), sections_[s].size());
    }
    out.pad_to(kSectionAlignment);
    out.finish();
    rename_file(tmp, path);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }

  ShardInfo info{path.filename().string(), first_cell, n_cells_, out.offset(), out.crc().hex()};
  for (auto& sec : sections_) sec.clear();
  n_cells_ = 0;
  n_tokens_ = n_counts_ = n_id_bytes_ = 0;
  push<uint64_t>(sections_[kTokenOffsets], 0);
  push<uint64_t>(sections_[kCountIndptr], 0);
  push<uint64_t>(sections_[kCellIdOffsets], 0);
  return info;
}

}  // namespace pg::store
