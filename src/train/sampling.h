// Which examples train and which validate (splits), and in which order and
// batches an epoch visits them (the sampler). Everything is a function of
// (seed, epoch), so a run, its resumption and every data-parallel rank agree
// on the batches without exchanging them.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pg::train {

// none:      every example trains; validation reuses a fixed sample of them
// random:    train/val/test fractions
// stratified: the fractions within each group of `obs` values
// condition: examples whose group (`obs` values) is in `held_out` are the test
//            set; the rest split train/val at random
// (Held-out time points do not split examples: they change the training
// times, see TrainConfig.)
struct SplitOptions {
  std::string mode = "random";
  double train = 0.8, test = 0.1;  // validation = the rest
  std::vector<std::string> held_out;
};

struct Split {
  std::vector<int64_t> train, val, test;
};

// `group_of(i)`: the stratification / condition label of example i.
Split make_split(int64_t n, const SplitOptions& options, uint64_t seed,
                 const std::function<std::string(int64_t)>& group_of);

struct SamplerOptions {
  int64_t batch_size = 64;  // global: summed over the data-parallel ranks
  // Examples are shuffled, cut into pools of `bucket_batches` batches,
  // sorted by length within a pool and cut into batches; the batches are
  // then shuffled. 1 = no bucketing (plain shuffled batches).
  int64_t bucket_batches = 32;
  bool drop_last = false;
};

// The global batches of one epoch. `weights` (empty: uniform, without
// replacement) draws train.size() examples with replacement in proportion
// to the weights, as torch's WeightedRandomSampler.
std::vector<std::vector<int64_t>> epoch_batches(const std::vector<int64_t>& train,
                                                const std::function<int64_t(int64_t)>& length,
                                                const std::vector<double>& weights,
                                                const SamplerOptions& options, uint64_t seed, int64_t epoch);

// Inverse-frequency weights N / count(label) of the training examples
// (computed on the training split only, unlike the reference).
std::vector<double> inverse_frequency_weights(const std::vector<int64_t>& train,
                                              const std::function<std::string(int64_t)>& label_of);

// Rank `rank`'s share of a global batch: the batch sorted by length and
// dealt round-robin, so every rank gets similar lengths (little padding).
std::vector<int64_t> rank_share(const std::vector<int64_t>& batch,
                                const std::function<int64_t(int64_t)>& length, int rank, int world);

// Fraction of padding in a batch of the given lengths padded to its longest.
double padding_fraction(const std::vector<int64_t>& lengths);

}  // namespace pg::train
