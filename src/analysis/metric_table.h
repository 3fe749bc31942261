// The evaluation table on disk and on screen: tidy TSV (one metric per row),
// JSON, and a short per-time-point summary (metric x method) for the terminal.
#pragma once

#include <string>
#include <vector>

#include "analysis/evaluate.h"

namespace pg::analysis {

inline const char* const kTableColumns[] = {"method", "time_point", "group", "metric",
                                            "value",  "n_pred",     "n_true"};

// Header line + one line per row; values as shortest round-trip text, NaN as "nan".
std::string table_tsv(const std::vector<MetricRow>& rows);

// {"columns": [...], "rows": [{method, time_point, group, metric, value, n_pred, n_true}, ...],
//  "notes": [...]}; NaN values are null.
std::string table_json(const std::vector<MetricRow>& rows, const std::vector<std::string>& notes);

// For each time point, group "all": a few key metrics (rows) by method
// (columns, the model first).
std::string table_summary(const std::vector<MetricRow>& rows);

}  // namespace pg::analysis
