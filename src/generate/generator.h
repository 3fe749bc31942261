// Generation of later time points for the paired cells of a token store
// (spec §5): batches of source cells, length-bucketed; the source encoded once
// per batch; each requested time point decoded by MaskGIT (maskgit.h) with
// its context's keys/values projected once; then the count head on the
// generated cell's mean embedding.
//
// What the caller chooses (GenerateOptions):
//   length   truth   : as many genes as the paired true cell (the reference)
//            fixed   : ℓ genes for every cell
//            sampled : drawn per cell from the lengths of that time point's
//                      training cells (a held-out time point: its nearest
//                      trained neighbours) — no ground truth needed
//   context  truth     : the true cells of the other time points (the reference)
//            generated : time points generated in time order; each is
//                        conditioned on those generated before it — the mode
//                        for a user who has only source cells
//   library  observed : the paired true cell's library size (the reference;
//                       it leaks the truth into the counts)
//            median   : the median library of the time point's training cells
// Every random draw is keyed by (seed, time, pairing row), so a cell's result
// does not depend on the batch it lands in or the thread count.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "generate/maskgit.h"
#include "model/model_dir.h"
#include "store/token_store.h"
#include "train/paired_data.h"

namespace pg::generate {

enum class LengthMode { truth, fixed, sampled };
enum class ContextMode { truth, generated };
enum class LibraryMode { observed, median };
enum class CountOutput { mean, mu, sample };  // E[x]; the reference's μ = ρ·ℓ; one draw

struct GenerateOptions {
  MaskGitOptions maskgit;
  std::vector<int64_t> times;  // target times 1..T to generate; empty: every target time of the store
  LengthMode length = LengthMode::sampled;
  int64_t fixed_length = 0;  // LengthMode::fixed
  int64_t max_length = 0;    // cap on generated genes; 0: the decoder's position table
  ContextMode context = ContextMode::generated;
  LibraryMode library = LibraryMode::median;
  CountOutput counts = CountOutput::mean;
  uint64_t seed = 0;
  int64_t batch_size = 32;
  bool bf16 = false;          // bf16 autocast of the model (sampling and scores stay float32)
  std::vector<int64_t> rows;  // pairing rows to generate for; empty: all with a source cell
};

struct GeneratedTime {
  std::vector<std::vector<int32_t>> genes;  // per cell: count-head gene indices in generated order
  torch::Tensor embedding;                  // (n, d) mean embedding of the generated cell
  torch::Tensor counts;                     // (n, G) predicted counts (empty without a count head)
  std::vector<int64_t> target_cells;        // paired true cell per row (-1: none)
};

struct GenerationOutput {
  std::vector<int64_t> rows;          // pairing rows, in output order
  std::vector<int64_t> source_cells;  // their source cells
  std::map<int64_t, GeneratedTime> times;
  int64_t decoder_calls = 0;  // MaskGIT calls, all batches and times
  int64_t skipped_rows = 0;   // pairing rows without the cells this mode needs
};

// Parses "truth|fixed|sampled", "truth|generated", "observed|median",
// "mean|mu|sample", "reference|maskgit", "topk-margin|topk" (pg::Error otherwise).
LengthMode parse_length_mode(const std::string& s);
ContextMode parse_context_mode(const std::string& s);
LibraryMode parse_library_mode(const std::string& s);
CountOutput parse_count_output(const std::string& s);
Demasking parse_demasking(const std::string& s);
Scoring parse_scoring(const std::string& s);

GenerationOutput generate(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                          const pg::store::TokenStore& store, const GenerateOptions& options);

// Predicted counts from the count head's output for the pairing rows `rows`
// at time t; `sample` draws are keyed by (seed, t, row) like generation.
torch::Tensor predicted_counts(const pg::model::CountHeadOutput& head, pg::model::CountLoss loss,
                               CountOutput mode, uint64_t seed, int64_t t, const std::vector<int64_t>& rows);

// What one batch gives at one time point.
struct BatchTime {
  torch::Tensor ids;        // (B, L) generated row ids (condition tokens first)
  torch::Tensor hidden;     // (B, L, d) final hidden states of the last decoder call
  torch::Tensor embedding;  // (B, d) mean embedding of the generated cell
  torch::Tensor counts;     // (B, G) predicted counts (undefined without a count head)
};

// generate() one batch at a time, for callers that run several generations
// of the same cells (a perturbation: control and edited source with the same
// random draws). Everything derived once from model, store and options lives
// here; run() is deterministic per (seed, time, pairing row).
class BatchGenerator {
 public:
  // `load_truth`: also load every target time's true cell and counts (rows
  // lacking one are then skipped), e.g. to report them next to the
  // generated cells.
  BatchGenerator(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                 const pg::store::TokenStore& store, const GenerateOptions& options, bool load_truth = false);
  ~BatchGenerator();

  const pg::train::PairedData& data() const;
  const std::vector<int64_t>& examples() const;  // the usable examples (indices into data())
  const std::vector<int64_t>& times() const;     // the times generated, ascending
  // Positions into examples(), grouped into length-bucketed batches.
  std::vector<std::vector<int64_t>> batches() const;
  // Generates every time for the examples of `batch` (pairing rows `rows`);
  // `src_ids` replaces the batch's source sentences when defined; `banned`
  // row ids are never generated (maskgit de-masking).
  std::map<int64_t, BatchTime> run(const pg::train::TrainBatch& batch, const std::vector<int64_t>& rows,
                                   const torch::Tensor& src_ids = {},
                                   const std::vector<int64_t>& banned = {});
  int64_t decoder_calls() const { return decoder_calls_; }  // MaskGIT calls so far

 private:
  struct State;
  std::unique_ptr<State> s_;
  int64_t decoder_calls_ = 0;
};

}  // namespace pg::generate
