// Source ("gene token") vocabularies: the pinned gc95M dictionaries that the
// pretrained encoder was trained with, or a dataset-specific ("species-
// agnostic") vocabulary built from a dataset's own genes. Using the wrong
// dictionary silently scrambles every sentence (Geneformer #472), so the
// dictionary files are verified against their SHA256SUMS on every load and a
// vocabulary carries a content hash that stores and models record.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pg::tokenise {

inline constexpr int32_t kPad = 0, kMask = 1, kCls = 2, kEos = 3;
inline constexpr int32_t kNumSpecials = 4;
inline constexpr std::array<std::string_view, 4> kSpecialNames = {"<pad>", "<mask>", "<cls>", "<eos>"};

// The three files of a dictionary folder (no header; KEY TAB VALUE per line),
// and the checksum list that pins them (`sha256sum` format).
inline constexpr std::string_view kTokenDictionaryFile = "token_dictionary.tsv";
inline constexpr std::string_view kGeneMedianFile = "gene_median.tsv";
inline constexpr std::string_view kEnsemblMappingFile = "ensembl_mapping.tsv";
inline constexpr std::string_view kChecksumFile = "SHA256SUMS";

struct Vocabulary {
  std::string name;                                // "gc95M" (the folder name) or "dataset"
  std::vector<std::string> tokens;                 // id -> gene id; specials at 0..3
  std::unordered_map<std::string, int32_t> id_of;  // gene id (or special name) -> token id
  std::vector<double> median;                      // per token id; NaN for the specials
  // Upper-case gene id / symbol / alias -> Ensembl ID, as in the file (values
  // need not be in the vocabulary; resolution ignores those). Empty for
  // dataset vocabularies.
  std::unordered_map<std::string, std::string> ensembl_mapping;
  std::map<std::string, std::string> file_sha256;  // dictionary file name -> its sha256 (empty for dataset)

  // SHA-256 of a canonical text of the token list and the medians (see
  // vocabulary.cpp). Independent of the name and of the Ensembl mapping:
  // two vocabularies with the same hash tokenise every gene set identically.
  std::string hash() const;
  int32_t size() const { return static_cast<int32_t>(tokens.size()); }
  int32_t n_genes() const { return size() - kNumSpecials; }
};

// Loads a dictionary folder (resources/gc95M or one with the same three TSVs
// and a SHA256SUMS listing them). Each file's sha256 is checked before it is
// parsed: a mismatch is a pg::Error naming the file, the expected and the
// actual hash. Malformed lines are pg::Errors naming the file and line. Token
// ids must be 0..n-1 with the four specials at 0..3; medians must be finite,
// > 0 and cover exactly the gene tokens; mapping keys must be unique and
// upper-case (inputs are upper-cased before lookup, as the reference does).
Vocabulary load_vocabulary(const std::filesystem::path& dir);

// resources_dir() / "gc95M".
Vocabulary load_gc95m();

// Where the bundled resources are, first match wins:
//   1. $PERTURBGEN_RESOURCES (an error if set but not a folder);
//   2. <folder of the running executable>/../share/perturbgen/resources (installed layout);
//   3. the source tree's resources/ (compiled in as PG_RESOURCES_DIR; for builds run in place).
// Throws pg::Error listing the places tried when none exists.
std::filesystem::path resources_dir();

// A dataset vocabulary: the specials, then `genes` in the given order (token
// 4 + i), with the caller's per-gene medians. Genes must be non-empty and
// distinct; medians finite and > 0.
Vocabulary dataset_vocabulary(const std::vector<std::string>& genes, const std::vector<double>& medians);

}  // namespace pg::tokenise
