#include "tokenise/vocabulary.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <system_error>
#include <unordered_set>

#include "core/error.h"
#include "core/number_text.h"
#include "core/sha256.h"

namespace fs = std::filesystem;

namespace pg::tokenise {
namespace {

std::string line_element(int64_t number) {
  return "line " + std::to_string(number);
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw Error(path.string(), "",
                "cannot be opened: a dictionary folder needs token_dictionary.tsv, gene_median.tsv, "
                "ensembl_mapping.tsv and SHA256SUMS");
  }
  std::string bytes;
  in.seekg(0, std::ios::end);
  bytes.resize(static_cast<size_t>(in.tellg()));
  in.seekg(0, std::ios::beg);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) throw Error(path.string(), "", "read failed");
  return bytes;
}

// Calls fn(line_number, key, value) for every "KEY<TAB>VALUE" line. A final
// newline is optional and a CR before it is tolerated; anything else that is
// not exactly two non-empty fields is an error naming the line.
template <typename Fn>
void for_each_record(std::string_view text, const std::string& file, Fn&& fn) {
  int64_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const size_t tab = line.find('\t');
    if (line.empty()) throw Error(file, line_element(number), "empty line; expected KEY<TAB>VALUE");
    if (tab == std::string_view::npos) {
      throw Error(file, line_element(number),
                  "no TAB; expected KEY<TAB>VALUE, got '" + std::string(line) + "'");
    }
    if (line.find('\t', tab + 1) != std::string_view::npos) {
      throw Error(file, line_element(number), "more than two TAB-separated fields");
    }
    const std::string_view key = line.substr(0, tab), value = line.substr(tab + 1);
    if (key.empty() || value.empty()) throw Error(file, line_element(number), "empty field");
    fn(number, key, value);
  }
}

// Checksums listed in a `sha256sum` output: "<64 hex> <space or *><name>".
std::map<std::string, std::string> read_checksums(const fs::path& path) {
  const std::string text = read_bytes(path);
  std::map<std::string, std::string> sums;
  int64_t number = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string_view line = std::string_view(text).substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    bool ok = line.size() > 66 && line[64] == ' ' && (line[65] == ' ' || line[65] == '*');
    std::string hash(line.substr(0, std::min<size_t>(64, line.size())));
    for (char& c : hash) {
      if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
      ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
    }
    if (!ok) {
      throw Error(path.string(), line_element(number),
                  "expected '<64 hex digits>  <file name>' as sha256sum writes it");
    }
    sums[std::string(line.substr(66))] = hash;
  }
  return sums;
}

int64_t parse_int(std::string_view s, const std::string& file, int64_t line) {
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    throw Error(file, line_element(line), "token id '" + std::string(s) + "' is not an integer");
  }
  return v;
}

double parse_median(std::string_view s, const std::string& file, int64_t line) {
  double v = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) {
    throw Error(file, line_element(line), "median '" + std::string(s) + "' is not a number");
  }
  if (!std::isfinite(v) || v <= 0) {
    throw Error(file, line_element(line), "median " + std::string(s) + " must be finite and > 0");
  }
  return v;
}

void check_specials(const Vocabulary& v, const std::string& file) {
  for (int32_t id = 0; id < kNumSpecials; ++id) {
    if (id >= v.size() || v.tokens[static_cast<size_t>(id)] != kSpecialNames[static_cast<size_t>(id)]) {
      throw Error(file, "token " + std::to_string(id),
                  "must be the special token " + std::string(kSpecialNames[static_cast<size_t>(id)]) +
                      " (specials <pad>, <mask>, <cls>, <eos> occupy ids 0..3)");
    }
  }
}

void parse_tokens(std::string_view text, const std::string& file, Vocabulary& v) {
  const int64_t n = static_cast<int64_t>(std::count(text.begin(), text.end(), '\n')) +
                    (text.empty() || text.back() == '\n' ? 0 : 1);
  std::vector<int64_t> line_of(static_cast<size_t>(n), 0);  // which line set each id
  v.tokens.assign(static_cast<size_t>(n), std::string());
  v.id_of.reserve(static_cast<size_t>(n));
  for_each_record(text, file, [&](int64_t line, std::string_view key, std::string_view value) {
    const int64_t id = parse_int(value, file, line);
    if (id < 0 || id >= n) {
      throw Error(file, line_element(line),
                  "token id " + std::to_string(id) + " outside 0.." + std::to_string(n - 1) +
                      " (ids must be contiguous from 0 over the file's " + std::to_string(n) + " entries)");
    }
    if (line_of[static_cast<size_t>(id)] != 0) {
      throw Error(file, line_element(line),
                  "token id " + std::to_string(id) + " already used on line " +
                      std::to_string(line_of[static_cast<size_t>(id)]));
    }
    line_of[static_cast<size_t>(id)] = line;
    const auto [it, fresh] = v.id_of.emplace(std::string(key), static_cast<int32_t>(id));
    if (!fresh) {
      throw Error(
          file, line_element(line),
          "gene '" + std::string(key) + "' listed twice (already token " + std::to_string(it->second) + ")");
    }
    v.tokens[static_cast<size_t>(id)] = it->first;
  });
  check_specials(v, file);
}

void parse_medians(std::string_view text, const std::string& file, Vocabulary& v) {
  v.median.assign(v.tokens.size(), std::numeric_limits<double>::quiet_NaN());
  int64_t count = 0;
  for_each_record(text, file, [&](int64_t line, std::string_view key, std::string_view value) {
    const auto it = v.id_of.find(std::string(key));
    if (it == v.id_of.end() || it->second < kNumSpecials) {
      throw Error(
          file, line_element(line),
          "gene '" + std::string(key) + "' is not a gene token of " + std::string(kTokenDictionaryFile));
    }
    double& slot = v.median[static_cast<size_t>(it->second)];
    if (!std::isnan(slot))
      throw Error(file, line_element(line), "gene '" + std::string(key) + "' listed twice");
    slot = parse_median(value, file, line);
    ++count;
  });
  if (count != v.n_genes()) {
    for (int32_t id = kNumSpecials; id < v.size(); ++id) {
      if (std::isnan(v.median[static_cast<size_t>(id)])) {
        throw Error(file, "",
                    "has medians for " + std::to_string(count) + " of the " + std::to_string(v.n_genes()) +
                        " gene tokens; first missing: " + v.tokens[static_cast<size_t>(id)] + " (token " +
                        std::to_string(id) + ")");
      }
    }
  }
}

void parse_mapping(std::string_view text, const std::string& file, Vocabulary& v) {
  v.ensembl_mapping.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  for_each_record(text, file, [&](int64_t line, std::string_view key, std::string_view value) {
    for (const char c : key) {
      if (c >= 'a' && c <= 'z') {
        // Inputs are upper-cased before lookup, so such a key could never match.
        throw Error(file, line_element(line), "key '" + std::string(key) + "' is not upper-case");
      }
    }
    if (!v.ensembl_mapping.emplace(std::string(key), std::string(value)).second) {
      throw Error(file, line_element(line), "key '" + std::string(key) + "' listed twice");
    }
  });
}

}  // namespace

std::string Vocabulary::hash() const {
  // Canonical text: a version line, then "id TAB gene TAB median" per token,
  // the median in shortest round-trip form ("nan" for specials), so the hash
  // changes exactly when a token, its id or its median changes.
  std::string text = "perturbgen-vocabulary v1\n";
  text.reserve(tokens.size() * 40);
  for (size_t id = 0; id < tokens.size(); ++id) {
    text += std::to_string(id);
    text += '\t';
    text += tokens[id];
    text += '\t';
    const double m = id < median.size() ? median[id] : std::numeric_limits<double>::quiet_NaN();
    if (std::isnan(m)) {
      text += "nan";
    } else {
      text += shortest_text(m);
    }
    text += '\n';
  }
  return sha256_hex(text);
}

Vocabulary load_vocabulary(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error(dir.string(), "", "gene dictionary folder does not exist");
  const auto sums = read_checksums(dir / kChecksumFile);
  Vocabulary v;
  v.name = dir.filename().empty() ? dir.parent_path().filename().string() : dir.filename().string();

  // Every file is verified before it is parsed, so a changed file is reported
  // as changed rather than as whatever parse error the change causes.
  std::array<std::string, 3> text;
  const std::array<std::string_view, 3> names = {kTokenDictionaryFile, kGeneMedianFile, kEnsemblMappingFile};
  for (size_t i = 0; i < names.size(); ++i) {
    const std::string name(names[i]);
    const fs::path path = dir / name;
    const auto expected = sums.find(name);
    if (expected == sums.end()) {
      throw Error((dir / kChecksumFile).string(), name, "no checksum listed for this dictionary file");
    }
    text[i] = read_bytes(path);
    const std::string actual = sha256_hex(text[i]);
    if (actual != expected->second) {
      throw Error(path.string(), "sha256",
                  "expected " + expected->second + " (" + std::string(kChecksumFile) + ") but the file has " +
                      actual + ": it was modified or belongs to another vocabulary");
    }
    v.file_sha256[name] = actual;
  }
  parse_tokens(text[0], (dir / names[0]).string(), v);
  parse_medians(text[1], (dir / names[1]).string(), v);
  parse_mapping(text[2], (dir / names[2]).string(), v);
  return v;
}

Vocabulary load_gc95m() {
  return load_vocabulary(resources_dir() / "gc95M");
}

fs::path resources_dir() {
  if (const char* env = std::getenv("PERTURBGEN_RESOURCES"); env != nullptr && *env != '\0') {
    if (fs::is_directory(env)) return fs::path(env);
    throw Error(env, "", "PERTURBGEN_RESOURCES names a folder that does not exist");
  }
  std::vector<fs::path> tried;
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);  // Linux; elsewhere this step is skipped
  if (!ec) {
    const fs::path installed =
        (exe.parent_path() / ".." / "share" / "perturbgen" / "resources").lexically_normal();
    if (fs::is_directory(installed, ec)) return installed;
    tried.push_back(installed);
  }
#ifdef PG_RESOURCES_DIR
  const fs::path source_tree = PG_RESOURCES_DIR;
  if (fs::is_directory(source_tree, ec)) return source_tree;
  tried.push_back(source_tree);
#endif
  std::string where;
  for (const auto& p : tried) where += (where.empty() ? "" : ", ") + p.string();
  throw Error("", "resources",
              "bundled gene dictionaries not found (looked in: " + (where.empty() ? "nowhere" : where) +
                  "); set PERTURBGEN_RESOURCES to the folder that holds gc95M/");
}

Vocabulary dataset_vocabulary(const std::vector<std::string>& genes, const std::vector<double>& medians) {
  const std::string what = "dataset vocabulary";
  if (genes.size() != medians.size()) {
    throw Error("", what,
                std::to_string(genes.size()) + " genes but " + std::to_string(medians.size()) + " medians");
  }
  Vocabulary v;
  v.name = "dataset";
  v.tokens.reserve(genes.size() + kNumSpecials);
  v.median.reserve(genes.size() + kNumSpecials);
  v.id_of.reserve(genes.size() + kNumSpecials);
  for (const auto special : kSpecialNames) {
    v.id_of.emplace(std::string(special), v.size());
    v.tokens.emplace_back(special);
    v.median.push_back(std::numeric_limits<double>::quiet_NaN());
  }
  for (size_t i = 0; i < genes.size(); ++i) {
    const std::string& g = genes[i];
    if (g.empty()) throw Error("", what, "gene " + std::to_string(i) + " has an empty name");
    if (!std::isfinite(medians[i]) || medians[i] <= 0) {
      throw Error("", what,
                  "gene '" + g + "' has median " + std::to_string(medians[i]) + "; must be finite and > 0");
    }
    const auto [it, fresh] = v.id_of.emplace(g, v.size());
    if (!fresh) {
      throw Error(
          "", what,
          "gene '" + g + "' appears twice (positions " +
              (it->second < kNumSpecials ? std::string("special token") : std::to_string(it->second - 4)) +
              " and " + std::to_string(i) + ")");
    }
    v.tokens.push_back(g);
    v.median.push_back(medians[i]);
  }
  return v;
}

}  // namespace pg::tokenise
