#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "tokenise/tokenise.h"

namespace pg::cli {

namespace {

tokenise::VocabChoice parse_vocab(const std::string& s) {
  if (s == "auto") return tokenise::VocabChoice::Auto;
  if (s == "gc95M" || s == "gc95m") return tokenise::VocabChoice::Gc95M;
  if (s == "dataset") return tokenise::VocabChoice::Dataset;
  throw Error("", "--vocab", "unknown vocabulary '" + s + "' (auto, gc95M or dataset)");
}

}  // namespace

void add_tokenise(CLI::App& app) {
  struct Raw {
    tokenise::TokeniseOptions opt;
    std::string vocab = "auto", genes = "all", hvg_stage = "before", pairing = "random", anchor = "source",
                lineage_missing = "drop";
    bool with_replacement = false;
    std::string config;  // read by expand_config before parsing
  };
  auto raw = std::make_shared<Raw>();
  auto& o = raw->opt;
  CLI::App* cmd = app.add_subcommand(
      "tokenise",
      "Turn a time course into rank-value cell sentences, count rows and a source->target pairing");
  cmd->alias("tokenize");
  cmd->add_option("--config", raw->config,
                  "TOML file with any of these options (long names: time-key = \"day\"); flags win over it");
  cmd->add_option("INPUT", o.input, "h5ad, loom, 10x HDF5 file or 10x MatrixMarket folder (with obs.tsv)")
      ->required();
  cmd->add_option("-o,--output", o.output, "Token store folder to create")->required();
  cmd->add_flag("--overwrite", o.overwrite, "Replace an existing token store (atomically, when done)");
  cmd->add_option("--time-key", o.time_key, "obs column with the time point / state")->required();
  cmd->add_option("--time-order", o.time_order, "States in time order, comma-separated")
      ->delimiter(',')
      ->required();
  cmd->add_option("--source", o.source, "Source (reference) state; default: the first of --time-order");
  cmd->add_option("--layer", o.layer, "Layer with raw counts (default: X)");
  cmd->add_option("--gene-key", o.gene_key, "var column with gene IDs (default: detect)");
  cmd->add_option("--vocab", raw->vocab, "auto | gc95M | dataset (species-agnostic, medians from the data)")
      ->capture_default_str();
  cmd->add_option("--vocab-dir", o.vocab_dir,
                  "Folder with other dictionaries (same three TSVs + SHA256SUMS)");
  cmd->add_option("--min-mapped-genes", o.min_mapped_genes,
                  "Fewer genes mapping to gc95M is an error (auto: switch)")
      ->capture_default_str();
  cmd->add_option("--genes", raw->genes, "all | hvg")->capture_default_str();
  cmd->add_option("--n-hvg", o.n_hvg, "Number of highly variable genes (seurat flavour, batch = time)")
      ->capture_default_str();
  cmd->add_option("--hvg-stage", raw->hvg_stage, "before | after restricting to vocabulary genes")
      ->capture_default_str();
  cmd->add_option("--force-genes", o.force_genes, "Genes always kept, comma-separated")->delimiter(',');
  cmd->add_flag("--remove-mito-ribo", o.remove_mito_ribo, "Drop MT-, RPS/RPL, MRPS/MRPL genes");
  cmd->add_option("--min-genes-per-cell", o.min_genes_per_cell, "Drop cells expressing fewer genes")
      ->capture_default_str();
  cmd->add_option("--min-cells-per-gene", o.min_cells_per_gene, "Drop genes expressed in fewer cells")
      ->capture_default_str();
  cmd->add_flag("--reference-gene-filter", o.reference_gene_filter,
                "Reference quirk: keep only exact dictionary IDs before mapping (drops retired IDs)");
  cmd->add_flag("--allow-non-integer", o.allow_non_integer, "Accept normalised (non-integer) input silently");
  cmd->add_option("--model-input-size", o.model_input_size, "Sentence length incl. <cls>/<eos>")
      ->capture_default_str();
  cmd->add_option("--pairing", raw->pairing, "random | stratified | mapping | lineage | ot")
      ->capture_default_str();
  cmd->add_option("--group-key", o.group_keys, "obs column(s) to stratify/map by (first = main)")
      ->delimiter(',');
  cmd->add_option("--mapping-file", o.pairing.mapping_file,
                  "CSV for --pairing mapping: one column per state");
  cmd->add_option("--lineage-key", o.pairing.lineage_key,
                  "obs column with each cell's lineage/clone (--pairing lineage; carried into the store)");
  cmd->add_option("--lineage-missing", raw->lineage_missing,
                  "Lineage absent at a target state: drop its rows | any (draw from all cells of the state)")
      ->capture_default_str();
  cmd->add_option("--ot-epsilon", o.pairing.ot_epsilon,
                  "--pairing ot: entropic regularisation, relative to the mean squared distance")
      ->capture_default_str();
  cmd->add_option("--ot-unbalanced", o.pairing.ot_unbalanced,
                  "--pairing ot: KL marginal relaxation tau for growth/death (0 = balanced)")
      ->capture_default_str();
  cmd->add_option("--ot-components", o.pairing.ot_components, "--pairing ot: PCA components")
      ->capture_default_str();
  cmd->add_option("--ot-genes", o.pairing.ot_genes, "--pairing ot: genes expressed in the most cells used")
      ->capture_default_str();
  cmd->add_option("--ot-max-cells", o.pairing.ot_max_cells,
                  "--pairing ot: larger states are subsampled (seeded) for the couplings")
      ->capture_default_str();
  cmd->add_option("--seed", o.pairing.seed, "Seed of the pairing draws")->capture_default_str();
  cmd->add_flag("--with-replacement", raw->with_replacement,
                "Always draw target cells with replacement (reference); default: without while enough cells");
  cmd->add_option("--pairing-anchor", raw->anchor,
                  "source | largest (reference quirk: rows from the state with most cells)")
      ->capture_default_str();
  cmd->add_option("--obs-keys", o.obs_keys, "obs columns to carry into the store, comma-separated")
      ->delimiter(',');
  cmd->add_option("--chunk-cells", o.chunk_cells, "Cells read per chunk")->capture_default_str();
  cmd->add_option("--cells-per-shard", o.cells_per_shard, "Cells per store shard")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Worker threads (0 = all cores)")->capture_default_str();
  cmd->callback([raw] {
    auto opt = raw->opt;
    opt.vocab = parse_vocab(raw->vocab);
    if (raw->genes != "all" && raw->genes != "hvg")
      throw Error("", "--genes", "'" + raw->genes + "' (all or hvg)");
    opt.genes = raw->genes == "hvg" ? tokenise::GeneFilter::Hvg : tokenise::GeneFilter::All;
    if (raw->hvg_stage != "before" && raw->hvg_stage != "after") {
      throw Error("", "--hvg-stage", "'" + raw->hvg_stage + "' (before or after)");
    }
    opt.hvg_stage = raw->hvg_stage == "before" ? tokenise::HvgStage::BeforeVocabulary
                                               : tokenise::HvgStage::AfterVocabulary;
    opt.pairing.mode = tokenise::parse_pairing_mode(raw->pairing, "--pairing");
    opt.pairing.without_replacement = !raw->with_replacement;
    if (raw->with_replacement) opt.pairing.cycle_when_short = false;
    if (raw->anchor != "source" && raw->anchor != "largest") {
      throw Error("", "--pairing-anchor", "'" + raw->anchor + "' (source or largest)");
    }
    opt.pairing.anchor = raw->anchor == "source" ? tokenise::PairingOptions::Anchor::Source
                                                 : tokenise::PairingOptions::Anchor::Largest;
    if (raw->lineage_missing != "drop" && raw->lineage_missing != "any") {
      throw Error("", "--lineage-missing", "'" + raw->lineage_missing + "' (drop or any)");
    }
    opt.pairing.lineage_missing = raw->lineage_missing == "drop"
                                      ? tokenise::PairingOptions::LineageMissing::Drop
                                      : tokenise::PairingOptions::LineageMissing::Any;
    const auto result = tokenise::tokenise(opt);
    for (const auto& w : result.warnings) std::cerr << "perturbgen: warning: " << w << "\n";
    std::cout << result.summary;
  });
}

}  // namespace pg::cli
