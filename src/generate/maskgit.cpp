#include "generate/maskgit.h"

#include <algorithm>
#include <cfloat>
#include <cmath>

#include "core/error.h"
#include "core/random.h"

namespace pg::generate {

namespace {

constexpr int64_t kPad = 0, kMask = 1, kFirstGene = 4;
// The reference writes −FLT_MAX, not −inf, into scores and suppressed logits.
constexpr float kFmax = FLT_MAX;

// g = −log(max(−log(max(U, 1e-20)), 1e-20)), the reference's gumbel_noise.
torch::Tensor gumbel(const torch::Tensor& u) {
  return -torch::log((-torch::log(u.clamp_min(1e-20))).clamp_min(1e-20));
}

// marked[b, j] = j is among the n[b] largest scores of row b (ties: lower
// position first, as a stable descending sort).
torch::Tensor top_n_mask(const torch::Tensor& scores, const torch::Tensor& n) {
  const auto order = std::get<1>(scores.sort(/*stable=*/true, /*dim=*/1, /*descending=*/true));
  auto rank = torch::empty_like(order);
  rank.scatter_(1, order, torch::arange(scores.size(1), order.options()).expand_as(order));
  return rank.lt(n.unsqueeze(1));
}

// Confidence scores of the proposals: 1 − (p₁ − p₂) or 1 − p(proposed).
torch::Tensor proposal_scores(const torch::Tensor& logits, const torch::Tensor& proposed, Scoring scoring) {
  const auto p = torch::softmax(logits, -1);
  if (scoring == Scoring::topk) return 1 - p.gather(-1, proposed.unsqueeze(-1)).squeeze(-1);
  const auto top2 = std::get<0>(p.topk(2, -1));
  return 1 - (top2.select(-1, 0) - top2.select(-1, 1)).abs();
}

// maskgit: gives each newly proposed position a gene no other position of its
// row holds. Positions are settled in order of their proposal's probability;
// a position whose proposal is taken moves down its own candidate list
// (ranked by the perturbed score y, as Gumbel-top-k sampling without
// replacement would), then, if every candidate is taken, to the most likely
// free gene of its logits. Rows (b_idx) are sorted, as nonzero() gives them.
// `proposed` (M,) is updated in place; ids (B, L) holds the fixed genes.
void resolve_duplicates(const torch::Tensor& ids, const torch::Tensor& b_idx, const torch::Tensor& j_idx,
                        torch::Tensor& proposed, const torch::Tensor& prob, const torch::Tensor& y,
                        const torch::Tensor& cand, const torch::Tensor& lg, int64_t gene_end) {
  const auto M = b_idx.size(0), L = ids.size(1);
  const auto id = ids.accessor<int64_t, 2>();
  const auto* bp = b_idx.data_ptr<int64_t>();
  const auto* jp = j_idx.data_ptr<int64_t>();
  auto* pp = proposed.data_ptr<int64_t>();
  const auto* pr = prob.data_ptr<float>();
  const auto is_gene = [&](int64_t g) { return g >= kFirstGene && g < gene_end; };
  std::vector<uint8_t> taken(static_cast<size_t>(gene_end)), seen(static_cast<size_t>(gene_end)),
      fresh_pos(static_cast<size_t>(L));
  for (int64_t first = 0; first < M;) {
    int64_t last = first;
    while (last < M && bp[last] == bp[first]) ++last;
    const int64_t b = bp[first];
    std::fill(taken.begin(), taken.end(), 0);
    std::fill(seen.begin(), seen.end(), 0);
    std::fill(fresh_pos.begin(), fresh_pos.end(), 0);
    for (int64_t m = first; m < last; ++m) fresh_pos[static_cast<size_t>(jp[m])] = 1;
    for (int64_t j = 0; j < L; ++j)
      if (!fresh_pos[static_cast<size_t>(j)] && is_gene(id[b][j])) taken[static_cast<size_t>(id[b][j])] = 1;
    bool clash = false;
    for (int64_t m = first; m < last; ++m)
      if (is_gene(pp[m]) && (taken[static_cast<size_t>(pp[m])] || seen[static_cast<size_t>(pp[m])]++))
        clash = true;
    if (clash) {
      std::vector<int64_t> order;
      for (int64_t m = first; m < last; ++m) order.push_back(m);
      std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return pr[a] > pr[c]; });
      for (int64_t m : order) {
        int64_t g = pp[m];
        if (!is_gene(g) || taken[static_cast<size_t>(g)]) {
          g = -1;
          const auto rank = std::get<1>(y[m].sort(/*stable=*/true, 0, /*descending=*/true));
          const auto c = cand[m].index_select(0, rank);
          const auto* cp = c.data_ptr<int64_t>();
          for (int64_t k = 0; k < c.size(0) && g < 0; ++k)
            if (is_gene(cp[k]) && !taken[static_cast<size_t>(cp[k])]) g = cp[k];
          if (g < 0) {
            const auto row = lg[m].contiguous();
            const auto* lp = row.data_ptr<float>();
            float best = -INFINITY;
            for (int64_t v = kFirstGene; v < gene_end; ++v)
              if (!taken[static_cast<size_t>(v)] && lp[v] > best) best = lp[v], g = v;
          }
          if (g < 0)
            throw pg::Error(
                "<generation>", "cell length",
                "exceeds the number of genes the decoder can place (" + std::to_string(gene_end - 4) + ")");
        }
        taken[static_cast<size_t>(g)] = 1;
        pp[m] = g;
      }
    }
    first = last;
  }
}

}  // namespace

UniformNoise keyed_noise(uint64_t seed, int64_t t, std::vector<int64_t> cell_keys) {
  return [seed, t, keys = std::move(cell_keys)](int64_t iteration, int64_t length, int64_t width) {
    const auto B = static_cast<int64_t>(keys.size());
    auto out = torch::empty({B, length, width}, torch::kFloat32);
    auto* p = out.data_ptr<float>();
    constexpr float kScale = 1.0f / 16777216.0f;
    for (int64_t b = 0; b < B; ++b) {
      uint64_t s = seed ^ 0x6a09e667f3bcc909ULL;
      uint64_t key = splitmix64(s) ^ (static_cast<uint64_t>(t) * 0x9e3779b97f4a7c15ULL);
      key = splitmix64(key) ^ static_cast<uint64_t>(keys[static_cast<size_t>(b)]);
      key = splitmix64(key) ^ (static_cast<uint64_t>(iteration) * 0xbf58476d1ce4e5b9ULL);
      pg::Rng rng(splitmix64(key));
      // Centred 24-bit values: never 0, never 1.
      for (int64_t k = 0; k < length * width; ++k)
        p[b * length * width + k] = (static_cast<float>(rng.next() >> 40) + 0.5f) * kScale;
    }
    return out;
  };
}

GenerationStart reference_start(const torch::Tensor& true_ids, int64_t sequence_length, int64_t cond_length) {
  const auto true_pad = true_ids.eq(kPad);
  GenerationStart s;
  s.cond_length = cond_length;
  if (sequence_length > 0) {
    s.gen_pad =
        torch::arange(true_ids.size(1), true_ids.options()).ge(sequence_length).expand_as(true_ids).clone();
  } else {
    s.gen_pad = true_pad.logical_not();  // [quirk] the reference inverts the pad mask when ℓ is None
  }
  s.ids = torch::full_like(true_ids, kMask).masked_fill(true_pad, kPad);
  if (cond_length > 0) s.ids.narrow(1, 0, cond_length).copy_(true_ids.narrow(1, 0, cond_length));
  return s;
}

GenerationStart length_start(const torch::Tensor& lengths, const torch::Tensor& cond_ids) {
  const auto B = lengths.size(0);
  const int64_t C = cond_ids.defined() ? cond_ids.size(1) : 0;
  const int64_t width = C + std::max<int64_t>(1, lengths.max().item<int64_t>());
  const auto col = torch::arange(width, torch::kLong).unsqueeze(0).expand({B, width});
  const auto generated = col.ge(C) & col.lt(lengths.to(torch::kLong).unsqueeze(1) + C);
  GenerationStart s;
  s.cond_length = C;
  s.ids = torch::where(generated, torch::full({B, width}, kMask, torch::kLong),
                       torch::zeros({B, width}, torch::kLong));
  if (C > 0) s.ids.narrow(1, 0, C).copy_(cond_ids);
  s.gen_pad = generated.logical_not();
  return s;
}

torch::Tensor schedule_ratios(train::MaskSchedule s, int64_t iterations, const torch::Tensor& total_tokens) {
  const auto r = torch::linspace(0, 1, iterations, torch::kFloat32);
  const auto B = total_tokens.size(0);
  return train::mask_ratio(
      s, r.unsqueeze(1).expand({iterations, B}).contiguous(),
      total_tokens.to(torch::kFloat32).unsqueeze(0).expand({iterations, B}).contiguous());
}

std::vector<int64_t> reference_mask_counts(train::MaskSchedule s, int64_t length, int64_t iterations,
                                           int64_t total_tokens) {
  const auto ratio = schedule_ratios(s, iterations, torch::full({1}, total_tokens, torch::kLong));
  std::vector<int64_t> n;
  int64_t u = length;
  for (int64_t i = 0; i < iterations; ++i) {
    n.push_back(static_cast<int64_t>(static_cast<float>(u) * ratio[i][0].item<float>()));
    u = i == 0 ? length : n.back();
  }
  return n;
}

std::vector<int64_t> maskgit_mask_counts(train::MaskSchedule s, int64_t length, int64_t iterations) {
  const auto ratio = schedule_ratios(s, iterations, torch::full({1}, length, torch::kLong));
  std::vector<int64_t> n;
  for (int64_t i = 0; i < iterations; ++i)
    n.push_back(static_cast<int64_t>(static_cast<float>(length) * ratio[i][0].item<float>()));
  return n;
}

GenerationResult generate_time_point(pg::model::PerturbGenDecoderImpl& decoder,
                                     pg::model::DecoderContext& context, int64_t t,
                                     const GenerationStart& start, const MaskGitOptions& o,
                                     const UniformNoise& noise, bool trace) {
  torch::NoGradGuard no_grad;
  if (o.iterations < 1) throw pg::Error("<options>", "iterations", "must be at least 1");
  const auto device = decoder.device();
  const bool reference = o.demasking == Demasking::reference;
  auto ids = start.ids.to(torch::kCPU).clone();
  const auto gen_pad = start.gen_pad.to(torch::kCPU);
  const auto B = ids.size(0), L = ids.size(1), C = start.cond_length;
  const auto V = decoder.config().vocab_size;
  const int64_t gene_end = o.gene_id_end > 0 ? std::min(o.gene_id_end, V) : V;
  const auto K = std::min<int64_t>(V, static_cast<int64_t>(std::ceil((1.0 - o.topk_filter_thres) * V)));
  const auto N = o.iterations;

  auto scores = torch::zeros({B, L}, torch::kFloat32);
  if (C > 0) scores.narrow(1, 0, C).fill_(-kFmax);
  // reference: γ scaled by the initial masks (log/exp); maskgit: the generated length.
  const auto generated_len = gen_pad.narrow(1, C, L - C).logical_not().sum(1);
  const auto ratios = schedule_ratios(o.schedule, N, reference ? ids.eq(kMask).sum(1) : generated_len);
  const auto maskgit_counts = (generated_len.to(torch::kFloat32).unsqueeze(0) * ratios).to(torch::kLong);
  // Never proposed in maskgit mode: special tokens and ids past the genes (condition tokens, margin).
  auto banned = torch::zeros({V}, torch::kBool);
  if (!reference) {
    banned.narrow(0, 0, kFirstGene).fill_(true);
    if (gene_end < V) banned.narrow(0, gene_end, V - gene_end).fill_(true);
    for (int64_t id : o.banned_ids)
      if (id >= 0 && id < V) banned[id] = true;
  }

  GenerationResult out;
  for (int64_t i = 0; i < N; ++i) {
    scores.masked_fill_(gen_pad, -kFmax);
    const auto open = scores.ne(-kFmax).sum(1);
    const auto n = reference ? (open.to(torch::kFloat32) * ratios[i]).to(torch::kLong)
                             : torch::minimum(maskgit_counts[i], open);
    const auto marked = top_n_mask(scores, n);
    ids.masked_fill_(marked, kMask);
    const auto keep = ids.masked_fill(marked, kPad);
    const auto is_mask = ids.eq(kMask);
    const bool finished = !is_mask.any().item<bool>();

    auto pass = decoder.pass(ids.to(device), t, context, gen_pad.to(device));
    ++out.decoder_calls;
    out.masked.push_back(is_mask.sum().item<int64_t>());
    out.hidden = pass.hidden;
    out.last_input = ids.clone();
    if (finished && !trace) break;
    // Proposals are needed only at the masked positions: logits, filtering,
    // sampling and scores run on those M rows. (reference: the full logits,
    // sliced, so every float is computed as the reference computes it.)
    const auto where = is_mask.nonzero();
    const auto b_idx = where.select(1, 0), j_idx = where.select(1, 1);
    torch::Tensor logits;
    if (reference || trace) {
      const auto full = decoder.logits(pass.hidden).to(torch::kCPU, torch::kFloat32);
      if (trace) {
        out.trace_inputs.push_back(ids.clone());
        out.trace_logits.push_back(full.clone());
      }
      logits = full.index({b_idx, j_idx});
    }
    if (finished) break;
    if (!reference)
      logits = decoder.logits(pass.hidden.index({b_idx.to(device), j_idx.to(device)}))
                   .to(torch::kCPU, torch::kFloat32);

    // No proposal repeats a gene the row already holds (nor <pad>; <mask>
    // while unmarked masks remain), as the reference's in-place suppression.
    auto suppress = torch::zeros({B, V}, torch::kBool);
    suppress.scatter_(1, keep.clamp(0, V - 1), true);
    suppress |= banned.unsqueeze(0);
    const auto lg = logits.masked_fill(suppress.index_select(0, b_idx), -kFmax);

    const double tau = o.temperature * static_cast<double>(N - 1 - i) / static_cast<double>(N);
    const auto at = [&](const torch::Tensor& u) { return u.index({b_idx, j_idx - C}); };
    torch::Tensor proposed, s;
    if (reference) {
      const auto [top_v, top_i] = lg.topk(K, -1);
      const auto f = torch::full_like(lg, -INFINITY).scatter(-1, top_i, top_v);
      proposed = (f / std::max(tau, 1e-10) + gumbel(at(noise(i, L - C, V)))).argmax(-1);
      s = proposal_scores(lg, proposed, o.scoring);
    } else {
      const auto [top_v, top_i] = lg.topk(K, -1, /*largest=*/true, /*sorted=*/false);
      const auto y = top_v / std::max(tau, 1e-10) + gumbel(at(noise(i, L - C, K)));
      proposed = top_i.gather(-1, y.argmax(-1, true)).squeeze(-1);
      const auto lse = torch::logsumexp(lg, -1);
      resolve_duplicates(ids, b_idx, j_idx, proposed,
                         torch::exp(lg.gather(-1, proposed.unsqueeze(-1)).squeeze(-1) - lse), y, top_i, lg,
                         gene_end);
      if (o.scoring == Scoring::topk) {
        s = 1 - torch::exp(lg.gather(-1, proposed.unsqueeze(-1)).squeeze(-1) - lse);
      } else {
        const auto top2 = std::get<0>(top_v.topk(std::min<int64_t>(2, K), -1));
        const auto p1 = torch::exp(top2.select(-1, 0) - lse);
        const auto p2 = K > 1 ? torch::exp(top2.select(-1, 1) - lse) : torch::zeros_like(p1);
        s = 1 - (p1 - p2);
      }
    }
    ids.index_put_({b_idx, j_idx}, proposed);
    scores.fill_(-kFmax);
    scores.index_put_({b_idx, j_idx}, s);
  }
  out.ids = ids;
  return out;
}

}  // namespace pg::generate
