// The count stage trains only the count head: the frozen decoder gives every
// example the same mean embeddings in every epoch. They are computed once,
// before training, in fixed batches over the examples in index order (so a
// resumed run computes exactly the same values), and every step reads them
// instead of re-running the encoder and the decoder's context and main passes.
// Stays empty (each step recomputes) when they would exceed `max_bytes`.
#pragma once

#include <torch/torch.h>

#include <map>
#include <set>
#include <vector>

#include "model/perturbgen_model.h"
#include "train/paired_data.h"

namespace pg::train {

class EmbeddingCache {
 public:
  EmbeddingCache() = default;
  EmbeddingCache(pg::model::PerturbGenModelImpl& model, const PairedData& data,
                 const std::vector<int64_t>& times, const std::set<int64_t>& excluded_ids, int64_t batch_size,
                 int64_t max_bytes);

  bool enabled() const { return !table_.empty(); }
  // Time -> (rows.size(), d) embeddings of the examples `rows`.
  std::map<int64_t, torch::Tensor> gather(const std::vector<int64_t>& rows) const;

 private:
  std::map<int64_t, torch::Tensor> table_;  // time -> (examples, d), on the model's device
};

}  // namespace pg::train
