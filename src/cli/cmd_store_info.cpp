#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "store/token_store.h"

namespace pg::cli {

namespace {

void print_pairing(const nlohmann::json& p) {
  std::cout << "    mode " << p.value("mode", std::string("?")) << ", seed " << p.value("seed", 0)
            << ", anchor " << p.value("anchor", std::string("?")) << ", "
            << (p.value("without_replacement", true) ? "without replacement while enough cells"
                                                     : "with replacement")
            << "\n";
  for (const auto& c : p.value("columns", nlohmann::json::array())) {
    std::cout << "    " << c.value("state", std::string("?")) << " (" << c.value("role", std::string("?"))
              << "): " << c.value("cells_available", 0) << " cells available, "
              << c.value("distinct_cells", 0) << " distinct used, " << c.value("reused_draws", 0)
              << " reused\n";
  }
  for (const char* key : {"skipped_states", "dropped_groups"}) {
    for (const auto& n : p.value(key, nlohmann::json::array())) {
      std::cout << "    " << (std::string(key) == "skipped_states" ? "skipped state " : "dropped group ")
                << n.value("name", std::string("?")) << ": " << n.value("reason", std::string("?")) << "\n";
    }
  }
}

void print_summary(const store::TokenStore& s) {
  const auto& meta = s.meta();
  const auto& schema = s.schema();
  std::cout << "token store " << s.dir().string() << "\n";
  std::cout << "  cells: " << s.n_cells() << " in " << s.n_shards() << " shard(s)\n";
  std::vector<int64_t> per_state(schema.states.size(), 0);
  if (meta.contains("cells") && meta["cells"].contains("per_state")) {
    std::cout << "  cells per state:";
    for (const auto& name : schema.states) {
      std::cout << " " << name << "=" << meta["cells"]["per_state"].value(name, int64_t{0});
    }
    std::cout << "  (source: " << meta["time"].value("source", std::string("?")) << ")\n";
  }
  std::cout << "  vocabulary: " << schema.vocabulary_name << ", " << schema.vocab_size << " tokens, hash "
            << schema.vocabulary_hash << "\n";
  if (meta.contains("vocabulary") && meta["vocabulary"].contains("files_sha256")) {
    for (const auto& [file, sha] : meta["vocabulary"]["files_sha256"].items()) {
      std::cout << "    " << file << " sha256 " << sha.get<std::string>() << "\n";
    }
  }
  std::cout << "  count-head genes: " << s.genes().size() << "\n";
  if (meta.contains("genes")) {
    const auto& g = meta["genes"];
    std::cout << "  gene selection: " << g.value("selected", 0) << " selected"
              << (g.contains("hvg")
                      ? " (HVG, seurat flavour, batch " + g["hvg"].value("batch_key", std::string()) + ")"
                      : std::string(" (all genes)"))
              << ", " << g.value("mito_ribo_removed", 0) << " mito/ribo removed, "
              << g.value("too_few_cells_removed", 0) << " in too few cells, " << g["forced_in"].size()
              << " forced in\n";
  }
  if (!schema.obs.empty()) {
    std::cout << "  obs columns:";
    for (const auto& c : schema.obs) {
      std::cout << " " << c.name
                << (c.kind == store::ObsColumnSpec::Kind::Float
                        ? std::string(" (float)")
                        : " (" + std::to_string(c.categories.size()) + " categories)");
    }
    std::cout << "\n";
  }
  if (s.has_pairing()) {
    const auto p = s.pairing_view();
    std::cout << "  pairing: " << p.n_rows << " rows x " << p.columns->size() << " states (";
    for (size_t i = 0; i < p.columns->size(); ++i) std::cout << (i ? ", " : "") << (*p.columns)[i];
    std::cout << ")\n";
    if (meta.contains("pairing")) print_pairing(meta["pairing"]);
  }
  if (meta.contains("sentences")) {
    const auto& t = meta["sentences"];
    std::cout << "  sentences: mean length " << t.value("mean_length", 0.0) << ", "
              << t.value("truncated_cells", 0) << " truncated at " << t.value("model_input_size", 0)
              << ", ties by " << t.value("tie_break", std::string("?")) << "\n";
  }
  if (meta.contains("tool")) {
    std::cout << "  made by: perturbgen " << meta["tool"].value("version", std::string("?")) << "\n";
  }
}

void print_cell(const store::TokenStore& s, int64_t cell) {
  if (cell < 0 || cell >= s.n_cells()) {
    throw Error(
        s.dir().string(), "--cell",
        "cell " + std::to_string(cell) + " outside the store's " + std::to_string(s.n_cells()) + " cells");
  }
  // Gene names by source token (from genes.tsv), for the genes the store counts.
  std::unordered_map<int64_t, const store::GeneRow*> by_token;
  for (const auto& g : s.genes()) by_token[g.source_token] = &g;
  std::vector<uint32_t> tokens;
  s.tokens(cell, tokens);
  std::cout << "cell " << cell << " (" << s.cell_id(cell) << "), state "
            << s.schema().states[static_cast<size_t>(s.state(cell))] << ", library size "
            << s.library_size(cell) << ", " << tokens.size() << " tokens\n";
  std::cout << "rank\ttoken\tgene_id\tgene_name\n";
  static const char* specials[] = {"<pad>", "<mask>", "<cls>", "<eos>"};
  for (size_t k = 0; k < tokens.size(); ++k) {
    std::cout << k << "\t" << tokens[k] << "\t";
    if (tokens[k] < 4) {
      std::cout << specials[tokens[k]] << "\t" << specials[tokens[k]] << "\n";
    } else if (auto it = by_token.find(tokens[k]); it != by_token.end()) {
      std::cout << it->second->gene_id << "\t" << it->second->gene_name << "\n";
    } else {
      std::cout << "?\t?\n";
    }
  }
}

}  // namespace

void add_store_info(CLI::App& app) {
  struct Options {
    std::string dir;
    int64_t cell = -1;
    std::string pairing_tsv;
    bool json = false, verify = false;
  };
  auto opt = std::make_shared<Options>();
  CLI::App* cmd =
      app.add_subcommand("store-info", "Describe a token store; show one cell; export the pairing");
  cmd->add_option("STORE_DIR", opt->dir, "Token store folder written by `perturbgen tokenise`")->required();
  cmd->add_option("--cell", opt->cell, "Print this cell's token ids and gene names");
  cmd->add_option("--pairing-tsv", opt->pairing_tsv, "Write the pairing table (cell ids and indices) as TSV");
  cmd->add_flag("--json", opt->json, "Print meta.json");
  cmd->add_flag("--verify", opt->verify, "Read every shard and check its checksum");
  cmd->callback([opt] {
    const auto s = store::TokenStore::open(opt->dir);
    if (opt->verify) s.verify();
    if (opt->json) {
      std::cout << s.meta().dump(2) << "\n";
    } else if (opt->cell >= 0) {
      print_cell(s, opt->cell);
    } else {
      print_summary(s);
      if (opt->verify) std::cout << "  verified: every shard's checksum matches\n";
    }
    if (!opt->pairing_tsv.empty()) {
      store::export_pairing_tsv(s, opt->pairing_tsv);
      std::cerr << "wrote " << opt->pairing_tsv << "\n";
    }
  });
}

}  // namespace pg::cli
