#include "train/stage_model.h"

#include <algorithm>

#include "core/error.h"

namespace pg::train {

using namespace pg::model;

namespace {

// The decoder reserves the reference's margin of 50 ids above the genes
// and condition tokens (spec §3.6).
constexpr int64_t kVocabMargin = 50;

ModelMeta store_meta(const pg::store::TokenStore& store) {
  ModelMeta m;
  m.source_vocab_name = store.schema().vocabulary_name;
  m.source_vocab_sha256 = store.schema().vocabulary_hash;
  for (const auto& g : store.genes()) m.genes.push_back(g.gene_id);
  if (store.has_pairing()) m.time_points = store.pairing().columns;
  return m;
}

void freeze(torch::nn::Module& module) {
  for (auto& p : module.parameters()) p.set_requires_grad(false);
}

std::map<std::string, torch::Tensor> named(torch::nn::Module& module, const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  for (auto& item : module.named_parameters()) out.emplace(prefix + item.key(), item.value());
  return out;
}

void check_genes(const ModelMeta& model_meta, const pg::store::TokenStore& store, const std::string& who) {
  const auto store_genes = store_meta(store).genes;
  if (model_meta.genes.empty() || model_meta.genes == store_genes) return;
  size_t k = 0;
  while (k < std::min(store_genes.size(), model_meta.genes.size()) && store_genes[k] == model_meta.genes[k])
    ++k;
  throw pg::Error((store.dir() / "genes.tsv").string(), "genes",
                  "the store has " + std::to_string(store_genes.size()) + " count-head genes, " + who + " " +
                      std::to_string(model_meta.genes.size()) + "; they first differ at row " +
                      std::to_string(k) +
                      (k < store_genes.size() ? " ('" + store_genes[k] + "')" : std::string()));
}

// The store's sentences must be readable by the encoder: same vocabulary
// (by hash, when the encoder records one), token ids within its embedding,
// sentences within its position table. Each error names both sides.
void check_encoder_fits(const EncoderDirContents& enc, const pg::store::TokenStore& store,
                        const std::string& encoder_dir, int64_t longest_sentence) {
  const auto& s = store.schema();
  if (!enc.meta.source_vocab_sha256.empty())
    store.check_vocabulary(enc.meta.source_vocab_sha256,
                           "encoder " + encoder_dir + " (vocabulary '" + enc.meta.source_vocab_name + "')");
  if (s.vocab_size > enc.config.embedding_rows)
    throw pg::Error(encoder_dir, "encoder vocabulary",
                    std::to_string(enc.config.embedding_rows) + " embedding rows, but the tokens of store " +
                        store.dir().string() + " go up to " + std::to_string(s.vocab_size - 1));
  if (longest_sentence > enc.config.max_seq_length)
    throw pg::Error(store.dir().string(), "source sentences",
                    "up to " + std::to_string(longest_sentence) +
                        " tokens (tokenise --model-input-size), but " + "the position table of encoder " +
                        encoder_dir + " has " + std::to_string(enc.config.max_seq_length) + " rows");
}

}  // namespace

std::vector<int64_t> training_times(const TrainConfig& c, int64_t n_times) {
  std::vector<int64_t> times = c.pred_tps;
  if (times.empty())
    for (int64_t t = 1; t <= n_times; ++t) times.push_back(t);
  std::erase_if(times, [&](int64_t t) {
    return std::find(c.held_out_tps.begin(), c.held_out_tps.end(), t) != c.held_out_tps.end();
  });
  if (times.empty()) throw pg::Error("<config>", "pred_tps", "no target time is left to train on");
  return times;
}

PairedDataOptions paired_data_options(const TrainConfig& c, int64_t n_times) {
  PairedDataOptions o;
  // Every time the context or the evaluation may read.
  for (int64_t t = 1; t <= n_times; ++t) o.times.push_back(t);
  o.max_length = c.max_length;
  o.cond_keys = c.cond_keys;
  o.dispersion_keys = c.dispersion_keys;
  o.counts = c.stage == Stage::count;
  return o;
}

StageModel build_stage_model(const TrainConfig& c, const pg::store::TokenStore& store, const PairedData* data,
                             int64_t cell_max_length, torch::Device device, double mean_log_library) {
  StageModel m;
  m.meta = store_meta(store);
  torch::manual_seed(c.seed);
  if (c.stage == Stage::pretrain && !c.encoder.empty()) {
    // Continued pretraining of an existing (e.g. imported) encoder on the
    // store's cells: its config and mode are kept; in reference mode that
    // trains the embedding, the last block and the MLM head, exactly the
    // tensors the reference's own pretraining updates (spec §3.2).
    auto enc = read_encoder_dir(c.encoder);
    check_encoder_fits(enc, store, c.encoder, cell_max_length);
    EncoderConfig e = enc.config;
    const bool fresh_head = !e.mlm_head;
    e.mlm_head = true;
    m.encoder = SourceEncoder(e, device);
    if (fresh_head)  // the imported encoder dropped its MLM head: start from a fresh one
      for (const auto& p : m.encoder->decoder_fc->named_parameters())
        enc.weights.emplace(std::string(kEncoderPrefix) + "decoder_fc." + p.key(),
                            p.value().detach().cpu().clone());
    load_parameters(*m.encoder, enc.weights, kEncoderPrefix, c.encoder,
                    m.encoder->unused_block_prefixes(kEncoderPrefix));
    m.trainable = named(*m.encoder, kEncoderPrefix);
    m.meta.genes.clear();
    m.meta.provenance = enc.meta.provenance;
    m.meta.provenance["continued_from"] = c.encoder;
    m.meta.provenance["fresh_mlm_head"] = fresh_head;
    return m;
  }
  if (c.stage == Stage::pretrain) {
    EncoderConfig e;
    e.vocab_size = store.schema().vocab_size;
    e.embedding_rows = e.vocab_size + 3;
    e.d_model = c.d_model;
    e.num_heads = c.num_heads;
    e.head_dim = c.head_dim;
    e.num_layers = c.num_layers;
    e.ffn_hidden = c.ffn_hidden > 0 ? c.ffn_hidden : c.d_model;
    e.max_seq_length = cell_max_length;
    e.mode = EncoderMode::Stacked;
    m.encoder = SourceEncoder(e, device);
    m.trainable = named(*m.encoder, kEncoderPrefix);
    m.meta.genes.clear();
    return m;
  }
  if (c.stage == Stage::mask) {
    if (c.encoder.empty())
      throw pg::Error("<arguments>", "--encoder",
                      "the mask stage needs an encoder: a `perturbgen pretrain` output or an imported model");
    auto enc = read_encoder_dir(c.encoder);
    check_encoder_fits(enc, store, c.encoder, data->max_source_length());
    ModelConfig mc;
    mc.encoder = enc.config;
    auto& d = mc.decoder;
    d.d_model = enc.config.d_model;
    d.vocab_size = data->first_free_id() + kVocabMargin;
    d.num_heads = c.num_heads;
    d.head_dim = c.head_dim;
    d.num_layers = c.num_layers;
    d.ffn_hidden = c.ffn_hidden > 0 ? c.ffn_hidden : d.d_model;
    d.max_seq_length = std::max<int64_t>(data->max_target_length(), 1);
    d.n_total_tps = data->n_times();
    d.pred_tps = training_times(c, data->n_times());
    d.context_tps = c.context_tps;
    d.context_mode = c.context_mode;
    d.source_summary = c.source_summary;
    d.positional = positional_mode_from_string(c.positional);
    m.model = PerturbGenModel(mc, device);
    load_parameters(*m.model->encoder, enc.weights, kEncoderPrefix, c.encoder,
                    m.model->encoder->unused_block_prefixes(kEncoderPrefix));
    m.meta.condition_tokens = data->condition_tokens();
    m.meta.provenance["encoder"] = c.encoder;
  } else {
    if (c.from.empty())
      throw pg::Error("<arguments>", "--from", "the count stage needs the mask-stage model directory");
    auto mask = read_model_dir(c.from);
    if (!mask.meta.source_vocab_sha256.empty())
      store.check_vocabulary(mask.meta.source_vocab_sha256, "model " + c.from);
    check_genes(mask.meta, store, "the model " + c.from);
    ModelConfig mc = mask.config;
    CountHeadConfig& h = mc.count_head.emplace();
    h.d_model = mc.decoder.d_model;
    h.n_genes = data->n_genes();
    h.n_conditions = std::max<int64_t>(1, static_cast<int64_t>(data->dispersion_groups().size()));
    h.loss = parse_count_loss(c.count_loss);
    h.size_factor = parse_size_factor_mode(c.size_factor);
    h.dropout = c.count_dropout;
    h.initial_log_library = mean_log_library;
    m.model = PerturbGenModel(mc, device);
    load_parameters(*m.model->encoder, mask.weights, kEncoderPrefix, c.from,
                    m.model->encoder->unused_block_prefixes(kEncoderPrefix));
    load_parameters(*m.model->decoder, mask.weights, kDecoderPrefix, c.from, {kEncoderPrefix});
    m.meta.condition_tokens = mask.meta.condition_tokens;
    m.meta.dispersion_keys = c.dispersion_keys;
    m.meta.dispersion_groups = data->dispersion_groups();
    m.meta.provenance = mask.meta.provenance;
    m.meta.provenance["mask_model"] = c.from;
  }
  freeze(*m.model->encoder);
  if (c.stage == Stage::mask) {
    m.trainable = named(*m.model->decoder, kDecoderPrefix);
  } else {
    freeze(*m.model->decoder);
    for (auto& item : m.model->count_head->named_parameters()) {
      const auto& name = item.key();
      auto& p = item.value();
      const bool theta = name == kThetaKey;
      if (theta && !c.train_dispersion) {
        p.set_requires_grad(false);
        continue;
      }
      m.trainable.emplace(theta ? std::string(kThetaKey) : kCountHeadPrefix + name, p);
    }
  }
  for (const auto& [column, values] : m.meta.condition_tokens)
    for (const auto& [value, id] : values) m.excluded_ids.insert(id);
  return m;
}

NamedTensors result_weights(const StageModel& m) {
  if (m.encoder) return named_tensors(*m.encoder, kEncoderPrefix);
  return m.model->reference_weights();
}

void write_stage_output(const TrainConfig& c, const StageModel& m, const nlohmann::json& provenance) {
  auto meta = m.meta;
  for (auto it = provenance.begin(); it != provenance.end(); ++it) meta.provenance[it.key()] = it.value();
  if (m.encoder) {
    write_encoder_dir(c.output, {m.encoder->config(), meta, result_weights(m)}, c.overwrite || c.resume);
    return;
  }
  write_model_dir(c.output, {m.model->config(), meta, result_weights(m)}, c.overwrite || c.resume);
}

}  // namespace pg::train
