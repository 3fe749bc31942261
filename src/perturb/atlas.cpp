#include "perturb/atlas.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iostream>
#include <set>

#include "analysis/cluster_rows.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "core/number_text.h"
#include "io/formats.h"
#include "model/autocast.h"

namespace pg::perturb {

namespace {

namespace fs = std::filesystem;

struct ListGene {
  std::string name;
  int64_t position = 0;  // in the user's list
  PerturbedGenes resolved;
};

// The list's genes the store knows, first occurrence of each; the others
// are reported once and left out of the atlas.
std::vector<ListGene> resolve_list(const pg::store::TokenStore& store, const std::vector<std::string>& genes,
                                   std::vector<std::string>* unknown) {
  std::vector<ListGene> out;
  std::set<int64_t> seen;
  const GeneLookup lookup(store);
  for (size_t k = 0; k < genes.size(); ++k) {
    try {
      auto r = resolve_genes(store, lookup, {genes[k]});
      if (!seen.insert(r.genes[0]).second) continue;
      out.push_back({genes[k], static_cast<int64_t>(k), std::move(r)});
    } catch (const pg::Error&) {
      if (unknown) unknown->push_back(genes[k]);
    }
  }
  return out;
}

fs::path gene_file(const fs::path& out_dir, const ListGene& g) {
  return out_dir / "genes" / ("g" + std::to_string(g.resolved.genes[0]) + ".json");
}

std::vector<std::string> names_of(const std::vector<int64_t>& genes, const pg::store::TokenStore& store) {
  std::vector<std::string> out;
  for (int64_t g : genes) {
    const auto& row = store.genes()[static_cast<size_t>(g)];
    out.push_back(row.gene_name.empty() ? row.gene_id : row.gene_name);
  }
  return out;
}

double finite_or_nan(double x) {
  return std::isfinite(x) ? x : std::nan("");
}

// What is kept of one gene's pairs until its last pair has run.
struct GeneAccumulator {
  int64_t expected = 0, done = 0;
  std::map<int64_t, std::vector<torch::Tensor>> control_emb, perturbed_emb, control_counts, perturbed_counts;
};

torch::Tensor stack(const std::vector<torch::Tensor>& v) {
  return v.empty() ? torch::Tensor() : torch::stack(v);
}

nlohmann::json finish_gene(const ListGene& g, GeneAccumulator& acc, const std::vector<int64_t>& times,
                           const pg::store::TokenStore& store, const SummaryOptions& so, int64_t d) {
  const auto& labels = store.pairing().columns;
  nlohmann::json j = {{"gene", g.name},
                      {"gene_id", store.genes()[static_cast<size_t>(g.resolved.genes[0])].gene_id},
                      {"gene_index", g.resolved.genes[0]},
                      {"times", nlohmann::json::array()}};
  for (int64_t t : times) {
    nlohmann::json e = {{"time_point", labels[static_cast<size_t>(t)]}, {"n_cells", acc.done}};
    std::vector<double> shift(static_cast<size_t>(d), 0.0);
    if (acc.done > 0) {
      PerturbTime pt;
      pt.control_embedding = stack(acc.control_emb[t]);
      pt.perturbed_embedding = stack(acc.perturbed_emb[t]);
      pt.cosine = cosine(pt.perturbed_embedding, pt.control_embedding);
      pt.control_counts = stack(acc.control_counts[t]);
      pt.perturbed_counts = stack(acc.perturbed_counts[t]);
      const auto s = summarise(pt, so);
      const auto mean =
          (pt.perturbed_embedding - pt.control_embedding).to(torch::kFloat64).mean(0).contiguous();
      std::copy(mean.data_ptr<double>(), mean.data_ptr<double>() + d, shift.begin());
      double abs_fc = 0;
      for (double x : s.mean_log2_fc) abs_fc += std::abs(x);
      e.update({{"mean_shift", s.mean_shift},
                {"ci_low", s.ci_low},
                {"ci_high", s.ci_high},
                {"n_de", s.n_de},
                {"n_up", s.n_up},
                {"n_down", s.n_down},
                {"mean_abs_log2fc",
                 s.mean_log2_fc.empty() ? 0.0 : abs_fc / static_cast<double>(s.mean_log2_fc.size())},
                {"top_up", names_of(s.top_up, store)},
                {"top_down", names_of(s.top_down, store)}});
    }
    e["shift"] = shift;
    j["times"].push_back(e);
  }
  return j;
}

void write_json(const fs::path& file, const nlohmann::json& j) {
  pg::write_atomically(file, [&](const fs::path& tmp) {
    std::ofstream out(tmp);
    out << j.dump() << "\n";
    if (!out) throw pg::Error(file.string(), "", "cannot be written");
  });
}

class ProgressLine {
 public:
  ProgressLine(int64_t total, bool on) : total_(total), on_(on), tty_(isatty(2) != 0) {}
  void update(int64_t done, int64_t genes_done, bool force = false) {
    if (!on_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!force && now - last_ < std::chrono::seconds(tty_ ? 1 : 10)) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? static_cast<double>(done) / s : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - done) / rate : 0;
    char line[200];
    std::snprintf(line, sizeof line,
                  "atlas: %lld/%lld pairs (%.0f%%), %lld genes done, %.1f pairs/s, ETA %.0f s",
                  static_cast<long long>(done), static_cast<long long>(total_),
                  total_ > 0 ? 100.0 * static_cast<double>(done) / static_cast<double>(total_) : 100.0,
                  static_cast<long long>(genes_done), rate, eta);
    std::cerr << (tty_ ? "\r" : "") << line << (tty_ ? "" : "\n") << std::flush;
  }
  void finish() {
    if (on_ && tty_) std::cerr << "\n";
  }

 private:
  int64_t total_;
  bool on_, tty_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now(), last_{};
};

}  // namespace

AtlasRun run_atlas(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
                   const pg::store::TokenStore& store, const std::vector<std::string>& genes,
                   const AtlasOptions& options, const fs::path& out_dir) {
  torch::NoGradGuard no_grad;
  const auto t0 = std::chrono::steady_clock::now();
  auto o = options.perturb;
  if (o.on != Sequence::source) throw pg::Error("<options>", "--on", "an atlas edits the source cells only");
  if (o.validation == Validation::inference) o.generation.context = pg::generate::ContextMode::truth;
  const auto list = resolve_list(store, genes, nullptr);
  AtlasRun run;
  std::vector<const ListGene*> todo;
  for (const auto& g : list) {
    if (g.position % options.n_shards != options.shard) continue;
    ++run.genes_in_shard;
    if (fs::exists(gene_file(out_dir, g)))
      ++run.genes_done_before;
    else
      todo.push_back(&g);
  }
  fs::create_directories(out_dir / "genes");
  if (todo.empty()) return run;

  pg::generate::BatchGenerator gen(model, meta, store, o.generation, /*load_truth=*/true);
  const auto& data = gen.data();
  const auto& examples = gen.examples();
  const auto& times = gen.times();
  const auto n = static_cast<int64_t>(examples.size());
  const int64_t d = model.config().decoder.d_model;
  const bool generate = o.validation == Validation::generate;
  const auto device = model.device();
  // One pass (control or perturbed) of the examples `ex` (pairing rows
  // `rows`), the source optionally replaced: per time, embedding and counts.
  auto pass = [&](const std::vector<int64_t>& ex, const std::vector<int64_t>& rows,
                  const torch::Tensor& src) {
    auto batch = data.batch(ex);
    std::map<int64_t, std::pair<torch::Tensor, torch::Tensor>> out;
    if (generate) {
      for (auto& [t, r] : gen.run(batch, rows, src)) out[t] = {r.embedding, r.counts};
      return out;
    }
    pg::model::Bf16Autocast autocast(o.generation.bf16, device);
    if (src.defined()) batch.model.src_ids = src;
    for (auto& [t, r] :
         teacher_forced(model, batch.model, times, {}, o.generation.counts, o.generation.seed, rows))
      out[t] = {r.embedding, r.counts};
    return out;
  };

  // The control of every cell, once; its source sentence for the edits.
  std::map<int64_t, torch::Tensor> control_emb, control_counts;
  std::vector<std::vector<int64_t>> src_rows(static_cast<size_t>(n));
  std::vector<int64_t> by_length;
  for (const auto& pos : gen.batches()) {
    std::vector<int64_t> ex, rows;
    for (int64_t p : pos) {
      ex.push_back(examples[static_cast<size_t>(p)]);
      rows.push_back(data.row(ex.back()));
      by_length.push_back(p);
    }
    const auto batch = data.batch(ex);
    for (size_t b = 0; b < pos.size(); ++b) {
      const auto r = batch.model.src_ids[static_cast<int64_t>(b)].contiguous();
      src_rows[static_cast<size_t>(pos[b])].assign(r.data_ptr<int64_t>(), r.data_ptr<int64_t>() + r.numel());
    }
    const auto index = torch::tensor(pos, torch::kLong);
    for (auto& [t, er] : pass(ex, rows, {})) {
      if (!control_emb.count(t)) control_emb[t] = torch::zeros({n, d});
      control_emb[t].index_copy_(0, index, er.first.to(torch::kCPU, torch::kFloat32));
      if (er.second.defined()) {
        if (!control_counts.count(t)) control_counts[t] = torch::zeros({n, er.second.size(1)});
        control_counts[t].index_copy_(0, index, er.second.to(torch::kCPU, torch::kFloat32));
      }
    }
  }

  // Every (gene, cell) pair of this shard, cells in length order.
  struct Pair {
    size_t gene;  // into todo
    int64_t pos;  // into examples
  };
  std::vector<Pair> pairs;
  std::vector<GeneAccumulator> acc(todo.size());
  std::vector<Edit> edits(todo.size(), o.edit);
  for (size_t k = 0; k < todo.size(); ++k) {
    edits[k].tokens = todo[k]->resolved.src_tokens;
    for (int64_t p : by_length)
      if (edits[k].tokens[0] >= 0 && row_is_perturbable(src_rows[static_cast<size_t>(p)], edits[k])) {
        pairs.push_back({k, p});
        ++acc[k].expected;
      }
  }
  int64_t genes_done = 0;
  auto complete = [&](size_t k) {
    write_json(gene_file(out_dir, *todo[k]), finish_gene(*todo[k], acc[k], times, store, options.summary, d));
    acc[k] = GeneAccumulator{};
    ++genes_done;
    ++run.genes_run;
  };
  for (size_t k = 0; k < todo.size(); ++k)
    if (acc[k].expected == 0) {
      complete(k);
      ++run.genes_without_cells;
    }

  ProgressLine progress(static_cast<int64_t>(pairs.size()), options.progress);
  const int64_t max_width = model.config().encoder.max_seq_length;
  for (size_t begin = 0; begin < pairs.size(); begin += static_cast<size_t>(options.pair_batch)) {
    const size_t end = std::min(pairs.size(), begin + static_cast<size_t>(options.pair_batch));
    std::vector<int64_t> ex, rows;
    std::vector<std::vector<int64_t>> edited;
    size_t width = 0;
    for (size_t i = begin; i < end; ++i) {
      const auto& pr = pairs[i];
      ex.push_back(examples[static_cast<size_t>(pr.pos)]);
      rows.push_back(data.row(ex.back()));
      edited.push_back(edit_row(src_rows[static_cast<size_t>(pr.pos)], edits[pr.gene], 1, true, max_width));
      width = std::max(width, edited.back().size());
    }
    auto src = torch::zeros({static_cast<int64_t>(edited.size()), static_cast<int64_t>(width)}, torch::kLong);
    for (size_t b = 0; b < edited.size(); ++b)
      src[static_cast<int64_t>(b)]
          .narrow(0, 0, static_cast<int64_t>(edited[b].size()))
          .copy_(torch::tensor(edited[b], torch::kLong));
    const auto result = pass(ex, rows, src.to(device));
    for (size_t i = begin; i < end; ++i) {
      const auto& pr = pairs[i];
      auto& a = acc[pr.gene];
      const auto b = static_cast<int64_t>(i - begin);
      for (const auto& [t, er] : result) {
        a.control_emb[t].push_back(control_emb[t][pr.pos]);
        a.perturbed_emb[t].push_back(er.first[b].to(torch::kCPU, torch::kFloat32));
        if (er.second.defined()) {
          a.control_counts[t].push_back(control_counts[t][pr.pos]);
          a.perturbed_counts[t].push_back(er.second[b].to(torch::kCPU, torch::kFloat32));
        }
      }
      if (++a.done == a.expected) complete(pr.gene);
    }
    run.pairs += static_cast<int64_t>(end - begin);
    progress.update(run.pairs, genes_done);
  }
  progress.update(run.pairs, genes_done, true);
  progress.finish();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

bool assemble_atlas(const pg::store::TokenStore& store, const std::vector<std::string>& genes,
                    const AtlasOptions& options, const fs::path& out_dir) {
  std::vector<std::string> unknown;
  const auto list = resolve_list(store, genes, &unknown);
  std::vector<nlohmann::json> results;
  for (const auto& g : list) {
    const auto file = gene_file(out_dir, g);
    if (!fs::exists(file)) return false;
    std::ifstream in(file);
    auto j = nlohmann::json::parse(in, nullptr, false);
    if (j.is_discarded() || !j.contains("times"))
      throw pg::Error(file.string(), "", "is not an atlas gene result");
    results.push_back(std::move(j));
  }
  if (results.empty()) throw pg::Error(out_dir.string(), "genes", "none of the listed genes is in the store");
  const auto& first_times = results[0]["times"];
  const auto T = static_cast<int64_t>(first_times.size());
  const auto d = static_cast<int64_t>(first_times[0]["shift"].size());

  // effects.tsv
  std::ostringstream tsv;
  tsv << "gene\tgene_id\ttime_point\tn_cells\tmean_shift\tshift_ci_low\tshift_ci_high\tn_de\tn_up\tn_down\t"
         "mean_abs_log2fc\ttop_up\ttop_down\n";
  auto text = [](const nlohmann::json& e, const char* k) -> std::string {
    if (!e.contains(k) || e[k].is_null()) return "NA";
    if (e[k].is_array()) {
      std::string s;
      for (const auto& x : e[k]) s += (s.empty() ? "" : ",") + x.get<std::string>();
      return s;
    }
    if (e[k].is_number_float()) return pg::shortest_text(e[k].get<double>());
    return e[k].dump();
  };
  for (const auto& r : results)
    for (const auto& e : r["times"])
      tsv << r["gene"].get<std::string>() << '\t' << r["gene_id"].get<std::string>() << '\t'
          << e["time_point"].get<std::string>() << '\t' << e["n_cells"].get<int64_t>() << '\t'
          << text(e, "mean_shift") << '\t' << text(e, "ci_low") << '\t' << text(e, "ci_high") << '\t'
          << text(e, "n_de") << '\t' << text(e, "n_up") << '\t' << text(e, "n_down") << '\t'
          << text(e, "mean_abs_log2fc") << '\t' << text(e, "top_up") << '\t' << text(e, "top_down") << '\n';
  const auto effects = out_dir / "effects.tsv";
  pg::write_atomically(effects, [&](const fs::path& tmp) {
    std::ofstream out(tmp);
    out << tsv.str();
    if (!out) throw pg::Error(effects.string(), "", "cannot be written");
  });

  // Shift vectors, clustered into programs (genes with expressing cells only).
  const auto G = static_cast<int64_t>(results.size());
  pg::analysis::Matrix shifts(G, T * d);
  std::vector<int64_t> clustered;
  pg::io::CellMatrix m;
  m.obs.index_name = "gene";
  pg::io::Column gene_id, n_cells, program;
  gene_id.name = "gene_id";
  n_cells.name = "n_cells";
  program.name = "program";
  gene_id.type = pg::io::ColumnType::String;
  gene_id.dtype = "str";
  n_cells.type = pg::io::ColumnType::Int;
  n_cells.dtype = "int64";
  std::vector<pg::io::Column> mean_shift(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) {
    mean_shift[static_cast<size_t>(t)].name = "mean_shift_" + first_times[t]["time_point"].get<std::string>();
    mean_shift[static_cast<size_t>(t)].type = pg::io::ColumnType::Float;
    mean_shift[static_cast<size_t>(t)].dtype = "float64";
  }
  for (int64_t i = 0; i < G; ++i) {
    const auto& r = results[static_cast<size_t>(i)];
    m.obs.index.push_back(r["gene"].get<std::string>());
    gene_id.strings.push_back(r["gene_id"].get<std::string>());
    n_cells.ints.push_back(r["times"][0]["n_cells"].get<int64_t>());
    for (int64_t t = 0; t < T; ++t) {
      const auto& e = r["times"][t];
      mean_shift[static_cast<size_t>(t)].floats.push_back(
          e.contains("mean_shift") ? finite_or_nan(e["mean_shift"].get<double>()) : std::nan(""));
      for (int64_t k = 0; k < d; ++k) shifts(i, t * d + k) = e["shift"][k].get<double>();
    }
    if (n_cells.ints.back() > 0) clustered.push_back(i);
  }
  std::vector<int> labels(static_cast<size_t>(G), -1);
  if (!clustered.empty()) {
    pg::analysis::Matrix rows(static_cast<int64_t>(clustered.size()), T * d);
    for (size_t i = 0; i < clustered.size(); ++i)
      rows.row(static_cast<int64_t>(i)) = shifts.row(clustered[i]);
    pg::analysis::ClusterOptions co;
    co.resolution = options.resolution;
    co.seed = options.perturb.generation.seed;
    co.n_neighbors = std::min<int64_t>(15, static_cast<int64_t>(clustered.size()));
    const auto found = pg::analysis::cluster_rows(rows, co);
    for (size_t i = 0; i < clustered.size(); ++i) labels[static_cast<size_t>(clustered[i])] = found[i];
  }
  program.type = pg::io::ColumnType::Categorical;
  program.dtype = "int16";
  program.categories_dtype = "str";
  int max_label = -1;
  for (int l : labels) max_label = std::max(max_label, l);
  for (int l = 0; l <= max_label; ++l) program.categories.push_back(std::to_string(l));
  for (int l : labels) program.codes.push_back(l);
  m.obs.columns = {gene_id, n_cells};
  for (auto& c : mean_shift) m.obs.columns.push_back(std::move(c));
  m.obs.columns.push_back(program);
  m.var.index_name = "feature";
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < d; ++k)
      m.var.index.push_back(first_times[t]["time_point"].get<std::string>() + ":" + std::to_string(k));
  m.X.n_rows = G;
  m.X.n_cols = T * d;
  m.X.storage = {"csr", "float32", "int32"};
  for (int64_t i = 0; i < G; ++i) {
    for (int64_t k = 0; k < T * d; ++k)
      if (shifts(i, k) != 0.0) {
        m.X.indices.push_back(static_cast<int32_t>(k));
        m.X.data.push_back(static_cast<float>(shifts(i, k)));
      }
    m.X.indptr.push_back(static_cast<int64_t>(m.X.data.size()));
  }
  m.uns["perturbgen_atlas"] = {
      {"time_points", T},
      {"d_model", d},
      {"mode", edit_mode_name(options.perturb.edit.mode)},
      {"validation", options.perturb.validation == Validation::generate ? "generate" : "inference"},
      {"genes_not_in_store", unknown},
      {"leiden_resolution", options.resolution}};
  pg::io::write_h5ad(m, (out_dir / "atlas.h5ad").string());
  const auto programs = out_dir / "programs.tsv";
  pg::write_atomically(programs, [&](const fs::path& tmp) {
    std::ofstream out(tmp);
    out << "gene\tgene_id\tprogram\n";
    for (int64_t i = 0; i < G; ++i)
      out << m.obs.index[static_cast<size_t>(i)] << '\t' << gene_id.strings[static_cast<size_t>(i)] << '\t'
          << (labels[static_cast<size_t>(i)] < 0 ? std::string("NA")
                                                 : std::to_string(labels[static_cast<size_t>(i)]))
          << '\n';
    if (!out) throw pg::Error(programs.string(), "", "cannot be written");
  });
  return true;
}

}  // namespace pg::perturb
