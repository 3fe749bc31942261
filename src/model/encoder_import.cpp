#include "model/encoder_import.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/sha256.h"
#include "io/torch_checkpoint.h"
#include "model/checkpoint_common.h"
#include "model/model_dir.h"
#include "model/perturbgen_model.h"

namespace pg::model {
namespace {

using pg::io::TensorLocation;
constexpr const char* kStored = "transformer.";  // CellGenTrainer.transformer = scmoscf

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + ")";
}

torch::Dtype float_dtype(const TensorLocation& t, const std::string& file, const std::string& key) {
  if (t.dtype == "F32") return torch::kFloat32;
  if (t.dtype == "F16") return torch::kFloat16;
  if (t.dtype == "BF16") return torch::kBFloat16;
  if (t.dtype == "F64") return torch::kFloat64;
  throw pg::Error(file, key, "has dtype " + t.dtype + "; encoder weights must be floating point");
}

// The stored tensors by name (torch.compile prefixes removed).
struct Located {
  std::string file;
  std::map<std::string, const TensorLocation*> by_name;

  const TensorLocation& need(const std::string& key, std::vector<int64_t> shape = {}) const {
    auto it = by_name.find(key);
    if (it == by_name.end()) throw pg::Error(file, key, "missing from the checkpoint's state_dict");
    if (!shape.empty() && it->second->shape != shape)
      throw pg::Error(file, key,
                      "has shape " + shape_str(it->second->shape) + ", expected " + shape_str(shape) +
                          " from the other tensors");
    return *it->second;
  }
};

int64_t count_blocks(const Located& l) {
  std::set<int64_t> idx;
  static const std::regex re(R"(^transformer\.decoder_block\.(\d+)\.)");
  std::smatch m;
  for (const auto& [k, t] : l.by_name)
    if (std::regex_search(k, m, re)) idx.insert(std::stoll(m[1]));
  if (idx.empty())
    throw pg::Error(l.file, "transformer.decoder_block.*", "no encoder blocks in the state_dict");
  if (*idx.begin() != 0 || *idx.rbegin() != static_cast<int64_t>(idx.size()) - 1)
    throw pg::Error(l.file, "transformer.decoder_block.*", "blocks are not numbered 0..n-1");
  return static_cast<int64_t>(idx.size());
}

// Dimensions from the shapes, cross-checked against hyper_parameters; the
// head split is the one thing only hyper_parameters can tell.
EncoderConfig infer_config(const Located& l, const nlohmann::json& hp, const EncoderImportOptions& o,
                           EncoderImportReport& r) {
  const std::string& f = l.file;
  EncoderConfig c;
  const auto& emb = l.need("transformer.token_embedding.weight");
  if (emb.shape.size() != 2) throw pg::Error(f, "transformer.token_embedding.weight", "is not 2-D");
  c.embedding_rows = emb.shape[0];
  c.d_model = emb.shape[1];
  const auto& pos = l.need("transformer.pos_embedding.pos_pe");
  if (pos.shape.size() != 3 || pos.shape[0] != 1 || pos.shape[2] != c.d_model)
    throw pg::Error(
        f, "transformer.pos_embedding.pos_pe",
        "has shape " + shape_str(pos.shape) + ", expected (1, positions, " + std::to_string(c.d_model) + ")");
  c.max_seq_length = pos.shape[1];
  const auto& time = l.need("transformer.pos_embedding.time_pe");
  if (time.shape.size() != 3 || time.shape[0] != 1 || time.shape[2] != c.d_model)
    throw pg::Error(f, "transformer.pos_embedding.time_pe",
                    "has shape " + shape_str(time.shape) + ", expected (1, time points, " +
                        std::to_string(c.d_model) + ")");
  c.n_time_rows = time.shape[1];
  if (c.n_time_rows <= c.time_row)
    throw pg::Error(f, "transformer.pos_embedding.time_pe",
                    "has " + std::to_string(c.n_time_rows) + " time rows; the encoder adds row " +
                        std::to_string(c.time_row));
  c.num_layers = count_blocks(l);
  const std::string b = std::string(kStored) + "decoder_block." + std::to_string(c.num_layers - 1) + ".";
  const auto& q = l.need(b + "self_attn.to_q.weight");
  if (q.shape.size() != 2 || q.shape[1] != c.d_model)
    throw pg::Error(f, b + "self_attn.to_q.weight", "has shape " + shape_str(q.shape));
  const int64_t inner = q.shape[0];
  c.ffn_hidden = l.need(b + "feed_forward.fc1.weight").shape.at(0);
  const bool has_heads = hp.is_object() && hp.contains("num_heads") && !hp.at("num_heads").is_null();
  c.num_heads = hparam<int64_t>(hp, "num_heads", o.fallback_heads, f);
  if (!has_heads)
    r.notes.push_back("hyper_parameters lack num_heads: " + std::to_string(c.num_heads) +
                      " heads assumed (--encoder-heads)");
  c.head_dim = head_width(inner, c.num_heads, hp, f, b + "self_attn.to_q.weight");
  expect_hparams(hp, f,
                 {{"d_model", c.d_model},
                  {"num_layers", c.num_layers},
                  {"max_seq_length", c.max_seq_length},
                  {"n_total_tps", c.n_time_rows}});
  auto fc = l.by_name.find("transformer.decoder_fc.weight");
  c.vocab_size = fc != l.by_name.end() ? fc->second->shape.at(0) : c.embedding_rows - 3;
  expect_hparams(hp, f, {{"tgt_vocab_size", c.vocab_size}});
  if (c.embedding_rows < c.vocab_size)
    throw pg::Error(
        f, "transformer.token_embedding.weight",
        std::to_string(c.embedding_rows) + " rows for a vocabulary of " + std::to_string(c.vocab_size));
  const std::string pos_mode = hparam<std::string>(hp, "pos_encoding_mode", "time_pos_sin", f);
  if (pos_mode != "time_pos_sin")
    throw pg::Error(
        f, "hyper_parameters.pos_encoding_mode",
        "is '" + pos_mode + "'; the source encoder adds sinusoid time and position tables (time_pos_sin)");
  c.mode = EncoderMode::Reference;
  c.mlm_head = o.keep_mlm_head;
  if (o.keep_mlm_head && fc == l.by_name.end())
    throw pg::Error(f, "transformer.decoder_fc.weight", "missing, but the MLM head was asked to be kept");
  return c;
}

// The stored names of the last block and their expected shapes.
std::vector<std::pair<std::string, std::vector<int64_t>>> block_tensors(const EncoderConfig& c) {
  const int64_t d = c.d_model, inner = c.inner_dim(), h = c.ffn_hidden;
  return {{"norm1.weight", {d}},
          {"norm1.bias", {d}},
          {"self_attn.to_q.weight", {inner, d}},
          {"self_attn.to_k.weight", {inner, d}},
          {"self_attn.to_v.weight", {inner, d}},
          {"self_attn.to_out.0.weight", {d, inner}},
          {"self_attn.to_out.0.bias", {d}},
          {"norm3.weight", {d}},
          {"norm3.bias", {d}},
          {"feed_forward.fc1.weight", {h, d}},
          {"feed_forward.fc1.bias", {h}},
          {"feed_forward.fc2.weight", {d, h}},
          {"feed_forward.fc2.bias", {d}}};
}

// Bytes of every tensor under root["optimizer_states"] (Adam moments and steps).
void optimizer_bytes(const pg::io::TorchCheckpoint& ckpt, const pg::io::PickleNode& n, int depth,
                     int64_t& tensors, int64_t& bytes) {
  if (depth > 64) return;
  if (pg::io::TorchCheckpoint::is_tensor(n)) {
    ++tensors;
    bytes += ckpt.locate(n).nbytes();
    return;
  }
  for (const auto& v : n.items)
    if (v) optimizer_bytes(ckpt, *v, depth + 1, tensors, bytes);
  for (const auto& [k, v] : n.entries)
    if (v) optimizer_bytes(ckpt, *v, depth + 1, tensors, bytes);
}

}  // namespace

bool is_standalone_encoder(const std::vector<std::string>& keys) {
  const std::set<std::string> k(keys.begin(), keys.end());
  for (const auto& key : keys)
    if (key.starts_with("transformer.encoder_layers.") || key.starts_with("pretrained_model.")) return false;
  return k.count("transformer.token_embedding.weight") &&
         k.count("transformer.decoder_block.0.norm1.weight") &&
         !k.count("transformer.decoder_block.0.norm2.weight") &&
         !k.count("transformer.decoder_block.0.cross_attn.to_q.weight");
}

int64_t EncoderImportReport::kept_bytes() const {
  int64_t n = 0;
  for (const auto& p : kept) n += p.bytes;
  return n;
}

EncoderImportReport import_encoder_checkpoint(const std::string& path, const std::filesystem::path& out_dir,
                                              const EncoderImportOptions& o) {
  pg::io::UnpickleOptions uo;
  uo.opaque_unknown_globals = true;  // e.g. objects in hyper_parameters; dangerous modules still refused
  const auto ckpt = pg::io::TorchCheckpoint::open(path, uo);
  EncoderImportReport r;
  Located l{path, {}};
  std::vector<std::string> keys;
  for (const auto& [name, loc] : ckpt.state_dict_locations()) {
    keys.push_back(strip_compile(name));
    l.by_name[keys.back()] = &loc;
  }
  r.tensors_in_file = static_cast<int64_t>(keys.size());
  if (!is_standalone_encoder(keys))
    throw pg::Error(
        path, "state_dict",
        "is not a standalone source-encoder checkpoint (expected transformer.token_embedding.weight "
        "and encoder blocks transformer.decoder_block.N.* without cross-attention)");
  const nlohmann::json& hp = ckpt.hyper_parameters();
  const EncoderConfig c = infer_config(l, hp, o, r);
  r.config = c;

  // What is read: stored key -> shape; everything else is dropped unread.
  std::vector<std::pair<std::string, std::vector<int64_t>>> wanted = {
      {"token_embedding.weight", {c.embedding_rows, c.d_model}},
      {"pos_embedding.pos_pe", {1, c.max_seq_length, c.d_model}},
      {"pos_embedding.time_pe", {1, c.n_time_rows, c.d_model}}};
  const std::string last = "decoder_block." + std::to_string(c.num_layers - 1) + ".";
  for (auto& [name, shape] : block_tensors(c)) wanted.emplace_back(last + name, shape);
  if (c.mlm_head) {
    wanted.push_back({"decoder_fc.weight", {c.vocab_size, c.d_model}});
    wanted.push_back({"decoder_fc.bias", {c.vocab_size}});
  }
  for (const auto& [name, shape] : wanted) l.need(kStored + name, shape);

  EncoderImportReport::Part kept_embedding{"embedding, position and time tables", 0, 0,
                                           "the encoder's input (spec §3.2)"};
  EncoderImportReport::Part kept_block{"block " + std::to_string(c.num_layers - 1), 0, 0,
                                       "the only block whose output the reference uses (spec §3.2)"};
  EncoderImportReport::Part kept_head{"MLM head decoder_fc", 0, 0, "kept on request (--keep-mlm-head)"};
  NamedTensors weights;
  torch::Tensor pos_pe;
  for (const auto& [name, shape] : wanted) {
    const std::string stored = kStored + name;
    const TensorLocation& loc = l.need(stored);
    auto t = torch::empty(loc.shape, torch::TensorOptions().dtype(float_dtype(loc, path, stored)));
    ckpt.read_into(loc, static_cast<char*>(t.data_ptr()));
    if (t.scalar_type() != torch::kFloat32) t = t.to(torch::kFloat32);  // model directories hold float32
    // A plain loop: torch::isfinite would allocate temporaries the size of the
    // embedding, and this import's memory is meant to be the weights kept.
    const float* v = t.data_ptr<float>();
    if (!std::all_of(v, v + t.numel(), [](float x) { return std::isfinite(x); }))
      throw pg::Error(path, stored, "holds NaN or infinite values");
    auto& part = name.starts_with("decoder_block.") ? kept_block
                 : name.starts_with("decoder_fc.")  ? kept_head
                                                    : kept_embedding;
    ++part.tensors;
    part.bytes += loc.nbytes();
    if (name == "pos_embedding.pos_pe") pos_pe = t;
    weights.emplace(std::string(kEncoderPrefix) + name, std::move(t));
  }
  // Our module registers the reference's redundant `pe` (= pos_pe): the same tensor, not a copy.
  weights.emplace(std::string(kEncoderPrefix) + "pos_embedding.pe", pos_pe);
  r.kept = {kept_embedding, kept_block};
  if (c.mlm_head) r.kept.push_back(kept_head);

  EncoderImportReport::Part blocks{"blocks 0-" + std::to_string(c.num_layers - 2), 0, 0,
                                   "every block reads the embedding and only the last one's output is kept "
                                   "(spec §3.2), so they cannot change the encoder's output"};
  EncoderImportReport::Part head{
      "MLM head decoder_fc", 0, 0,
      "PerturbGen never reads it; pretraining makes a fresh one (--keep-mlm-head keeps it)"};
  EncoderImportReport::Part pe{"pos_embedding.pe", 0, 0, "a duplicate of pos_pe"};
  EncoderImportReport::Part other{"other tensors", 0, 0, "not part of the encoder"};
  std::set<std::string> read_keys;
  for (const auto& [name, shape] : wanted) read_keys.insert(kStored + name);
  for (const auto& [key, loc] : l.by_name) {
    if (read_keys.count(key)) continue;
    auto& part = key.starts_with("transformer.decoder_block.") ? blocks
                 : key.starts_with("transformer.decoder_fc.")  ? head
                 : key == "transformer.pos_embedding.pe"       ? pe
                                                               : other;
    ++part.tensors;
    part.bytes += loc->nbytes();
  }
  EncoderImportReport::Part optimizer{"optimizer state", 0, 0, "training state; inference needs none of it"};
  if (const auto* opt = ckpt.root()->get("optimizer_states"))
    optimizer_bytes(ckpt, *opt, 0, optimizer.tensors, optimizer.bytes);
  for (const auto& p : {blocks, head, pe, optimizer, other})
    if (p.tensors > 0) r.dropped.push_back(p);
  for (const auto& [key, loc] : l.by_name)
    if (loc->device != "cpu" && !loc->device.empty()) {
      r.notes.push_back("storages were saved from '" + loc->device + "'; loaded to the CPU");
      break;
    }
  for (const auto& [key, loc] : l.by_name)
    if (loc->dtype != "F32" && read_keys.count(key)) {
      r.notes.push_back("stored as " + loc->dtype + "; widened to float32");
      break;
    }

  EncoderDirContents out;
  out.config = c;
  out.weights = std::move(weights);
  out.meta.source_vocab_name = o.vocab_name;
  out.meta.source_vocab_sha256 = o.vocab_sha256;
  out.meta.provenance = checkpoint_provenance(ckpt, path, "encoder");
  out.meta.provenance["checkpoint_kind"] = "standalone source encoder (scmaskgit CellGenTrainer)";
  write_encoder_dir(out_dir, out, o.overwrite);
  return r;
}

}  // namespace pg::model
