#include "model/perturbgen_model.h"

#include "core/error.h"

namespace pg::model {
namespace {

// The count head's module names are the reference keys after
// `decoder.count_decoder.`, except the dispersion, a trainer key.
std::string count_head_key(const std::string& name) {
  return name == kThetaKey ? std::string(kThetaKey) : kCountHeadPrefix + name;
}

int64_t numel_of(const std::vector<torch::Tensor>& ts) {
  int64_t n = 0;
  for (const auto& t : ts) n += t.numel();
  return n;
}

}  // namespace

PerturbGenModelImpl::PerturbGenModelImpl(const ModelConfig& config, torch::Device device, torch::Dtype dtype)
    : config_(config), device_(device), dtype_(dtype) {
  if (config.encoder.d_model != config.decoder.d_model)
    throw pg::Error("<config>", "decoder_perturbgen.d_model",
                    "the decoder cross-attends to the encoder output, so d_model must match (encoder " +
                        std::to_string(config.encoder.d_model) + ", decoder " +
                        std::to_string(config.decoder.d_model) + ")");
  encoder = register_module("encoder", SourceEncoder(config.encoder, device, dtype));
  decoder = register_module("decoder", PerturbGenDecoder(config.decoder, device, dtype));
  if (config.count_head)
    count_head = register_module("count_head", CountHead(*config.count_head, device, dtype));
  eval();
}

torch::Tensor PerturbGenModelImpl::encode(const torch::Tensor& src_ids) {
  // The encoder is frozen in every stage of the reference.
  torch::NoGradGuard no_grad;
  return encoder->forward(src_ids);
}

std::map<int64_t, TimeOutput> PerturbGenModelImpl::forward(const ModelBatch& batch,
                                                           std::vector<int64_t> times,
                                                           const std::set<int64_t>& excluded_ids) {
  return forward_encoded(batch, encode(batch.src_ids), std::move(times), excluded_ids);
}

std::map<int64_t, TimeOutput> PerturbGenModelImpl::forward_encoded(const ModelBatch& batch,
                                                                   const torch::Tensor& h_src,
                                                                   std::vector<int64_t> times,
                                                                   const std::set<int64_t>& excluded_ids) {
  if (times.empty()) times = config_.decoder.pred_tps;
  const auto src_pad = batch.src_ids.to(device_).eq(0);
  // Training needs the main pass's cross-attention keys/values projected
  // with gradients; context passes and (without gradients) the projected
  // context are shared between the target times.
  const bool grad = torch::GradMode::is_enabled();
  ContextCache cache;
  std::map<int64_t, TimeOutput> out;
  for (int64_t t : times) {
    auto ids = batch.tgt_ids.find(t);
    if (ids == batch.tgt_ids.end())
      throw pg::Error("<input>", "target ids", "time " + std::to_string(t) + " is missing from the batch");
    TimeOutput r;
    {
      // Context passes carry no gradient in the reference.
      torch::NoGradGuard no_grad;
      r.context = decoder->build_context(h_src, src_pad, batch.tgt_ids, t, &cache);
    }
    if (grad) r.context.context.kv.clear();
    r.pass = decoder->pass(ids->second, t, r.context.context);
    r.logits = decoder->logits(r.pass.hidden);
    r.mean_embedding = PerturbGenDecoderImpl::mean_embedding(r.pass.hidden, ids->second, excluded_ids);
    if (count_head) {
      torch::Tensor library;
      if (config_.count_head->size_factor == SizeFactorMode::observed) {
        auto lib = batch.library.find(t);
        if (lib == batch.library.end())
          throw pg::Error("<input>", "library size",
                          "time " + std::to_string(t) + " has none (the observed size factor needs it)");
        library = lib->second.to(device_);
      }
      auto condition =
          batch.condition.defined()
              ? batch.condition.to(device_)
              : torch::zeros({ids->second.size(0)}, torch::TensorOptions(device_).dtype(torch::kLong));
      r.counts = count_head->forward(r.mean_embedding, condition, library);
    }
    out.emplace(t, std::move(r));
  }
  return out;
}

void PerturbGenModelImpl::load_reference_weights(const NamedTensors& tensors, const std::string& file) {
  auto used = copy_parameters(
      *encoder, tensors, [](const std::string& n) { return kEncoderPrefix + n; }, file);
  auto dec_used = copy_parameters(
      *decoder, tensors, [](const std::string& n) { return kDecoderPrefix + n; }, file);
  used.insert(dec_used.begin(), dec_used.end());
  if (count_head) {
    auto head_used = copy_parameters(*count_head, tensors, count_head_key, file);
    used.insert(head_used.begin(), head_used.end());
  } else {
    for (const auto& [key, t] : tensors)
      if (key == kThetaKey || key.starts_with(kCountHeadPrefix))
        throw pg::Error(file, key, "is a count-head weight, but the model config has no count head");
  }
  auto ignored = encoder->unused_block_prefixes(kEncoderPrefix);
  check_all_used(tensors, used, "", file, ignored);
}

NamedTensors PerturbGenModelImpl::reference_weights() const {
  NamedTensors out = named_tensors(*encoder, kEncoderPrefix);
  out.merge(named_tensors(*decoder, kDecoderPrefix));
  if (count_head)
    for (auto& [name, t] : named_tensors(*count_head, "")) out.emplace(count_head_key(name), t);
  return out;
}

ParameterCounts count_parameters(const PerturbGenModelImpl& model) {
  ParameterCounts c;
  c.encoder = numel_of(model.encoder->parameters());
  c.decoder = numel_of(model.decoder->parameters());
  if (model.count_head) c.count_head = numel_of(model.count_head->parameters());
  c.buffers = numel_of(model.buffers());
  return c;
}

}  // namespace pg::model
