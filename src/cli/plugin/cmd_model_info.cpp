// perturbgen model-info MODEL_DIR: config, parameter counts, vocabularies,
// provenance; with --check-forward, a timed teacher-forced pass on --device.
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/plugin/model_cli.h"
#include "model/model_dir.h"
#include "model/runtime.h"

namespace pg::cli {
namespace {

struct InfoArgs {
  std::string dir, device = "cpu";
  bool json = false, check_forward = false;
  int64_t cells = 4, length = 64;
};

// A random paired batch shaped like real input: <cls> genes <eos> sources and
// gene row ids for every time point.
pg::model::ModelBatch random_batch(const pg::model::ModelConfig& c, int64_t b, int64_t len) {
  torch::manual_seed(0);
  pg::model::ModelBatch batch;
  const int64_t ls = std::min(len, c.encoder.max_seq_length);
  batch.src_ids = torch::randint(4, c.encoder.vocab_size, {b, ls}, torch::kLong);
  batch.src_ids.index_put_({torch::indexing::Slice(), 0}, 2);
  batch.src_ids.index_put_({torch::indexing::Slice(), ls - 1}, 3);
  const int64_t lt = std::min(len, c.decoder.max_seq_length);
  for (int64_t t = 1; t <= c.decoder.n_total_tps; ++t) {
    batch.tgt_ids[t] = torch::randint(4, c.decoder.vocab_size, {b, lt}, torch::kLong);
    batch.library[t] = torch::full({b}, 1e4);
  }
  batch.condition = torch::zeros({b}, torch::kLong);
  return batch;
}

// An encoder directory (`perturbgen pretrain` output): its config, size and,
// with --check-forward, one encoder pass over random cells.
void run_encoder_info(const InfoArgs& a, torch::Device device) {
  const auto enc = pg::model::read_encoder_dir(a.dir);
  const auto& c = enc.config;
  pg::model::SourceEncoder encoder(c, device);
  pg::model::load_parameters(*encoder, enc.weights, pg::model::kEncoderPrefix, a.dir,
                             encoder->unused_block_prefixes(pg::model::kEncoderPrefix));
  int64_t params = 0;
  for (const auto& p : encoder->parameters()) params += p.numel();
  nlohmann::json j = {{"stage", "encoder"},
                      {"model", {{"encoder_scmoscf", pg::model::encoder_config_to_json(c)}}},
                      {"meta", pg::model::model_meta_to_json(enc.meta)},
                      {"parameters", {{"encoder", params}}}};
  if (a.check_forward) {
    torch::NoGradGuard ng;
    torch::manual_seed(0);
    const int64_t len = std::min(a.length, c.max_seq_length);
    auto ids = torch::randint(4, c.vocab_size, {a.cells, len}, torch::kLong);
    ids.select(1, 0).fill_(2);
    const bool finite = torch::isfinite(encoder->forward(ids)).all().item<bool>();
    if (!finite) throw pg::Error(a.dir, "check-forward", "the encoder produced non-finite outputs");
    j["check_forward"] = {{"device", device.str()}, {"cells", a.cells}, {"tokens", len}, {"finite", finite}};
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  std::cout << "encoder directory " << a.dir << "\n"
            << "  encoder: d " << c.d_model << ", " << c.num_heads << "x" << c.head_dim << " heads, "
            << c.num_layers << " blocks, mode " << pg::model::to_string(c.mode) << ", vocabulary "
            << c.vocab_size << ", " << c.max_seq_length << " positions, " << (c.mlm_head ? "with" : "without")
            << " MLM head; " << params << " parameters\n"
            << "  source vocabulary: "
            << (enc.meta.source_vocab_name.empty() ? "not recorded" : enc.meta.source_vocab_name)
            << " sha256 " << enc.meta.source_vocab_sha256 << "\n";
  if (j.contains("check_forward")) std::cout << "  check-forward on " << device.str() << ": finite\n";
}

void run_info(const InfoArgs& a) {
  const auto device = torch::Device(pg::model::check_device(a.device));
  if (pg::model::model_dir_stage(a.dir) == "encoder") return run_encoder_info(a, device);
  auto loaded = pg::model::load_model(a.dir, device);
  const auto& c = loaded.contents.config;
  const auto counts = pg::model::count_parameters(*loaded.model);
  nlohmann::json j = {{"model", pg::model::model_config_to_json(c)},
                      {"meta", pg::model::model_meta_to_json(loaded.contents.meta)},
                      {"parameters",
                       {{"encoder", counts.encoder},
                        {"decoder", counts.decoder},
                        {"count_head", counts.count_head},
                        {"total", counts.total()},
                        {"buffers", counts.buffers}}}};
  if (a.check_forward) {
    auto batch = random_batch(c, a.cells, a.length);
    torch::NoGradGuard ng;
    const auto t0 = std::chrono::steady_clock::now();
    auto out = loaded.model->forward(batch);
    const auto& first = out.begin()->second;
    const bool finite = torch::isfinite(first.mean_embedding).all().item<bool>();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    j["check_forward"] = {{"device", device.str()},
                          {"cells", a.cells},
                          {"tokens", a.length},
                          {"seconds", s},
                          {"finite", finite}};
    if (!finite) throw pg::Error(a.dir, "check-forward", "the forward pass produced non-finite embeddings");
  }
  if (a.json) {
    std::cout << j.dump(2) << "\n";
    return;
  }
  const auto& m = loaded.contents.meta;
  std::cout << "model directory " << a.dir << "\n"
            << "  encoder: d " << c.encoder.d_model << ", " << c.encoder.num_heads << "x"
            << c.encoder.head_dim << " heads, " << c.encoder.num_layers << " blocks, mode "
            << pg::model::to_string(c.encoder.mode) << ", vocabulary " << c.encoder.vocab_size << ", "
            << c.encoder.max_seq_length << " positions\n"
            << "  decoder: d " << c.decoder.d_model << ", " << c.decoder.num_heads << "x"
            << c.decoder.head_dim << " heads, " << c.decoder.num_layers << " blocks, vocabulary "
            << c.decoder.vocab_size << ", " << c.decoder.n_total_tps << " time points, "
            << pg::model::to_string(c.decoder.positional) << (c.decoder.context_mode ? ", context mode" : "")
            << "\n";
  if (c.count_head)
    std::cout << "  count head: " << pg::model::to_string(c.count_head->loss) << ", " << c.count_head->n_genes
              << " genes, size factor " << pg::model::to_string(c.count_head->size_factor) << "\n";
  else
    std::cout << "  count head: none (masking-stage model)\n";
  std::cout << "  parameters: encoder " << counts.encoder << " (held), decoder " << counts.decoder
            << ", count head " << counts.count_head << ", total " << counts.total() << "; buffers "
            << counts.buffers << "\n"
            << "  source vocabulary: " << (m.source_vocab_name.empty() ? "(unnamed)" : m.source_vocab_name)
            << (m.source_vocab_sha256.empty() ? "" : " sha256 " + m.source_vocab_sha256) << "\n"
            << "  genes: " << m.genes.size() << (m.genes.empty() ? " named" : "")
            << "; time points: " << m.time_points.size() << "\n";
  if (m.provenance.contains("imported_from"))
    std::cout << "  imported from " << m.provenance["imported_from"].get<std::string>() << " ("
              << m.provenance.value("stage", "?") << " stage, sha256 "
              << m.provenance.value("sha256", "?").substr(0, 16) << "...)\n";
  if (j.contains("check_forward"))
    std::cout << "  check-forward on " << device.str() << ": " << a.cells << " cells x " << a.length
              << " tokens, all times, in " << j["check_forward"]["seconds"].get<double>() << " s\n";
}

}  // namespace

void add_model_info(CLI::App& app) {
  auto args = std::make_shared<InfoArgs>();
  CLI::App* cmd = app.add_subcommand(
      "model-info", "Show a model directory: config, parameter counts, vocabularies, provenance");
  cmd->add_option("model_dir", args->dir, "Model directory (config.json + model.safetensors)")->required();
  cmd->add_flag("--json", args->json, "Print JSON");
  cmd->add_option("--device", args->device, "Device to load the model on: cpu, cuda or cuda:N");
  cmd->add_flag("--check-forward", args->check_forward,
                "Run one teacher-forced pass on a random batch on --device and report its time");
  cmd->add_option("--cells", args->cells, "Cells in the --check-forward batch")->check(CLI::PositiveNumber);
  cmd->add_option("--tokens", args->length, "Tokens per sequence in the --check-forward batch")
      ->check(CLI::Range(2, 1 << 20));
  cmd->callback(guarded([args] { run_info(*args); }));
}

}  // namespace pg::cli
