// Length bucketing for inference. The reference pads every batch to the
// longest sequence of the whole dataset, so a 300-gene cell pays for a
// 4,096-token one. Here cells are sorted by length, cut into batches of
// similar lengths, and each batch is trimmed to its own longest sequence.
// Trimming only removes padding columns, which are masked keys, so the
// outputs at real positions are the same function (up to float rounding).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "model/perturbgen_model.h"

namespace pg::model {

// Non-padding tokens per row of a right-padded id matrix (B, L).
torch::Tensor sequence_lengths(const torch::Tensor& ids);

// Row indices grouped into batches of at most `batch_size`, longest first;
// the order within equal lengths is the input order (stable), so the result
// is deterministic.
std::vector<torch::Tensor> length_buckets(const torch::Tensor& lengths, int64_t batch_size);

// `ids` without its trailing columns that are padding in every row.
torch::Tensor trim_padding(const torch::Tensor& ids);

// The rows `rows` of every tensor of `batch`, each id matrix trimmed.
ModelBatch select_rows(const ModelBatch& batch, const torch::Tensor& rows);

// The longest of a batch's source and target lengths, per cell (what a bucket sorts by).
torch::Tensor batch_lengths(const ModelBatch& batch);

}  // namespace pg::model
