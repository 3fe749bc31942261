#include "store/shard_format.h"

namespace pg::store {

const char* section_name(size_t section) {
  switch (section) {
    case kTokenOffsets:
      return "token_offsets";
    case kTokens:
      return "tokens";
    case kCountIndptr:
      return "count_indptr";
    case kCountGenes:
      return "count_genes";
    case kCountValues:
      return "count_values";
    case kLibrarySize:
      return "library_size";
    case kState:
      return "state";
    case kCellIdOffsets:
      return "cell_id_offsets";
    case kCellIdBytes:
      return "cell_id_bytes";
    default:
      return "obs";
  }
}

std::vector<uint64_t> expected_section_sizes(const ShardHeader& h,
                                             const std::vector<ObsColumnSpec::Kind>& obs_kinds) {
  const uint64_t n = h.n_cells;
  std::vector<uint64_t> s(kFirstObsSection + obs_kinds.size());
  s[kTokenOffsets] = (n + 1) * 8;
  s[kTokens] = h.n_tokens * h.token_width;
  s[kCountIndptr] = (n + 1) * 8;
  s[kCountGenes] = h.n_count_values * h.gene_index_width;
  s[kCountValues] = h.n_count_values * 4;
  s[kLibrarySize] = n * 8;
  s[kState] = n * h.state_width;
  s[kCellIdOffsets] = (n + 1) * 8;
  s[kCellIdBytes] = h.n_cell_id_bytes;
  for (size_t j = 0; j < obs_kinds.size(); ++j)
    s[kFirstObsSection + j] = n * (obs_kinds[j] == ObsColumnSpec::Kind::Categorical ? 4 : 8);
  return s;
}

}  // namespace pg::store
