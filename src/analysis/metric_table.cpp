#include "analysis/metric_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/number_text.h"

namespace pg::analysis {

namespace {

std::string value_text(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return shortest_text(v);
}

std::string cell(double v) {
  if (std::isnan(v)) return "nan";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

std::string table_tsv(const std::vector<MetricRow>& rows) {
  std::string out;
  for (size_t i = 0; i < std::size(kTableColumns); ++i)
    out += (i ? "\t" : "") + std::string(kTableColumns[i]);
  out += "\n";
  for (const auto& r : rows) {
    out += r.method + "\t" + r.time_point + "\t" + r.group + "\t" + r.metric + "\t" + value_text(r.value) +
           "\t" + std::to_string(r.n_pred) + "\t" + std::to_string(r.n_true) + "\n";
  }
  return out;
}

std::string table_json(const std::vector<MetricRow>& rows, const std::vector<std::string>& notes) {
  nlohmann::json j;
  j["columns"] = std::vector<std::string>(std::begin(kTableColumns), std::end(kTableColumns));
  j["rows"] = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json o = {{"method", r.method}, {"time_point", r.time_point}, {"group", r.group},
                        {"metric", r.metric}, {"n_pred", r.n_pred},         {"n_true", r.n_true}};
    o["value"] = std::isfinite(r.value) ? nlohmann::json(r.value) : nlohmann::json(nullptr);
    j["rows"].push_back(std::move(o));
  }
  j["notes"] = notes;
  return j.dump(1) + "\n";
}

std::string table_summary(const std::vector<MetricRow>& rows) {
  static const char* const kKey[] = {
      "e_distance_pca",         "w2_pca",    "mmd_rbf_pca", "emd_genes", "pearson_delta", "means_r2",
      "direction_acc_top20_de", "rouge1_100"};
  std::vector<std::string> times;
  std::map<std::string, std::vector<std::string>> methods;     // per time point, first seen order
  std::map<std::string, std::map<std::string, double>> value;  // time|method -> metric -> value
  std::map<std::string, std::pair<int64_t, int64_t>> sizes;    // time|method -> (n_pred, n_true)
  for (const auto& r : rows) {
    if (r.group != "all") continue;
    if (methods.count(r.time_point) == 0) times.push_back(r.time_point);
    auto& m = methods[r.time_point];
    if (std::find(m.begin(), m.end(), r.method) == m.end()) m.push_back(r.method);
    value[r.time_point + "|" + r.method][r.metric] = r.value;
    if (r.metric == "e_distance_pca" || sizes.count(r.time_point + "|" + r.method) == 0)
      sizes[r.time_point + "|" + r.method] = {r.n_pred, r.n_true};
  }
  std::ostringstream s;
  for (const auto& t : times) {
    const auto& m = methods[t];
    const auto& first = sizes[t + "|" + m.front()];
    s << "time point " << t << " (true cells: " << first.second << ")\n";
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %-24s", "metric");
    s << buf;
    for (const auto& name : m) {
      std::snprintf(buf, sizeof buf, " %14s", name.substr(0, 14).c_str());
      s << buf;
    }
    s << "\n";
    for (const char* key : kKey) {
      bool any = false;
      for (const auto& name : m) any = any || value[t + "|" + name].count(key) != 0;
      if (!any) continue;
      std::snprintf(buf, sizeof buf, "  %-24s", key);
      s << buf;
      for (const auto& name : m) {
        const auto& v = value[t + "|" + name];
        const auto it = v.find(key);
        std::snprintf(buf, sizeof buf, " %14s", it == v.end() ? "-" : cell(it->second).c_str());
        s << buf;
      }
      s << "\n";
    }
  }
  return s.str();
}

}  // namespace pg::analysis
