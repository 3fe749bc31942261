// The torch.save checkpoint reader against the golden Lightning checkpoints
// (their state dicts were also written out as safetensors) and against
// checkpoints torch itself writes during the test, compared with numpy bytes.
#include "io/torch_checkpoint.h"

#include <fstream>
#include <set>

#include "io/safetensors.h"
#include "io/zip_reader.h"
#include "test_support.h"

namespace {

using pg::io::PickleNode;
using pg::io::TorchCheckpoint;
using pg::test::error_of;

std::string golden(const std::string& name) {
  return (pg::test::shared_dir() / "golden" / name).string();
}

void expect_same(const pg::io::CheckpointTensor& t, const pg::io::TensorView& ref, const std::string& name) {
  EXPECT_EQ(t.dtype, ref.dtype) << name;
  EXPECT_EQ(t.shape, ref.shape) << name;
  EXPECT_TRUE(t.bytes == ref.bytes) << name << ": bytes differ";
}

TEST(TorchCheckpoint, CountCheckpointEqualsItsSafetensorsDump) {
  const TorchCheckpoint c = TorchCheckpoint::read(golden("tiny_count.ckpt"));
  const auto ref = pg::io::SafeTensors::read(golden("tiny_count_state.safetensors"));
  ASSERT_EQ(c.state_dict().size(), 191u);
  EXPECT_EQ(c.state_dict().front().first, "theta");  // stored order, not sorted
  std::set<std::string> names;
  for (const auto& [name, t] : c.state_dict()) {
    names.insert(name);
    ASSERT_TRUE(ref.contains(name)) << name;
    expect_same(t, ref.at(name), name);
  }
  EXPECT_EQ(names.size(), ref.names().size());
  // The duplicated count-stage keys share storages in the zip and are each materialised.
  int duplicates = 0;
  for (const auto& [name, t] : c.state_dict())
    if (name.rfind("pretrained_model.", 0) == 0) {
      const auto* twin = c.find("decoder." + name);
      ASSERT_NE(twin, nullptr) << name;
      EXPECT_EQ(twin->bytes, t.bytes);
      ++duplicates;
    }
  EXPECT_EQ(duplicates, 91);
  EXPECT_EQ(c.hyper_parameters()["conditions"], nlohmann::json::parse(R"({"tmp_batch": [1]})"));
  EXPECT_EQ(c.hyper_parameters()["conditions_combined"], nlohmann::json::array({1}));
  EXPECT_EQ(c.hyper_parameters()["ckpt_masking_path"], "checkpoints/tiny_masking.ckpt");
}

TEST(TorchCheckpoint, MaskingCheckpointMatchesTinyModelAndConfig) {
  const TorchCheckpoint c = TorchCheckpoint::read(golden("tiny_masking.ckpt"));
  const auto model = pg::io::SafeTensors::read(golden("tiny_model.safetensors"));
  ASSERT_EQ(c.state_dict().size(), 91u);
  for (const auto& [name, t] : c.state_dict()) {
    ASSERT_EQ(name.rfind("transformer.", 0), 0u) << name;
    ASSERT_TRUE(model.contains(name)) << name;  // tiny_model keeps the masking-stage prefix
    expect_same(t, model.at(name), name);
  }
  const nlohmann::json& hp = c.hyper_parameters();
  std::ifstream in(golden("tiny_config.json"));
  const nlohmann::json config = nlohmann::json::parse(in);
  int matched = 0;
  for (const auto& [key, value] : config["decoder_perturbgen"].items())
    if (hp.contains(key)) {
      EXPECT_EQ(hp[key], value) << key;
      ++matched;
    }
  EXPECT_GE(matched, 15);
  EXPECT_EQ(hp["initial_lr"], config["training"]["masking"]["lr"]);
  EXPECT_EQ(hp["weight_decay"], config["training"]["masking"]["weight_decay"]);
  EXPECT_EQ(hp["encoder_path"], "checkpoints/scmaskgit_tiny_encoder.ckpt");
  EXPECT_EQ(hp["np_float64_example"], 0.125);  // numpy.core.multiarray.scalar(dtype('float64'), bytes)
  EXPECT_EQ(hp["tuple_example"], nlohmann::json::parse(R"([1, 2.5, "x", null, true])"));

  // The rest of the checkpoint is in the value tree.
  const PickleNode& root = *c.root();
  EXPECT_EQ(root.get("epoch")->integer, 0);
  EXPECT_EQ(root.get("global_step")->integer, 1);
  EXPECT_EQ(root.get("pytorch-lightning_version")->text, "2.4.0");
  const PickleNode& adam = *root.get("optimizer_states")->items.at(0);
  const PickleNode& state = *adam.get("state");
  std::vector<int64_t> indices;
  for (const auto& [k, v] : state.entries) indices.push_back(k->integer);
  ASSERT_EQ(indices.size(), 43u);  // indices 0 and 43..84
  EXPECT_EQ(indices.front(), 0);
  EXPECT_EQ(indices[1], 43);
  EXPECT_EQ(indices.back(), 84);
  const PickleNode& step = *state.entries[0].second->get("step");
  const auto step_t = c.tensor(step);
  EXPECT_EQ(step_t.dtype, "F32");
  EXPECT_TRUE(step_t.shape.empty());
  float step_value = 0;
  std::memcpy(&step_value, step_t.bytes.data(), 4);
  EXPECT_EQ(step_value, 1.0f);  // one optimizer step was taken
  const PickleNode& group = *adam.get("param_groups")->items.at(0);
  EXPECT_EQ(pg::io::pickle_to_json(*group.get("betas"), "", ""), nlohmann::json::parse("[0.9, 0.999]"));
  // The exp_avg of parameter 0 has the shape of the decoder token embedding.
  const auto moment = c.tensor(*state.entries[0].second->get("exp_avg"));
  EXPECT_EQ(moment.shape, model.at("transformer.token_embedding.weight").shape);
}

// Runs tests/python/make_torch_fixtures.py into a fresh folder.
std::filesystem::path torch_fixtures() {
  const auto dir = pg::test::temp_dir();
  const auto r = pg::test::run_command(
      pg::test::python() + " " + (pg::test::source_dir() / "tests/python/make_torch_fixtures.py").string() +
      " " + dir.string());
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return dir;
}

TEST(TorchCheckpoint, TensorsWrittenByCurrentTorchEqualNumpyBytes) {
  const auto dir = torch_fixtures();
  std::ifstream in(dir / "manifest.json");
  const nlohmann::json manifest = nlohmann::json::parse(in);
  const TorchCheckpoint c = TorchCheckpoint::read((dir / "mixed.pt").string());
  ASSERT_EQ(c.state_dict().size(), manifest["order"].size());
  size_t i = 0;
  for (const std::string name : manifest["order"]) {
    EXPECT_EQ(c.state_dict()[i++].first, name);
    const auto* t = c.find(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->dtype, manifest["tensors"][name]["dtype"]) << name;
    EXPECT_EQ(t->shape, manifest["tensors"][name]["shape"].get<std::vector<int64_t>>()) << name;
    EXPECT_TRUE(t->bytes == pg::test::read_text(dir / (name + ".bin")))
        << name << ": bytes differ from numpy";
  }
  EXPECT_EQ(c.root()->get("epoch")->integer, 3);
  EXPECT_EQ(c.hyper_parameters(),
            nlohmann::json::parse(R"({"lr": 0.001, "name": "x", "dims": [1, 2], "nested": {"a": [1, null]},
                                      "big": {"__bigint_le__": "000000000000000040"}})"));
}

TEST(TorchCheckpoint, RefusesUnknownGlobalsInsideAValidCheckpoint) {
  const auto dir = torch_fixtures();
  // A __reduce__ that would run os.system (posix.system) when torch.load-ed with weights_only=False.
  const std::string evil = (dir / "evil.pt").string();
  EXPECT_EQ(
      error_of([&] { TorchCheckpoint::read(evil); })
          .rfind(evil + ": evil/data.pkl: refusing to unpickle global 'posix.system' (not on the allow-list",
                 0),
      0u);
  pg::io::UnpickleOptions opaque;
  opaque.opaque_unknown_globals = true;
  EXPECT_NE(error_of([&] { TorchCheckpoint::read(evil, opaque); }).find("'posix.system'"), std::string::npos);
  // A harmless unknown class: refused by default, an opaque value on request.
  const std::string custom = (dir / "custom.pt").string();
  EXPECT_NE(error_of([&] { TorchCheckpoint::read(custom); }).find("'__main__.Thing'"), std::string::npos);
  const TorchCheckpoint c = TorchCheckpoint::read(custom, opaque);
  EXPECT_EQ(c.hyper_parameters()["thing"]["__opaque__"], "__main__.Thing");
  EXPECT_EQ(c.hyper_parameters()["thing"]["state"], nlohmann::json::parse(R"({"value": 42})"));
  ASSERT_EQ(c.state_dict().size(), 1u);
  EXPECT_EQ(c.state_dict()[0].first, "w");
}

TEST(TorchCheckpoint, RejectsNonCheckpointsAndBadStorages) {
  const auto dir = pg::test::temp_dir();
  const std::string plain = (dir / "plain.txt").string();
  std::ofstream(plain) << "not a zip at all, just some text";
  EXPECT_NE(error_of([&] { TorchCheckpoint::read(plain); }).find("not a zip archive"), std::string::npos);
  EXPECT_NE(error_of([&] { TorchCheckpoint::read((dir / "missing.ckpt").string()); }).find("cannot open"),
            std::string::npos);
}

}  // namespace
