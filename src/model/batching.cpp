#include "model/batching.h"

#include "core/error.h"

namespace pg::model {

torch::Tensor sequence_lengths(const torch::Tensor& ids) {
  return ids.ne(0).sum(1);
}

std::vector<torch::Tensor> length_buckets(const torch::Tensor& lengths, int64_t batch_size) {
  if (batch_size <= 0) throw pg::Error("<input>", "batch size", "must be positive");
  const auto order =
      std::get<1>(lengths.to(torch::kCPU).sort(/*stable=*/true, /*dim=*/0, /*descending=*/true));
  std::vector<torch::Tensor> out;
  for (int64_t i = 0; i < order.size(0); i += batch_size)
    out.push_back(order.slice(0, i, std::min(i + batch_size, order.size(0))));
  return out;
}

torch::Tensor trim_padding(const torch::Tensor& ids) {
  if (ids.size(1) == 0) return ids;
  const auto used = ids.ne(0).any(0).nonzero();
  const int64_t width = used.numel() ? used.max().item<int64_t>() + 1 : 0;
  return ids.slice(1, 0, width);
}

ModelBatch select_rows(const ModelBatch& batch, const torch::Tensor& rows) {
  ModelBatch out;
  auto pick = [&](const torch::Tensor& t) { return t.index_select(0, rows.to(t.device())); };
  out.src_ids = trim_padding(pick(batch.src_ids));
  for (const auto& [t, ids] : batch.tgt_ids) out.tgt_ids[t] = trim_padding(pick(ids));
  for (const auto& [t, lib] : batch.library) out.library[t] = pick(lib);
  if (batch.condition.defined()) out.condition = pick(batch.condition);
  return out;
}

torch::Tensor batch_lengths(const ModelBatch& batch) {
  auto len = sequence_lengths(batch.src_ids);
  for (const auto& [t, ids] : batch.tgt_ids) len = torch::maximum(len, sequence_lengths(ids));
  return len;
}

}  // namespace pg::model
