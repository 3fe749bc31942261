#include "store/meta.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/version.h"
#include "store/file_sink.h"

namespace pg::store {

using nlohmann::json;

namespace {

const char* kind_name(ObsColumnSpec::Kind k) {
  return k == ObsColumnSpec::Kind::Categorical ? "categorical" : "float";
}

// Typed access with a one-line pg::Error naming the key on a missing or mistyped value.
const json& need(const json& j, const std::string& key, const std::string& file, const std::string& where) {
  const std::string el = where.empty() ? key : where + "." + key;
  if (!j.is_object() || !j.contains(key)) throw Error(file, el, "is missing");
  return j.at(key);
}

template <typename T>
T get(const json& j, const std::string& key, const std::string& file, const std::string& where = "") {
  const json& v = need(j, key, file, where);
  const std::string el = where.empty() ? key : where + "." + key;
  if constexpr (std::is_same_v<T, std::string>) {
    if (!v.is_string()) throw Error(file, el, "must be a string, got " + v.dump());
  } else if constexpr (std::is_integral_v<T>) {
    if (!v.is_number_integer()) throw Error(file, el, "must be an integer, got " + v.dump());
    if constexpr (std::is_unsigned_v<T>)
      if (v.get<int64_t>() < 0 && !v.is_number_unsigned()) throw Error(file, el, "must not be negative");
  }
  try {
    return v.get<T>();
  } catch (const json::exception& e) {
    throw Error(file, el, std::string("has the wrong type: ") + e.what());
  }
}

std::vector<std::string> string_list(const json& j, const std::string& key, const std::string& file,
                                     const std::string& where = "") {
  const json& v = need(j, key, file, where);
  const std::string el = where.empty() ? key : where + "." + key;
  if (!v.is_array()) throw Error(file, el, "must be a list of strings");
  std::vector<std::string> out;
  for (const auto& s : v) {
    if (!s.is_string()) throw Error(file, el, "must be a list of strings, holds " + s.dump());
    out.push_back(s.get<std::string>());
  }
  return out;
}

void check_gene_text(const std::string& s, const std::string& store, size_t row, const char* what) {
  if (s.find_first_of("\t\n\r") != std::string::npos)
    throw Error(store, "genes[" + std::to_string(row) + "]." + what,
                "contains a tab or newline, which genes.tsv cannot hold: '" + s + "'");
}

// The objects the caller may extend, and the keys inside them the store owns.
const std::vector<std::pair<std::string, std::vector<std::string>>>& mergeable_keys() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> keys = {
      {"vocabulary", {"name", "hash", "size"}}, {"tool", {"name", "version"}}};
  return keys;
}

const std::vector<std::string>* owned_subkeys(const std::string& key) {
  for (const auto& [k, sub] : mergeable_keys())
    if (k == key) return &sub;
  return nullptr;
}

}  // namespace

const std::vector<std::string>& reserved_meta_keys() {
  static const std::vector<std::string> keys = {
      "format",          "format_version",   "tool",        "created",
      "updated",         "n_cells",          "vocabulary",  "n_count_genes",
      "token_width",     "gene_index_width", "state_width", "cells_per_shard",
      "max_shard_bytes", "states",           "obs",         "shards",
      "gene_table",      "pairing_table",    "files"};
  return keys;
}

void merge_extra(json& extra, const json& caller, const json& owned, const std::string& file) {
  if (caller.is_null()) return;
  if (!caller.is_object()) throw Error(file, "extra", "must be a JSON object, got " + caller.dump());
  const auto& reserved = reserved_meta_keys();
  for (const auto& [key, value] : caller.items()) {
    if (const auto* sub = owned_subkeys(key)) {
      if (!value.is_object()) throw Error(file, "extra." + key, "must be a JSON object, got " + value.dump());
      for (const auto& [k, v] : value.items()) {
        if (std::find(sub->begin(), sub->end(), k) == sub->end()) {
          extra[key][k] = v;
        } else if (owned.contains(key) && owned[key].value(k, json()) != v) {
          throw Error(file, "extra." + key + "." + k,
                      "is " + v.dump() + " but the store records " + owned[key].value(k, json()).dump());
        }
      }
      continue;
    }
    if (std::find(reserved.begin(), reserved.end(), key) != reserved.end())
      throw Error(file, "extra." + key, "is a key the token store writes itself; choose another name");
    extra[key] = value;
  }
}

json creation_stamp() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  if (const char* epoch = std::getenv("SOURCE_DATE_EPOCH"); epoch != nullptr && *epoch != '\0')
    t = static_cast<std::time_t>(std::strtoll(epoch, nullptr, 10));
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return json{{"utc", buf}, {"tool_version", PERTURBGEN_VERSION}};
}

json to_json(const MetaContents& m) {
  const StoreSchema& s = m.schema;
  json obs = json::array();
  for (const auto& c : s.obs) {
    json col{{"name", c.name}, {"kind", kind_name(c.kind)}};
    if (c.kind == ObsColumnSpec::Kind::Categorical) col["categories"] = c.categories;
    obs.push_back(col);
  }
  json shards = json::array();
  for (const auto& sh : m.shards)
    shards.push_back(json{{"file", sh.file},
                          {"first_cell", sh.first_cell},
                          {"n_cells", sh.n_cells},
                          {"bytes", sh.bytes},
                          {"crc32", sh.crc32}});
  json j = m.extra.is_object() ? m.extra : json::object();
  j["format"] = kFormatName;
  j["format_version"] = kFormatVersion;
  j["tool"]["name"] = "perturbgen";  // the caller's extra keys in "tool" and "vocabulary" stay
  j["tool"]["version"] = PERTURBGEN_VERSION;
  j["created"] = m.created;
  if (!m.updated.is_null()) j["updated"] = m.updated;
  j["n_cells"] = m.n_cells;
  j["vocabulary"]["name"] = s.vocabulary_name;
  j["vocabulary"]["hash"] = s.vocabulary_hash;
  j["vocabulary"]["size"] = s.vocab_size;
  j["n_count_genes"] = s.n_count_genes;
  j["token_width"] = token_width(s.vocab_size);
  j["gene_index_width"] = gene_index_width(s.n_count_genes);
  j["state_width"] = state_width(s.states.size());
  j["cells_per_shard"] = s.cells_per_shard;
  j["max_shard_bytes"] = s.max_shard_bytes;
  j["states"] = s.states;
  j["obs"] = obs;
  j["shards"] = shards;
  j["gene_table"] = json{{"file", "genes.tsv"}, {"n_rows", s.n_count_genes}};
  json files = json::array();
  for (const auto& f : m.files)
    files.push_back(json{{"file", f.file}, {"bytes", f.bytes}, {"crc32", f.crc32}});
  j["files"] = files;
  if (m.pairing) {
    const auto& p = *m.pairing;
    j["pairing_table"] = json{{"file", p.file},
                              {"columns", p.columns},
                              {"n_rows", p.n_rows},
                              {"bytes", p.bytes},
                              {"crc32", p.crc32}};
  } else {
    j["pairing_table"] = nullptr;
  }
  return j;
}

MetaContents meta_from_json(const json& j, const std::string& file) {
  if (!j.is_object()) throw Error(file, "", "must hold a JSON object");
  const auto format = get<std::string>(j, "format", file);
  if (format != kFormatName)
    throw Error(file, "format",
                "is '" + format + "', expected '" + kFormatName + "' (not a perturbgen token store)");
  const auto version = get<int>(j, "format_version", file);
  if (version != kFormatVersion)
    throw Error(file, "format_version",
                "is " + std::to_string(version) + ", this perturbgen (" + PERTURBGEN_VERSION +
                    ") reads version " + std::to_string(kFormatVersion));
  MetaContents m;
  StoreSchema& s = m.schema;
  const json& vocab = need(j, "vocabulary", file, "");
  s.vocabulary_name = get<std::string>(vocab, "name", file, "vocabulary");
  s.vocabulary_hash = get<std::string>(vocab, "hash", file, "vocabulary");
  s.vocab_size = get<int64_t>(vocab, "size", file, "vocabulary");
  s.n_count_genes = get<int64_t>(j, "n_count_genes", file);
  s.cells_per_shard = get<int64_t>(j, "cells_per_shard", file);
  s.max_shard_bytes = get<int64_t>(j, "max_shard_bytes", file);
  s.states = string_list(j, "states", file);
  const json& obs = need(j, "obs", file, "");
  if (!obs.is_array()) throw Error(file, "obs", "must be a list");
  for (size_t k = 0; k < obs.size(); ++k) {
    const std::string where = "obs[" + std::to_string(k) + "]";
    ObsColumnSpec c;
    c.name = get<std::string>(obs[k], "name", file, where);
    const auto kind = get<std::string>(obs[k], "kind", file, where);
    if (kind == "categorical") {
      c.kind = ObsColumnSpec::Kind::Categorical;
      c.categories = string_list(obs[k], "categories", file, where);
    } else if (kind == "float") {
      c.kind = ObsColumnSpec::Kind::Float;
    } else {
      throw Error(file, where + ".kind", "is '" + kind + "', expected 'categorical' or 'float'");
    }
    s.obs.push_back(std::move(c));
  }
  m.n_cells = get<int64_t>(j, "n_cells", file);
  const auto widths =
      std::vector<std::pair<const char*, int>>{{"token_width", token_width(s.vocab_size)},
                                               {"gene_index_width", gene_index_width(s.n_count_genes)},
                                               {"state_width", state_width(s.states.size())}};
  for (const auto& [key, expected] : widths) {
    const int got = get<int>(j, key, file);
    if (got != expected)
      throw Error(file, key,
                  "is " + std::to_string(got) + " but the schema implies " + std::to_string(expected));
  }
  const json& shards = need(j, "shards", file, "");
  if (!shards.is_array()) throw Error(file, "shards", "must be a list");
  for (size_t k = 0; k < shards.size(); ++k) {
    const std::string where = "shards[" + std::to_string(k) + "]";
    ShardInfo sh;
    sh.file = get<std::string>(shards[k], "file", file, where);
    sh.first_cell = get<int64_t>(shards[k], "first_cell", file, where);
    sh.n_cells = get<int64_t>(shards[k], "n_cells", file, where);
    sh.bytes = get<uint64_t>(shards[k], "bytes", file, where);
    sh.crc32 = get<std::string>(shards[k], "crc32", file, where);
    if (sh.file.find('/') != std::string::npos || sh.file.empty() || sh.file[0] == '.')
      throw Error(file, where + ".file", "must be a plain file name inside the store, got '" + sh.file + "'");
    m.shards.push_back(std::move(sh));
  }
  if (j.contains("pairing_table") && !j["pairing_table"].is_null()) {
    const json& p = j["pairing_table"];
    PairingFileInfo info;
    info.file = get<std::string>(p, "file", file, "pairing_table");
    info.columns = string_list(p, "columns", file, "pairing_table");
    info.n_rows = get<int64_t>(p, "n_rows", file, "pairing_table");
    info.bytes = get<uint64_t>(p, "bytes", file, "pairing_table");
    info.crc32 = get<std::string>(p, "crc32", file, "pairing_table");
    if (info.file.find('/') != std::string::npos || info.file.empty() || info.file[0] == '.')
      throw Error(file, "pairing_table.file",
                  "must be a plain file name inside the store, got '" + info.file + "'");
    m.pairing = std::move(info);
  }
  if (j.contains("files")) {
    const json& files = j["files"];
    if (!files.is_array()) throw Error(file, "files", "must be a list");
    for (size_t k = 0; k < files.size(); ++k) {
      const std::string where = "files[" + std::to_string(k) + "]";
      m.files.push_back(AuxFile{get<std::string>(files[k], "file", file, where),
                                get<uint64_t>(files[k], "bytes", file, where),
                                get<std::string>(files[k], "crc32", file, where)});
      const std::string& name = m.files.back().file;
      if (name.empty() || name[0] == '.' || name.find('/') != std::string::npos)
        throw Error(file, where + ".file", "must be a plain file name inside the store, got '" + name + "'");
    }
  }
  m.created = j.value("created", json::object());
  m.updated = j.value("updated", json());
  // Everything the store does not own is the caller's, kept across appends.
  const auto& reserved = reserved_meta_keys();
  for (const auto& [key, value] : j.items()) {
    if (const auto* sub = owned_subkeys(key); sub != nullptr && value.is_object()) {
      for (const auto& [k, v] : value.items())
        if (std::find(sub->begin(), sub->end(), k) == sub->end()) m.extra[key][k] = v;
    } else if (std::find(reserved.begin(), reserved.end(), key) == reserved.end()) {
      m.extra[key] = value;
    }
  }
  return m;
}

json read_json_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "", "cannot open (is this a token store directory?)");
  try {
    return json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(path.string(), "", std::string("is not valid JSON: ") + e.what());
  }
}

void write_json_file(const std::filesystem::path& path, const json& j) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  const std::string text = j.dump(2) + "\n";
  FileSink out(tmp);
  out.write(text.data(), text.size());
  out.finish();
  rename_file(tmp, path);
}

void validate_genes(const std::vector<GeneRow>& genes, const StoreSchema& schema, const std::string& store) {
  if (static_cast<int64_t>(genes.size()) != schema.n_count_genes)
    throw Error(store, "genes",
                "has " + std::to_string(genes.size()) + " rows but schema.n_count_genes is " +
                    std::to_string(schema.n_count_genes));
  for (size_t r = 0; r < genes.size(); ++r) {
    check_gene_text(genes[r].gene_id, store, r, "gene_id");
    check_gene_text(genes[r].gene_name, store, r, "gene_name");
  }
}

void write_genes_tsv(const std::filesystem::path& path, const std::vector<GeneRow>& genes) {
  std::string text = "gene_id\tgene_name\tsource_token\trow_id\n";
  for (const auto& g : genes)
    text += g.gene_id + "\t" + g.gene_name + "\t" + std::to_string(g.source_token) + "\t" +
            std::to_string(g.row_id) + "\n";
  FileSink out(path);
  out.write(text.data(), text.size());
  out.finish();
}

std::vector<GeneRow> read_genes_tsv(const std::filesystem::path& path, int64_t expected_rows) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string(), "", "cannot open");
  std::string line;
  if (!std::getline(in, line) || line != "gene_id\tgene_name\tsource_token\trow_id")
    throw Error(path.string(), "line 1",
                "expected the header 'gene_id<TAB>gene_name<TAB>source_token<TAB>row_id'");
  std::vector<GeneRow> genes;
  int64_t line_no = 1;
  while (std::getline(in, line)) {
    ++line_no;
    std::vector<std::string> f;
    size_t start = 0;
    for (size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      f.push_back(line.substr(start, tab - start));
    f.push_back(line.substr(start));
    if (f.size() != 4)
      throw Error(path.string(), "line " + std::to_string(line_no),
                  "has " + std::to_string(f.size()) + " fields, expected 4");
    GeneRow g{f[0], f[1], 0, 0};
    try {
      size_t used = 0;
      g.source_token = std::stoll(f[2], &used);
      if (used != f[2].size()) throw std::invalid_argument("trailing text");
      g.row_id = std::stoll(f[3], &used);
      if (used != f[3].size()) throw std::invalid_argument("trailing text");
    } catch (const std::exception&) {
      throw Error(path.string(), "line " + std::to_string(line_no),
                  "source_token and row_id must be integers, got '" + f[2] + "' and '" + f[3] + "'");
    }
    genes.push_back(std::move(g));
  }
  if (static_cast<int64_t>(genes.size()) != expected_rows)
    throw Error(path.string(), "",
                "has " + std::to_string(genes.size()) +
                    " gene rows but meta.json says n_count_genes = " + std::to_string(expected_rows));
  return genes;
}

}  // namespace pg::store
