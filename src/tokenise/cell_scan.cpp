#include "tokenise/cell_scan.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <thread>

#include "core/error.h"

namespace pg::tokenise {

namespace {

std::string value_text(double v) {
  std::ostringstream s;
  s.precision(7);
  s << v;
  return s.str();
}

// Floats are measurements; integer columns are nearly always labels (cluster,
// batch, hours), so they are kept as categories.
bool is_numeric(const io::Column& c) {
  return c.type == io::ColumnType::Float;
}

// Rows of `m` listed in `rows`, all columns (for accumulators that must not see dropped cells).
io::CsrMatrix take_rows(const io::CsrMatrix& m, const std::vector<int64_t>& rows) {
  io::CsrMatrix out;
  out.n_rows = static_cast<int64_t>(rows.size());
  out.n_cols = m.n_cols;
  out.indptr.assign(1, 0);
  for (int64_t r : rows) {
    const auto b = static_cast<size_t>(m.indptr[static_cast<size_t>(r)]);
    const auto e = static_cast<size_t>(m.indptr[static_cast<size_t>(r) + 1]);
    out.indices.insert(out.indices.end(), m.indices.begin() + static_cast<std::ptrdiff_t>(b),
                       m.indices.begin() + static_cast<std::ptrdiff_t>(e));
    out.data.insert(out.data.end(), m.data.begin() + static_cast<std::ptrdiff_t>(b),
                    m.data.begin() + static_cast<std::ptrdiff_t>(e));
    out.indptr.push_back(static_cast<int64_t>(out.data.size()));
  }
  return out;
}

// Columns with keep[col] != 0 only, renumbered densely.
io::CsrMatrix take_columns(const io::CsrMatrix& m, const std::vector<uint8_t>& keep,
                           const std::vector<int32_t>& new_index, int64_t n_kept) {
  io::CsrMatrix out;
  out.n_rows = m.n_rows;
  out.n_cols = n_kept;
  out.indptr.assign(1, 0);
  for (int64_t r = 0; r < m.n_rows; ++r) {
    for (auto k = m.indptr[static_cast<size_t>(r)]; k < m.indptr[static_cast<size_t>(r) + 1]; ++k) {
      const int32_t col = m.indices[static_cast<size_t>(k)];
      if (!keep[static_cast<size_t>(col)]) continue;
      out.indices.push_back(new_index[static_cast<size_t>(col)]);
      out.data.push_back(m.data[static_cast<size_t>(k)]);
    }
    out.indptr.push_back(static_cast<int64_t>(out.data.size()));
  }
  return out;
}

// Adds a chunk's cells to the HVG accumulators, a contiguous block of rows
// per thread. The sums are exact, so the merged result is the same for any
// split.
void add_hvg(std::vector<std::unique_ptr<HvgAccumulator>>& parts, const io::CsrMatrix& X,
             const std::vector<int32_t>& batch) {
  const int64_t n = X.n_rows;
  const auto T = static_cast<int64_t>(parts.size());
  if (T == 1 || n < 512) {
    parts[0]->add(X, batch);
    return;
  }
  std::vector<std::thread> pool;
  std::vector<std::exception_ptr> errors(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    pool.emplace_back([&, t] {
      try {
        const int64_t b = n * t / T, e = n * (t + 1) / T;
        parts[static_cast<size_t>(t)]->add(
            io::slice_rows(X, b, e),
            std::span<const int32_t>(batch).subspan(static_cast<size_t>(b), static_cast<size_t>(e - b)));
      } catch (...) {
        errors[static_cast<size_t>(t)] = std::current_exception();
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace

std::vector<std::string> obs_columns_needed(const TokeniseOptions& opt) {
  std::vector<std::string> cols{opt.time_key};
  const auto add = [&](const std::string& c) {
    if (std::find(cols.begin(), cols.end(), c) == cols.end()) cols.push_back(c);
  };
  for (const auto& c : opt.group_keys) add(c);
  if (!opt.pairing.lineage_key.empty()) add(opt.pairing.lineage_key);
  for (const auto& c : opt.obs_keys) add(c);
  return cols;
}

std::vector<std::string> group_labels(const io::CellMatrix& chunk,
                                      const std::vector<std::string>& group_keys) {
  std::vector<std::string> out(static_cast<size_t>(chunk.n_cells()));
  for (size_t k = 0; k < group_keys.size(); ++k) {
    const io::Column& c = *chunk.obs.find(group_keys[k]);
    const auto texts = column_texts(c);
    const auto missing = column_missing(c);
    for (size_t i = 0; i < out.size(); ++i) {
      if (out[i] == "\x01") continue;
      if (missing[i]) {
        out[i] = "\x01";  // marks a missing group: never paired
        continue;
      }
      out[i] += (k ? " / " : "") + texts[i];
    }
  }
  return out;
}

ScanResult scan_cells(const ChunkedInput& input, const TokeniseOptions& opt, const ScanRequest& req) {
  ScanResult r;
  r.n_input_cells = input.n_cells();
  const int64_t n_genes = input.n_genes();
  r.gene_cells.assign(static_cast<size_t>(n_genes), 0);
  r.used.assign(static_cast<size_t>(r.n_input_cells), false);
  r.cells_per_state.assign(opt.time_order.size(), 0);
  std::map<std::string, int32_t> state_of;
  for (size_t s = 0; s < opt.time_order.size(); ++s) state_of[opt.time_order[s]] = static_cast<int32_t>(s);

  std::vector<int32_t> hvg_index;
  std::vector<std::unique_ptr<HvgAccumulator>> hvg_parts;  // one per thread, merged into r.hvg
  int64_t hvg_genes = n_genes;
  if (req.hvg && !req.hvg_columns.empty()) {
    hvg_index.assign(static_cast<size_t>(n_genes), -1);
    hvg_genes = 0;
    for (int64_t g = 0; g < n_genes; ++g) {
      if (req.hvg_columns[static_cast<size_t>(g)])
        hvg_index[static_cast<size_t>(g)] = static_cast<int32_t>(hvg_genes++);
    }
  }
  if (req.hvg) {
    for (int t = 0; t < std::max(1, opt.threads); ++t) {
      hvg_parts.push_back(
          std::make_unique<HvgAccumulator>(hvg_genes, static_cast<int32_t>(opt.time_order.size())));
    }
  }
  if (req.medians) r.medians = std::make_unique<MedianAccumulator>(n_genes, req.median_options);
  for (const auto& name : opt.obs_keys) r.carried.push_back(CarriedColumn{name, false, {}});

  const auto columns = obs_columns_needed(opt);
  for_each_chunk(input, opt.chunk_cells, columns, [&](int64_t first, const io::CellMatrix& chunk) {
    const io::CsrMatrix& X = chunk.X;
    const auto n = static_cast<size_t>(chunk.n_cells());
    const auto times = column_texts(*chunk.obs.find(opt.time_key));
    const bool mapping = opt.pairing.mode == PairingMode::Mapping;
    const std::vector<std::string> main_keys = mapping && !opt.group_keys.empty()
                                                   ? std::vector<std::string>{opt.group_keys.front()}
                                                   : opt.group_keys;
    const std::vector<std::string> sub_keys =
        mapping && opt.group_keys.size() > 1
            ? std::vector<std::string>(opt.group_keys.begin() + 1, opt.group_keys.end())
            : std::vector<std::string>{};
    const auto groups = main_keys.empty() ? std::vector<std::string>{} : group_labels(chunk, main_keys);
    const auto subgroups = sub_keys.empty() ? std::vector<std::string>{} : group_labels(chunk, sub_keys);
    const auto lineages = opt.pairing.lineage_key.empty()
                              ? std::vector<std::string>{}
                              : group_labels(chunk, std::vector<std::string>{opt.pairing.lineage_key});
    std::vector<int32_t> batch(n, -1);
    std::vector<int64_t> used_rows;
    for (size_t i = 0; i < n; ++i) {
      ++r.time_labels[times[i]];
      auto it = state_of.find(times[i]);
      const auto b = static_cast<size_t>(X.indptr[i]);
      const auto e = static_cast<size_t>(X.indptr[i + 1]);
      int64_t expressed = 0;
      for (size_t k = b; k < e; ++k) {
        const float v = X.data[k];
        if (v < 0) {
          throw Error(input.path(), input.matrix_name(),
                      "negative value " + value_text(v) + " at cell '" + chunk.obs.index[i] + "', gene '" +
                          input.var().index[static_cast<size_t>(X.indices[k])] + "': expected raw counts");
        }
        expressed += (v != 0);
        r.max_value = std::max(r.max_value, static_cast<double>(v));
        if (v != std::floor(v)) {
          if (r.non_integer_values++ == 0) {
            r.first_non_integer = "value " + value_text(v) + " at cell '" + chunk.obs.index[i] + "', gene '" +
                                  input.var().index[static_cast<size_t>(X.indices[k])] + "'";
          }
        }
      }
      if (it == state_of.end()) {
        ++r.not_in_time_order;
        continue;
      }
      if (expressed < opt.min_genes_per_cell) {
        ++r.too_few_genes;
        continue;
      }
      batch[i] = it->second;
      used_rows.push_back(static_cast<int64_t>(i));
      r.used[static_cast<size_t>(first) + i] = true;
      r.state.push_back(it->second);
      ++r.cells_per_state[static_cast<size_t>(it->second)];
      for (size_t k = b; k < e; ++k) r.gene_cells[static_cast<size_t>(X.indices[k])] += (X.data[k] != 0);
      if (!groups.empty()) {
        r.group.push_back(groups[i] == "\x01" ? -1 : r.groups.add(groups[i]));
        if (r.group.back() >= 0) r.groups.count_one(r.group.back());
      }
      if (!subgroups.empty())
        r.subgroup.push_back(subgroups[i] == "\x01" ? -1 : r.subgroups.add(subgroups[i]));
      if (!lineages.empty()) r.lineage.push_back(lineages[i] == "\x01" ? -1 : r.lineages.add(lineages[i]));
    }
    for (auto& c : r.carried) {
      const io::Column& col = *chunk.obs.find(c.name);
      c.numeric = is_numeric(col);
      if (c.numeric) continue;
      const auto texts = column_texts(col);
      const auto missing = column_missing(col);
      for (int64_t row : used_rows) {
        if (!missing[static_cast<size_t>(row)]) c.codes.add(texts[static_cast<size_t>(row)]);
      }
    }
    if (!hvg_parts.empty()) {
      if (hvg_index.empty()) {
        add_hvg(hvg_parts, X, batch);
      } else {
        add_hvg(hvg_parts, take_columns(X, req.hvg_columns, hvg_index, hvg_genes), batch);
      }
    }
    if (r.medians) {
      if (used_rows.size() == n) {
        r.medians->add(X);
      } else {
        r.medians->add(take_rows(X, used_rows));
      }
    }
  });
  for (size_t t = 1; t < hvg_parts.size(); ++t) hvg_parts[0]->merge(*hvg_parts[t]);
  if (!hvg_parts.empty()) r.hvg = std::move(hvg_parts[0]);
  if (!r.group.empty()) {
    const auto remap = r.groups.finish();
    for (auto& g : r.group) {
      if (g >= 0) g = remap[static_cast<size_t>(g)];
    }
  }
  if (!r.subgroup.empty()) {
    const auto remap = r.subgroups.finish();
    for (auto& g : r.subgroup) {
      if (g >= 0) g = remap[static_cast<size_t>(g)];
    }
  }
  if (!r.lineage.empty()) {
    const auto remap = r.lineages.finish();
    for (auto& l : r.lineage) {
      if (l >= 0) l = remap[static_cast<size_t>(l)];
    }
  }
  for (auto& c : r.carried) c.codes.finish();
  return r;
}

}  // namespace pg::tokenise
