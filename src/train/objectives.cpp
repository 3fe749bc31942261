#include "train/objectives.h"

#include "core/error.h"
#include "model/losses.h"
#include "train/linear_cross_entropy.h"

namespace pg::train {

using pg::model::kIgnoreLabel;

LossTerms pretrain_loss(pg::model::SourceEncoderImpl& encoder, const torch::Tensor& ids,
                        const std::vector<int64_t>& keys, uint64_t seed, int64_t step,
                        MaskSchedule schedule) {
  auto draws = draw_mask_randomness(seed, step, keys, ids.size(1));
  LossTerms out;
  out.mask = pretrain_mask(ids, draws.u, draws.r, schedule);
  out.labels = pg::model::masked_labels(ids, out.mask);
  const auto input = pg::model::mask_input_ids(ids, out.mask).to(encoder.device());
  const auto mask = out.mask.to(encoder.device());
  // The MLM head only where the loss looks, and its logits one chunk of
  // rows at a time (linear_cross_entropy.h): a 19,000-gene vocabulary's
  // logits at every masked token were most of the step's memory.
  if (!encoder.decoder_fc)
    throw pg::Error("<model>", "encoder.decoder_fc",
                    "pretraining needs the encoder's MLM head, which it lacks");
  out.sum = linear_cross_entropy_sum(encoder.forward(input).index({mask}), encoder.decoder_fc->weight,
                                     encoder.decoder_fc->bias, ids.to(encoder.device()).index({mask}));
  out.count = static_cast<double>(out.mask.sum().item<int64_t>());
  return out;
}

LossTerms masked_pass_loss(pg::model::PerturbGenModelImpl& model, const TrainBatch& batch, int64_t t,
                           const torch::Tensor& mask) {
  const auto& ids = batch.model.tgt_ids.at(t);
  const auto device = model.device();
  LossTerms out;
  out.mask = mask;
  out.labels = pg::model::masked_labels(ids, mask);
  const auto src = batch.model.src_ids.to(device);
  const auto h_src = model.encode(src);
  pg::model::BuiltContext built;
  {
    // The context passes read the true ids of the other times and carry
    // no gradient (as in the reference); only time t is masked.
    torch::NoGradGuard no_grad;
    built = model.decoder->build_context(h_src, src.eq(0), batch.model.tgt_ids, t);
  }
  // With gradients, the cross-attention keys/values of the context are
  // projected inside the graph (their weights train).
  if (torch::GradMode::is_enabled()) built.context.kv.clear();
  auto pass = model.decoder->pass(pg::model::mask_input_ids(ids, mask), t, built.context);
  // decoder_fc only at the masked positions, the only ones the loss reads,
  // one chunk of rows at a time.
  const auto on_device = mask.to(device);
  out.sum = linear_cross_entropy_sum(pass.hidden.index({on_device}), model.decoder->decoder_fc->weight,
                                     model.decoder->decoder_fc->bias, ids.to(device).index({on_device}));
  out.count = static_cast<double>(mask.sum().item<int64_t>());
  return out;
}

LossTerms mask_loss(pg::model::PerturbGenModelImpl& model, const TrainBatch& batch, int64_t t, uint64_t seed,
                    int64_t step, MaskSchedule schedule) {
  const auto& ids = batch.model.tgt_ids.at(t);
  auto draws = draw_mask_randomness(seed, step, batch.rows, ids.size(1));
  return masked_pass_loss(model, batch, t, maskgit_mask(ids, draws.u, draws.r, schedule));
}

std::map<int64_t, torch::Tensor> decoder_embeddings(pg::model::PerturbGenModelImpl& model,
                                                    const TrainBatch& batch,
                                                    const std::vector<int64_t>& times,
                                                    const std::set<int64_t>& excluded_ids) {
  torch::NoGradGuard no_grad;
  const auto device = model.device();
  const auto src = batch.model.src_ids.to(device);
  const auto h_src = model.encode(src);
  const auto src_pad = src.eq(0);
  pg::model::ContextCache cache;
  std::map<int64_t, torch::Tensor> out;
  for (int64_t t : times) {
    auto built = model.decoder->build_context(h_src, src_pad, batch.model.tgt_ids, t, &cache);
    const auto& ids = batch.model.tgt_ids.at(t);
    auto pass = model.decoder->pass(ids, t, built.context);
    out[t] = pg::model::PerturbGenDecoderImpl::mean_embedding(pass.hidden, ids.to(device), excluded_ids);
  }
  return out;
}

LossTerms count_loss(pg::model::PerturbGenModelImpl& model, const TrainBatch& batch,
                     const std::vector<int64_t>& times, const std::set<int64_t>& excluded_ids,
                     const std::map<int64_t, torch::Tensor>* embeddings) {
  const auto device = model.device();
  const auto& head_config = *model.config().count_head;
  std::map<int64_t, torch::Tensor> computed;
  if (embeddings == nullptr) {
    computed = decoder_embeddings(model, batch, times, excluded_ids);
    embeddings = &computed;
  }
  LossTerms out;
  const auto B = static_cast<double>(batch.model.src_ids.size(0));
  out.count = B;
  const auto condition = batch.model.condition.to(device);
  for (int64_t t : times) {
    torch::Tensor library;
    if (head_config.size_factor == pg::model::SizeFactorMode::observed)
      library = batch.model.library.at(t).to(device);
    auto head = model.count_head->forward(embeddings->at(t).to(device), condition, library);
    auto counts = batch.counts.at(t).to(device);
    auto target = head_config.loss == pg::model::CountLoss::mse ? pg::model::log_normalise(counts) : counts;
    // The head's loss is a mean over cells; the trainer wants the sum.
    auto term = model.count_head->loss(head, target) * B;
    if (head_config.size_factor == pg::model::SizeFactorMode::predicted)
      term = term + pg::model::library_size_loss(head.log_library, batch.model.library.at(t).to(device)) * B;
    out.sum = out.sum.defined() ? out.sum + term : term;
  }
  return out;
}

}  // namespace pg::train
