#include "train/evaluation.h"

#include <algorithm>
#include <cmath>

#include "model/losses.h"
#include "train/objectives.h"

namespace pg::train {

namespace {

template <typename F>
void for_batches(const std::vector<int64_t>& rows, int64_t batch_size, F&& f) {
  for (size_t b = 0; b < rows.size(); b += static_cast<size_t>(batch_size))
    f(std::vector<int64_t>(
        rows.begin() + static_cast<std::ptrdiff_t>(b),
        rows.begin() + static_cast<std::ptrdiff_t>(std::min(rows.size(), b + batch_size))));
}

// Fixed draw keys of evaluations (training steps are >= 0).
int64_t eval_step(int64_t t) {
  return -1 - t;
}

}  // namespace

namespace {

// Add-one smoothed log frequencies of the ids (above <cls>) `for_each_ids` yields.
template <typename F>
torch::Tensor unigram(int64_t vocab_size, F&& for_each_ids) {
  auto counts = torch::ones({vocab_size}, torch::kFloat64);
  counts.narrow(0, 0, 3).zero_();  // <pad>, <mask>, <cls> are never labels (<eos> is, in pretraining)
  for_each_ids([&](torch::Tensor ids) {
    ids = ids.reshape({-1});
    ids = ids.masked_select(ids.gt(2));
    counts.index_add_(0, ids, torch::ones({ids.numel()}, torch::kFloat64));
  });
  return (counts / counts.sum()).log().to(torch::kFloat32);
}

}  // namespace

torch::Tensor unigram_log_probs(const PairedData& data, const std::vector<int64_t>& rows,
                                const std::vector<int64_t>& times, int64_t vocab_size) {
  return unigram(vocab_size, [&](auto&& add) {
    for_batches(rows, 256, [&](const std::vector<int64_t>& b) {
      auto batch = data.batch(b);
      for (int64_t t : times) add(batch.model.tgt_ids.at(t));
    });
  });
}

torch::Tensor unigram_log_probs(const CellData& data, const std::vector<int64_t>& rows, int64_t vocab_size) {
  return unigram(vocab_size, [&](auto&& add) {
    for_batches(rows, 256, [&](const std::vector<int64_t>& b) { add(data.batch(b)); });
  });
}

EvalSums evaluate_mask(pg::model::PerturbGenModelImpl& model, const PairedData& data,
                       const std::vector<int64_t>& rows, const std::vector<int64_t>& times, uint64_t seed,
                       MaskSchedule schedule, const torch::Tensor& unigram, int64_t batch_size,
                       bool other_source) {
  torch::NoGradGuard no_grad;
  EvalSums s;
  for_batches(rows, batch_size, [&](const std::vector<int64_t>& b) {
    auto batch = data.batch(b);
    if (other_source) batch.model.src_ids = batch.model.src_ids.roll(-1, 0);
    for (int64_t t : times) {
      auto terms = mask_loss(model, batch, t, seed, eval_step(t), schedule);
      s.sum += terms.sum.item<double>();
      s.count += terms.count;
      auto labels = terms.labels.masked_select(terms.mask);
      s.baseline_sum -= unigram.index_select(0, labels).sum().item<double>();
    }
  });
  return s;
}

EvalSums evaluate_pretrain(pg::model::SourceEncoderImpl& encoder, const CellData& data,
                           const std::vector<int64_t>& rows, uint64_t seed, MaskSchedule schedule,
                           const torch::Tensor& unigram, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  EvalSums s;
  for_batches(rows, batch_size, [&](const std::vector<int64_t>& b) {
    auto terms = pretrain_loss(encoder, data.batch(b), b, seed, eval_step(0), schedule);
    s.sum += terms.sum.item<double>();
    s.count += terms.count;
    s.baseline_sum -= unigram.index_select(0, terms.labels.masked_select(terms.mask)).sum().item<double>();
  });
  return s;
}

GeneMeanBaseline fit_gene_mean_baseline(const PairedData& data, const std::vector<int64_t>& rows,
                                        const std::vector<int64_t>& times, int64_t max_cells) {
  const int64_t G = data.n_genes();
  auto lognorm = torch::zeros({G}, torch::kFloat64);
  auto sum_x = torch::zeros({G}, torch::kFloat64), sum_x2 = torch::zeros({G}, torch::kFloat64);
  double library = 0, cells = 0;
  std::vector<int64_t> used(rows.begin(),
                            rows.begin() + std::min<int64_t>(max_cells, static_cast<int64_t>(rows.size())));
  for_batches(used, 256, [&](const std::vector<int64_t>& b) {
    auto batch = data.batch(b);
    for (int64_t t : times) {
      auto x = batch.counts.at(t).to(torch::kFloat64);
      sum_x += x.sum(0);
      sum_x2 += (x * x).sum(0);
      library += x.sum().item<double>();
      lognorm += pg::model::log_normalise(x).sum(0);
      cells += static_cast<double>(x.size(0));
    }
  });
  GeneMeanBaseline m;
  m.rho = (sum_x / std::max(library, 1.0)).clamp_min(1e-12).to(torch::kFloat32);
  const auto mean = sum_x / cells, var = sum_x2 / cells - mean * mean;
  // NB: var = mean + mean^2 / theta.
  m.theta = (mean * mean / (var - mean).clamp_min(1e-8)).clamp(1e-4, 1e6).to(torch::kFloat32);
  m.lognorm_mean = (lognorm / cells).to(torch::kFloat32);
  return m;
}

void start_from_baseline(pg::model::CountHeadImpl& head, const GeneMeanBaseline& baseline, bool dispersion) {
  torch::NoGradGuard no_grad;
  const auto& c = head.config();
  auto params = head.named_parameters();
  if (c.loss == pg::model::CountLoss::mse) {
    params["relu_output.0.bias"].copy_(baseline.lognorm_mean);
    return;
  }
  if (c.size_factor != pg::model::SizeFactorMode::none)
    params["softmax_output.0.bias"].copy_(baseline.rho.log());
  if (dispersion) params["theta"].copy_(baseline.theta.log().unsqueeze(1).expand_as(params["theta"]));
}

EvalSums evaluate_count(pg::model::PerturbGenModelImpl& model, const PairedData& data,
                        const std::vector<int64_t>& rows, const std::vector<int64_t>& times,
                        const std::set<int64_t>& excluded_ids, const GeneMeanBaseline& baseline,
                        int64_t batch_size, const EmbeddingCache* embeddings) {
  torch::NoGradGuard no_grad;
  EvalSums s;
  const auto loss = model.config().count_head->loss;
  for_batches(rows, batch_size, [&](const std::vector<int64_t>& b) {
    auto batch = data.batch(b);
    const auto cached = embeddings ? embeddings->gather(b) : std::map<int64_t, torch::Tensor>{};
    auto terms = count_loss(model, batch, times, excluded_ids, embeddings ? &cached : nullptr);
    s.sum += terms.sum.item<double>();
    s.count += terms.count;
    for (int64_t t : times) {
      auto x = batch.counts.at(t);
      if (loss == pg::model::CountLoss::mse) {
        auto y = pg::model::log_normalise(x);
        s.baseline_sum += (y - baseline.lognorm_mean).pow(2).sum().item<double>();
      } else {
        auto mu = batch.model.library.at(t).unsqueeze(1) * baseline.rho;
        s.baseline_sum -= pg::model::nb_log_prob(x, mu, baseline.theta.expand_as(mu)).sum().item<double>();
      }
    }
  });
  return s;
}

double mean_log_library(const PairedData& data, const std::vector<int64_t>& rows,
                        const std::vector<int64_t>& times) {
  double sum = 0, n = 0;
  std::vector<int64_t> used(rows.begin(),
                            rows.begin() + std::min<int64_t>(2000, static_cast<int64_t>(rows.size())));
  for_batches(used, 256, [&](const std::vector<int64_t>& b) {
    auto batch = data.batch(b);
    for (int64_t t : times) {
      auto l = batch.model.library.at(t);
      sum += l.clamp_min(1).log().sum().item<double>();
      n += static_cast<double>(l.numel());
    }
  });
  return n > 0 ? sum / n : 0.0;
}

}  // namespace pg::train
