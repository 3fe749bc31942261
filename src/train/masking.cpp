#include "train/masking.h"

#include <cmath>

#include "core/error.h"
#include "core/random.h"

namespace pg::train {

MaskSchedule parse_mask_schedule(const std::string& name, const std::string& file) {
  if (name == "pow") return MaskSchedule::pow;
  if (name == "cosine") return MaskSchedule::cosine;
  if (name == "exp") return MaskSchedule::exp;
  if (name == "log") return MaskSchedule::log;
  if (name == "uniform") return MaskSchedule::uniform;
  throw pg::Error(file, "mask_schedule", "'" + name + "' is not one of pow, cosine, exp, log, uniform");
}

std::string to_string(MaskSchedule s) {
  switch (s) {
    case MaskSchedule::pow:
      return "pow";
    case MaskSchedule::cosine:
      return "cosine";
    case MaskSchedule::exp:
      return "exp";
    case MaskSchedule::log:
      return "log";
    case MaskSchedule::uniform:
      return "uniform";
  }
  return "?";
}

torch::Tensor mask_ratio(MaskSchedule s, const torch::Tensor& r, const torch::Tensor& n_tokens) {
  torch::Tensor g;
  const auto log2n = torch::log2(n_tokens.to(r.scalar_type()).clamp_min(2));
  switch (s) {
    case MaskSchedule::uniform:
      g = 1 - r;
      break;
    case MaskSchedule::pow:
      g = 1 - r * r;
      break;
    case MaskSchedule::cosine:
      g = torch::cos(r * (M_PI / 2));
      break;
    case MaskSchedule::log:
      g = -torch::log2(r) / log2n;
      break;
    case MaskSchedule::exp:
      g = 1 - torch::exp2(-log2n * (1 - r));
      break;
  }
  return g.clamp(1e-6, 1.0);
}

MaskDraws draw_mask_randomness(uint64_t seed, int64_t step, const std::vector<int64_t>& keys,
                               int64_t length) {
  const auto n = static_cast<int64_t>(keys.size());
  MaskDraws d{torch::empty({n}, torch::kFloat32), torch::empty({n, length}, torch::kFloat32)};
  auto* u = d.u.data_ptr<float>();
  auto* r = d.r.data_ptr<float>();
  constexpr float kScale = 1.0f / 16777216.0f;  // 2^-24: 24 random bits, exactly representable
  for (int64_t b = 0; b < n; ++b) {
    uint64_t s = seed;
    uint64_t key = splitmix64(s) ^ (static_cast<uint64_t>(step) * 0x9e3779b97f4a7c15ULL);
    key = splitmix64(key) ^ static_cast<uint64_t>(keys[b]);
    pg::Rng rng(splitmix64(key));
    u[b] = static_cast<float>(rng.next() >> 40) * kScale;
    for (int64_t j = 0; j < length; ++j) r[b * length + j] = static_cast<float>(rng.next() >> 40) * kScale;
  }
  return d;
}

namespace {

// mask[j] = argsort(r')[j] < k where r' = r with 1 at excluded positions.
torch::Tensor argsort_rule(const torch::Tensor& r, const torch::Tensor& excluded, const torch::Tensor& k) {
  auto keys = r.to(torch::kFloat32).masked_fill(excluded, 1.0f);
  auto order = std::get<1>(keys.sort(std::optional<bool>(true), /*dim=*/1, /*descending=*/false));
  return order.lt(k.unsqueeze(1));
}

void check_shapes(const torch::Tensor& ids, const torch::Tensor& u, const torch::Tensor& r) {
  if (ids.dim() != 2 || u.dim() != 1 || r.sizes() != ids.sizes() || u.size(0) != ids.size(0))
    throw pg::Error("<masking>", "draws", "shapes do not match the ids (B, L)");
}

}  // namespace

torch::Tensor maskgit_mask(const torch::Tensor& ids, const torch::Tensor& u, const torch::Tensor& r,
                           MaskSchedule schedule) {
  check_shapes(ids, u, r);
  const auto pad = ids.eq(0).cpu();
  const auto n = (~pad).sum(1);
  const auto ratio = mask_ratio(schedule, u.cpu().to(torch::kFloat32), n);
  auto k = torch::round(n.to(torch::kFloat32) * ratio).to(torch::kLong).clamp_min(1);
  k = torch::where(n.eq(0), torch::zeros_like(k), k);
  return argsort_rule(r.cpu(), pad, k).to(ids.device());
}

torch::Tensor pretrain_mask(const torch::Tensor& ids, const torch::Tensor& u, const torch::Tensor& r,
                            MaskSchedule schedule) {
  check_shapes(ids, u, r);
  auto excluded = ids.eq(0).cpu().clone();
  excluded.select(1, 0).fill_(true);  // <cls> is never masked
  const auto n_eligible = (~excluded).sum(1);
  const auto ratio = mask_ratio(schedule, u.cpu().to(torch::kFloat32), n_eligible + 1);
  auto k = torch::round(n_eligible.to(torch::kFloat32) * ratio).to(torch::kLong).clamp_min(1);
  k = torch::where(n_eligible.eq(0), torch::zeros_like(k), k);
  // Rank the eligible positions among themselves: shift the row so that
  // position 1 is first, apply the rule, shift back.
  auto inner = argsort_rule(r.cpu().narrow(1, 1, r.size(1) - 1), excluded.narrow(1, 1, r.size(1) - 1), k);
  auto mask = torch::zeros_like(excluded);
  mask.narrow(1, 1, r.size(1) - 1).copy_(inner);
  return mask.to(ids.device());
}

}  // namespace pg::train
