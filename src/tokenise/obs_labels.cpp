#include "tokenise/obs_labels.h"

#include <algorithm>
#include <numeric>

namespace pg::tokenise {

std::vector<std::string> column_texts(const io::Column& c) {
  std::vector<std::string> out(c.size());
  if (c.type == io::ColumnType::Categorical) {
    for (size_t i = 0; i < out.size(); ++i) {
      const int32_t code = c.codes[i];
      out[i] = code < 0 ? std::string("NA") : c.categories[static_cast<size_t>(code)];
    }
    return out;
  }
  for (size_t i = 0; i < out.size(); ++i) out[i] = c.text(i);
  return out;
}

std::vector<uint8_t> column_missing(const io::Column& c) {
  std::vector<uint8_t> out(c.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = c.is_missing(i) ? 1 : 0;
  return out;
}

int32_t LabelCodes::add(const std::string& label) {
  auto [it, inserted] = code_.try_emplace(label, static_cast<int32_t>(labels_.size()));
  if (inserted) {
    labels_.push_back(label);
    counts_.push_back(0);
  }
  return it->second;
}

int32_t LabelCodes::find(const std::string& label) const {
  auto it = code_.find(label);
  return it == code_.end() ? -1 : it->second;
}

std::vector<int32_t> LabelCodes::finish() {
  std::vector<int32_t> order(labels_.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return labels_[static_cast<size_t>(a)] < labels_[static_cast<size_t>(b)];
  });
  std::vector<int32_t> remap(labels_.size());
  std::vector<std::string> labels(labels_.size());
  std::vector<int64_t> counts(labels_.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const auto old = static_cast<size_t>(order[i]);
    remap[old] = static_cast<int32_t>(i);
    labels[i] = labels_[old];
    counts[i] = counts_[old];
    code_[labels[i]] = static_cast<int32_t>(i);
  }
  labels_ = std::move(labels);
  counts_ = std::move(counts);
  return remap;
}

}  // namespace pg::tokenise
