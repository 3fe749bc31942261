// perturbgen import-ckpt IN.ckpt OUT_DIR: a reference Lightning checkpoint
// into a model directory (masking or count stage) or an encoder directory
// (the standalone source encoder PerturbGen publishes), without Python.
#include <c10/util/Exception.h>

#include <fstream>
#include <iostream>

#include "cli/plugin/model_cli.h"
#include "core/error.h"
#include "io/torch_checkpoint.h"
#include "model/checkpoint_common.h"
#include "model/checkpoint_import.h"
#include "model/encoder_import.h"
#include "store/token_store.h"
#include "tokenise/vocabulary.h"

namespace pg::cli {

std::function<void()> guarded(std::function<void()> body) {
  return [body = std::move(body)] {
    try {
      body();
    } catch (const c10::Error& e) {
      throw pg::Error("", "libtorch", e.what_without_backtrace());
    }
  };
}

namespace {

struct ImportArgs {
  std::string input, output, genes_file, store, vocab = "auto";
  int64_t encoder_heads = 8;
  bool overwrite = false, keep_mlm_head = false;
};

// The published encoder's tgt_vocab_size: its 19,003 embedding rows hold the
// gc95M dictionary (18,967 tokens, spec §2.2).
constexpr int64_t kPublishedVocab = 19000;

std::string human_bytes(int64_t b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / 1e6);
  return buf;
}

// `head`: the checkpoint already opened (pickle only) to tell its kind.
void run_encoder_import(const ImportArgs& a, const pg::io::TorchCheckpoint& head) {
  if (!a.genes_file.empty())
    throw pg::Error(a.input, "--genes", "is for count-stage checkpoints; this is a standalone encoder");
  pg::model::EncoderImportOptions o;
  o.fallback_heads = a.encoder_heads;
  o.keep_mlm_head = a.keep_mlm_head;
  o.overwrite = a.overwrite;
  std::string vocab_note;
  if (!a.store.empty()) {
    const auto store = pg::store::TokenStore::open(a.store);
    o.vocab_name = store.schema().vocabulary_name;
    o.vocab_sha256 = store.schema().vocabulary_hash;
    vocab_note = "the store's (" + a.store + ")";
  } else if (a.vocab == "gc95M" || a.vocab == "auto") {
    // The checkpoint does not say which dictionary its rows follow; the
    // published one (19,000 genes) is gc95M's. Other sizes record none
    // unless told.
    int64_t vocab = -1;
    for (const auto& [k, loc] : head.state_dict_locations())
      if (k == "transformer.token_embedding.weight") vocab = loc.shape.at(0) - 3;
    if (a.vocab == "gc95M" || vocab == kPublishedVocab) {
      const auto v = pg::tokenise::load_gc95m();
      if (vocab >= 0 && v.size() > vocab + 3)
        throw pg::Error(a.input, "transformer.token_embedding.weight",
                        std::to_string(vocab + 3) + " rows cannot hold the gc95M vocabulary's " +
                            std::to_string(v.size()) + " tokens");
      o.vocab_name = v.name;
      o.vocab_sha256 = v.hash();
      vocab_note = a.vocab == "auto" ? "gc95M (the published encoder's dictionary; --vocab none records none)"
                                     : "gc95M";
    } else {
      vocab_note = "none (not the published size; pass --vocab gc95M or --store to record one)";
    }
  } else if (a.vocab == "none") {
    vocab_note = "none";
  } else {
    throw pg::Error("<arguments>", "--vocab", "must be auto, gc95M or none, got '" + a.vocab + "'");
  }
  const auto r = pg::model::import_encoder_checkpoint(a.input, a.output, o);
  const auto& c = r.config;
  std::cout << "imported standalone encoder checkpoint " << a.input << " -> " << a.output
            << " (encoder directory)\n"
            << "  encoder: d " << c.d_model << ", " << c.num_heads << "x" << c.head_dim << " heads, "
            << c.num_layers << " blocks (reference mode: runs block " << c.num_layers - 1
            << " only), vocabulary " << c.vocab_size << " (" << c.embedding_rows << " embedding rows), "
            << c.max_seq_length << " positions, " << c.n_time_rows << " time rows\n"
            << "  vocabulary recorded: " << vocab_note << "\n";
  for (const auto& p : r.kept)
    std::cout << "  kept:    " << p.what << ": " << p.tensors << " tensors, " << human_bytes(p.bytes) << " ("
              << p.why << ")\n";
  for (const auto& p : r.dropped)
    std::cout << "  dropped: " << p.what << ": " << p.tensors << " tensors, " << human_bytes(p.bytes)
              << ", never read (" << p.why << ")\n";
  for (const auto& n : r.notes) std::cout << "  note: " << n << "\n";
}

std::vector<std::string> read_gene_list(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw pg::Error(path, "", "cannot be opened");
  std::vector<std::string> genes;
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    if (line.empty()) continue;
    genes.push_back(line.substr(0, line.find('\t')));  // first column of a TSV
  }
  if (genes.empty()) throw pg::Error(path, "", "holds no gene names");
  return genes;
}

// Ties the model to the token store it will run on: the store's vocabulary
// (name and hash, checked by later commands), its count-head genes and its
// states. The tokens must fit the encoder and the count head must have one
// output per gene, else the checkpoint was trained on other data.
void apply_store(pg::model::ModelDirContents& c, const std::string& dir) {
  const auto store = pg::store::TokenStore::open(dir);
  const auto& s = store.schema();
  if (s.vocab_size > c.config.encoder.embedding_rows)
    throw pg::Error(dir, "vocabulary",
                    "the store's tokens go up to " + std::to_string(s.vocab_size - 1) +
                        " but the encoder has " + std::to_string(c.config.encoder.embedding_rows) +
                        " embedding rows");
  if (c.config.count_head && static_cast<int64_t>(store.genes().size()) != c.config.count_head->n_genes)
    throw pg::Error(dir, "genes.tsv",
                    std::to_string(store.genes().size()) + " genes, but the checkpoint's count head has " +
                        std::to_string(c.config.count_head->n_genes));
  c.meta.source_vocab_name = s.vocabulary_name;
  c.meta.source_vocab_sha256 = s.vocabulary_hash;
  c.meta.genes.clear();
  for (const auto& g : store.genes()) c.meta.genes.push_back(g.gene_name.empty() ? g.gene_id : g.gene_name);
  c.meta.time_points = s.states;
}

void run_import(const ImportArgs& a) {
  {
    const auto head = pg::io::TorchCheckpoint::open(a.input, {.opaque_unknown_globals = true});
    std::vector<std::string> keys;
    for (const auto& [k, loc] : head.state_dict_locations()) keys.push_back(pg::model::strip_compile(k));
    if (pg::model::is_standalone_encoder(keys)) return run_encoder_import(a, head);
  }
  if (a.keep_mlm_head || a.vocab != "auto")
    throw pg::Error(a.input, a.keep_mlm_head ? "--keep-mlm-head" : "--vocab",
                    "applies to standalone encoder checkpoints; this is a PerturbGen model checkpoint");
  pg::model::ImportOptions o;
  o.encoder_heads = a.encoder_heads;
  if (!a.genes_file.empty()) o.genes = read_gene_list(a.genes_file);
  pg::model::ImportReport r;
  auto contents = pg::model::import_lightning_checkpoint(a.input, o, &r);
  if (!a.store.empty()) apply_store(contents, a.store);
  pg::model::write_model_dir(a.output, contents, a.overwrite);
  const auto& c = contents.config;
  std::cout << "imported " << r.stage << "-stage checkpoint " << a.input << " -> " << a.output << "\n"
            << "  tensors: " << r.tensors_read << " read, " << r.duplicates_dropped << " duplicates dropped, "
            << r.unused_dropped << " unused encoder tensors dropped, " << contents.weights.size()
            << " written\n"
            << "  encoder: d " << c.encoder.d_model << ", " << c.encoder.num_heads << "x"
            << c.encoder.head_dim << " heads, " << c.encoder.num_layers
            << " blocks (reference mode: last block), vocabulary " << c.encoder.vocab_size << "\n"
            << "  decoder: d " << c.decoder.d_model << ", " << c.decoder.num_heads << "x"
            << c.decoder.head_dim << " heads, " << c.decoder.num_layers << " blocks, vocabulary "
            << c.decoder.vocab_size << ", " << c.decoder.n_total_tps << " time points, "
            << pg::model::to_string(c.decoder.positional) << "\n";
  if (c.count_head)
    std::cout << "  count head: " << pg::model::to_string(c.count_head->loss) << ", " << c.count_head->n_genes
              << " genes, " << c.count_head->n_conditions << " condition(s), size factor "
              << pg::model::to_string(c.count_head->size_factor) << "\n";
  for (const auto& n : r.notes) std::cout << "  note: " << n << "\n";
}

}  // namespace

void add_import_ckpt(CLI::App& app) {
  auto args = std::make_shared<ImportArgs>();
  CLI::App* cmd = app.add_subcommand(
      "import-ckpt",
      "Convert a reference PyTorch Lightning checkpoint (.ckpt) into a model directory, or the published "
      "standalone encoder checkpoint into an encoder directory");
  cmd->add_option(
         "input", args->input,
         "Checkpoint written by the reference: masking or count stage, or the standalone source encoder "
         "(scmaskgit CellGenTrainer, the published PerturbGen weights)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("output", args->output, "Model directory to create")->required();
  cmd->add_option(
      "--genes", args->genes_file,
      "Count-head genes in order, one per line (first TSV column), e.g. a token store's genes.tsv");
  cmd->add_option(
         "--store", args->store,
         "Token store the model will run on: records its vocabulary hash, genes and states, and checks "
         "that they fit the checkpoint")
      ->excludes("--genes");
  cmd->add_option("--encoder-heads", args->encoder_heads,
                  "Attention heads of the source encoder (not stored in checkpoints; the reference uses 8)")
      ->check(CLI::PositiveNumber);
  cmd->add_option(
      "--vocab", args->vocab,
      "Standalone encoder: the token vocabulary to record (auto: gc95M for the published 19,000-gene "
      "encoder, none otherwise; gc95M; none). --store records that store's instead");
  cmd->add_flag("--keep-mlm-head", args->keep_mlm_head,
                "Standalone encoder: keep the MLM head decoder_fc (only continued pretraining reads it)");
  cmd->add_flag("--overwrite", args->overwrite, "Replace an existing model directory");
  cmd->callback(guarded([args] { run_import(*args); }));
}

}  // namespace pg::cli
