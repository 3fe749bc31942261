#include "tokenise/gene_ids.h"

#include <algorithm>
#include <array>
#include <unordered_map>

#include "core/error.h"

namespace pg::tokenise {
namespace {

bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// Length of the unversioned ID when `u` (upper-cased) is an Ensembl ID --
// "ENS" + species/feature letters + >= 5 digits, optionally ".<version>" and a
// GENCODE "_PAR_Y" suffix -- else 0. Symbols such as "AL627309.1" are not
// Ensembl IDs, so their dots are left alone.
size_t ensembl_base(std::string_view u, bool& versioned) {
  versioned = false;
  if (u.size() < 9 || u.substr(0, 3) != "ENS") return 0;
  size_t i = 3;
  while (i < u.size() && is_upper(u[i])) ++i;
  if (i == 3) return 0;
  const size_t digits = i;
  while (i < u.size() && is_digit(u[i])) ++i;
  if (i - digits < 5) return 0;
  const size_t base = i;
  if (i == u.size()) return base;
  if (u[i] != '.') return 0;
  const size_t version = ++i;
  while (i < u.size() && is_digit(u[i])) ++i;
  if (i == version || (i != u.size() && u.substr(i, 5) != "_PAR_")) return 0;
  versioned = true;
  return base;
}

// Resolves column `col` named `name` into r's per-column vectors.
void resolve_one(const std::string& name, bool missing, const Vocabulary& vocab, const GeneIdOptions& opt,
                 GeneResolution& r, size_t col) {
  auto unmapped = [&](Unmapped why, std::string target = {}) {
    r.why_unmapped[col] = why;
    r.resolved_id[col] = std::move(target);
  };
  if (missing) {
    r.form[col] = GeneForm::Missing;
    return unmapped(Unmapped::MissingName);
  }
  const std::string up = upper(name);
  bool versioned = false;
  const size_t base = ensembl_base(up, versioned);
  const bool strip = base > 0 && versioned && opt.strip_versions;
  r.form[col] = base == 0    ? GeneForm::Symbol
                : !versioned ? GeneForm::EnsemblId
                : strip      ? GeneForm::EnsemblIdStripped
                             : GeneForm::EnsemblIdVersioned;
  const std::string key = strip ? up.substr(0, base) : up;
  if (opt.reference_exact) {
    // filter_adata_for_GF_genes: exact, case-sensitive membership (after the version strip).
    const auto it = vocab.id_of.find(strip ? name.substr(0, base) : name);
    if (it == vocab.id_of.end() || it->second < kNumSpecials) return unmapped(Unmapped::NotExactKey);
  }
  int32_t token = -1;
  if (vocab.ensembl_mapping.empty()) {
    // Dataset vocabulary: its genes are the dataset's own names.
    auto it = vocab.id_of.find(name);
    if (it == vocab.id_of.end()) it = vocab.id_of.find(key);
    if (it == vocab.id_of.end() || it->second < kNumSpecials) return unmapped(Unmapped::NotInMapping);
    token = it->second;
  } else {
    const auto m = vocab.ensembl_mapping.find(key);
    if (m == vocab.ensembl_mapping.end()) return unmapped(Unmapped::NotInMapping);
    const auto it = vocab.id_of.find(m->second);
    if (it == vocab.id_of.end() || it->second < kNumSpecials)
      return unmapped(Unmapped::OutsideVocabulary, m->second);
    token = it->second;
  }
  r.token_of_column[col] = token;
  r.resolved_id[col] = vocab.tokens[static_cast<size_t>(token)];
}

// Fills the summary fields from the per-column results.
void summarise(const Vocabulary& vocab, GeneResolution& r) {
  const size_t n = r.names.size();
  std::vector<int32_t> kept_pos(static_cast<size_t>(vocab.size()), -1);
  std::vector<std::vector<size_t>> columns_of_kept;
  std::array<int64_t, 5> mapped_forms{}, all_forms{};
  for (size_t j = 0; j < n; ++j) {
    ++all_forms[static_cast<size_t>(r.form[j])];
    const int32_t t = r.token_of_column[j];
    if (t < 0) {
      ++r.n_unmapped;
      r.unmapped.push_back(r.names[j]);
      continue;
    }
    ++r.n_mapped;
    ++mapped_forms[static_cast<size_t>(r.form[j])];
    int32_t& pos = kept_pos[static_cast<size_t>(t)];
    if (pos < 0) {
      pos = static_cast<int32_t>(r.kept_tokens.size());
      r.kept_tokens.push_back(t);
      columns_of_kept.emplace_back();
    }
    r.kept_index_of_column[j] = pos;
    columns_of_kept[static_cast<size_t>(pos)].push_back(j);
  }
  for (size_t k = 0; k < columns_of_kept.size(); ++k) {
    const auto& cols = columns_of_kept[k];
    if (cols.size() < 2) continue;
    r.n_collapsed += static_cast<int64_t>(cols.size());
    std::vector<std::string> inputs;
    for (const size_t j : cols) inputs.push_back(r.names[j]);
    r.collapsed.emplace_back(vocab.tokens[static_cast<size_t>(r.kept_tokens[k])], std::move(inputs));
  }
  const auto& forms = r.n_mapped > 0 ? mapped_forms : all_forms;
  const auto major =
      std::max_element(forms.begin(), forms.begin() + 4);  // first maximum; Missing never names it
  r.how = form_name(static_cast<GeneForm>(major - forms.begin()));

  const bool pretrained = !vocab.ensembl_mapping.empty();
  if (r.n_mapped == 0) {
    r.warnings.push_back("no gene maps to vocabulary '" + vocab.name + "' (" + std::to_string(n) +
                         " names read as " + r.how + ")" +
                         (pretrained ? "; tokenise with a dataset vocabulary instead" : ""));
  }
  if (pretrained && all_forms[static_cast<size_t>(GeneForm::EnsemblIdVersioned)] > 0) {
    r.warnings.push_back(std::to_string(all_forms[static_cast<size_t>(GeneForm::EnsemblIdVersioned)]) +
                         " versioned Ensembl IDs were kept with their version and cannot map");
  }
  if (pretrained && r.how == form_name(GeneForm::Symbol)) {
    int64_t mixed = 0, symbols = 0;
    for (size_t j = 0; j < n; ++j) {
      if (r.form[j] != GeneForm::Symbol) continue;
      ++symbols;
      const std::string& s = r.names[j];
      if (s.size() > 1 && is_upper(s[0]) &&
          std::any_of(s.begin() + 1, s.end(), [](char c) { return c >= 'a' && c <= 'z'; }))
        ++mixed;
    }
    if (2 * mixed > symbols) {
      r.non_human_symbols = true;
      r.warnings.push_back("gene names look like mouse/rat symbols (" + std::to_string(mixed) + " of " +
                           std::to_string(symbols) +
                           " in mixed case): they were matched to human genes by upper-cased name");
    }
  }
}

struct Candidate {
  std::string source;
  std::vector<std::string> names;
  std::vector<uint8_t> missing;
};

Candidate from_index(const io::DataFrame& var) {
  return {"var index", var.index, std::vector<uint8_t>(var.index.size(), 0)};
}

Candidate from_column(const io::Column& c) {
  Candidate out{"var column '" + c.name + "'", {}, {}};
  out.names.reserve(c.size());
  out.missing.reserve(c.size());
  for (size_t i = 0; i < c.size(); ++i) {
    const bool miss = c.is_missing(i);
    out.names.push_back(miss ? std::string() : c.text(i));
    out.missing.push_back(miss ? 1 : 0);
  }
  return out;
}

GeneResolution resolve_candidate(const Candidate& c, const Vocabulary& vocab, const GeneIdOptions& opt) {
  GeneResolution r;
  const size_t n = c.names.size();
  r.names = c.names;
  r.source = c.source;
  r.vocabulary = vocab.name;
  r.strip_versions = opt.strip_versions;
  r.reference_exact = opt.reference_exact;
  r.token_of_column.assign(n, -1);
  r.kept_index_of_column.assign(n, -1);
  r.resolved_id.assign(n, std::string());
  r.form.assign(n, GeneForm::Symbol);
  r.why_unmapped.assign(n, Unmapped::None);
  for (size_t j = 0; j < n; ++j) resolve_one(c.names[j], c.missing[j] != 0, vocab, opt, r, j);
  summarise(vocab, r);
  return r;
}

bool mostly_ensembl(const Candidate& c) {
  size_t hits = 0;
  bool versioned = false;
  for (const auto& s : c.names) hits += ensembl_base(upper(s), versioned) > 0 ? 1 : 0;
  return 2 * hits > c.names.size();
}

bool is_text(const io::Column& c) {
  return c.type == io::ColumnType::String || c.type == io::ColumnType::Categorical;
}

}  // namespace

std::string form_name(GeneForm f) {
  switch (f) {
    case GeneForm::EnsemblId:
      return "ensembl id";
    case GeneForm::EnsemblIdStripped:
      return "ensembl id (version stripped)";
    case GeneForm::EnsemblIdVersioned:
      return "ensembl id (versioned, not stripped)";
    case GeneForm::Symbol:
      return "symbol";
    case GeneForm::Missing:
      return "missing";
  }
  return "?";
}

std::string unmapped_name(Unmapped u) {
  switch (u) {
    case Unmapped::None:
      return "";
    case Unmapped::NotInMapping:
      return "unknown gene name";
    case Unmapped::OutsideVocabulary:
      return "maps to a gene without a token";
    case Unmapped::NotExactKey:
      return "not an exact token-dictionary key (reference mode)";
    case Unmapped::MissingName:
      return "missing name";
  }
  return "?";
}

GeneResolution resolve_names(const std::vector<std::string>& names, const Vocabulary& vocab,
                             const GeneIdOptions& opt, const std::string& source) {
  GeneResolution r = resolve_candidate({source, names, std::vector<uint8_t>(names.size(), 0)}, vocab, opt);
  r.vocabulary_hash = vocab.hash();
  return r;
}

GeneResolution resolve_genes(const io::DataFrame& var, const Vocabulary& vocab, const GeneIdOptions& opt,
                             const std::string& file_for_errors) {
  GeneResolution best;
  if (!opt.gene_key.empty()) {
    const io::Column* col = var.find(opt.gene_key);
    if (col != nullptr) {
      best = resolve_candidate(from_column(*col), vocab, opt);
    } else if (opt.gene_key == var.index_name || opt.gene_key == "_index" || opt.gene_key == "index") {
      best = resolve_candidate(from_index(var), vocab, opt);
    } else {
      std::string have = "the index '" + var.index_name + "'";
      for (const auto& c : var.columns) have += ", '" + c.name + "'";
      throw Error(file_for_errors, "var/" + opt.gene_key, "no such gene column; var has " + have);
    }
  } else {
    // Ensembl-ID candidates win by mapped count (ties: the earlier one); symbol
    // columns are only a fallback, because an ID is unambiguous and a symbol
    // is not (aliases, renamed genes).
    std::vector<Candidate> ids{from_index(var)}, symbols;
    for (const char* name : {"ensembl_id", "gene_ids", "gene_id"})
      if (const io::Column* c = var.find(name); c != nullptr && is_text(*c)) ids.push_back(from_column(*c));
    for (const char* name :
         {"gene_symbols", "gene_symbol", "gene_name", "gene_names", "feature_name", "symbol"})
      if (const io::Column* c = var.find(name); c != nullptr && is_text(*c))
        symbols.push_back(from_column(*c));
    bool found = false;
    for (const auto& c : ids) {
      if (!mostly_ensembl(c)) continue;
      GeneResolution r = resolve_candidate(c, vocab, opt);
      if (r.n_mapped > 0 && (!found || r.n_mapped > best.n_mapped)) best = std::move(r), found = true;
    }
    if (!found) {
      std::string unmapped_ids;  // Ensembl-ID candidates that mapped nothing (another species?)
      for (const auto& c : ids)
        if (mostly_ensembl(c)) unmapped_ids += (unmapped_ids.empty() ? "" : ", ") + c.source;
      ids.insert(ids.end(), std::make_move_iterator(symbols.begin()), std::make_move_iterator(symbols.end()));
      for (const auto& c : ids) {
        GeneResolution r = resolve_candidate(c, vocab, opt);
        if (!found || r.n_mapped > best.n_mapped) best = std::move(r), found = true;
      }
      if (!unmapped_ids.empty() && best.n_mapped > 0) {
        best.warnings.push_back("the Ensembl IDs of " + unmapped_ids + " map no gene of '" + vocab.name +
                                "' (another species?); used " + best.source + " instead");
      }
    }
  }
  best.vocabulary_hash = vocab.hash();
  return best;
}

nlohmann::json GeneResolution::report() const {
  nlohmann::json forms = nlohmann::json::object(), reasons = nlohmann::json::object();
  for (size_t j = 0; j < names.size(); ++j) {
    const std::string f = form_name(form[j]);
    forms[f] = forms.value(f, 0) + 1;
    if (why_unmapped[j] != Unmapped::None) {
      const std::string w = unmapped_name(why_unmapped[j]);
      reasons[w] = reasons.value(w, 0) + 1;
    }
  }
  nlohmann::json coll = nlohmann::json::array();
  for (const auto& [gene, inputs] : collapsed) coll.push_back({{"gene", gene}, {"inputs", inputs}});
  return {{"vocabulary", vocabulary},
          {"vocabulary_hash", vocabulary_hash},
          {"source", source},
          {"how", how},
          {"strip_versions", strip_versions},
          {"reference_exact", reference_exact},
          {"n_input", static_cast<int64_t>(names.size())},
          {"n_mapped", n_mapped},
          {"n_unmapped", n_unmapped},
          {"n_collapsed", n_collapsed},
          {"n_tokens", static_cast<int64_t>(kept_tokens.size())},
          {"forms", forms},
          {"unmapped_reasons", reasons},
          {"warnings", warnings},
          {"unmapped", unmapped},
          {"collapsed", coll}};
}

std::string GeneResolution::report_tsv() const {
  auto clean = [](std::string s) {  // keep one row per gene whatever the name holds
    for (char& c : s)
      if (c == '\t' || c == '\n' || c == '\r') c = ' ';
    return s;
  };
  std::vector<int32_t> sharing(kept_tokens.size(), 0);
  for (const int32_t k : kept_index_of_column)
    if (k >= 0) ++sharing[static_cast<size_t>(k)];
  std::string out = "input\tresolved_id\ttoken\tstatus\tform\tdetail\n";
  for (size_t j = 0; j < names.size(); ++j) {
    const int32_t k = kept_index_of_column[j];
    std::string status = "unmapped", detail = unmapped_name(why_unmapped[j]);
    if (k >= 0 && sharing[static_cast<size_t>(k)] > 1) {
      status = "collapsed";
      detail = "summed with " + std::to_string(sharing[static_cast<size_t>(k)] - 1) + " other input(s)";
    } else if (k >= 0) {
      status = "mapped";
    }
    out += clean(names[j]) + '\t' + clean(resolved_id[j]) + '\t' +
           (token_of_column[j] >= 0 ? std::to_string(token_of_column[j]) : std::string()) + '\t' + status +
           '\t' + form_name(form[j]) + '\t' + detail + '\n';
  }
  return out;
}

io::CsrMatrix collapse_columns(const io::CsrMatrix& counts, const GeneResolution& r) {
  if (counts.n_cols != static_cast<int64_t>(r.token_of_column.size())) {
    throw Error("", "counts",
                "matrix has " + std::to_string(counts.n_cols) + " genes but the gene resolution covers " +
                    std::to_string(r.token_of_column.size()));
  }
  // Output column of each input column, from token_of_column and kept_tokens
  // alone, so a hand-built resolution works too.
  std::unordered_map<int32_t, int32_t> pos_of_token;
  for (size_t k = 0; k < r.kept_tokens.size(); ++k)
    pos_of_token.emplace(r.kept_tokens[k], static_cast<int32_t>(k));
  std::vector<int32_t> out_col(r.token_of_column.size(), -1);
  for (size_t j = 0; j < out_col.size(); ++j) {
    const int32_t t = r.token_of_column[j];
    if (t < 0) continue;
    const auto it = pos_of_token.find(t);
    if (it == pos_of_token.end()) {
      throw Error("", "gene resolution",
                  "column " + std::to_string(j) + " maps to token " + std::to_string(t) +
                      " which is not among kept_tokens");
    }
    out_col[j] = it->second;
  }

  io::CsrMatrix out;
  out.n_rows = counts.n_rows;
  out.n_cols = static_cast<int64_t>(r.kept_tokens.size());
  out.storage = counts.storage;
  out.storage.layout = "csr";
  out.indptr.assign(1, 0);
  out.indptr.reserve(static_cast<size_t>(counts.n_rows) + 1);
  out.indices.reserve(counts.indices.size());
  out.data.reserve(counts.data.size());
  std::vector<double> acc(r.kept_tokens.size(), 0.0);
  std::vector<uint8_t> seen(r.kept_tokens.size(), 0);
  std::vector<int32_t> touched;
  for (int64_t row = 0; row < counts.n_rows; ++row) {
    for (int64_t e = counts.indptr[static_cast<size_t>(row)]; e < counts.indptr[static_cast<size_t>(row) + 1];
         ++e) {
      const int32_t k = out_col[static_cast<size_t>(counts.indices[static_cast<size_t>(e)])];
      if (k < 0) continue;
      if (seen[static_cast<size_t>(k)] == 0) seen[static_cast<size_t>(k)] = 1, touched.push_back(k);
      acc[static_cast<size_t>(k)] += static_cast<double>(counts.data[static_cast<size_t>(e)]);
    }
    std::sort(touched.begin(), touched.end());
    for (const int32_t k : touched) {
      out.indices.push_back(k);
      out.data.push_back(static_cast<float>(acc[static_cast<size_t>(k)]));
      acc[static_cast<size_t>(k)] = 0.0;
      seen[static_cast<size_t>(k)] = 0;
    }
    touched.clear();
    out.indptr.push_back(static_cast<int64_t>(out.indices.size()));
  }
  return out;
}

}  // namespace pg::tokenise
