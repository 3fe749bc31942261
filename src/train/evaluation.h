// Validation of each stage, and the simple baselines the README compares
// against: a unigram (gene-frequency) model of the masked tokens, and a
// per-gene mean model of the counts. Masks are drawn with fixed keys, so
// every evaluation of a run (and of an untrained model) scores the same
// masked positions.
#pragma once

#include <torch/torch.h>

#include <set>
#include <vector>

#include "model/perturbgen_model.h"
#include "train/embedding_cache.h"
#include "train/masking.h"
#include "train/paired_data.h"

namespace pg::train {

// Sums to be added up over ranks; loss = sum / count.
struct EvalSums {
  double sum = 0, count = 0, baseline_sum = 0;
};

// Unigram log-probabilities of the target ids over `times` of the `rows`
// (add-one smoothing over the gene and condition ids), (V,).
torch::Tensor unigram_log_probs(const PairedData& data, const std::vector<int64_t>& rows,
                                const std::vector<int64_t>& times, int64_t vocab_size);

// `other_source`: every row's source sentence is replaced by the next row's
// of its batch (the last takes the first's; batches of one row keep theirs),
// the targets and masks unchanged. The loss increase over the true sources
// measures how much the decoder uses the source cell (source dependence): 0
// when the source says nothing about the target, as under random pairing.
EvalSums evaluate_mask(pg::model::PerturbGenModelImpl& model, const PairedData& data,
                       const std::vector<int64_t>& rows, const std::vector<int64_t>& times, uint64_t seed,
                       MaskSchedule schedule, const torch::Tensor& unigram, int64_t batch_size,
                       bool other_source = false);

// The same over the cells' source-vocabulary tokens (pretraining).
torch::Tensor unigram_log_probs(const CellData& data, const std::vector<int64_t>& rows, int64_t vocab_size);

EvalSums evaluate_pretrain(pg::model::SourceEncoderImpl& encoder, const CellData& data,
                           const std::vector<int64_t>& rows, uint64_t seed, MaskSchedule schedule,
                           const torch::Tensor& unigram, int64_t batch_size);

// The per-gene mean model: mu_cg = rho_g * l_c with rho_g the genes' share
// of the training counts and an NB dispersion theta_g by the method of
// moments (zinb/nb); the per-gene mean of log-normalised counts (mse).
struct GeneMeanBaseline {
  torch::Tensor rho, theta, lognorm_mean;  // (G,)
};
GeneMeanBaseline fit_gene_mean_baseline(const PairedData& data, const std::vector<int64_t>& rows,
                                        const std::vector<int64_t>& times, int64_t max_cells = 5000);

// Starts a fresh count head at the per-gene mean model: the output bias at
// log rho (softmax heads; so softmax(W h + b) ≈ rho while W h is small) or at
// the mean log-normalised counts (mse), and, when `dispersion`, log theta
// at the moment estimates (instead of the reference's N(0, 1) draw). The
// head then learns what the cell's embedding adds to the gene means.
void start_from_baseline(pg::model::CountHeadImpl& head, const GeneMeanBaseline& baseline, bool dispersion);

EvalSums evaluate_count(pg::model::PerturbGenModelImpl& model, const PairedData& data,
                        const std::vector<int64_t>& rows, const std::vector<int64_t>& times,
                        const std::set<int64_t>& excluded_ids, const GeneMeanBaseline& baseline,
                        int64_t batch_size, const EmbeddingCache* embeddings = nullptr);

// Mean log library size of the training targets (the predicted size
// factor's initial bias).
double mean_log_library(const PairedData& data, const std::vector<int64_t>& rows,
                        const std::vector<int64_t>& times);

}  // namespace pg::train
