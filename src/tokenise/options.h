// Everything `perturbgen tokenise` can be told, as one plain value. The CLI
// (and its config file) fill it; tokenise() reads nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tokenise/pairing.h"

namespace pg::tokenise {

enum class VocabChoice {
  Auto,     // gc95M when enough genes map to it, else a dataset vocabulary
  Gc95M,    // the pretrained encoder's vocabulary and medians (human Ensembl)
  Dataset,  // species-agnostic: the dataset's own genes, medians from the data
};

enum class GeneFilter { All, Hvg };

// Where HVGs are chosen: among all genes before restricting to the vocabulary
// (the reference's default) or among the vocabulary genes only.
enum class HvgStage { BeforeVocabulary, AfterVocabulary };

struct TokeniseOptions {
  // Input
  std::string input;
  std::string layer;     // counts layer; empty = X
  std::string gene_key;  // var column with gene IDs; empty = auto
  bool allow_non_integer = false;

  // Time course
  std::string time_key;
  std::vector<std::string> time_order;  // states in time order
  std::string source;                   // source state; empty = time_order[0]

  // Genes
  VocabChoice vocab = VocabChoice::Auto;
  std::string vocab_dir;  // another folder with the three dictionary TSVs + SHA256SUMS
  int64_t min_mapped_genes = 1000;
  GeneFilter genes = GeneFilter::All;
  int64_t n_hvg = 2000;
  HvgStage hvg_stage = HvgStage::BeforeVocabulary;
  std::vector<std::string> force_genes;  // always kept (names or IDs as in var)
  bool remove_mito_ribo = false;
  int64_t min_genes_per_cell = 0;
  int64_t min_cells_per_gene = 0;
  // [quirk] keep only var IDs that are exact vocabulary keys before mapping
  // (the reference's filter_adata_for_GF_genes); needed to reproduce it.
  bool reference_gene_filter = false;

  // Sentences
  int64_t model_input_size = 4096;

  // Pairing
  PairingOptions pairing;
  std::vector<std::string> group_keys;  // first = main stratification column
  std::vector<std::string> obs_keys;    // obs columns carried into the store

  // Output and resources
  std::string output;
  bool overwrite = false;  // replace an existing token store at `output`
  int64_t chunk_cells = 65536;
  int64_t cells_per_shard = 1 << 18;
  int threads = 0;  // 0 = all cores
};

}  // namespace pg::tokenise
