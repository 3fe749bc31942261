#include "io/summary.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace pg::io {

namespace {

std::string type_name(const Column& c) {
  switch (c.type) {
    case ColumnType::String:
      return c.missing.empty() ? "string" : "nullable string";
    case ColumnType::Categorical:
      return c.ordered ? "ordered categorical" : "categorical";
    case ColumnType::Float:
      return "float (" + c.dtype + ")";
    case ColumnType::Int:
      return (c.missing.empty() ? "int (" : "nullable int (") + c.dtype + ")";
    case ColumnType::Bool:
      return c.missing.empty() ? "bool" : "nullable bool";
  }
  return "?";
}

size_t count_missing(const Column& c) {
  size_t n = 0;
  for (size_t i = 0; i < c.size(); ++i) n += c.is_missing(i) ? 1 : 0;
  return n;
}

std::string storage_text(const StorageInfo& s) {
  std::string out = s.layout + " " + s.dtype;
  if (!s.index_dtype.empty()) out += " (indices " + s.index_dtype + ")";
  return out;
}

// Category -> number of cells, most frequent first (ties by category order).
std::vector<std::pair<std::string, int64_t>> category_counts(const Column& c) {
  std::vector<int64_t> counts(c.categories.size(), 0);
  for (int32_t code : c.codes)
    if (code >= 0) ++counts[static_cast<size_t>(code)];
  std::vector<std::pair<std::string, int64_t>> out;
  for (size_t i = 0; i < counts.size(); ++i) out.emplace_back(c.categories[i], counts[i]);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
  return out;
}

void describe_frame(std::ostringstream& s, const std::string& label, const DataFrame& df) {
  s << label << " (" << df.n_rows() << " rows, index '" << df.index_name << "'";
  if (!df.index.empty()) s << ": " << df.index.front() << " .. " << df.index.back();
  s << "): " << df.columns.size() << " columns\n";
  for (const auto& c : df.columns) {
    s << "  " << c.name << ": " << type_name(c);
    const size_t missing = count_missing(c);
    if (missing > 0) s << ", " << missing << " missing";
    if (c.type == ColumnType::Categorical) {
      const auto counts = category_counts(c);
      s << ", " << counts.size() << " categories:";
      const size_t shown = std::min<size_t>(counts.size(), 12);
      for (size_t i = 0; i < shown; ++i) s << " " << counts[i].first << " (" << counts[i].second << ")";
      if (shown < counts.size()) s << " ...";
    } else if (c.size() > 0) {
      s << ", e.g. " << c.text(0);
    }
    s << "\n";
  }
}

}  // namespace

CountsCheck check_raw_counts(const CsrMatrix& m) {
  CountsCheck r;
  r.cells_checked = m.n_rows;
  for (int64_t row = 0; row < m.n_rows; ++row) {
    for (int64_t k = m.indptr[static_cast<size_t>(row)]; k < m.indptr[static_cast<size_t>(row) + 1]; ++k) {
      const float v = m.data[static_cast<size_t>(k)];
      const auto where =
          " at cell " + std::to_string(row) + ", gene " + std::to_string(m.indices[static_cast<size_t>(k)]);
      if (v < 0) {
        r.reason = "negative value " + std::to_string(v) + where;
        return r;
      }
      if (v != std::floor(v)) {
        std::ostringstream s;
        s << "non-integer value " << v << where;
        r.reason = s.str();
        return r;
      }
    }
  }
  r.raw_counts = true;
  return r;
}

FileSummary summarize(const std::string& path, int64_t sample_cells) {
  FileSummary s;
  s.path = path;
  s.format = detect_format(path);

  // Annotations of every cell, but no matrix values.
  ReadOptions meta;
  meta.load_x = false;
  meta.layers = std::vector<std::string>{};
  CellMatrix m = read_any(path, meta);
  s.n_cells = m.n_cells();
  s.n_genes = m.n_genes();
  s.has_x = m.has_x;
  s.obs = std::move(m.obs);
  s.var = std::move(m.var);
  for (const auto& [k, v] : m.obsm) s.obsm.push_back({k, {v.n_rows, v.n_cols}});
  for (const auto& [k, v] : m.varm) s.varm.push_back({k, {v.n_rows, v.n_cols}});
  for (const auto& [k, v] : m.uns.items()) s.uns_keys.push_back(k);
  // This read left out the matrices on purpose; report only what the file itself holds back.
  for (const auto& note : m.skipped)
    if (note.find("not requested") == std::string::npos) s.skipped.push_back(note);

  // Values of the first cells only: enough to tell counts from normalised data.
  ReadOptions sample;
  sample.rows = std::pair<int64_t, int64_t>(0, std::min(sample_cells, s.n_cells));
  sample.load_obsm = sample.load_varm = sample.load_uns = false;
  CellMatrix head = read_any(path, sample);
  s.x_storage = head.X.storage;
  if (s.has_x) s.counts = check_raw_counts(head.X);
  for (const auto& [k, v] : head.layers) s.layers.emplace_back(k, v.storage);
  return s;
}

std::string to_text(const FileSummary& s) {
  std::ostringstream o;
  o << "file:    " << s.path << "\n";
  o << "format:  " << format_name(s.format) << "\n";
  o << "shape:   " << s.n_cells << " cells x " << s.n_genes << " genes\n";
  if (s.has_x) {
    o << "X:       " << storage_text(s.x_storage) << "\n";
    o << "counts:  "
      << (s.counts.raw_counts ? "looks like raw counts (non-negative integers"
                              : "not raw counts (" + s.counts.reason)
      << ", first " << s.counts.cells_checked << " cells checked)\n";
  } else {
    o << "X:       absent\n";
  }
  o << "layers:  " << (s.layers.empty() ? "none" : "") << "\n";
  for (const auto& [k, st] : s.layers) o << "  " << k << ": " << storage_text(st) << "\n";
  std::ostringstream frames;
  describe_frame(frames, "obs", s.obs);
  describe_frame(frames, "var", s.var);
  o << frames.str();
  auto keys = [&](const char* label, const auto& v) {
    o << label;
    if (v.empty()) o << " none";
    for (const auto& [k, shape] : v) o << " " << k << " (" << shape.first << "x" << shape.second << ")";
    o << "\n";
  };
  keys("obsm:", s.obsm);
  keys("varm:", s.varm);
  o << "uns:";
  for (const auto& k : s.uns_keys) o << " " << k;
  if (s.uns_keys.empty()) o << " none";
  o << "\n";
  for (const auto& k : s.skipped) o << "not loaded: " << k << "\n";
  return o.str();
}

nlohmann::json to_json(const FileSummary& s) {
  nlohmann::json j;
  j["file"] = s.path;
  j["format"] = format_name(s.format);
  j["n_cells"] = s.n_cells;
  j["n_genes"] = s.n_genes;
  j["has_x"] = s.has_x;
  j["x"] = {
      {"layout", s.x_storage.layout}, {"dtype", s.x_storage.dtype}, {"index_dtype", s.x_storage.index_dtype}};
  j["raw_counts"] = {{"looks_raw", s.counts.raw_counts},
                     {"cells_checked", s.counts.cells_checked},
                     {"reason", s.counts.reason}};
  for (const auto& [k, st] : s.layers) j["layers"][k] = {{"layout", st.layout}, {"dtype", st.dtype}};
  for (const auto* frame : {&s.obs, &s.var}) {
    auto& out = j[frame == &s.obs ? "obs" : "var"];
    out["n"] = frame->n_rows();
    out["index_name"] = frame->index_name;
    out["columns"] = nlohmann::json::array();
    for (const auto& c : frame->columns) {
      nlohmann::json col = {{"name", c.name}, {"type", type_name(c)}, {"n_missing", count_missing(c)}};
      if (c.type == ColumnType::Categorical) {
        for (const auto& [cat, n] : category_counts(c)) col["categories"][cat] = n;
      }
      out["columns"].push_back(col);
    }
  }
  for (const auto& [k, shape] : s.obsm) j["obsm"][k] = {shape.first, shape.second};
  for (const auto& [k, shape] : s.varm) j["varm"][k] = {shape.first, shape.second};
  j["uns"] = s.uns_keys;
  j["not_loaded"] = s.skipped;
  return j;
}

}  // namespace pg::io
