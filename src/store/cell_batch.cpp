#include "store/cell_batch.h"

#include <set>

#include "core/error.h"

namespace pg::store {

namespace {

std::string cell_element(size_t i, int64_t first_cell) {
  return "batch cell " + std::to_string(i) + " (cell " +
         std::to_string(first_cell + static_cast<int64_t>(i)) + " of the store)";
}

// offsets has n+1 entries, starts at 0, never decreases, ends at `total`.
void check_offsets(const std::vector<uint64_t>& offsets, size_t n, size_t total, const char* what,
                   const std::string& store, int64_t first_cell) {
  if (n == 0 && offsets.empty() && total == 0) return;  // an empty CellBatch{} is a valid no-op
  if (offsets.size() != n + 1)
    throw Error(
        store, std::string("batch ") + what,
        "has " + std::to_string(offsets.size()) + " entries, expected n+1 = " + std::to_string(n + 1));
  if (offsets[0] != 0)
    throw Error(store, std::string("batch ") + what,
                "must start at 0, starts at " + std::to_string(offsets[0]));
  for (size_t i = 0; i < n; ++i)
    if (offsets[i + 1] < offsets[i])
      throw Error(store, cell_element(i, first_cell),
                  std::string(what) + " decrease from " + std::to_string(offsets[i]) + " to " +
                      std::to_string(offsets[i + 1]));
  if (offsets[n] != total)
    throw Error(
        store, std::string("batch ") + what,
        "ends at " + std::to_string(offsets[n]) + " but the data has " + std::to_string(total) + " entries");
}

}  // namespace

void validate_schema(const StoreSchema& s, const std::string& store) {
  if (s.vocab_size <= 0 || s.vocab_size > (int64_t{1} << 32))
    throw Error(store, "schema.vocab_size", "must be in [1, 2^32], got " + std::to_string(s.vocab_size));
  if (s.n_count_genes < 0 || s.n_count_genes > (int64_t{1} << 32))
    throw Error(store, "schema.n_count_genes",
                "must be in [0, 2^32], got " + std::to_string(s.n_count_genes));
  if (s.cells_per_shard <= 0)
    throw Error(store, "schema.cells_per_shard",
                "must be positive, got " + std::to_string(s.cells_per_shard));
  if (s.max_shard_bytes <= 0)
    throw Error(store, "schema.max_shard_bytes",
                "must be positive, got " + std::to_string(s.max_shard_bytes));
  if (s.states.size() > 2147483647u) throw Error(store, "schema.states", "too many states");
  std::set<std::string> names;
  for (size_t j = 0; j < s.obs.size(); ++j) {
    const auto& c = s.obs[j];
    const std::string el = "schema.obs[" + std::to_string(j) + "] '" + c.name + "'";
    if (c.name.empty()) throw Error(store, el, "obs column name is empty");
    if (!names.insert(c.name).second) throw Error(store, el, "obs column name appears twice");
    if (c.kind == ObsColumnSpec::Kind::Float && !c.categories.empty())
      throw Error(store, el, "a float column has no categories, got " + std::to_string(c.categories.size()));
    if (c.categories.size() > 2147483647u) throw Error(store, el, "too many categories");
  }
}

void validate_batch(const CellBatch& b, const StoreSchema& s, const std::string& store, int64_t first_cell) {
  const size_t n = b.size();
  check_offsets(b.token_offsets, n, b.tokens.size(), "token_offsets", store, first_cell);
  if (b.count_values.size() != b.count_genes.size())
    throw Error(store, "batch count_values",
                "has " + std::to_string(b.count_values.size()) + " values for " +
                    std::to_string(b.count_genes.size()) + " count_genes");
  check_offsets(b.count_offsets, n, b.count_genes.size(), "count_offsets", store, first_cell);
  auto check_len = [&](size_t got, const std::string& what) {
    if (got != n)
      throw Error(store, "batch " + what,
                  "has " + std::to_string(got) + " entries for " + std::to_string(n) + " cells");
  };
  check_len(b.library_size.size(), "library_size");
  check_len(b.state.size(), "state");
  check_len(b.cell_ids.size(), "cell_ids");

  for (size_t i = 0; i < n; ++i) {
    for (uint64_t k = b.token_offsets[i]; k < b.token_offsets[i + 1]; ++k)
      if (b.tokens[k] >= static_cast<uint64_t>(s.vocab_size))
        throw Error(store, cell_element(i, first_cell),
                    "token " + std::to_string(b.tokens[k]) + " is outside the vocabulary (size " +
                        std::to_string(s.vocab_size) + ")");
    for (uint64_t k = b.count_offsets[i]; k < b.count_offsets[i + 1]; ++k) {
      if (b.count_genes[k] >= static_cast<uint64_t>(s.n_count_genes))
        throw Error(store, cell_element(i, first_cell),
                    "count gene " + std::to_string(b.count_genes[k]) + " is outside genes.tsv (" +
                        std::to_string(s.n_count_genes) + " genes)");
      if (k > b.count_offsets[i] && b.count_genes[k] <= b.count_genes[k - 1])
        throw Error(store, cell_element(i, first_cell),
                    "count genes must be strictly increasing within a cell, got " +
                        std::to_string(b.count_genes[k - 1]) + " then " + std::to_string(b.count_genes[k]));
    }
    const int32_t st = b.state[i];
    if (st < -1 || st >= static_cast<int64_t>(s.states.size()))
      throw Error(
          store, cell_element(i, first_cell),
          "state code " + std::to_string(st) + " is outside [-1, " + std::to_string(s.states.size()) + ")");
  }

  const size_t n_obs = s.obs.size();
  if (!b.obs_codes.empty() && b.obs_codes.size() != n_obs)
    throw Error(
        store, "batch obs_codes",
        "has " + std::to_string(b.obs_codes.size()) + " columns, the schema has " + std::to_string(n_obs));
  if (!b.obs_values.empty() && b.obs_values.size() != n_obs)
    throw Error(
        store, "batch obs_values",
        "has " + std::to_string(b.obs_values.size()) + " columns, the schema has " + std::to_string(n_obs));
  for (size_t j = 0; j < n_obs; ++j) {
    const auto& c = s.obs[j];
    const std::string el = "batch obs column '" + c.name + "'";
    const bool cat = c.kind == ObsColumnSpec::Kind::Categorical;
    const size_t n_codes = b.obs_codes.empty() ? 0 : b.obs_codes[j].size();
    const size_t n_values = b.obs_values.empty() ? 0 : b.obs_values[j].size();
    if ((cat ? n_codes : n_values) != n)
      throw Error(store, el,
                  std::string("has ") + std::to_string(cat ? n_codes : n_values) +
                      (cat ? " codes" : " values") + " for " + std::to_string(n) + " cells");
    if ((cat ? n_values : n_codes) != 0)
      throw Error(
          store, el,
          cat ? "is categorical but float values were given" : "is float but category codes were given");
    if (!cat) continue;
    const auto n_cat = static_cast<int64_t>(c.categories.size());
    for (size_t i = 0; i < n; ++i) {
      const int32_t code = b.obs_codes[j][i];
      if (code < -1 || code >= n_cat)
        throw Error(store, cell_element(i, first_cell),
                    "obs '" + c.name + "' code " + std::to_string(code) + " is outside [-1, " +
                        std::to_string(n_cat) + ")");
    }
  }
}

}  // namespace pg::store
