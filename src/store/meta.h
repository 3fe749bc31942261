// meta.json and genes.tsv: the store's description, written by StoreWriter
// and checked by TokenStore::open. The store owns a fixed set of top-level
// keys; everything else in meta.json is the caller's "extra" object.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "store/schema.h"
#include "store/shard_buffer.h"

namespace pg::store {

struct PairingFileInfo {
  std::string file;
  std::vector<std::string> columns;
  int64_t n_rows = 0;
  uint64_t bytes = 0;
  std::string crc32;
};

// An auxiliary file the caller put in the store (StoreWriter::add_file).
struct AuxFile {
  std::string file;
  uint64_t bytes = 0;
  std::string crc32;
};

struct MetaContents {
  StoreSchema schema;
  int64_t n_cells = 0;
  std::vector<ShardInfo> shards;
  std::optional<PairingFileInfo> pairing;
  std::vector<AuxFile> files;
  nlohmann::json created = nlohmann::json::object();  // {"utc", "tool_version"}
  nlohmann::json updated = nlohmann::json();          // set by appends
  nlohmann::json extra = nlohmann::json::object();    // caller's keys
};

// Top-level keys meta.json reserves for the store; "extra" may not use them.
const std::vector<std::string>& reserved_meta_keys();

// Adds the caller's keys to `extra` (top-level replace). Reserved keys are
// refused, except the objects "vocabulary" and "tool": the caller may add
// keys to them (e.g. vocabulary.files_sha256) and may repeat the store's own
// keys only with the same values (`owned` is the store's current to_json()).
void merge_extra(nlohmann::json& extra, const nlohmann::json& caller, const nlohmann::json& owned,
                 const std::string& file);

nlohmann::json to_json(const MetaContents& meta);
// Parses and checks types; throws pg::Error(file, "<key>", problem).
MetaContents meta_from_json(const nlohmann::json& j, const std::string& file);

// {"utc": ISO-8601 now (or SOURCE_DATE_EPOCH when set, for reproducible stores), "tool_version"}
nlohmann::json creation_stamp();

nlohmann::json read_json_file(const std::filesystem::path& path);
// Writes through path.tmp, fsync'd, renamed: readers see the old or the new file.
void write_json_file(const std::filesystem::path& path, const nlohmann::json& j);

// Rejects gene rows genes.tsv cannot carry (tabs, newlines) or whose count
// disagrees with schema.n_count_genes.
void validate_genes(const std::vector<GeneRow>& genes, const StoreSchema& schema, const std::string& store);
void write_genes_tsv(const std::filesystem::path& path, const std::vector<GeneRow>& genes);
std::vector<GeneRow> read_genes_tsv(const std::filesystem::path& path, int64_t expected_rows);

}  // namespace pg::store
