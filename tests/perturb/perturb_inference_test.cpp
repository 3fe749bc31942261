// The reference's perturbation step in inference mode (golden
// tiny_perturb.safetensors, README §11): control and perturbed teacher-forced
// passes of the tiny count model for a source mask and a source overexpress,
// compared at every target time.
#include <gtest/gtest.h>

#include "golden_support.h"
#include "model/config.h"
#include "model/perturbgen_model.h"
#include "perturb/perturber.h"

namespace pg::perturb {
namespace {

using pg::test::expect_close;
using pg::test::golden_at;

struct Golden {
  pg::model::NamedTensors model, io, perturb;
  nlohmann::json config, extras;
};

const Golden& golden() {
  static const Golden g = [] {
    Golden r;
    r.model = pg::test::golden_tensors("tiny_model.safetensors");
    r.io = pg::test::golden_tensors("tiny_io.safetensors");
    r.perturb = pg::test::golden_tensors("tiny_perturb.safetensors");
    r.config = pg::test::golden_json("tiny_config.json");
    r.extras = pg::test::golden_json("tiny_extras_config.json");
    return r;
  }();
  return g;
}

pg::model::PerturbGenModel tiny_model() {
  pg::model::PerturbGenModel m(pg::model::model_config_from_json(golden().config, "tiny_config.json"));
  m->load_reference_weights(golden().model, "tiny_model.safetensors");
  m->eval();
  return m;
}

// The tiny_io batch restricted to the kept rows.
pg::model::ModelBatch kept_batch(const torch::Tensor& kept) {
  const auto idx = kept.nonzero().view({-1});
  const auto& io = golden().io;
  pg::model::ModelBatch b;
  b.src_ids = golden_at(io, "src_input_ids").index_select(0, idx);
  for (int64_t t = 1; t <= 3; ++t) {
    const auto ts = std::to_string(t);
    b.tgt_ids[t] = golden_at(io, "tgt_input_ids_t" + ts).index_select(0, idx);
    b.library[t] = golden_at(io, "tgt_size_factor_t" + ts).index_select(0, idx);
  }
  b.condition = golden_at(io, "combined_batch").index_select(0, idx);
  return b;
}

void check_case(const std::string& name) {
  SCOPED_TRACE(name);
  const auto& g = golden().perturb;
  const auto& cfg = golden().extras[name];
  const auto x = [&](const std::string& k) { return golden_at(g, name + "." + k); };
  Edit edit;
  edit.mode = parse_edit_mode(cfg["perturbation_mode"].get<std::string>());
  edit.tokens = cfg["src_tokens_to_perturb"].get<std::vector<int64_t>>();
  edit.rules = EditRules::reference;
  EXPECT_TRUE(torch::equal(torch::tensor(edit.tokens), x("src_tokens_to_perturb")));

  // The cell filter on the full batch.
  const auto& src = golden_at(golden().io, "src_input_ids");
  std::vector<bool> kept;
  for (int64_t b = 0; b < src.size(0); ++b) {
    const auto r = src[b].contiguous();
    kept.push_back(row_is_perturbable({r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel()}, edit));
  }
  const auto kept_t = x("kept_rows");
  for (size_t b = 0; b < kept.size(); ++b) EXPECT_EQ(kept[b], kept_t[static_cast<int64_t>(b)].item<bool>());

  auto model = tiny_model();
  const auto control_batch = kept_batch(kept_t);
  EXPECT_TRUE(torch::equal(control_batch.src_ids, x("control_src_input_ids")));
  auto perturbed_batch = control_batch;
  perturbed_batch.src_ids = edit_rows(control_batch.src_ids, edit, 1, true, 0);
  EXPECT_TRUE(torch::equal(perturbed_batch.src_ids, x("perturbed_src_input_ids")));
  torch::NoGradGuard no_grad;
  expect_close("perturbed_enc_output", model->encode(perturbed_batch.src_ids), x("perturbed_enc_output"),
               1e-5, 1e-4);

  const std::vector<int64_t> times{1, 2, 3};
  const std::vector<int64_t> rows(static_cast<size_t>(control_batch.src_ids.size(0)), 0);
  const auto mu = pg::generate::CountOutput::mu;
  const auto control = teacher_forced(*model, control_batch, times, {}, mu, 0, rows);
  const auto perturbed = teacher_forced(*model, perturbed_batch, times, {}, mu, 0, rows);
  for (int64_t t : times) {
    const std::string p = "t" + std::to_string(t) + ".";
    SCOPED_TRACE(p);
    expect_close("control_hidden", control.at(t).hidden, x(p + "control_hidden"), 1e-5, 1e-4);
    expect_close("perturbed_hidden", perturbed.at(t).hidden, x(p + "perturbed_hidden"), 1e-5, 1e-4);
    expect_close("control_mean_embedding", control.at(t).embedding, x(p + "control_mean_embedding"), 1e-5,
                 1e-4);
    expect_close("perturbed_mean_embedding", perturbed.at(t).embedding, x(p + "perturbed_mean_embedding"),
                 1e-5, 1e-4);
    PerturbTime r;
    compare_passes(control.at(t), perturbed.at(t), 30, r);
    expect_close("mean_cos", r.cosine, x(p + "mean_cos_similarity_f32"), 1e-6, 0);
    expect_close("gene_cos", r.gene_cosine, x(p + "gene_cos_similarity_f32"), 1e-6, 0);
    // The float16 values the reference stores: casts and the gene mapping.
    EXPECT_TRUE(torch::equal(r.cosine.to(torch::kHalf), x(p + "mean_cosine_similarity")));
    EXPECT_TRUE(torch::equal(r.gene_cosine.to(torch::kHalf), x(p + "gene_cosine_similarity")));
    expect_close("true_cls", r.control_embedding.to(torch::kHalf).to(torch::kFloat32),
                 x(p + "true_cls").to(torch::kFloat32), 1e-3, 1e-3);
    expect_close("perturbed_cls", r.perturbed_embedding.to(torch::kHalf).to(torch::kFloat32),
                 x(p + "perturbed_cls").to(torch::kFloat32), 1e-3, 1e-3);
    // Absent genes: cosine 0 and not present, present ones in (0, 1].
    EXPECT_TRUE(torch::equal(r.gene_present, x(p + "gene_cos_similarity_f32").ne(0)));
    expect_close("pred_counts", r.control_counts, x(p + "pred_counts"), 1e-5, 1e-4);
    expect_close("pert_counts", r.perturbed_counts, x(p + "pert_counts"), 1e-5, 1e-4);
    // The effect is real but small with random weights (README §11).
    EXPECT_GT((r.perturbed_counts - r.control_counts).abs().max().item<double>(), 1e-4);
  }
}

TEST(PerturbInference, MaskOfTheSourceReproducesTheReference) {
  check_case("mask_src");
}
TEST(PerturbInference, OverexpressOfTheSourceReproducesTheReference) {
  check_case("overexpress_src");
}

TEST(PerturbInference, GeneCosinesRealignByTokenIdentity) {
  // Control ids [5, 6, 7], perturbed (gene 6 deleted) [5, 7, 0]: gene 7's
  // hidden state moved from position 2 to 1 and must still be compared.
  const auto c_ids = torch::tensor({{5, 6, 7}}, torch::kLong),
             p_ids = torch::tensor({{5, 7, 0}}, torch::kLong);
  auto ch = torch::zeros({1, 3, 2}), ph = torch::zeros({1, 3, 2});
  ch[0][0] = torch::tensor({1.0f, 0.0f});
  ch[0][1] = torch::tensor({0.0f, 1.0f});
  ch[0][2] = torch::tensor({1.0f, 1.0f});
  ph[0][0] = torch::tensor({0.0f, 1.0f});  // gene 5 rotated by 90 degrees: cos 0
  ph[0][1] = torch::tensor({2.0f, 2.0f});  // gene 7, same direction: cos 1
  auto [cos, present] = gene_cosines(c_ids, ch, p_ids, ph, 5);
  EXPECT_NEAR(cos[0][1].item<float>(), 0.0f, 1e-6);  // gene 5 (row id 5 -> index 1)
  EXPECT_NEAR(cos[0][3].item<float>(), 1.0f, 1e-6);  // gene 7
  EXPECT_TRUE(present[0][1].item<bool>());
  EXPECT_FALSE(present[0][2].item<bool>());  // gene 6 deleted
  EXPECT_TRUE(present[0][3].item<bool>());
}

}  // namespace
}  // namespace pg::perturb
