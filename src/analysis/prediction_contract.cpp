#include "analysis/prediction_contract.h"

#include <algorithm>

#include "core/error.h"

namespace pg::analysis {

namespace {

// A uns value that should be a list of strings (h5ad may store a one-element list as a scalar).
std::vector<std::string> string_list(const nlohmann::json& v, const std::string& file,
                                     const std::string& element) {
  std::vector<std::string> out;
  if (v.is_string()) return {v.get<std::string>()};
  if (!v.is_array()) throw Error(file, element, "expected a list of strings");
  for (const auto& x : v) {
    if (!x.is_string()) throw Error(file, element, "expected a list of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

}  // namespace

bool PredictionContract::has_targets() const {
  return std::any_of(target_cell.begin(), target_cell.end(), [](const std::string& s) { return !s.empty(); });
}

std::vector<std::string> column_texts(const io::Column& column) {
  std::vector<std::string> out(column.size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = column.is_missing(i) ? "" : column.text(i);
  return out;
}

PredictionContract read_contract(const io::CellMatrix& pred, const std::string& file,
                                 const std::vector<std::string>& time_order) {
  PredictionContract c;
  const nlohmann::json* uns = nullptr;
  if (pred.uns.is_object() && pred.uns.contains("perturbgen") && pred.uns["perturbgen"].is_object())
    uns = &pred.uns["perturbgen"];
  if (uns != nullptr) {
    if (uns->contains("method") && (*uns)["method"].is_string())
      c.method = (*uns)["method"].get<std::string>();
    if (uns->contains("time_key") && (*uns)["time_key"].is_string())
      c.time_key = (*uns)["time_key"].get<std::string>();
    if (uns->contains("time_order"))
      c.time_order = string_list((*uns)["time_order"], file, "uns/perturbgen/time_order");
    if (uns->contains("train_time_points"))
      c.train_time_points =
          string_list((*uns)["train_time_points"], file, "uns/perturbgen/train_time_points");
    else if (c.time_order.size() > 1)
      c.train_time_points.assign(c.time_order.begin() + 1, c.time_order.end());
  }
  if (!time_order.empty()) c.time_order = time_order;
  if (c.time_order.empty())
    throw Error(file, "uns/perturbgen/time_order", "missing (the time points, source first)");
  if (uns == nullptr || !uns->contains("train_time_points"))
    c.train_time_points.assign(c.time_order.begin() + 1, c.time_order.end());

  const io::Column* tp = pred.obs.find("time_point");
  if (tp == nullptr) throw Error(file, "obs/time_point", "missing (the time point of each predicted cell)");
  c.time_point = column_texts(*tp);
  for (size_t i = 0; i < c.time_point.size(); ++i) {
    if (c.time_point[i].empty())
      throw Error(file, "obs/time_point", "missing value at cell " + std::to_string(i));
    if (std::find(c.time_order.begin(), c.time_order.end(), c.time_point[i]) == c.time_order.end())
      throw Error(file, "obs/time_point",
                  "'" + c.time_point[i] + "' (cell " + std::to_string(i) + ") is not in the time order");
  }
  if (const io::Column* s = pred.obs.find("source_cell")) c.source_cell = column_texts(*s);
  if (const io::Column* t = pred.obs.find("target_cell")) c.target_cell = column_texts(*t);
  return c;
}

}  // namespace pg::analysis
