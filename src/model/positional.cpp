#include "model/positional.h"

#include <cmath>

#include "core/error.h"

namespace pg::model {

torch::Tensor sinusoid_table(int64_t rows, int64_t d) {
  // Same float32 operations as the reference, so the tables agree bit for
  // bit where float32 exp/sin agree (a float64 table differs by up to 2e-5).
  auto opts = torch::TensorOptions().dtype(torch::kFloat32);
  auto position = torch::arange(0, rows, opts).unsqueeze(1);
  auto div = torch::exp(torch::arange(0, d, 2, opts) *
                        static_cast<float>(-std::log(10000.0) / static_cast<double>(d)));
  auto table = torch::zeros({rows, d}, opts);
  using torch::indexing::Slice;
  table.index_put_({Slice(), Slice(0, torch::indexing::None, 2)}, torch::sin(position * div));
  table.index_put_({Slice(), Slice(1, torch::indexing::None, 2)}, torch::cos(position * div));
  return table;
}

PositionalEncodingImpl::PositionalEncodingImpl(PositionalMode mode, int64_t time_rows, int64_t max_len,
                                               int64_t d_model)
    : mode_(mode), time_rows_(time_rows), max_len_(max_len) {
  switch (mode) {
    case PositionalMode::TimePosSin:
      time_pe = register_buffer("time_pe", sinusoid_table(time_rows, d_model).unsqueeze(0));
      pos_pe = register_buffer("pos_pe", sinusoid_table(max_len, d_model).unsqueeze(0));
      // The reference keeps a duplicate `pe` buffer; registered so strict loading matches.
      pe = register_buffer("pe", pos_pe.clone());
      break;
    case PositionalMode::CombSin:
      pe = register_buffer("pe", sinusoid_table(time_rows * max_len, d_model).unsqueeze(0));
      break;
    case PositionalMode::SinLearnt:
      time_pe = register_buffer("time_pe", sinusoid_table(time_rows, d_model).unsqueeze(0));
      // In this mode the reference's `pe` is a copy of the time table (golden §15.12).
      pe = register_buffer("pe", time_pe.clone());
      pos_encoding = register_module("pos_encoding", torch::nn::Embedding(max_len, d_model));
      pos_ids = register_buffer("pos_ids", torch::arange(max_len, torch::kLong).unsqueeze(0));
      break;
  }
}

torch::Tensor PositionalEncodingImpl::add(const torch::Tensor& emb, int64_t time_row) {
  const int64_t len = emb.size(1);
  if (len > max_len_)
    throw pg::Error("<model>", "sequence",
                    "length " + std::to_string(len) + " exceeds max_seq_length " + std::to_string(max_len_));
  if (time_row < 0 || time_row >= time_rows_)
    throw pg::Error(
        "<model>", "time",
        "time-table row " + std::to_string(time_row) + " outside 0.." + std::to_string(time_rows_ - 1));
  using torch::indexing::Slice;
  switch (mode_) {
    case PositionalMode::TimePosSin:
      return emb + time_pe.index({Slice(), Slice(time_row, time_row + 1)}) +
             pos_pe.index({Slice(), Slice(0, len)});
    case PositionalMode::CombSin: {
      // The offset uses Lmax, not the width of the batch (golden §14).
      const int64_t start = time_row * max_len_;
      return emb + pe.index({Slice(), Slice(start, start + len)});
    }
    case PositionalMode::SinLearnt:
      return emb + time_pe.index({Slice(), Slice(time_row, time_row + 1)}) +
             pos_encoding->forward(pos_ids.index({Slice(), Slice(0, len)}));
  }
  return emb;
}

}  // namespace pg::model
