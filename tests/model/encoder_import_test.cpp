// Importing the standalone encoder checkpoint PerturbGen publishes (golden
// §19): the tiny real CellGenTrainer checkpoint bit for bit and its recorded
// eval forward; files written by the venv's torch in the published layout
// (GPU location tags, half-precision and shared storages, the full 574 MB
// size) against an independent PyTorch forward; and every kind of bad file.
#include "model/encoder_import.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "golden_support.h"
#include "io/torch_checkpoint.h"
#include "io/zip_reader.h"
#include "model/encoder.h"
#include "model/model_dir.h"
#include "model/perturbgen_model.h"

namespace {

namespace fs = std::filesystem;
using pg::model::EncoderImportOptions;
using pg::model::import_encoder_checkpoint;
using pg::test::error_of;
using pg::test::quote;

const std::string kPrefix = pg::model::kEncoderPrefix;

fs::path golden(const std::string& f) {
  return pg::test::shared_dir() / "golden" / f;
}

// tests/python/make_encoder_ckpt.py with `args`; the checkpoint path.
fs::path make_ckpt(const fs::path& dir, const std::string& name, const std::string& args) {
  const fs::path out = dir / name;
  const auto r = pg::test::run_command(
      pg::test::python() + " " + quote(pg::test::source_dir() / "tests/python/make_encoder_ckpt.py") + " " +
      quote(golden("published_encoder_manifest.json")) + " " + quote(out) + " " + args + " 2>&1");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return out;
}

// The imported encoder, built and loaded as later stages do.
pg::model::SourceEncoder load_encoder(const fs::path& dir) {
  auto enc = pg::model::read_encoder_dir(dir);
  pg::model::SourceEncoder m(enc.config);
  pg::model::load_parameters(*m, enc.weights, kPrefix, dir.string(), m->unused_block_prefixes(kPrefix));
  return m;
}

// `perturbgen import-ckpt CKPT CKPT_encoder`; the command's output.
std::string import_cli(const fs::path& ckpt) {
  const auto r = pg::test::run_cli("import-ckpt " + quote(ckpt) + " " + quote(ckpt.string() + "_encoder"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return r.output;
}

// The encoder imported from `ckpt` against the generator's own PyTorch
// forward of the same weights (spec §3.2 written out) on its cells.
void expect_forward_matches(const fs::path& ckpt, const fs::path& forward, double tol) {
  auto enc = load_encoder(ckpt.string() + "_encoder");
  const auto ref = pg::model::to_torch(pg::io::SafeTensors::read(forward.string()));
  torch::NoGradGuard no_grad;
  const auto& ids = pg::test::golden_at(ref, "src_input_ids");
  pg::test::expect_close("x0", enc->embed(ids), pg::test::golden_at(ref, "x0"), tol, tol);
  pg::test::expect_close("output", enc->forward(ids), pg::test::golden_at(ref, "output"), tol, tol);
}

TEST(EncoderImport, TinyCheckpointImportsBitForBitAndReportsWhatItDropped) {
  const auto dir = pg::test::temp_dir();
  const auto r = import_encoder_checkpoint(golden("tiny_encoder.ckpt").string(), dir / "enc", {});
  const auto& c = r.config;
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.num_heads, 8);  // from hyper_parameters
  EXPECT_EQ(c.head_dim, 8);   // d_ff
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.vocab_size, 40);
  EXPECT_EQ(c.embedding_rows, 43);
  EXPECT_EQ(c.max_seq_length, 64);
  EXPECT_EQ(c.n_time_rows, 3);
  EXPECT_EQ(c.mode, pg::model::EncoderMode::Reference);
  EXPECT_FALSE(c.mlm_head);
  EXPECT_EQ(r.tensors_in_file, 45);
  // Kept: embedding + pos_pe + time_pe (3) and block 2 (13 tensors).
  ASSERT_EQ(r.kept.size(), 2u);
  EXPECT_EQ(r.kept[0].tensors, 3);
  EXPECT_EQ(r.kept[1].tensors, 13);
  EXPECT_EQ(r.kept_bytes(), 4 * (43 * 64 + 64 * 64 + 3 * 64 + 6 * 64 * 64 + 7 * 64));
  // Dropped unread: blocks 0-1 (26), decoder_fc (2), pe (1), Adam state of 16 tensors (3 each).
  std::map<std::string, int64_t> dropped;
  for (const auto& p : r.dropped) dropped[p.what] = p.tensors;
  EXPECT_EQ(dropped["blocks 0-1"], 26);
  EXPECT_EQ(dropped["MLM head decoder_fc"], 2);
  EXPECT_EQ(dropped["pos_embedding.pe"], 1);
  EXPECT_EQ(dropped["optimizer state"], 48);

  // Every kept tensor equals the checkpoint's exact tensor (golden §19.3).
  const auto state = pg::test::golden_tensors("tiny_encoder_state.safetensors");
  const auto enc = pg::model::read_encoder_dir(dir / "enc");
  EXPECT_EQ(enc.weights.size(), 17u);  // + pe (= pos_pe), which our module registers
  for (const auto& [key, t] : enc.weights) {
    const std::string stored = "transformer." + key.substr(kPrefix.size());
    const auto& want = pg::test::golden_at(state, stored);
    EXPECT_TRUE(torch::equal(t, want)) << stored;
  }
  EXPECT_EQ(enc.meta.provenance["epoch"], 0);
  EXPECT_EQ(enc.meta.provenance["global_step"], 1);
  EXPECT_EQ(enc.meta.provenance["hyper_parameters"]["mask_scheduler"], "pow");
  EXPECT_EQ(pg::model::model_dir_stage(dir / "enc"), "encoder");
}

TEST(EncoderImport, ImportedTinyEncoderReproducesTheReferenceEvalForward) {
  const auto dir = pg::test::temp_dir();
  import_encoder_checkpoint(golden("tiny_encoder.ckpt").string(), dir / "enc", {});
  auto enc = load_encoder(dir / "enc");
  const auto io = pg::test::golden_tensors("tiny_encoder_io.safetensors");
  torch::NoGradGuard no_grad;
  for (const std::string s : {"a", "b"}) {
    const auto& ids = pg::test::golden_at(io, s + ".src_input_ids");
    pg::test::expect_close(s + ".x0", enc->embed(ids), pg::test::golden_at(io, s + ".x0"), 1e-6, 0);
    pg::test::expect_close(s + ".output", enc->forward(ids), pg::test::golden_at(io, s + ".output"), 1e-5,
                           1e-5);
  }
}

TEST(EncoderImport, KeepsTheMlmHeadOnRequestAndItsLogitsMatch) {
  const auto dir = pg::test::temp_dir();
  EncoderImportOptions o;
  o.keep_mlm_head = true;
  const auto r = import_encoder_checkpoint(golden("tiny_encoder.ckpt").string(), dir / "enc", o);
  EXPECT_TRUE(r.config.mlm_head);
  auto enc = load_encoder(dir / "enc");
  const auto io = pg::test::golden_tensors("tiny_encoder_io.safetensors");
  torch::NoGradGuard no_grad;
  const auto& ids = pg::test::golden_at(io, "a.src_input_ids");
  pg::test::expect_close("a.mlm_logits", enc->mlm_logits(enc->forward(ids)),
                         pg::test::golden_at(io, "a.mlm_logits"), 1e-5, 1e-5);
}

TEST(EncoderImport, GpuTagsHalfPrecisionAndSharedStoragesAreAccepted) {
  const auto dir = pg::test::temp_dir();
  const std::string dims = " --d-model 32 --layers 3 --heads 4 --head-dim 8 --vocab 300 --max-seq 128";
  const auto cuda =
      make_ckpt(dir, "cuda.ckpt", dims + " --location cuda:0 --forward " + quote(dir / "cuda.fwd"));
  import_cli(cuda);
  expect_forward_matches(cuda, dir / "cuda.fwd", 1e-5);
  const auto half = make_ckpt(
      dir, "half.ckpt",
      dims + " --storage-dtype float16 --shared-pe --location cuda:1 --forward " + quote(dir / "half.fwd"));
  EXPECT_NE(import_cli(half).find("stored as F16; widened to float32"), std::string::npos);
  expect_forward_matches(half, dir / "half.fwd", 1e-4);
  const auto bf16 =
      make_ckpt(dir, "bf16.ckpt", dims + " --storage-dtype bfloat16 --forward " + quote(dir / "bf16.fwd"));
  import_cli(bf16);
  expect_forward_matches(bf16, dir / "bf16.fwd", 1e-4);
}

TEST(EncoderImport, BadCheckpointsAreOneLineErrorsAndWriteNothing) {
  const auto dir = pg::test::temp_dir();
  const std::string dims = " --d-model 16 --layers 2 --heads 2 --head-dim 8 --vocab 50 --max-seq 32";
  auto expect_refused = [&](const fs::path& ckpt, const std::string& needle) {
    const fs::path out = dir / (ckpt.filename().string() + ".out");
    const auto r = pg::test::run_cli("import-ckpt " + quote(ckpt) + " " + quote(out));
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_EQ(std::count(r.output.begin(), r.output.end(), '\n'), 1) << r.output;
    EXPECT_EQ(r.output.rfind("perturbgen: error: " + ckpt.string(), 0), 0u) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(out));
  };
  // A global that would run os.system: refused by the allow-list unpickler.
  expect_refused(make_ckpt(dir, "hostile.ckpt", dims + " --hostile"),
                 "refusing to unpickle global 'posix.system'");
  // hyper_parameters that contradict the weights.
  expect_refused(make_ckpt(dir, "layers.ckpt", dims + " --hp num_layers=12"),
                 "hyper_parameters.num_layers: the weights imply 2 but hyper_parameters say 12");
  expect_refused(make_ckpt(dir, "heads.ckpt", dims + " --hp d_ff=5"), "hyper_parameters.d_ff");
  // Truncated: the end of the zip (its directory) is gone.
  const auto good = make_ckpt(dir, "good.ckpt", dims);
  const std::string bytes = pg::test::read_text(good);
  std::ofstream(dir / "truncated.ckpt", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  expect_refused(dir / "truncated.ckpt", "end of central directory");
  // Corrupt: one byte of the embedding's storage flipped (CRC-32 mismatch);
  // the storage is found from its entry name in the archive.
  const auto zip = pg::io::ZipReader::open(good.string());
  const pg::io::TorchCheckpoint ck = pg::io::TorchCheckpoint::open(good.string());
  std::string key;
  for (const auto& [name, loc] : ck.state_dict_locations())
    if (name == "transformer.token_embedding.weight") key = loc.storage_key;
  const pg::io::ZipEntry* e = zip.find("good/data/" + key);
  ASSERT_NE(e, nullptr);
  std::string corrupt = bytes;
  const size_t at = e->local_header_offset + 30 + e->name.size() + 100;
  corrupt[at] = static_cast<char>(corrupt[at] ^ 0x5a);  // past the header's alignment padding (< 64 bytes)
  std::ofstream(dir / "corrupt.ckpt", std::ios::binary) << corrupt;
  expect_refused(dir / "corrupt.ckpt", "CRC-32 mismatch");
  // Not a checkpoint at all.
  std::ofstream(dir / "text.ckpt") << "not a checkpoint\n";
  expect_refused(dir / "text.ckpt", "not a zip archive");
  // An existing output is kept unless --overwrite.
  fs::create_directories(dir / "exists");
  const auto r = pg::test::run_cli("import-ckpt " + quote(good) + " " + quote(dir / "exists"));
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("already exists"), std::string::npos) << r.output;
}

// The published size: 574 MB, built once in this test from the manifest.
TEST(EncoderImportFullSize, PublishedLayoutImportsAndMatchesTorchForward) {
  const auto dir = pg::test::temp_dir();
  const auto ckpt = make_ckpt(dir, "published_layout.ckpt",
                              "--location cuda:0 --cells 3 --max-len 48 --forward " + quote(dir / "fwd"));
  EXPECT_GT(fs::file_size(ckpt), 574'000'000u);
  const fs::path out = ckpt.string() + "_encoder";
  const std::string report = import_cli(ckpt);
  for (const std::string line : {"d 768, 8x96 heads, 12 blocks (reference mode: runs block 11 only), "
                                 "vocabulary 19000 (19003 embedding "
                                 "rows), 4096 positions, 3 time rows",
                                 "vocabulary recorded: gc95M", "dropped: blocks 0-10: 143 tensors",
                                 "dropped: MLM head decoder_fc: 2 tensors",
                                 "dropped: optimizer state: 48 tensors", "storages were saved from 'cuda:0'"})
    EXPECT_NE(report.find(line), std::string::npos) << line << "\n" << report;
  const auto enc = pg::model::read_encoder_dir(out);
  EXPECT_EQ(enc.config.d_model, 768);
  EXPECT_EQ(enc.config.head_dim, 96);
  EXPECT_EQ(enc.meta.source_vocab_name, "gc95M");
  expect_forward_matches(ckpt, dir / "fwd", 1e-4);
}

}  // namespace
