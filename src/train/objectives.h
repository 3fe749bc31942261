// The loss of each training stage on one (local) batch, returned as a sum
// and the count it is to be divided by. The trainer back-propagates the sum,
// adds up sums and counts over the data-parallel ranks and divides the
// gradients by the global count: one process and N processes then compute
// the same mean as the reference does over the whole batch.
#pragma once

#include <torch/torch.h>

#include <set>
#include <vector>

#include "model/encoder.h"
#include "model/perturbgen_model.h"
#include "train/masking.h"
#include "train/paired_data.h"

namespace pg::train {

struct LossTerms {
  torch::Tensor sum;           // scalar; carries the graph when computed with gradients
  double count = 0;            // masked tokens (pretrain, mask) or cells (count)
  torch::Tensor mask, labels;  // the masking used (pretrain, mask stage)
};

// Masked-token pretraining of the encoder (spec §4.1): cross-entropy of the
// MLM head on the masked positions. `keys` are the cells' draw keys.
LossTerms pretrain_loss(pg::model::SourceEncoderImpl& encoder, const torch::Tensor& ids,
                        const std::vector<int64_t>& keys, uint64_t seed, int64_t step, MaskSchedule schedule);

// The masked pass for time t with a given mask pattern (B, L) bool.
LossTerms masked_pass_loss(pg::model::PerturbGenModelImpl& model, const TrainBatch& batch, int64_t t,
                           const torch::Tensor& mask);

// Masked target modelling (spec §4.2) for target time t: the source encoded
// by the frozen encoder, the context from the true ids of the other times,
// MaskGIT masking of time t's ids; cross-entropy over the masked positions.
LossTerms mask_loss(pg::model::PerturbGenModelImpl& model, const TrainBatch& batch, int64_t t, uint64_t seed,
                    int64_t step, MaskSchedule schedule);

// The frozen decoder's teacher-forced mean embeddings (B, d) of the
// unmasked targets at each of `times` (no gradient).
std::map<int64_t, torch::Tensor> decoder_embeddings(pg::model::PerturbGenModelImpl& model,
                                                    const TrainBatch& batch,
                                                    const std::vector<int64_t>& times,
                                                    const std::set<int64_t>& excluded_ids);

// The count stage (spec §4.3): the count head's loss on the decoder
// embeddings, summed over `times`, as a sum over cells (count = cells). A
// predicted size factor adds its regression loss. `embeddings` (from
// decoder_embeddings or a cache of them) are computed when not given.
LossTerms count_loss(pg::model::PerturbGenModelImpl& model, const TrainBatch& batch,
                     const std::vector<int64_t>& times, const std::set<int64_t>& excluded_ids,
                     const std::map<int64_t, torch::Tensor>* embeddings = nullptr);

}  // namespace pg::train
