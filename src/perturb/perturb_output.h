// A perturbation's results on disk.
//
// One AnnData file per perturbation, in the reference's layout (spec §6.5),
// one row per (kept pairing row, time point):
//   X                          perturbed predicted counts
//   layers pred_counts         control predicted counts
//   layers true_counts         the paired observed cell's counts
//   obs                        time_point, source_cell, target_cell, pairing_row,
//                              the store's obs columns (generate/output.h)
//   obsm true_cls              control cell embedding (the reference's name)
//   obsm perturbed_cls         perturbed cell embedding
//   obsm mean_cos_similarity   (n, 1) their cosine
//   varm gene_cos_similarity   (genes, n) per-gene cosine, 0 where absent
//   varm gene_shift            (genes, times) mean 1 − gene cosine (NaN: never present)
//   uns perturbgen             time order, the perturbation, its settings and
//                              the summary of every time point
// And one summary TSV for a whole run, one row per (perturbation, time point).
#pragma once

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/cell_matrix.h"
#include "perturb/perturber.h"
#include "perturb/summary.h"

namespace pg::perturb {

// m{validation}_g{genes joined by '_', the first five}_s{src|tgt}_t{mode}.h5ad
// (the reference's name without its date, so reruns find their outputs).
std::string perturbation_file_name(Validation validation, const std::vector<std::string>& genes, Sequence on,
                                   EditMode mode);

pg::io::CellMatrix perturbation_cells(const PerturbResult& result,
                                      const std::map<int64_t, TimeSummary>& summaries,
                                      const pg::store::TokenStore& store,
                                      const pg::model::ModelConfig& config,
                                      const nlohmann::json& perturbation);

struct SummaryRow {
  std::string perturbation;  // the file name's gene part
  std::vector<std::string> genes;
  nlohmann::json settings;  // mode, on, validation
  std::string time_point;
  int64_t candidates = 0, skipped = 0;
  TimeSummary summary;
};

// The header and rows, tab-separated; gene lists comma-joined symbols.
std::string summary_header();
std::string summary_line(const SummaryRow& row, const pg::store::TokenStore& store);

}  // namespace pg::perturb
