// Resolving a dataset's genes (var index or a var column) to the tokens of a
// vocabulary, as the reference tokenizer does -- upper-case, map through the
// Ensembl mapping restricted to values in the token dictionary, sum columns
// that land on the same ID -- plus what users trip over: versioned Ensembl IDs
// (ENSG00000000003.10, ENSMUSG...), symbols and aliases, and a full report of
// what was mapped, dropped and summed (Ensembl-release drift loses genes
// silently otherwise).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/cell_matrix.h"
#include "tokenise/vocabulary.h"

namespace pg::tokenise {

// How one input name was read.
enum class GeneForm : uint8_t {
  EnsemblId,           // ENS...G<digits>, no version
  EnsemblIdStripped,   // ENS...G<digits>.<version>, version removed before lookup
  EnsemblIdVersioned,  // versioned but strip_versions is off (never maps)
  Symbol,              // anything else: symbol, alias, or another ID system
  Missing,             // missing value in the var column
};
std::string form_name(GeneForm f);  // "ensembl id", "ensembl id (version stripped)", ...

// Why a column is unmapped (None when mapped).
enum class Unmapped : uint8_t {
  None,
  NotInMapping,       // name (after upper-casing/stripping) is no key of the Ensembl mapping
  OutsideVocabulary,  // the mapping gives an Ensembl ID that has no token
  NotExactKey,        // reference_exact: not an exact token-dictionary key
  MissingName,
};
std::string unmapped_name(Unmapped u);

struct GeneResolution {
  // Per input column.
  std::vector<int32_t> token_of_column;       // vocabulary token id, or -1 = unmapped
  std::vector<int32_t> kept_index_of_column;  // position in kept_tokens, or -1
  std::vector<std::string> names;             // the input names as read
  std::vector<std::string>
      resolved_id;  // mapped gene id (for OutsideVocabulary: the out-of-vocabulary target)
  std::vector<GeneForm> form;
  std::vector<Unmapped> why_unmapped;

  // Distinct tokens hit, in order of their FIRST input column (var order).
  // This is the order the reference gives its filtered AnnData (row ids of
  // the target vocabulary are assigned in var order), it is stable, and it
  // keeps the "original var index ascending" tie-break meaningful.
  std::vector<int32_t> kept_tokens;

  int64_t n_mapped = 0, n_unmapped = 0;
  int64_t n_collapsed = 0;            // input columns that share their token with another column
  std::vector<std::string> unmapped;  // input names, in var order
  // Token gene id -> input names summed into it, in kept_tokens order.
  std::vector<std::pair<std::string, std::vector<std::string>>> collapsed;

  std::string
      how;  // form of the majority of mapped columns: "ensembl id", "ensembl id (version stripped)", "symbol"
  std::string source;  // "var index" or "var column '<name>'"
  std::string vocabulary, vocabulary_hash;
  bool strip_versions = true, reference_exact = false;
  bool non_human_symbols = false;     // most names are mixed-case (mouse/rat style) symbols
  std::vector<std::string> warnings;  // e.g. nothing or little mapped: consider a dataset vocabulary

  nlohmann::json report() const;  // for the store's gene report file
  // Header "input resolved_id token status form detail", one row per input
  // column; status is mapped, unmapped or collapsed.
  std::string report_tsv() const;
};

struct GeneIdOptions {
  // var column holding the gene IDs; empty = auto: the var index, or a column
  // named ensembl_id / gene_ids / gene_id when it maps more genes; symbol
  // columns (gene_symbols, gene_name, ...) only when no Ensembl-ID candidate
  // maps anything. The var index's name also selects the index.
  std::string gene_key;
  bool strip_versions = true;
  // [quirk] The reference first keeps only var IDs that are exact
  // (case-sensitive) keys of the token dictionary (filter_adata_for_GF_genes),
  // then maps: retired IDs the mapping would rename into the dictionary are
  // dropped. Golden parity needs this; the default maps them.
  bool reference_exact = false;
};

GeneResolution resolve_genes(const io::DataFrame& var, const Vocabulary& vocab, const GeneIdOptions& opt,
                             const std::string& file_for_errors);

// Resolves a plain list of names (no auto-detection); `source` is recorded as given.
GeneResolution resolve_names(const std::vector<std::string>& names, const Vocabulary& vocab,
                             const GeneIdOptions& opt, const std::string& source = "names");

// cells x input-genes -> cells x kept_tokens.size(): column k holds the sum of
// the input columns resolved to kept_tokens[k]; unmapped columns are dropped.
// Sums are taken in double and rounded to float once (exact for integer
// counts below 2^24). Output rows have sorted indices; a stored entry is kept
// (even a stored zero) when any contributing input entry was stored.
io::CsrMatrix collapse_columns(const io::CsrMatrix& counts, const GeneResolution& r);

}  // namespace pg::tokenise
