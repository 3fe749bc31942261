// Count head and losses against the reference's golden dumps: the trained
// ZINB head of tiny_model (tiny_io §4), the NB and MSE heads of
// tiny_count_heads (§13), the masked-token cross-entropy (tiny_io mlm.*), plus
// NB/ZINB log-likelihoods computed by hand from the probability mass
// functions, and the size-factor modes the reference does not cover.
#include "model/count_head.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>

#include "io/safetensors.h"
#include "model/losses.h"
#include "test_support.h"

namespace {

using pg::io::SafeTensors;
using namespace pg::model;

std::string golden(const std::string& name) {
  return (pg::test::shared_dir() / "golden" / name).string();
}

// A golden tensor as a libtorch tensor (F32, I64 or BOOL).
torch::Tensor load(const SafeTensors& st, const std::string& name) {
  const auto& view = st.at(name);
  std::vector<int64_t> shape = view.shape;
  if (view.dtype == "F32") {
    auto v = st.values<float>(name);
    return torch::from_blob(v.data(), shape, torch::kFloat32).clone();
  }
  if (view.dtype == "I64") {
    auto v = st.values<int64_t>(name);
    return torch::from_blob(v.data(), shape, torch::kInt64).clone();
  }
  if (view.dtype == "BOOL") {
    std::vector<uint8_t> v(view.bytes.size());
    std::memcpy(v.data(), view.bytes.data(), v.size());
    return torch::from_blob(v.data(), shape, torch::kUInt8).clone().to(torch::kBool);
  }
  ADD_FAILURE() << name << ": unexpected dtype " << view.dtype;
  return {};
}

// Weights under `prefix` keyed the way CountHead names its parameters.
std::map<std::string, torch::Tensor> weights_of(const SafeTensors& st, const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  const std::string head = prefix + "decoder.count_decoder.";
  for (const auto& name : st.names()) {
    if (name.rfind(head, 0) == 0) out[name.substr(head.size())] = load(st, name);
    if (name == prefix + "theta") out["theta"] = load(st, name);
  }
  return out;
}

// Prints the max abs difference (the report's numbers) and checks it.
double expect_close(const std::string& what, const torch::Tensor& got, const torch::Tensor& want,
                    double tol) {
  EXPECT_EQ(got.sizes(), want.sizes()) << what;
  if (got.sizes() != want.sizes()) return INFINITY;
  const double diff = (got.to(torch::kFloat64).cpu() - want.to(torch::kFloat64)).abs().max().item<double>();
  std::printf("  %-32s max|diff| = %.3g (tol %.0e)\n", what.c_str(), diff, tol);
  EXPECT_LE(diff, tol) << what;
  return diff;
}

constexpr double kTol = 1e-4;     // hidden states, outputs (README §1)
constexpr double kRhoTol = 1e-6;  // softmax over genes
constexpr double kSumTol = 1e-3;  // summed log-likelihoods

CountHead make_head(CountLoss loss, SizeFactorMode sf = SizeFactorMode::observed) {
  CountHeadConfig config;
  config.d_model = 64;
  config.n_genes = 30;
  config.n_conditions = 1;
  config.loss = loss;
  config.size_factor = sf;
  CountHead head(config);
  head->eval();
  return head;
}

}  // namespace

TEST(CountHead, ZinbHeadReproducesTinyIo) {
  torch::NoGradGuard no_grad;
  const auto model = SafeTensors::read(golden("tiny_model.safetensors"));
  const auto io = SafeTensors::read(golden("tiny_io.safetensors"));
  CountHead head = make_head(CountLoss::zinb);
  head->load_weights(weights_of(model, ""), "tiny_model.safetensors");
  const torch::Tensor condition = load(io, "combined_batch");
  expect_close("theta (input)", load(io, "theta"), load(model, "theta"), 0.0);

  double zinb_total = 0.0, nb_total = 0.0;
  for (int t = 1; t <= 3; ++t) {
    const std::string p = "count.t" + std::to_string(t) + ".";
    const std::string ts = "_t" + std::to_string(t);
    const torch::Tensor x = load(io, "tgt_counts" + ts);
    const torch::Tensor lib = load(io, "tgt_size_factor" + ts);
    expect_close("size factor = row sum t" + std::to_string(t), x.sum(1), lib, 1e-3);
    const CountHeadOutput out =
        head->forward(load(io, "dec.t" + std::to_string(t) + ".mean_embedding"), condition, lib);
    expect_close(p + "mlp_out", out.mlp_out, load(io, p + "mlp_out"), kTol);
    expect_close(p + "mlp_out_normalized", out.mlp_out_normalized, load(io, p + "mlp_out_normalized"), kTol);
    expect_close(p + "rho", out.rho, load(io, p + "rho"), kRhoTol);
    expect_close(p + "pi_logits", out.pi_logits, load(io, p + "pi_logits"), kTol);
    expect_close(p + "mu", out.mu, load(io, p + "mu"), kTol);
    expect_close("dispersion" + ts, out.dispersion, load(io, "dispersion"), kTol);

    // Likelihoods from our head's outputs, and (isolating the loss) from the
    // golden mu / dispersion / pi.
    const torch::Tensor zinb = head->log_prob(out, x);
    expect_close(p + "zinb_logprob", zinb, load(io, p + "zinb_logprob"), kTol);
    const torch::Tensor zinb_g =
        zinb_log_prob(x, load(io, p + "mu"), load(io, "dispersion"), load(io, p + "pi_logits"));
    expect_close(p + "zinb_logprob (golden in)", zinb_g, load(io, p + "zinb_logprob"), kTol);
    const torch::Tensor nb = nb_log_prob(x, out.mu, out.dispersion);
    expect_close(p + "nb_logprob", nb, load(io, p + "nb_logprob"), kTol);
    expect_close(p + "nb_logprob (golden in)", nb_log_prob(x, load(io, p + "mu"), load(io, "dispersion")),
                 load(io, p + "nb_logprob"), kTol);
    const torch::Tensor zinb_nll = head->loss(out, x);
    expect_close(p + "zinb_nll", zinb_nll, load(io, p + "zinb_nll"), kSumTol);
    expect_close(p + "nb_nll", count_nll(nb), load(io, p + "nb_nll"), kSumTol);
    zinb_total += zinb_nll.item<double>();
    nb_total += count_nll(nb).item<double>();
  }
  expect_close("count.loss_zinb_total", torch::tensor(zinb_total), load(io, "count.loss_zinb_total"),
               kSumTol);
  expect_close("count.loss_nb_total", torch::tensor(nb_total), load(io, "count.loss_nb_total"), kSumTol);
}

TEST(CountHead, NbHeadReproducesTinyCountHeads) {
  torch::NoGradGuard no_grad;
  const auto st = SafeTensors::read(golden("tiny_count_heads.safetensors"));
  CountHead head = make_head(CountLoss::nb);
  head->load_weights(weights_of(st, "nb.weights."), "tiny_count_heads.safetensors");
  const torch::Tensor condition = load(st, "combined_batch");
  double total = 0.0;
  for (int t = 1; t <= 3; ++t) {
    const std::string ts = "_t" + std::to_string(t), p = "nb.t" + std::to_string(t) + ".";
    const torch::Tensor x = load(st, "tgt_counts" + ts);
    const CountHeadOutput out =
        head->forward(load(st, "mean_embedding" + ts), condition, load(st, "tgt_size_factor" + ts));
    EXPECT_FALSE(out.pi_logits.defined());
    expect_close(p + "mlp_out", out.mlp_out, load(st, p + "mlp_out"), kTol);
    expect_close(p + "mlp_out_normalized", out.mlp_out_normalized, load(st, p + "mlp_out_normalized"), kTol);
    expect_close(p + "rho", out.rho, load(st, p + "rho"), kRhoTol);
    expect_close(p + "mu", out.mu, load(st, p + "mu"), kTol);
    expect_close("nb.dispersion" + ts, out.dispersion, load(st, "nb.dispersion"), kTol);
    expect_close(p + "logprob", head->log_prob(out, x), load(st, p + "logprob"), kTol);
    const torch::Tensor nll = head->loss(out, x);
    expect_close(p + "nll", nll, load(st, p + "nll"), kSumTol);
    total += nll.item<double>();
  }
  expect_close("nb.loss_total", torch::tensor(total), load(st, "nb.loss_total"), kSumTol);
}

TEST(CountHead, MseHeadReproducesTinyCountHeads) {
  torch::NoGradGuard no_grad;
  const auto st = SafeTensors::read(golden("tiny_count_heads.safetensors"));
  CountHead head = make_head(CountLoss::mse);
  head->load_weights(weights_of(st, "mse.weights."), "tiny_count_heads.safetensors");
  double total = 0.0;
  for (int t = 1; t <= 3; ++t) {
    const std::string ts = "_t" + std::to_string(t), p = "mse.t" + std::to_string(t) + ".";
    const torch::Tensor y = load(st, p + "target");
    // The reference's target preparation (normalize_total 1e4 + log1p).
    expect_close(p + "target = log_normalise(x)", log_normalise(load(st, "tgt_counts" + ts)), y, 1e-5);
    const CountHeadOutput out = head->forward(load(st, "mean_embedding" + ts), torch::Tensor());
    EXPECT_FALSE(out.mu.defined());
    EXPECT_FALSE(out.dispersion.defined());
    expect_close(p + "mlp_out", out.mlp_out, load(st, p + "mlp_out"), kTol);
    expect_close(p + "mlp_out_normalized", out.mlp_out_normalized, load(st, p + "mlp_out_normalized"), kTol);
    expect_close(p + "count_lognorm", out.count_lognorm, load(st, p + "count_lognorm"), kTol);
    const torch::Tensor loss = head->loss(out, y);
    expect_close(p + "loss", loss, load(st, p + "loss"), kSumTol);
    total += loss.item<double>();
  }
  expect_close("mse.loss_total", torch::tensor(total), load(st, "mse.loss_total"), kSumTol);
}

TEST(Losses, MaskedTokenCrossEntropyReproducesTinyIo) {
  const auto io = SafeTensors::read(golden("tiny_io.safetensors"));
  const torch::Tensor ids = load(io, "tgt_input_ids_t2");
  const torch::Tensor pattern = load(io, "mlm.mask_pattern");
  EXPECT_TRUE(torch::equal(mask_input_ids(ids, pattern), load(io, "mlm.masked_ids")));
  const torch::Tensor labels = masked_labels(ids, pattern);
  EXPECT_TRUE(torch::equal(labels, load(io, "mlm.labels")));
  EXPECT_EQ(labels.ne(kIgnoreLabel).sum().item<int64_t>(), 13);
  const torch::Tensor logits = load(io, "mlm.logits");
  const torch::Tensor ce = masked_token_cross_entropy(logits, labels);
  expect_close("mlm.ce_loss", ce, load(io, "mlm.ce_loss"), kTol);
  expect_close("mlm.perplexity", torch::exp(ce), load(io, "mlm.perplexity"), kTol);

  // Independent: the mean of -log softmax at the 13 labelled positions, in double.
  const auto lp = torch::log_softmax(logits.to(torch::kFloat64), -1);
  double sum = 0.0;
  int n = 0;
  for (int64_t b = 0; b < labels.size(0); ++b)
    for (int64_t i = 0; i < labels.size(1); ++i) {
      const int64_t y = labels[b][i].item<int64_t>();
      if (y == kIgnoreLabel) continue;
      sum -= lp[b][i][y].item<double>();
      ++n;
    }
  EXPECT_NEAR(ce.item<double>(), sum / n, 1e-5);

  // No labelled position is an error, not NaN.
  EXPECT_NE(pg::test::error_of([&] {
              masked_token_cross_entropy(logits, torch::full_like(labels, kIgnoreLabel));
            }).find("no labelled"),
            std::string::npos);
}

// NB and ZINB from their probability mass functions (not from the code's
// formula): NB(x) = Γ(x+θ)/(Γ(θ) x!) (θ/(θ+μ))^θ (μ/(θ+μ))^x;
// ZINB with w = sigmoid(π): P(0) = w + (1−w) NB(0), P(x>0) = (1−w) NB(x).
TEST(Losses, NbAndZinbMatchHandComputedPmf) {
  const std::vector<double> xs = {0.0, 3.0, 7.0}, mus = {2.5, 4.0, 0.75}, thetas = {1.5, 0.4, 3.0},
                            pis = {0.3, -1.2, 2.0};
  auto opts = torch::TensorOptions().dtype(torch::kFloat64);
  const torch::Tensor x = torch::tensor(xs, opts).reshape({1, 3});
  const torch::Tensor mu = torch::tensor(mus, opts).reshape({1, 3});
  const torch::Tensor theta = torch::tensor(thetas, opts).reshape({1, 3});
  const torch::Tensor pi = torch::tensor(pis, opts).reshape({1, 3});
  const torch::Tensor nb = nb_log_prob(x, mu, theta);
  const torch::Tensor zinb = zinb_log_prob(x, mu, theta, pi);
  double nb_sum = 0.0;
  for (int i = 0; i < 3; ++i) {
    const double k = xs[i], m = mus[i], th = thetas[i];
    const double nb_p = std::exp(std::lgamma(k + th) - std::lgamma(th) - std::lgamma(k + 1)) *
                        std::pow(th / (th + m), th) * std::pow(m / (th + m), k);
    const double w = 1.0 / (1.0 + std::exp(-pis[i]));
    const double zinb_p = k == 0 ? w + (1 - w) * nb_p : (1 - w) * nb_p;
    std::printf("  x=%g mu=%g theta=%g pi=%g: log NB %.9f (code %.9f), log ZINB %.9f (code %.9f)\n", k, m, th,
                pis[i], std::log(nb_p), nb[0][i].item<double>(), std::log(zinb_p), zinb[0][i].item<double>());
    // eps = 1e-8 inside the logs moves the values by ~1e-8.
    EXPECT_NEAR(nb[0][i].item<double>(), std::log(nb_p), 1e-6);
    EXPECT_NEAR(zinb[0][i].item<double>(), std::log(zinb_p), 1e-6);
    nb_sum += std::log(nb_p);
  }
  EXPECT_NEAR(count_nll(nb).item<double>(), -nb_sum, 1e-6);
  // Two cells: the NLL is the mean over cells of the per-cell sums.
  const torch::Tensor two = torch::cat({nb, nb * 2}, 0);
  EXPECT_NEAR(count_nll(two).item<double>(), -1.5 * nb_sum, 1e-6);
}

TEST(CountHead, SizeFactorModes) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  const torch::Tensor m = torch::randn({4, 64});
  const torch::Tensor cond = torch::zeros({4}, torch::kLong);
  const torch::Tensor lib = torch::tensor({100.0f, 2000.0f, 50.0f, 7.0f});

  CountHead observed = make_head(CountLoss::zinb);
  const auto o = observed->forward(m, cond, lib);
  expect_close("observed: mu rows sum to l", o.mu.sum(1), lib, 1e-3);
  EXPECT_NE(pg::test::error_of([&] { observed->forward(m, cond); }).find("library"), std::string::npos);

  // Predicted: log l = Linear(m), no observed library needed; rho sums to 1
  // so mu sums to the predicted library.
  CountHead predicted = make_head(CountLoss::nb, SizeFactorMode::predicted);
  const auto p = predicted->forward(m, cond);
  ASSERT_TRUE(p.log_library.defined());
  const auto params = predicted->named_parameters();
  const torch::Tensor want_log_lib =
      (m.matmul(params["library_output.weight"].t()) + params["library_output.bias"]).squeeze(-1);
  expect_close("predicted: log_library = Linear(m)", p.log_library, want_log_lib, 1e-5);
  expect_close("predicted: mu rows sum to exp(log l)", p.mu.sum(1), torch::exp(p.log_library), 1e-4);
  const torch::Tensor ll = torch::tensor({std::log(10.0f), 0.0f, 1.0f, 2.0f});
  const torch::Tensor obs = torch::tensor({10.0f, 2.0f, 1.0f, 1.0f});
  const double want = (0.0 + std::pow(std::log(2.0), 2) + 1.0 + 4.0) / 4.0;
  EXPECT_NEAR(library_size_loss(ll, obs).item<double>(), want, 1e-6);
  EXPECT_NE(pg::test::error_of([&] { library_size_loss(ll, torch::zeros({4})); }).find("positive"),
            std::string::npos);

  // None: softplus of the logits, no rho and no library.
  CountHead none = make_head(CountLoss::zinb, SizeFactorMode::none);
  const auto n = none->forward(m, cond);
  EXPECT_FALSE(n.rho.defined());
  const auto np = none->named_parameters();
  const torch::Tensor logits =
      n.mlp_out_normalized.matmul(np["softmax_output.0.weight"].t()) + np["softmax_output.0.bias"];
  expect_close("none: mu = softplus(logits)", n.mu, torch::log1p(torch::exp(logits)), 1e-6);
  EXPECT_TRUE((n.mu > 0).all().item<bool>());
}

// Training reaches every head parameter through the loss, the library
// regression included (theta too: whether to train it is the optimiser's call).
TEST(CountHead, GradientsReachEveryParameter) {
  torch::manual_seed(3);
  CountHeadConfig config;
  config.d_model = 64;
  config.n_genes = 30;
  config.loss = CountLoss::zinb;
  config.size_factor = SizeFactorMode::predicted;
  config.initial_log_library = std::log(1e4);
  CountHead head(config);
  EXPECT_NEAR(head->named_parameters()["library_output.bias"].item<double>(), std::log(1e4), 1e-5);
  const torch::Tensor m = torch::randn({5, 64});
  const torch::Tensor x = torch::poisson(torch::full({5, 30}, 3.0));
  const auto out = head->forward(m, torch::zeros({5}, torch::kLong));
  const torch::Tensor loss = head->loss(out, x) + library_size_loss(out.log_library, x.sum(1) + 1);
  loss.backward();
  for (const auto& p : head->named_parameters()) {
    ASSERT_TRUE(p.value().grad().defined()) << p.key();
    EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    EXPECT_GT(p.value().grad().abs().sum().item<double>(), 0.0) << p.key();
  }
}

TEST(CountHead, RejectsBadInputsAndWeights) {
  torch::NoGradGuard no_grad;
  CountHead head = make_head(CountLoss::zinb);
  const torch::Tensor lib = torch::ones({2});
  EXPECT_NE(pg::test::error_of([&] {
              head->forward(torch::zeros({2, 63}), torch::zeros({2}, torch::kLong), lib);
            }).find("(B, 64)"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([&] {
              head->forward(torch::zeros({2, 64}), torch::ones({2}, torch::kLong), lib);
            }).find("condition index outside [0, 1)"),
            std::string::npos);
  EXPECT_NE(pg::test::error_of([] { parse_count_loss("poisson"); }).find("zinb, nb or mse"),
            std::string::npos);
  EXPECT_EQ(parse_size_factor_mode("predicted"), SizeFactorMode::predicted);
  EXPECT_EQ(to_string(parse_count_loss("nb")), "nb");

  const auto model = SafeTensors::read(golden("tiny_model.safetensors"));
  auto weights = weights_of(model, "");
  auto missing = weights;
  missing.erase("theta");
  EXPECT_NE(pg::test::error_of([&] {
              head->load_weights(missing, "w.safetensors");
            }).find("w.safetensors: theta: missing"),
            std::string::npos);
  // The trained ZINB weights do not fit an NB head (extra linear_output).
  CountHead nb = make_head(CountLoss::nb);
  EXPECT_NE(pg::test::error_of([&] { nb->load_weights(weights, "w"); }).find("linear_output"),
            std::string::npos);
  auto wrong = weights;
  wrong["theta"] = torch::zeros({30, 2});
  EXPECT_NE(pg::test::error_of([&] {
              head->load_weights(wrong, "w");
            }).find("w: theta: has shape (30, 2), the model expects (30, 1)"),
            std::string::npos);
}

// The same head on the GPU (where the machine has one) gives the CPU numbers.
TEST(CountHead, DeviceAndDtypeAreHonoured) {
  torch::NoGradGuard no_grad;
  CountHeadConfig config;
  config.d_model = 64;
  config.n_genes = 30;
  CountHead cpu(config);
  CountHead dbl(config, torch::kCPU, torch::kFloat64);
  const auto model = SafeTensors::read(golden("tiny_model.safetensors"));
  const auto io = SafeTensors::read(golden("tiny_io.safetensors"));
  cpu->load_weights(weights_of(model, ""), "tiny_model");
  dbl->load_weights(weights_of(model, ""), "tiny_model");
  EXPECT_EQ(dbl->named_parameters()["theta"].scalar_type(), torch::kFloat64);
  const torch::Tensor m = load(io, "dec.t1.mean_embedding");
  const torch::Tensor c = load(io, "combined_batch"), l = load(io, "tgt_size_factor_t1");
  const auto a = cpu->forward(m, c, l);
  const auto b = dbl->forward(m.to(torch::kFloat64), c, l);
  expect_close("float64 rho vs golden", b.rho, load(io, "count.t1.rho"), kRhoTol);
  if (torch::cuda::is_available()) {
    CountHead gpu(config, torch::kCUDA);
    gpu->load_weights(weights_of(model, ""), "tiny_model");
    const auto g = gpu->forward(m.cuda(), c.cuda(), l.cuda());
    expect_close("cuda rho vs cpu", g.rho, a.rho, kRhoTol);
  }
}
