#include "train/paired_data.h"

#include <algorithm>
#include <limits>

#include "core/error.h"

namespace pg::train {

namespace {

constexpr int64_t kCls = 2, kEos = 3, kFirstGeneId = 4;

// Category name of a categorical obs code (-1: missing).
std::string category(const pg::store::StoreSchema& s, size_t column, int32_t code) {
  return code < 0 ? std::string("NA") : s.obs[column].categories[static_cast<size_t>(code)];
}

size_t categorical_column(const pg::store::TokenStore& store, const std::string& name, const char* what) {
  const size_t c = store.obs_column(name);
  if (store.schema().obs[c].kind != pg::store::ObsColumnSpec::Kind::Categorical)
    throw pg::Error(store.dir().string(), "obs column " + name,
                    std::string("is numeric; ") + what + " need a categorical column");
  return c;
}

}  // namespace

PairedData::PairedData(const pg::store::TokenStore& store, PairedDataOptions options)
    : store_(store), options_(std::move(options)) {
  const std::string where = store.dir().string();
  if (!store.has_pairing())
    throw pg::Error(where, "pairing table",
                    "missing: training needs paired cells (tokenise with a source state and targets)");
  const auto& pairing = store.pairing();
  n_times_ = static_cast<int64_t>(pairing.columns.size()) - 1;
  if (n_times_ < 1) throw pg::Error(where, "pairing table", "has no target column");
  if (options_.source_only && !options_.times.empty())
    throw pg::Error(where, "target times", "cannot be loaded with source_only");
  if (options_.times.empty() && !options_.source_only)
    for (int64_t t = 1; t <= n_times_; ++t) options_.times.push_back(t);
  for (int64_t t : options_.times)
    if (t < 1 || t > n_times_)
      throw pg::Error(where, "time " + std::to_string(t),
                      "is not a target time of this store (1.." + std::to_string(n_times_) + ")");

  n_genes_ = static_cast<int64_t>(store.genes().size());
  token_to_row_.assign(static_cast<size_t>(store.schema().vocab_size), -1);
  for (size_t g = 0; g < store.genes().size(); ++g) {
    const auto& row = store.genes()[g];
    if (row.source_token >= 0 && row.source_token < store.schema().vocab_size)
      token_to_row_[static_cast<size_t>(row.source_token)] = static_cast<int32_t>(kFirstGeneId + g);
  }

  first_free_id_ = kFirstGeneId + n_genes_;
  for (const auto& key : options_.cond_keys) {
    const size_t c = categorical_column(store, key, "condition tokens");
    cond_columns_.push_back(c);
    cond_offsets_.push_back(first_free_id_);
    const auto& cats = store.schema().obs[c].categories;
    auto& tokens = cond_tokens_[key];
    for (size_t k = 0; k < cats.size(); ++k) tokens[cats[k]] = first_free_id_ + static_cast<int64_t>(k);
    tokens["NA"] = first_free_id_ + static_cast<int64_t>(cats.size());
    first_free_id_ += static_cast<int64_t>(cats.size()) + 1;
  }
  std::vector<size_t> disp_columns;
  for (const auto& key : options_.dispersion_keys)
    disp_columns.push_back(categorical_column(store, key, "dispersion groups"));
  std::map<std::string, int64_t> group_index;

  const auto cond_len = static_cast<int64_t>(cond_columns_.size());
  for (int64_t r = 0; r < pairing.n_rows; ++r) {
    bool complete = pairing.at(r, 0) >= 0;
    for (int64_t t : options_.times) complete = complete && pairing.at(r, static_cast<size_t>(t)) >= 0;
    if (!complete) {
      ++skipped_;
      continue;
    }
    const int64_t src = pairing.at(r, 0);
    int64_t src_len = store.length(src);
    if (options_.max_source_length > 0) src_len = std::min(src_len, options_.max_source_length);
    int64_t longest = src_len;
    max_source_length_ = std::max(max_source_length_, src_len);
    for (int64_t t : options_.times) {
      // An upper bound (<cls>/<eos> and unmapped genes are dropped later):
      // enough for bucketing and for sizing the position table.
      int64_t len = store.length(pairing.at(r, static_cast<size_t>(t)));
      if (options_.max_length > 0) len = std::min(len, options_.max_length);
      len += cond_len;
      max_target_length_ = std::max(max_target_length_, len);
      longest = std::max(longest, len);
    }
    std::string group;
    for (size_t k = 0; k < disp_columns.size(); ++k) {
      if (k > 0) group.push_back('|');
      group.append(category(store.schema(), disp_columns[k], store.obs_code(src, disp_columns[k])));
    }
    auto [it, inserted] = group_index.emplace(group, static_cast<int64_t>(group_index.size()));
    if (inserted) groups_.push_back(group);
    group_of_.push_back(it->second);
    rows_.push_back(r);
    lengths_.push_back(longest);
  }
  if (rows_.empty())
    throw pg::Error(where, "pairing table",
                    "no row has a source cell and a cell at every requested target time");
}

int64_t PairedData::cell(int64_t i, int64_t c) const {
  return store_.pairing().at(rows_[static_cast<size_t>(i)], static_cast<size_t>(c));
}

void PairedData::target_ids(int64_t cell, std::vector<int64_t>& out) const {
  std::vector<uint32_t> tokens;
  store_.tokens(cell, tokens);
  for (size_t c = 0; c < cond_columns_.size(); ++c) {
    const int32_t code = store_.obs_code(cell, cond_columns_[c]);
    const auto n_cats = static_cast<int64_t>(store_.schema().obs[cond_columns_[c]].categories.size());
    out.push_back(cond_offsets_[c] + (code < 0 ? n_cats : code));
  }
  const size_t cap = options_.max_length > 0 ? static_cast<size_t>(options_.max_length) : tokens.size();
  size_t genes = 0;
  for (uint32_t tok : tokens) {
    if (genes >= cap) break;
    if (tok == kCls || tok == kEos || tok >= token_to_row_.size()) continue;
    const int32_t row = token_to_row_[tok];
    if (row < 0) continue;
    out.push_back(row);
    ++genes;
  }
}

namespace {

// Right-pads rows of ids with 0 into a (B, L) int64 tensor.
torch::Tensor pad_rows(const std::vector<std::vector<int64_t>>& rows) {
  size_t width = 1;
  for (const auto& r : rows) width = std::max(width, r.size());
  auto out = torch::zeros({static_cast<int64_t>(rows.size()), static_cast<int64_t>(width)}, torch::kLong);
  auto* p = out.data_ptr<int64_t>();
  for (size_t b = 0; b < rows.size(); ++b) std::copy(rows[b].begin(), rows[b].end(), p + b * width);
  return out;
}

}  // namespace

TrainBatch PairedData::batch(const std::vector<int64_t>& examples) const {
  TrainBatch out;
  out.rows = examples;
  const auto B = static_cast<int64_t>(examples.size());
  std::vector<std::vector<int64_t>> src(examples.size());
  std::vector<uint32_t> tokens;
  auto condition = torch::zeros({B}, torch::kLong);
  for (size_t b = 0; b < examples.size(); ++b) {
    store_.tokens(cell(examples[b], 0), tokens);
    size_t n = tokens.size();
    if (options_.max_source_length > 0) n = std::min(n, static_cast<size_t>(options_.max_source_length));
    src[b].assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
    condition[static_cast<int64_t>(b)] = dispersion_group(examples[b]);
  }
  out.model.src_ids = pad_rows(src);
  out.model.condition = condition;
  std::vector<uint32_t> genes;
  std::vector<float> values;
  for (int64_t t : options_.times) {
    std::vector<std::vector<int64_t>> tgt(examples.size());
    torch::Tensor counts;
    if (options_.counts) counts = torch::zeros({B, n_genes_}, torch::kFloat32);
    for (size_t b = 0; b < examples.size(); ++b) {
      const int64_t c = cell(examples[b], t);
      target_ids(c, tgt[b]);
      if (options_.counts) {
        store_.counts(c, genes, values);
        auto* row = counts.data_ptr<float>() + static_cast<int64_t>(b) * n_genes_;
        for (size_t k = 0; k < genes.size(); ++k) row[genes[k]] = values[k];
      }
    }
    out.model.tgt_ids[t] = pad_rows(tgt);
    if (options_.counts) {
      // The reference's size factor: the row sum over the count-head genes.
      out.model.library[t] = counts.sum(1);
      out.counts[t] = counts;
    }
  }
  return out;
}

std::vector<std::string> condition_keys_in_token_order(
    const std::map<std::string, std::map<std::string, int64_t>>& condition_tokens) {
  std::vector<std::pair<int64_t, std::string>> keys;
  for (const auto& [column, values] : condition_tokens) {
    int64_t first = std::numeric_limits<int64_t>::max();
    for (const auto& [value, id] : values) first = std::min(first, id);
    keys.emplace_back(first, column);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> out;
  for (const auto& k : keys) out.push_back(k.second);
  return out;
}

CellData::CellData(const pg::store::TokenStore& store, int64_t max_length) : store_(store) {
  for (int64_t c = 0; c < store.n_cells(); ++c) {
    int64_t len = store.length(c);
    if (max_length > 0) len = std::min(len, max_length);
    if (len < 2) continue;
    cells_.push_back(c);
    lengths_.push_back(len);
    max_length_ = std::max(max_length_, len);
  }
  if (cells_.empty()) throw pg::Error(store.dir().string(), "cells", "no cell has a token after <cls>");
}

torch::Tensor CellData::batch(const std::vector<int64_t>& examples) const {
  std::vector<std::vector<int64_t>> rows(examples.size());
  std::vector<uint32_t> tokens;
  for (size_t b = 0; b < examples.size(); ++b) {
    store_.tokens(cells_[static_cast<size_t>(examples[b])], tokens);
    const auto n = std::min<size_t>(tokens.size(), static_cast<size_t>(max_length_));
    rows[b].assign(tokens.begin(), tokens.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return pad_rows(rows);
}

}  // namespace pg::train
