// perturbgen import-ckpt IN.ckpt OUT_DIR: a reference Lightning checkpoint
// (masking or count stage) into a model directory, without Python.
#include <c10/util/Exception.h>

#include <fstream>
#include <iostream>

#include "cli/plugin/model_cli.h"
#include "core/error.h"
#include "model/checkpoint_import.h"
#include "store/token_store.h"

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
  std::string input, output, genes_file, store;
  int64_t encoder_heads = 8;
  bool overwrite = false;
};

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
      "import-ckpt", "Convert a reference PyTorch Lightning checkpoint (.ckpt) into a model directory");
  cmd->add_option("input", args->input, "Checkpoint written by the reference (masking or count stage)")
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
  cmd->add_flag("--overwrite", args->overwrite, "Replace an existing model directory");
  cmd->callback(guarded([args] { run_import(*args); }));
}

}  // namespace pg::cli
