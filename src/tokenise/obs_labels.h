// Per-cell labels from obs columns, turned into small integer codes: which
// state (time point) a cell belongs to, its stratification group, and the
// carried columns the store keeps for conditioning. Columns are read a chunk
// at a time, so the code tables are built in the scan pass and fixed before
// the encode pass.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/cell_matrix.h"

namespace pg::tokenise {

// Text of every row of a column (Column::text; "NA" when missing), computed
// once per category for categoricals.
std::vector<std::string> column_texts(const io::Column& c);
// True where the row's value is missing.
std::vector<uint8_t> column_missing(const io::Column& c);

// A growing label -> code table (codes in first-seen order while scanning;
// finish() renumbers them in sorted label order, as pandas groupby sorts).
class LabelCodes {
 public:
  // Code of `label`, adding it if new.
  int32_t add(const std::string& label);
  // After finish(): code of a label seen during the scan, -1 otherwise.
  int32_t find(const std::string& label) const;
  // Sorts the labels; returns old code -> new code.
  std::vector<int32_t> finish();
  const std::vector<std::string>& labels() const { return labels_; }
  int64_t count(int32_t code) const { return counts_[static_cast<size_t>(code)]; }
  void count_one(int32_t code) { ++counts_[static_cast<size_t>(code)]; }

 private:
  std::vector<std::string> labels_;
  std::vector<int64_t> counts_;
  std::unordered_map<std::string, int32_t> code_;
};

// An obs column carried into the token store: categorical (codes into
// `labels`) unless it holds numbers (floats, ints), which are kept as values.
struct CarriedColumn {
  std::string name;
  bool numeric = false;
  LabelCodes codes;  // categorical columns
};

}  // namespace pg::tokenise
