#include "model/config.h"

#include <nlohmann/json.hpp>

#include "core/error.h"

namespace pg::model {
namespace {

const nlohmann::json& section(const nlohmann::json& j, const char* key, const std::string& file) {
  if (!j.is_object() || !j.contains(key) || !j.at(key).is_object())
    throw pg::Error(file, key, "missing or not an object");
  return j.at(key);
}

template <typename T>
T get(const nlohmann::json& s, const char* sec, const char* key, const std::string& file, T fallback,
      bool required) {
  if (!s.contains(key)) {
    if (required) throw pg::Error(file, std::string(sec) + "." + key, "missing");
    return fallback;
  }
  try {
    return s.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw pg::Error(file, std::string(sec) + "." + key, "has the wrong type: " + s.at(key).dump());
  }
}

void check_positive(int64_t v, const std::string& file, const std::string& key) {
  if (v <= 0) throw pg::Error(file, key, "must be positive, got " + std::to_string(v));
}

}  // namespace

std::string to_string(PositionalMode m) {
  switch (m) {
    case PositionalMode::TimePosSin:
      return "time_pos_sin";
    case PositionalMode::CombSin:
      return "comb_sin";
    case PositionalMode::SinLearnt:
      return "sin_learnt";
  }
  return "?";
}

PositionalMode positional_mode_from_string(const std::string& s, const std::string& file) {
  if (s == "time_pos_sin") return PositionalMode::TimePosSin;
  if (s == "comb_sin") return PositionalMode::CombSin;
  if (s == "sin_learnt") return PositionalMode::SinLearnt;
  throw pg::Error(file, "pos_encoding_mode",
                  "unsupported value '" + s + "' (expected time_pos_sin, comb_sin or sin_learnt)");
}

std::string to_string(EncoderMode m) {
  return m == EncoderMode::Reference ? "reference" : "stacked";
}

EncoderMode encoder_mode_from_string(const std::string& s, const std::string& file) {
  if (s == "reference") return EncoderMode::Reference;
  if (s == "stacked") return EncoderMode::Stacked;
  throw pg::Error(file, "encoder_mode", "unsupported value '" + s + "' (expected reference or stacked)");
}

CountLoss parse_count_loss(const std::string& name, const std::string& file) {
  if (name == "zinb") return CountLoss::zinb;
  if (name == "nb") return CountLoss::nb;
  if (name == "mse") return CountLoss::mse;
  throw pg::Error(file, "count_head.loss_mode", "unknown value '" + name + "' (expected zinb, nb or mse)");
}

SizeFactorMode parse_size_factor_mode(const std::string& name, const std::string& file) {
  if (name == "observed") return SizeFactorMode::observed;
  if (name == "predicted") return SizeFactorMode::predicted;
  if (name == "none") return SizeFactorMode::none;
  throw pg::Error(file, "count_head.size_factor",
                  "unknown value '" + name + "' (expected observed, predicted or none)");
}

std::string to_string(CountLoss loss) {
  switch (loss) {
    case CountLoss::zinb:
      return "zinb";
    case CountLoss::nb:
      return "nb";
    case CountLoss::mse:
      return "mse";
  }
  return "?";
}

std::string to_string(SizeFactorMode mode) {
  switch (mode) {
    case SizeFactorMode::observed:
      return "observed";
    case SizeFactorMode::predicted:
      return "predicted";
    case SizeFactorMode::none:
      return "none";
  }
  return "?";
}

EncoderConfig encoder_config_from_json(const nlohmann::json& j, const std::string& file) {
  EncoderConfig ec;
  const auto& e = section(j, "encoder_scmoscf", file);
  const char* es = "encoder_scmoscf";
  ec.vocab_size = get<int64_t>(e, es, "tgt_vocab_size", file, 0, true);
  ec.embedding_rows = get<int64_t>(e, es, "embedding_rows", file, ec.vocab_size + 3, false);
  ec.d_model = get<int64_t>(e, es, "d_model", file, 0, true);
  ec.num_heads = get<int64_t>(e, es, "num_heads", file, 0, true);
  ec.head_dim = get<int64_t>(e, es, "d_ff", file, 0, true);
  ec.num_layers = get<int64_t>(e, es, "num_layers", file, 0, true);
  ec.ffn_hidden = get<int64_t>(e, es, "ffn_hidden", file, ec.d_model, false);
  ec.max_seq_length = get<int64_t>(e, es, "max_seq_length", file, 0, true);
  ec.n_time_rows = get<int64_t>(e, es, "n_total_tps", file, 0, true);
  ec.time_row = get<int64_t>(e, es, "time_row", file, 1, false);
  ec.layernorm_eps = get<double>(e, es, "layernorm_eps", file, 1e-5, false);
  ec.mode = encoder_mode_from_string(get<std::string>(e, es, "encoder_mode", file, "reference", false), file);
  ec.mlm_head = get<bool>(e, es, "mlm_head", file, true, false);
  // The encoder adds the sinusoid time/position tables (time_pos_sin); an
  // encoder trained with another positional mode would embed differently.
  const auto pos = get<std::string>(e, es, "pos_encoding_mode", file, "time_pos_sin", false);
  if (pos != "time_pos_sin")
    throw pg::Error(file, "encoder_scmoscf.pos_encoding_mode",
                    "is '" + pos + "'; the source encoder supports only time_pos_sin");
  for (auto [k, v] : {std::pair{"d_model", ec.d_model},
                      {"num_heads", ec.num_heads},
                      {"d_ff", ec.head_dim},
                      {"num_layers", ec.num_layers},
                      {"max_seq_length", ec.max_seq_length},
                      {"n_total_tps", ec.n_time_rows},
                      {"tgt_vocab_size", ec.vocab_size}})
    check_positive(v, file, "encoder_scmoscf." + std::string(k));
  if (ec.time_row < 0 || ec.time_row >= ec.n_time_rows)
    throw pg::Error(
        file, "encoder_scmoscf.time_row",
        "must be in [0, " + std::to_string(ec.n_time_rows) + "), got " + std::to_string(ec.time_row));

  return ec;
}

ModelConfig model_config_from_json(const nlohmann::json& j, const std::string& file) {
  ModelConfig c;
  c.encoder = encoder_config_from_json(j, file);

  const auto& d = section(j, "decoder_perturbgen", file);
  const char* ds = "decoder_perturbgen";
  auto& dc = c.decoder;
  dc.vocab_size = get<int64_t>(d, ds, "tgt_vocab_size", file, 0, true);
  dc.d_model = get<int64_t>(d, ds, "d_model", file, 0, true);
  dc.num_heads = get<int64_t>(d, ds, "num_heads", file, 0, true);
  dc.head_dim = get<int64_t>(d, ds, "d_ff", file, 0, true);
  dc.num_layers = get<int64_t>(d, ds, "num_layers", file, 0, true);
  dc.ffn_hidden = get<int64_t>(d, ds, "ffn_hidden", file, dc.d_model, false);
  dc.max_seq_length = get<int64_t>(d, ds, "max_seq_length", file, 0, true);
  dc.n_total_tps = get<int64_t>(d, ds, "n_total_tps", file, 0, true);
  dc.pred_tps = get<std::vector<int64_t>>(d, ds, "pred_tps", file, {}, true);
  if (d.contains("context_tps") && !d.at("context_tps").is_null())
    dc.context_tps = get<std::vector<int64_t>>(d, ds, "context_tps", file, {}, true);
  dc.context_mode = get<bool>(d, ds, "context_mode", file, true, false);
  dc.source_summary = get<bool>(d, ds, "source_summary", file, false, false);
  dc.positional = positional_mode_from_string(
      get<std::string>(d, ds, "pos_encoding_mode", file, "time_pos_sin", false), file);
  dc.layernorm_eps = get<double>(d, ds, "layernorm_eps", file, 1e-5, false);
  for (auto [k, v] : {std::pair{"d_model", dc.d_model},
                      {"num_heads", dc.num_heads},
                      {"d_ff", dc.head_dim},
                      {"num_layers", dc.num_layers},
                      {"max_seq_length", dc.max_seq_length},
                      {"n_total_tps", dc.n_total_tps},
                      {"tgt_vocab_size", dc.vocab_size}})
    check_positive(v, file, std::string(ds) + "." + k);
  for (int64_t t : dc.pred_tps)
    if (t < 1 || t > dc.n_total_tps)
      throw pg::Error(file, std::string(ds) + ".pred_tps",
                      "time " + std::to_string(t) + " outside 1.." + std::to_string(dc.n_total_tps));

  if (j.contains("count_head") && j.at("count_head").is_object()) {
    const auto& h = j.at("count_head");
    const char* hs = "count_head";
    CountHeadConfig& hc = c.count_head.emplace();
    hc.d_model = get<int64_t>(h, hs, "d_model", file, dc.d_model, false);
    hc.loss = parse_count_loss(get<std::string>(h, hs, "loss_mode", file, "zinb", false), file);
    hc.n_genes = get<int64_t>(h, hs, "n_genes", file, 0, true);
    hc.n_conditions = get<int64_t>(h, hs, "n_conditions_combined", file, 1, false);
    hc.dropout = get<double>(h, hs, "dropout", file, 0.0, false);
    hc.initial_log_library = get<double>(h, hs, "initial_log_library", file, 0.0, false);
    // Our key `size_factor`, else the reference's two booleans.
    if (h.contains("size_factor")) {
      hc.size_factor = parse_size_factor_mode(get<std::string>(h, hs, "size_factor", file, "", true), file);
    } else if (!get<bool>(h, hs, "use_size_factor", file, true, false)) {
      hc.size_factor = SizeFactorMode::none;
    } else {
      hc.size_factor = get<bool>(h, hs, "use_observed_size_factor", file, true, false)
                           ? SizeFactorMode::observed
                           : SizeFactorMode::predicted;
    }
    for (auto [k, v] : {std::pair{"d_model", hc.d_model},
                        {"n_genes", hc.n_genes},
                        {"n_conditions_combined", hc.n_conditions}})
      check_positive(v, file, std::string(hs) + "." + k);
    if (hc.d_model != dc.d_model)
      throw pg::Error(
          file, "count_head.d_model",
          std::to_string(hc.d_model) + " differs from the decoder's " + std::to_string(dc.d_model));
  }
  return c;
}

nlohmann::json encoder_config_to_json(const EncoderConfig& e) {
  return {{"tgt_vocab_size", e.vocab_size},
          {"embedding_rows", e.embedding_rows},
          {"d_model", e.d_model},
          {"num_heads", e.num_heads},
          {"d_ff", e.head_dim},
          {"num_layers", e.num_layers},
          {"ffn_hidden", e.ffn_hidden},
          {"max_seq_length", e.max_seq_length},
          {"n_total_tps", e.n_time_rows},
          {"time_row", e.time_row},
          {"layernorm_eps", e.layernorm_eps},
          {"encoder_mode", to_string(e.mode)},
          {"mlm_head", e.mlm_head},
          {"pos_encoding_mode", "time_pos_sin"}};
}

nlohmann::json model_config_to_json(const ModelConfig& c) {
  const auto& d = c.decoder;
  nlohmann::json j;
  j["encoder_scmoscf"] = encoder_config_to_json(c.encoder);
  j["decoder_perturbgen"] = {
      {"tgt_vocab_size", d.vocab_size},
      {"d_model", d.d_model},
      {"num_heads", d.num_heads},
      {"d_ff", d.head_dim},
      {"num_layers", d.num_layers},
      {"ffn_hidden", d.ffn_hidden},
      {"max_seq_length", d.max_seq_length},
      {"n_total_tps", d.n_total_tps},
      {"pred_tps", d.pred_tps},
      {"context_tps", d.context_tps ? nlohmann::json(*d.context_tps) : nlohmann::json()},
      {"context_mode", d.context_mode},
      {"source_summary", d.source_summary},
      {"pos_encoding_mode", to_string(d.positional)},
      {"layernorm_eps", d.layernorm_eps}};
  if (c.count_head) {
    const auto& h = *c.count_head;
    j["count_head"] = {{"loss_mode", to_string(h.loss)},
                       {"d_model", h.d_model},
                       {"n_genes", h.n_genes},
                       {"n_conditions_combined", h.n_conditions},
                       {"dropout", h.dropout},
                       {"size_factor", to_string(h.size_factor)},
                       {"initial_log_library", h.initial_log_library}};
  }
  return j;
}

}  // namespace pg::model
