#include "tokenise/cell_encoder.h"

#include <algorithm>
#include <limits>
#include <thread>

namespace pg::tokenise {

namespace {

// Carried float columns (integer columns are carried as categories).
std::vector<double> numeric_values(const io::Column& c) {
  std::vector<double> out(c.size());
  for (size_t i = 0; i < out.size(); ++i)
    out[i] = c.is_missing(i) ? std::numeric_limits<double>::quiet_NaN() : c.floats[i];
  return out;
}

}  // namespace

CellEncoder::CellEncoder(const GenePlan& plan, RankOptions rank, const std::vector<CarriedColumn>& carried,
                         int threads)
    : plan_(plan), rank_(rank), carried_(carried), threads_(std::max(1, threads)) {}

void CellEncoder::encode(const io::CellMatrix& chunk, const ChunkCells& cells, store::CellBatch& out) const {
  out.clear();
  const size_t n = cells.rows.size();
  // Small chunks are not worth a thread; blocks keep the output order fixed.
  const size_t parts = std::min<size_t>(static_cast<size_t>(threads_), std::max<size_t>(1, n / 256));
  if (parts <= 1) {
    encode_range(chunk, cells, 0, n, out);
    return;
  }
  std::vector<store::CellBatch> pieces(parts);
  std::vector<std::exception_ptr> errors(parts);
  std::vector<std::thread> pool;
  for (size_t p = 0; p < parts; ++p) {
    pool.emplace_back([&, p] {
      try {
        encode_range(chunk, cells, n * p / parts, n * (p + 1) / parts, pieces[p]);
      } catch (...) {
        errors[p] = std::current_exception();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  encode_range(chunk, cells, 0, 0, out);  // sets up the empty offsets and obs vectors
  for (const auto& piece : pieces) append_batch(out, piece);
}

void CellEncoder::encode_range(const io::CellMatrix& chunk, const ChunkCells& cells, size_t begin, size_t end,
                               store::CellBatch& out) const {
  const io::CsrMatrix& X = chunk.X;
  out.token_offsets.assign(1, 0);
  out.count_offsets.assign(1, 0);
  out.obs_codes.assign(carried_.size(), {});
  out.obs_values.assign(carried_.size(), {});
  std::vector<std::vector<std::string>> texts(carried_.size());
  std::vector<std::vector<uint8_t>> missing(carried_.size());
  std::vector<std::vector<double>> numbers(carried_.size());
  for (size_t j = 0; j < carried_.size(); ++j) {
    const io::Column& c = *chunk.obs.find(carried_[j].name);
    if (carried_[j].numeric) {
      numbers[j] = numeric_values(c);
    } else {
      texts[j] = column_texts(c);
      missing[j] = column_missing(c);
    }
  }
  RankScratch scratch;
  std::vector<float> library;
  std::vector<std::pair<int32_t, float>> entries;
  std::vector<int32_t> tokens;
  std::vector<float> values;
  for (size_t i = begin; i < end; ++i) {
    const auto row = static_cast<size_t>(cells.rows[i]);
    library.clear();
    entries.clear();
    bool sorted = true;
    for (auto k = X.indptr[row]; k < X.indptr[row + 1]; ++k) {
      const auto col = static_cast<size_t>(X.indices[static_cast<size_t>(k)]);
      const float v = X.data[static_cast<size_t>(k)];
      if (v == 0 || !plan_.in_library[col]) continue;
      library.push_back(v);
      const int32_t slot = plan_.slot_of_column[col];
      if (slot < 0) continue;
      sorted = sorted && (entries.empty() || entries.back().first < slot);
      entries.emplace_back(slot, v);
    }
    if (!sorted) {
      // Unsorted columns or several IDs collapsing to one gene: sum per slot.
      std::stable_sort(entries.begin(), entries.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      size_t w = 0;
      for (size_t r = 0; r < entries.size(); ++r) {
        if (w > 0 && entries[w - 1].first == entries[r].first) {
          entries[w - 1].second += entries[r].second;
        } else {
          entries[w++] = entries[r];
        }
      }
      entries.resize(w);
    }
    tokens.clear();
    values.clear();
    for (const auto& [slot, v] : entries) {
      tokens.push_back(plan_.token_of_slot[static_cast<size_t>(slot)]);
      values.push_back(v);
      out.count_genes.push_back(static_cast<uint32_t>(slot));
      out.count_values.push_back(v);
    }
    out.count_offsets.push_back(out.count_genes.size());
    const float n_counts = numpy_sum(std::span<const float>(library));
    if (!values.empty()) {
      rank_encode<float>(tokens, values, n_counts, plan_.median_of_token, rank_, scratch, out.tokens);
    } else if (rank_.special_tokens) {
      out.tokens.push_back(static_cast<uint32_t>(2));
      out.tokens.push_back(static_cast<uint32_t>(3));
    }
    out.token_offsets.push_back(out.tokens.size());
    out.library_size.push_back(n_counts);
    out.state.push_back(cells.states[i]);
    out.cell_ids.push_back(chunk.obs.index[row]);
    for (size_t j = 0; j < carried_.size(); ++j) {
      if (carried_[j].numeric) {
        out.obs_values[j].push_back(numbers[j][row]);
      } else {
        out.obs_codes[j].push_back(missing[j][row] ? -1 : carried_[j].codes.find(texts[j][row]));
      }
    }
  }
}

void append_batch(store::CellBatch& dst, const store::CellBatch& src) {
  const uint64_t token_base = dst.tokens.size();
  const uint64_t count_base = dst.count_genes.size();
  dst.tokens.insert(dst.tokens.end(), src.tokens.begin(), src.tokens.end());
  for (size_t i = 1; i < src.token_offsets.size(); ++i)
    dst.token_offsets.push_back(token_base + src.token_offsets[i]);
  dst.count_genes.insert(dst.count_genes.end(), src.count_genes.begin(), src.count_genes.end());
  dst.count_values.insert(dst.count_values.end(), src.count_values.begin(), src.count_values.end());
  for (size_t i = 1; i < src.count_offsets.size(); ++i)
    dst.count_offsets.push_back(count_base + src.count_offsets[i]);
  dst.library_size.insert(dst.library_size.end(), src.library_size.begin(), src.library_size.end());
  dst.state.insert(dst.state.end(), src.state.begin(), src.state.end());
  for (size_t j = 0; j < src.obs_codes.size(); ++j) {
    dst.obs_codes[j].insert(dst.obs_codes[j].end(), src.obs_codes[j].begin(), src.obs_codes[j].end());
    dst.obs_values[j].insert(dst.obs_values[j].end(), src.obs_values[j].begin(), src.obs_values[j].end());
  }
  dst.cell_ids.insert(dst.cell_ids.end(), src.cell_ids.begin(), src.cell_ids.end());
}

}  // namespace pg::tokenise
