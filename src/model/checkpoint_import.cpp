#include "model/checkpoint_import.h"

#include <filesystem>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/sha256.h"
#include "io/torch_checkpoint.h"
#include "model/checkpoint_common.h"
#include "model/encoder_import.h"

namespace pg::model {
namespace {

// Weights are float32 in a model directory (half-precision checkpoints are widened).
torch::Tensor to_torch(const pg::io::CheckpointTensor& t, const std::string& file, const std::string& key) {
  auto out = tensor_from_bytes(t.dtype, t.shape, t.bytes, file, key);
  return out.is_floating_point() ? out.to(torch::kFloat32) : out;
}

const torch::Tensor& need(const NamedTensors& w, const std::string& key, const std::string& file) {
  auto it = w.find(key);
  if (it == w.end()) throw pg::Error(file, key, "missing from the checkpoint's state_dict");
  return it->second;
}

int64_t count_blocks(const NamedTensors& w, const std::string& prefix) {
  std::set<int64_t> idx;
  const std::regex re("^" + std::regex_replace(prefix, std::regex(R"(\.)"), R"(\.)") +
                      R"(decoder_block\.(\d+)\.)");
  std::smatch m;
  for (const auto& [k, t] : w)
    if (std::regex_search(k, m, re)) idx.insert(std::stoll(m[1]));
  if (idx.empty()) return 0;
  if (*idx.begin() != 0 || *idx.rbegin() != static_cast<int64_t>(idx.size()) - 1) return -1;
  return static_cast<int64_t>(idx.size());
}

// Weights by reference key: masking keys as they are; count-stage keys
// `pretrained_model.X` -> `transformer.X`, their `decoder.pretrained_model.X`
// twins checked equal and dropped.
NamedTensors normalise_keys(const pg::io::TorchCheckpoint& ckpt, const std::string& file, ImportReport& r) {
  NamedTensors raw;
  for (const auto& [name, t] : ckpt.state_dict()) raw.emplace(strip_compile(name), to_torch(t, file, name));
  r.tensors_read = static_cast<int64_t>(raw.size());
  bool count_stage = false;
  for (const auto& [k, t] : raw) count_stage = count_stage || k.starts_with("pretrained_model.");
  r.stage = count_stage ? "count" : "masking";
  NamedTensors out;
  for (const auto& [k, t] : raw) {
    if (!count_stage) {
      out.emplace(k, t);
      continue;
    }
    if (k.starts_with("decoder.pretrained_model.")) {
      const std::string twin = k.substr(8);
      auto it = raw.find(twin);
      if (it == raw.end() || !torch::equal(it->second, t))
        throw pg::Error(file, k, "differs from (or lacks) its twin " + twin);
      ++r.duplicates_dropped;
    } else if (k.starts_with("pretrained_model.")) {
      out.emplace("transformer." + k.substr(17), t);
    } else {
      out.emplace(k, t);
    }
  }
  return out;
}

EncoderConfig infer_encoder(const NamedTensors& w, const ImportOptions& o, const std::string& file) {
  const std::string p = kEncoderPrefix;
  EncoderConfig c;
  const auto& emb = need(w, p + "token_embedding.weight", file);
  c.embedding_rows = emb.size(0);
  c.d_model = emb.size(1);
  c.vocab_size = need(w, p + "decoder_fc.weight", file).size(0);
  c.num_layers = count_blocks(w, p);
  if (c.num_layers <= 0) throw pg::Error(file, p + "decoder_block.*", "missing or not numbered 0..n-1");
  const std::string b = p + "decoder_block." + std::to_string(c.num_layers - 1) + ".";
  const int64_t inner = need(w, b + "self_attn.to_q.weight", file).size(0);
  c.num_heads = o.encoder_heads;
  if (inner % c.num_heads != 0)
    throw pg::Error(file, b + "self_attn.to_q.weight",
                    "inner width " + std::to_string(inner) + " is not a multiple of " +
                        std::to_string(c.num_heads) + " heads");
  c.head_dim = inner / c.num_heads;
  c.ffn_hidden = need(w, b + "feed_forward.fc1.weight", file).size(0);
  c.max_seq_length = need(w, p + "pos_embedding.pos_pe", file).size(1);
  c.n_time_rows = need(w, p + "pos_embedding.time_pe", file).size(1);
  c.mode = EncoderMode::Reference;
  return c;
}

DecoderConfig infer_decoder(const NamedTensors& w, const nlohmann::json& hp, const std::string& file,
                            std::vector<std::string>& notes) {
  const std::string p = kDecoderPrefix;
  DecoderConfig c;
  const auto& emb = need(w, p + "token_embedding.weight", file);
  c.vocab_size = emb.size(0);
  c.d_model = emb.size(1);
  c.num_layers = count_blocks(w, p);
  if (c.num_layers <= 0) throw pg::Error(file, p + "decoder_block.*", "missing or not numbered 0..n-1");
  const int64_t inner = need(w, p + "decoder_block.0.self_attn.to_q.weight", file).size(0);
  c.num_heads = hparam<int64_t>(hp, "num_heads", 8, file);
  c.head_dim = head_width(inner, c.num_heads, hp, file, p + "decoder_block.0.self_attn.to_q.weight");
  expect_hparams(hp, file,
                 {{"d_model", c.d_model}, {"num_layers", c.num_layers}, {"tgt_vocab_size", c.vocab_size}});
  c.ffn_hidden = need(w, p + "decoder_block.0.feed_forward.fc1.weight", file).size(0);
  c.positional =
      positional_mode_from_string(hparam<std::string>(hp, "pos_encoding_mode", "", file).empty()
                                      ? (w.count(p + "pos_embedding.pos_pe")                ? "time_pos_sin"
                                         : w.count(p + "pos_embedding.pos_encoding.weight") ? "sin_learnt"
                                                                                            : "comb_sin")
                                      : hparam<std::string>(hp, "pos_encoding_mode", "", file),
                                  file);
  // The time table has T + 2 rows; comb_sin has one table of (T + 2) * Lmax rows.
  int64_t time_rows = 0;
  if (c.positional == PositionalMode::CombSin) {
    c.max_seq_length = hparam<int64_t>(hp, "max_seq_length", 0, file);
    if (c.max_seq_length <= 0)
      throw pg::Error(file, "hyper_parameters.max_seq_length", "needed for comb_sin");
    const int64_t rows = need(w, p + "pos_embedding.pe", file).size(1);
    if (rows % c.max_seq_length != 0)
      throw pg::Error(file, p + "pos_embedding.pe", "rows are not a multiple of max_seq_length");
    time_rows = rows / c.max_seq_length;
  } else {
    time_rows = need(w, p + "pos_embedding.time_pe", file).size(1);
    c.max_seq_length = c.positional == PositionalMode::SinLearnt
                           ? need(w, p + "pos_embedding.pos_encoding.weight", file).size(0)
                           : need(w, p + "pos_embedding.pos_pe", file).size(1);
    expect_equal(c.max_seq_length, hparam<int64_t>(hp, "max_seq_length", c.max_seq_length, file), file,
                 "hyper_parameters.max_seq_length");
  }
  c.n_total_tps = time_rows - 2;
  if (c.n_total_tps < 1) throw pg::Error(file, p + "pos_embedding", "time table has fewer than 3 rows");
  expect_equal(c.n_total_tps, hparam<int64_t>(hp, "n_total_tps", c.n_total_tps, file), file,
               "hyper_parameters.n_total_tps");
  std::vector<int64_t> all(c.n_total_tps);
  for (int64_t t = 0; t < c.n_total_tps; ++t) all[t] = t + 1;
  c.pred_tps = hparam<std::vector<int64_t>>(hp, "pred_tps", all, file);
  if (hp.is_object() && hp.contains("context_tps") && !hp.at("context_tps").is_null())
    c.context_tps = hparam<std::vector<int64_t>>(hp, "context_tps", {}, file);
  c.context_mode = hparam<bool>(hp, "context_mode", true, file);
  if (!hp.is_object() || !hp.contains("pred_tps"))
    notes.push_back("hyper_parameters lack pred_tps: assumed 1.." + std::to_string(c.n_total_tps));
  return c;
}

CountHeadConfig infer_count_head(const NamedTensors& w, const nlohmann::json& hp, int64_t d_model,
                                 const std::string& file) {
  const std::string p = kCountHeadPrefix;
  CountHeadConfig c;
  c.d_model = d_model;
  if (w.count(p + "relu_output.0.weight"))
    c.loss = CountLoss::mse;
  else if (w.count(p + "linear_output.weight"))
    c.loss = CountLoss::zinb;
  else
    c.loss = CountLoss::nb;
  const std::string stated = hparam<std::string>(hp, "loss_mode", to_string(c.loss), file);
  if (stated != to_string(c.loss))
    throw pg::Error(file, "hyper_parameters.loss_mode",
                    "'" + stated + "' but the weights are those of a " + to_string(c.loss) + " head");
  c.n_genes =
      need(w, p + (c.loss == CountLoss::mse ? "relu_output.0.weight" : "softmax_output.0.weight"), file)
          .size(0);
  expect_equal(c.n_genes, hparam<int64_t>(hp, "n_genes", c.n_genes, file), file, "hyper_parameters.n_genes");
  if (c.loss != CountLoss::mse) {
    const auto& theta = need(w, kThetaKey, file);
    if (theta.dim() != 2 || theta.size(0) != c.n_genes)
      throw pg::Error(file, kThetaKey, "must be (n_genes, n_conditions)");
    c.n_conditions = theta.size(1);
  }
  if (!hparam<bool>(hp, "use_size_factor", true, file))
    c.size_factor = SizeFactorMode::none;
  else
    c.size_factor = hparam<bool>(hp, "use_observed_size_factor", true, file) ? SizeFactorMode::observed
                                                                             : SizeFactorMode::predicted;
  if (c.size_factor == SizeFactorMode::predicted && !w.count(p + "library_output.weight"))
    throw pg::Error(file, p + "library_output.weight",
                    "missing: the reference's learnt size factor has no weights we can map");
  return c;
}

}  // namespace

ModelDirContents import_lightning_checkpoint(const std::string& path, const ImportOptions& options,
                                             ImportReport* report) {
  ImportReport local;
  ImportReport& r = report ? *report : local;
  pg::io::UnpickleOptions uo;
  uo.opaque_unknown_globals =
      true;  // e.g. AnnData objects in hyper_parameters; dangerous modules still refused
  const auto ckpt = pg::io::TorchCheckpoint::read(path, uo);
  const nlohmann::json& hp = ckpt.hyper_parameters();
  NamedTensors w = normalise_keys(ckpt, path, r);
  // The published weights are a standalone source-encoder (scmaskgit)
  // checkpoint: `transformer.*` of encoder blocks (no norm2, no cross-attention).
  std::vector<std::string> keys;
  for (const auto& [k, t] : w) keys.push_back(k);
  if (is_standalone_encoder(keys))
    throw pg::Error(path, "state_dict",
                    "is a standalone source-encoder (scmaskgit) checkpoint without a PerturbGen decoder; "
                    "import it with import_encoder_checkpoint (perturbgen import-ckpt does this by itself)");

  ModelConfig config;
  config.encoder = infer_encoder(w, options, path);
  config.decoder = infer_decoder(w, hp, path, r.notes);
  const bool has_head = w.count(std::string(kCountHeadPrefix) + "mlp.fc1.weight") > 0;
  if (has_head) config.count_head = infer_count_head(w, hp, config.decoder.d_model, path);
  if (r.stage == "count" && !has_head)
    throw pg::Error(path, std::string(kCountHeadPrefix) + "*",
                    "a count-stage checkpoint without a count head");

  // Building the model and loading the weights checks every name and shape.
  PerturbGenModel model(config);
  model->load_reference_weights(w, path);
  ModelDirContents out;
  out.config = config;
  out.weights = model->reference_weights();
  r.unused_dropped = 0;
  for (const auto& [k, t] : w)
    if (!out.weights.count(k)) ++r.unused_dropped;

  out.meta.genes = options.genes;
  if (config.count_head && !options.genes.empty() &&
      static_cast<int64_t>(options.genes.size()) != config.count_head->n_genes)
    throw pg::Error(path, "genes",
                    std::to_string(options.genes.size()) + " gene names given for a count head of " +
                        std::to_string(config.count_head->n_genes) + " genes");
  out.meta.provenance = checkpoint_provenance(ckpt, path, r.stage);
  return out;
}

}  // namespace pg::model
