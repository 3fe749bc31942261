// ROUGE-1 between gene rankings, as PerturbGen reports it (spec §8.1
// rouge1_{25,100,L}): Hugging Face `evaluate`'s rouge1 with each gene id a
// word, i.e. the unigram-overlap F1 of two token sequences, averaged over the
// pairs (HF's default aggregator bootstraps the mean; the plain mean is used).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "analysis/matrix.h"

namespace pg::analysis {

// F1 of the multiset overlap: overlap = Σ_t min(#t in pred, #t in ref),
// P = overlap/|pred|, R = overlap/|ref|, F = 2PR/(P+R); 0 when either is empty
// or nothing overlaps.
double rouge1_f(std::span<const int64_t> prediction, std::span<const int64_t> reference);

// The first k tokens (all of them when k <= 0 or k >= size).
std::span<const int64_t> top_k(std::span<const int64_t> tokens, int64_t k);

// Mean rouge1_f over paired sequences after truncating both to top_k(k).
double mean_rouge1(const std::vector<std::vector<int64_t>>& predictions,
                   const std::vector<std::vector<int64_t>>& references, int64_t k);

// A cell's genes ranked as Geneformer tokenises it: normalised expression
// divided by the gene's median over non-zero cells, descending; genes with
// zero expression (or no median) left out; ties to the lower gene index.
std::vector<int64_t> rank_genes(const RowVector& expression, const Vector& gene_medians);

// Per column, the median of the non-zero entries (numpy's median: the mean of
// the two middle values for an even count); 0 for a column with none.
Vector nonzero_medians(const Matrix& values);

}  // namespace pg::analysis
