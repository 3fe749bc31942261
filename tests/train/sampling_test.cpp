// Splits, the epoch sampler, rank shares and the masking draws: the pieces
// whose determinism resumption and data parallelism rely on, checked
// against values computed independently here.
#include <gtest/gtest.h>

#include <map>
#include <numeric>
#include <set>

#include "core/error.h"
#include "train/masking.h"
#include "train/sampling.h"

namespace {

using namespace pg::train;

std::string parity(int64_t i) {
  return i % 2 ? "odd" : "even";
}

TEST(Split, FractionsStrataAndHeldOutConditions) {
  SplitOptions o;
  o.train = 0.8;
  o.test = 0.1;
  auto s = make_split(100, o, 7, parity);
  EXPECT_EQ(s.train.size(), 80u);
  EXPECT_EQ(s.test.size(), 10u);
  EXPECT_EQ(s.val.size(), 10u);
  std::set<int64_t> all(s.train.begin(), s.train.end());
  all.insert(s.val.begin(), s.val.end());
  all.insert(s.test.begin(), s.test.end());
  EXPECT_EQ(all.size(), 100u);                              // a partition
  EXPECT_EQ(make_split(100, o, 7, parity).train, s.train);  // a function of the seed
  EXPECT_NE(make_split(100, o, 8, parity).train, s.train);

  o.mode = "stratified";
  s = make_split(50, o, 7, parity);  // 25 even, 25 odd: 20 + 2.5 -> 2 + rest per group
  std::map<std::string, int> train_by;
  for (auto i : s.train) ++train_by[parity(i)];
  EXPECT_EQ(train_by["even"], 20);
  EXPECT_EQ(train_by["odd"], 20);

  o.mode = "condition";
  o.held_out = {"odd"};
  s = make_split(20, o, 7, parity);
  EXPECT_EQ(s.test.size(), 10u);
  for (auto i : s.test) EXPECT_EQ(parity(i), "odd");
  for (auto i : s.train) EXPECT_EQ(parity(i), "even");
  o.held_out = {"neither"};
  EXPECT_THROW(make_split(20, o, 7, parity), pg::Error);
}

TEST(Sampler, EpochsAreShuffledBucketedAndReproducible) {
  std::vector<int64_t> train(100);
  std::iota(train.begin(), train.end(), 0);
  auto length = [](int64_t i) { return (i * 37) % 101; };
  SamplerOptions o;
  o.batch_size = 10;
  o.bucket_batches = 5;
  const auto e0 = epoch_batches(train, length, {}, o, 3, 0);
  ASSERT_EQ(e0.size(), 10u);
  std::vector<int64_t> seen;
  double padded = 0;
  for (const auto& b : e0) {
    seen.insert(seen.end(), b.begin(), b.end());
    std::vector<int64_t> lens;
    for (auto i : b) lens.push_back(length(i));
    padded += padding_fraction(lens);
  }
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, train);  // each example once per epoch
  EXPECT_EQ(epoch_batches(train, length, {}, o, 3, 0), e0);
  EXPECT_NE(epoch_batches(train, length, {}, o, 3, 1), e0);
  // Bucketing: much less padding than unbucketed batches of the same data.
  o.bucket_batches = 1;
  double plain = 0;
  for (const auto& b : epoch_batches(train, length, {}, o, 3, 0)) {
    std::vector<int64_t> lens;
    for (auto i : b) lens.push_back(length(i));
    plain += padding_fraction(lens);
  }
  EXPECT_LT(padded, 0.5 * plain);
  EXPECT_DOUBLE_EQ(padding_fraction({4, 2, 2}), 1.0 - 8.0 / 12.0);
}

TEST(Sampler, WeightedDrawsFollowInverseFrequency) {
  // 90 examples of label a, 10 of b: inverse-frequency weights balance them.
  std::vector<int64_t> train(100);
  std::iota(train.begin(), train.end(), 0);
  auto label = [](int64_t i) { return std::string(i < 90 ? "a" : "b"); };
  const auto w = inverse_frequency_weights(train, label);
  EXPECT_DOUBLE_EQ(w[0], 100.0 / 90.0);
  EXPECT_DOUBLE_EQ(w[95], 100.0 / 10.0);
  SamplerOptions o;
  o.batch_size = 100;
  int64_t b = 0, total = 0;
  for (int epoch = 0; epoch < 50; ++epoch)
    for (const auto& batch : epoch_batches(
             train, [](int64_t) { return 1; }, w, o, 1, epoch))
      for (auto i : batch) b += i >= 90, ++total;
  EXPECT_NEAR(static_cast<double>(b) / static_cast<double>(total), 0.5, 0.03);
}

TEST(Sampler, RankSharesPartitionTheBatch) {
  const std::vector<int64_t> batch = {5, 1, 9, 3, 7, 2, 8};
  auto length = [](int64_t i) { return i; };
  const auto r0 = rank_share(batch, length, 0, 2), r1 = rank_share(batch, length, 1, 2);
  EXPECT_EQ(r0, (std::vector<int64_t>{9, 7, 3, 1}));  // longest first, dealt round-robin
  EXPECT_EQ(r1, (std::vector<int64_t>{8, 5, 2}));
}

TEST(Masking, DrawsDependOnlyOnSeedStepAndCell) {
  const auto a = draw_mask_randomness(42, 7, {3, 11}, 20);
  const auto b = draw_mask_randomness(42, 7, {11, 3, 5}, 30);
  EXPECT_TRUE(torch::equal(a.u[0], b.u[1]));
  EXPECT_TRUE(torch::equal(a.r[1], b.r[0].slice(0, 0, 20)));  // independent of batch position and width
  EXPECT_FALSE(torch::equal(a.r[0], draw_mask_randomness(42, 8, {3}, 20).r[0]));
  EXPECT_GE(a.r.min().item<float>(), 0.0f);
  EXPECT_LT(a.r.max().item<float>(), 1.0f);
}

TEST(Masking, SchedulesAndTheEncoderRule) {
  const auto r = torch::tensor({0.0f, 0.25f, 0.5f, 1.0f});
  const auto n = torch::full({4}, 16);
  EXPECT_TRUE(
      torch::allclose(mask_ratio(MaskSchedule::pow, r, n), torch::tensor({1.0f, 0.9375f, 0.75f, 1e-6f})));
  EXPECT_TRUE(torch::allclose(
      mask_ratio(MaskSchedule::cosine, r, n),
      torch::tensor({1.0f, std::cos(0.125f * float(M_PI)), std::cos(0.25f * float(M_PI)), 1e-6f}), 1e-5,
      1e-6));
  EXPECT_TRUE(torch::allclose(mask_ratio(MaskSchedule::exp, r, n),
                              1 - torch::exp2(-4.0f * (1 - r)).clamp_max(1 - 1e-6f), 1e-5, 1e-6));
  // Encoder pretraining: <cls> never masked, k = max(1, round((n - 1) * (1 - u^2))).
  auto ids = torch::tensor({{2, 10, 11, 12, 13, 3, 0, 0}, {2, 10, 3, 0, 0, 0, 0, 0}});
  const auto d = draw_mask_randomness(1, 0, {0, 1}, 8);
  const auto m = pretrain_mask(ids, d.u, d.r, MaskSchedule::pow);
  EXPECT_FALSE(m.select(1, 0).any().item<bool>());
  EXPECT_FALSE(m.masked_select(ids.eq(0)).any().item<bool>());
  for (int b = 0; b < 2; ++b) {
    const double u = d.u[b].item<float>(), n_eligible = b == 0 ? 5 : 2;
    const auto k = std::max<int64_t>(1, std::llround(n_eligible * (1 - u * u)));
    EXPECT_EQ(m[b].sum().item<int64_t>(), k) << b;
  }
}

}  // namespace
