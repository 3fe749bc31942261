#include "train/embedding_cache.h"

#include <algorithm>
#include <numeric>

#include "train/objectives.h"

namespace pg::train {

EmbeddingCache::EmbeddingCache(pg::model::PerturbGenModelImpl& model, const PairedData& data,
                               const std::vector<int64_t>& times, const std::set<int64_t>& excluded_ids,
                               int64_t batch_size, int64_t max_bytes) {
  const int64_t d = model.config().decoder.d_model;
  const auto bytes =
      data.size() * static_cast<int64_t>(times.size()) * d * static_cast<int64_t>(sizeof(float));
  if (bytes > max_bytes) return;
  const auto options = torch::TensorOptions(model.device()).dtype(model.dtype());
  for (int64_t t : times) table_[t] = torch::empty({data.size(), d}, options);
  std::vector<int64_t> rows;
  for (int64_t begin = 0; begin < data.size(); begin += batch_size) {
    rows.resize(static_cast<size_t>(std::min(batch_size, data.size() - begin)));
    std::iota(rows.begin(), rows.end(), begin);
    auto embeddings = decoder_embeddings(model, data.batch(rows), times, excluded_ids);
    for (int64_t t : times)
      table_[t].narrow(0, begin, static_cast<int64_t>(rows.size())).copy_(embeddings.at(t));
  }
}

std::map<int64_t, torch::Tensor> EmbeddingCache::gather(const std::vector<int64_t>& rows) const {
  const auto index = torch::tensor(rows, torch::kLong).to(table_.begin()->second.device());
  std::map<int64_t, torch::Tensor> out;
  for (const auto& [t, table] : table_) out.emplace(t, table.index_select(0, index));
  return out;
}

}  // namespace pg::train
