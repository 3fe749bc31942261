// A perturbation atlas: every gene of a list perturbed on its own in the same
// cells (spec §6.7), at the cost of one pass per (gene, cell) pair.
//
// What the reference repeats per gene and this does once:
//   - the control pass (or the control generation) of every cell;
//   - reading and batching the cells;
// and the perturbed copies of different genes share batches, so a batch is
// full whatever a gene's number of expressing cells.
//
// Work is split by gene: shard i of n takes the genes whose position in the
// list is i mod n (`--shard i/n` for independent jobs, and every
// torch.distributed rank of a `--nproc` run a shard of its own). Each
// finished gene is written to OUT_DIR/genes/ at once (atomically), so an
// interrupted run resumes where it stopped and never reads a partial result.
// When every gene of the list is done, the run that notices assembles
//   effects.tsv   genes x time points: cells, mean shift and its interval,
//                 DE genes up/down, top up/down genes
//   atlas.h5ad    obs = genes, X = the embedding-shift vectors (mean over cells
//                 of perturbed − control cell embedding, time points
//                 concatenated), obs `program` = Leiden clusters of those
//                 vectors (perturbation-induced programs), obsm per-time
//                 mean shifts
//   programs.tsv  gene, program
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "perturb/perturber.h"
#include "perturb/summary.h"

namespace pg::perturb {

struct AtlasOptions {
  PerturbOptions perturb;   // edit mode and rules, validation, generation settings (source edits)
  int64_t pair_batch = 64;  // perturbed (gene, cell) pairs per forward pass
  int64_t shard = 0, n_shards = 1;
  SummaryOptions summary{200, 10, 0, true};
  double resolution = 1.0;  // Leiden, on the shift vectors
  bool progress = true;
};

struct AtlasRun {
  int64_t genes_in_shard = 0, genes_done_before = 0, genes_run = 0, genes_without_cells = 0;
  int64_t pairs = 0;  // perturbed (gene, cell) passes run
  double seconds = 0;
};

// Runs this shard's unfinished genes; results in out_dir/genes/.
AtlasRun run_atlas(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                   const pg::store::TokenStore& store, const std::vector<std::string>& genes,
                   const AtlasOptions& options, const std::filesystem::path& out_dir);

// When every gene of `genes` has its result in out_dir/genes/, writes the
// tables above and returns true; otherwise returns false (some shard is
// still running or failed).
bool assemble_atlas(const pg::store::TokenStore& store, const std::vector<std::string>& genes,
                    const AtlasOptions& options, const std::filesystem::path& out_dir);

}  // namespace pg::perturb
