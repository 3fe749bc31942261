#include "tokenise/tokenise.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <thread>

#include "core/error.h"
#include "core/process.h"
#include "core/version.h"
#include "store/store_writer.h"
#include "tokenise/cell_encoder.h"
#include "tokenise/cell_scan.h"
#include "tokenise/gene_ids.h"
#include "tokenise/gene_selection.h"
#include "tokenise/ot_features.h"
#include "tokenise/vocabulary.h"

namespace pg::tokenise {

namespace {

std::string percent(int64_t part, int64_t whole) {
  std::ostringstream s;
  s.precision(3);
  s << (whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0) << "%";
  return s.str();
}

void check_options(const TokeniseOptions& opt) {
  const auto bad = [&](const std::string& what, const std::string& why) {
    throw Error(opt.input, what, why);
  };
  if (opt.time_key.empty()) bad("--time-key", "is required (the obs column holding the time point / state)");
  if (opt.time_order.size() < 2) bad("--time-order", "needs at least two states (a source and a target)");
  for (size_t i = 0; i < opt.time_order.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (opt.time_order[i] == opt.time_order[j])
        bad("--time-order", "state '" + opt.time_order[i] + "' is listed twice");
    }
  }
  if (!opt.source.empty() &&
      std::find(opt.time_order.begin(), opt.time_order.end(), opt.source) == opt.time_order.end()) {
    bad("--source", "state '" + opt.source + "' is not in --time-order");
  }
  if (opt.genes == GeneFilter::Hvg && opt.n_hvg <= 0) bad("--n-hvg", "must be positive");
  if (opt.model_input_size < 3) bad("--model-input-size", "must be at least 3 (<cls>, one gene, <eos>)");
  const PairingMode mode = opt.pairing.mode;
  if ((mode == PairingMode::Stratified || mode == PairingMode::Mapping) && opt.group_keys.empty()) {
    bad("--group-key", "is required for " + std::string(to_string(mode)) + " pairing");
  }
  if (mode == PairingMode::Lineage && opt.pairing.lineage_key.empty())
    bad("--lineage-key", "is required for lineage pairing (the obs column with each cell's lineage/clone)");
  if ((mode == PairingMode::Lineage || mode == PairingMode::Ot) &&
      opt.pairing.anchor != PairingOptions::Anchor::Source)
    bad("--pairing-anchor", "'largest' applies to random, stratified and mapping pairing only");
  if (mode == PairingMode::Ot) {
    const PairingOptions& p = opt.pairing;
    if (!(p.ot_epsilon > 0) || !std::isfinite(p.ot_epsilon)) bad("--ot-epsilon", "must be a number > 0");
    if (!(p.ot_unbalanced >= 0) || !std::isfinite(p.ot_unbalanced))
      bad("--ot-unbalanced", "must be a number >= 0 (0 = balanced)");
    if (p.ot_components < 1) bad("--ot-components", "must be at least 1");
    if (p.ot_genes < 1) bad("--ot-genes", "must be at least 1");
    if (p.ot_max_cells < 2) bad("--ot-max-cells", "must be at least 2");
  }
  if (opt.output.empty()) bad("-o", "an output store folder is required");
  if (std::filesystem::exists(opt.output) && !opt.overwrite) {
    throw Error(opt.output, "",
                "already exists; pass --overwrite to replace it (only a token store is replaced)");
  }
}

// A state listed in --time-order without cells is almost always a typo: say which labels exist.
void check_states(const TokeniseOptions& opt, const ScanResult& scan) {
  for (size_t s = 0; s < opt.time_order.size(); ++s) {
    if (scan.cells_per_state[s] > 0) continue;
    std::string have;
    for (const auto& [label, n] : scan.time_labels) {
      if (have.size() > 300) {
        have += ", ...";
        break;
      }
      have += (have.empty() ? "" : ", ") + label + " (" + std::to_string(n) + ")";
    }
    const bool listed = scan.time_labels.count(opt.time_order[s]) != 0;
    throw Error(opt.input, "obs/" + opt.time_key,
                "state '" + opt.time_order[s] + "' has no " + (listed ? "usable " : "") + "cells" +
                    (listed ? " after the cell filters" : "") + "; the column holds: " + have);
  }
}

}  // namespace

TokeniseResult tokenise(const TokeniseOptions& opt_in) {
  TokeniseOptions opt = opt_in;
  check_options(opt);
  if (opt.source.empty()) opt.source = opt.time_order.front();
  // Grouping columns are carried into the store too: later stages condition
  // and stratify on them.
  std::vector<std::string> carried_keys = opt.group_keys;
  if (!opt.pairing.lineage_key.empty()) carried_keys.push_back(opt.pairing.lineage_key);
  for (const auto& key : carried_keys) {
    if (std::find(opt.obs_keys.begin(), opt.obs_keys.end(), key) == opt.obs_keys.end())
      opt.obs_keys.push_back(key);
  }
  if (opt.threads <= 0) opt.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  TokeniseResult result;
  auto& report = result.report;

  // Seconds per stage, reported in the store and by the benchmark.
  nlohmann::json seconds = nlohmann::json::object();
  auto lap = std::chrono::steady_clock::now();
  const auto stage_done = [&](const char* name) {
    const auto now = std::chrono::steady_clock::now();
    seconds[name] = std::chrono::duration<double>(now - lap).count();
    lap = now;
  };

  // 1. Header and vocabulary.
  const ChunkedInput input(opt.input, opt.layer);
  if (input.n_cells() == 0) throw Error(opt.input, input.matrix_name(), "the file has no cells");
  (void)input.read(0, 0, obs_columns_needed(opt));  // missing obs columns fail here, before the long scan

  GeneIdOptions id_opt;
  id_opt.gene_key = opt.gene_key;
  id_opt.reference_exact = opt.reference_gene_filter;
  Vocabulary vocab;
  GeneResolution resolution;
  bool dataset_vocab = opt.vocab == VocabChoice::Dataset;
  if (!dataset_vocab) {
    vocab = opt.vocab_dir.empty() ? load_gc95m() : load_vocabulary(opt.vocab_dir);
    resolution = resolve_genes(input.var(), vocab, id_opt, opt.input);
    if (opt.vocab == VocabChoice::Auto && resolution.non_human_symbols) {
      result.warnings.push_back(
          "gene names look like mouse/rat symbols: using a dataset vocabulary with medians "
          "from the data (--vocab gc95M to map them to human genes by name)");
      dataset_vocab = true;
    } else if (resolution.n_mapped < std::min<int64_t>(opt.min_mapped_genes, input.n_genes())) {
      const std::string numbers = std::to_string(resolution.n_mapped) + " of " +
                                  std::to_string(input.n_genes()) + " genes (" +
                                  percent(resolution.n_mapped, input.n_genes()) + ") map to " + vocab.name;
      if (opt.vocab == VocabChoice::Gc95M) {
        throw Error(opt.input, "var",
                    "only " + numbers + " (fewer than --min-mapped-genes " +
                        std::to_string(opt.min_mapped_genes) +
                        "); not human Ensembl IDs or symbols? use --vocab dataset");
      }
      result.warnings.push_back("only " + numbers +
                                ": using a dataset vocabulary with medians from the data");
      dataset_vocab = true;
    }
  }

  stage_done("header_and_vocabulary");

  // 2. Scan.
  ScanRequest req;
  req.hvg = opt.genes == GeneFilter::Hvg;
  if (req.hvg && !dataset_vocab && opt.hvg_stage == HvgStage::AfterVocabulary) {
    req.hvg_columns.resize(static_cast<size_t>(input.n_genes()));
    for (size_t g = 0; g < req.hvg_columns.size(); ++g)
      req.hvg_columns[g] = resolution.token_of_column[g] >= 0;
  }
  req.medians = dataset_vocab;
  ScanResult scan = scan_cells(input, opt, req);
  check_states(opt, scan);
  if (scan.non_integer_values > 0 && !opt.allow_non_integer) {
    result.warnings.push_back(std::to_string(scan.non_integer_values) +
                              " stored values are not integers (first: " + scan.first_non_integer +
                              "): " + input.matrix_name() +
                              " does not look like raw counts; pass --layer with the counts, or "
                              "--allow-non-integer if normalised input is intended");
  }

  stage_done("scan");

  // 3. Genes.
  std::vector<int64_t> hvg_genes;
  nlohmann::json hvg_report;
  if (req.hvg) {
    HvgOptions hopt;
    hopt.n_top_genes = opt.n_hvg;
    // scanpy breaks exact ties by var name.
    for (size_t g = 0; g < static_cast<size_t>(input.n_genes()); ++g) {
      if (req.hvg_columns.empty() || req.hvg_columns[g]) hopt.gene_names.push_back(input.var().index[g]);
    }
    const HvgResult hvg = select_hvg_seurat(*scan.hvg, hopt);
    std::vector<int64_t> column_of;  // HVG gene -> input column when HVGs saw a subset
    for (size_t c = 0; c < req.hvg_columns.size(); ++c) {
      if (req.hvg_columns[c]) column_of.push_back(static_cast<int64_t>(c));
    }
    for (int64_t g : hvg.selected)
      hvg_genes.push_back(column_of.empty() ? g : column_of[static_cast<size_t>(g)]);
    hvg_report = {
        {"flavor", "seurat"},
        {"batch_key", opt.time_key},
        {"n_top_genes", opt.n_hvg},
        {"chosen", hvg_genes.size()},
        {"stage", opt.hvg_stage == HvgStage::BeforeVocabulary ? "before_vocabulary" : "after_vocabulary"}};
  }
  const GeneSelection selection =
      select_genes(opt, input.var(), opt.input, scan.gene_cells, req.hvg ? &hvg_genes : nullptr);

  GenePlan plan;
  plan.in_library = selection.selected;
  plan.slot_of_column.assign(static_cast<size_t>(input.n_genes()), -1);
  std::vector<store::GeneRow> gene_rows;
  const auto symbols = gene_symbols(input.var());
  if (dataset_vocab) {
    // Species-agnostic: the selected genes themselves are the vocabulary, in
    // var order; duplicate names are summed into their first column's gene.
    const auto medians = scan.medians->medians();
    std::vector<std::string> names;
    std::vector<double> gene_medians;
    std::unordered_map<std::string, int32_t> slot_of_name;
    int64_t never_expressed = 0;
    for (size_t g = 0; g < selection.selected.size(); ++g) {
      if (!selection.selected[g]) continue;
      const std::string& name = input.var().index[g];
      auto it = slot_of_name.find(name);
      if (it != slot_of_name.end()) {
        plan.slot_of_column[g] = it->second;
        continue;
      }
      if (!std::isfinite(medians[g]) || medians[g] <= 0) {
        ++never_expressed;  // no cell expresses it: nothing to rank
        continue;
      }
      const auto slot = static_cast<int32_t>(names.size());
      slot_of_name.emplace(name, slot);
      plan.slot_of_column[g] = slot;
      names.push_back(name);
      gene_medians.push_back(medians[g]);
    }
    vocab = dataset_vocabulary(names, gene_medians);
    for (size_t s = 0; s < names.size(); ++s)
      plan.token_of_slot.push_back(static_cast<int32_t>(s) + kNumSpecials);
    resolution = resolve_names(names, vocab, id_opt, "selected genes");
    report["dataset_vocabulary"] = {{"genes", names.size()},
                                    {"never_expressed_dropped", never_expressed},
                                    {"medians", scan.medians->exact() ? "exact" : "t-digest"}};
  } else {
    std::unordered_map<int32_t, int32_t> slot_of_token;
    for (size_t g = 0; g < selection.selected.size(); ++g) {
      const int32_t token = resolution.token_of_column[g];
      if (!selection.selected[g] || token < 0) continue;
      auto [it, inserted] = slot_of_token.try_emplace(token, static_cast<int32_t>(plan.token_of_slot.size()));
      if (inserted) plan.token_of_slot.push_back(token);
      plan.slot_of_column[g] = it->second;
    }
  }
  plan.median_of_token = vocab.median;
  if (plan.token_of_slot.empty()) {
    throw Error(opt.input, "var", "none of the selected genes is in the vocabulary '" + vocab.name + "'");
  }
  std::vector<std::string> slot_name(plan.token_of_slot.size());
  for (size_t g = selection.selected.size(); g-- > 0;) {
    if (plan.slot_of_column[g] >= 0) slot_name[static_cast<size_t>(plan.slot_of_column[g])] = symbols[g];
  }
  for (size_t s = 0; s < plan.token_of_slot.size(); ++s) {
    const int32_t token = plan.token_of_slot[s];
    gene_rows.push_back(store::GeneRow{vocab.tokens[static_cast<size_t>(token)], slot_name[s], token,
                                       static_cast<int64_t>(s) + kNumSpecials});
  }

  stage_done("gene_selection");

  // 4. Pairing (cell indices = store order).
  PairingInput pin;
  pin.states = opt.time_order;
  pin.source = static_cast<int32_t>(std::find(opt.time_order.begin(), opt.time_order.end(), opt.source) -
                                    opt.time_order.begin());
  pin.cell_state = std::move(scan.state);  // lent to the pairing, taken back below
  pin.cell_group = std::move(scan.group);
  pin.group_names = scan.groups.labels();
  pin.cell_subgroup = std::move(scan.subgroup);
  pin.subgroup_names = scan.subgroups.labels();
  pin.input_name = opt.input;
  pin.state_column = opt.time_key;
  pin.group_column = opt.group_keys.empty() ? "" : opt.group_keys.front();
  pin.cell_lineage = std::move(scan.lineage);
  pin.lineage_names = scan.lineages.labels();
  pin.lineage_column = opt.pairing.lineage_key;
  if (opt.pairing.mode == PairingMode::Ot) {
    // One more pass: the expression of the cells the couplings see.
    pin.ot_cells = ot_sample_cells(pin, opt.pairing);
    const auto genes = ot_feature_genes(plan.slot_of_column, scan.gene_cells, opt.pairing.ot_genes);
    pin.ot_n_genes = static_cast<int64_t>(genes.size());
    pin.ot_expression =
        ot_features(input, opt.chunk_cells, obs_columns_needed(opt), scan.used, pin.ot_cells, genes);
    stage_done("ot_expression");
  }
  Pairing pairing = pair_cells(pin, opt.pairing);
  for (const auto& c : pairing.couplings) {
    if (!c.converged)
      result.warnings.push_back(
          "the OT coupling " + c.from + " -> " + c.to + " stopped after " + std::to_string(c.iterations) +
          " Sinkhorn iterations before converging; a larger --ot-epsilon converges faster");
  }
  scan.state = std::move(pin.cell_state);
  pin = PairingInput{};

  stage_done("pairing");

  // 5. Encode into the store.
  store::StoreSchema schema;
  schema.vocab_size = vocab.size();
  schema.n_count_genes = static_cast<int64_t>(gene_rows.size());
  schema.states = opt.time_order;
  schema.cells_per_shard = opt.cells_per_shard;
  schema.max_shard_bytes = int64_t{64} << 20;  // the writer's buffer, whatever the cell sizes
  schema.vocabulary_name = vocab.name;
  schema.vocabulary_hash = vocab.hash();
  for (const auto& c : scan.carried) {
    schema.obs.push_back(store::ObsColumnSpec{
        c.name, c.numeric ? store::ObsColumnSpec::Kind::Float : store::ObsColumnSpec::Kind::Categorical,
        c.numeric ? std::vector<std::string>{} : c.codes.labels()});
  }
  store::StoreWriter writer(opt.output, schema, gene_rows);
  RankOptions rank;
  rank.model_input_size = opt.model_input_size;
  const CellEncoder encoder(plan, rank, scan.carried, opt.threads);
  size_t next = 0;  // next used cell
  int64_t tokens_written = 0, truncated = 0;
  store::CellBatch batch;
  for_each_chunk(input, opt.chunk_cells, obs_columns_needed(opt),
                 [&](int64_t first, const io::CellMatrix& chunk) {
                   ChunkCells cells;
                   const int64_t end = first + chunk.n_cells();
                   for (int64_t row = first; row < end; ++row) {
                     if (!scan.used[static_cast<size_t>(row)]) continue;
                     cells.rows.push_back(row - first);
                     cells.states.push_back(scan.state[next++]);
                   }
                   if (cells.rows.empty()) return;
                   encoder.encode(chunk, cells, batch);
                   tokens_written += static_cast<int64_t>(batch.tokens.size());
                   for (size_t i = 0; i + 1 < batch.token_offsets.size(); ++i) {
                     truncated += static_cast<int64_t>(batch.token_offsets[i + 1] - batch.token_offsets[i]) ==
                                  opt.model_input_size;
                   }
                   writer.append(batch);
                 });

  report["pairing"] = pairing.summary();
  store::PairingTable table;
  table.columns = pairing.columns;
  table.n_rows = pairing.n_rows;
  table.cells = std::move(pairing.cells);
  writer.set_pairing(std::move(table));

  const auto n_used = static_cast<int64_t>(scan.state.size());
  nlohmann::json states = nlohmann::json::object();
  for (size_t s = 0; s < opt.time_order.size(); ++s) states[opt.time_order[s]] = scan.cells_per_state[s];
  report["input"] = {{"file", opt.input},
                     {"matrix", input.matrix_name()},
                     {"cells", input.n_cells()},
                     {"genes", input.n_genes()},
                     {"streamed", input.streams()}};
  report["cells"] = {{"used", n_used},
                     {"not_in_time_order", scan.not_in_time_order},
                     {"below_min_genes", scan.too_few_genes},
                     {"per_state", states},
                     {"non_integer_values", scan.non_integer_values},
                     {"max_value", scan.max_value}};
  report["time"] = {{"key", opt.time_key}, {"order", opt.time_order}, {"source", opt.source}};
  report["genes"] = selection.report();
  report["genes"]["count_head_genes"] = gene_rows.size();
  if (!hvg_report.is_null()) report["genes"]["hvg"] = hvg_report;
  // Per-gene detail (unmapped names, collapsed groups) lives in gene_report.tsv.
  report["gene_ids"] = resolution.report();
  report["gene_ids"].erase("unmapped");
  report["gene_ids"].erase("collapsed");
  report["gene_ids"]["details"] = "gene_report.tsv";
  report["vocabulary"] = {{"name", vocab.name},
                          {"hash", vocab.hash()},
                          {"size", vocab.size()},
                          {"files_sha256", vocab.file_sha256}};
  report["sentences"] = {
      {"model_input_size", opt.model_input_size},
      {"tokens", tokens_written},
      {"mean_length", n_used ? static_cast<double>(tokens_written) / static_cast<double>(n_used) : 0},
      {"truncated_cells", truncated},
      {"tie_break", "token id ascending"}};
  report["tool"] = {{"name", "perturbgen"}, {"version", PERTURBGEN_VERSION}};
  stage_done("encode");
  report["resources"] = {{"threads", opt.threads},
                         {"seconds", seconds},
                         {"chunk_cells", opt.chunk_cells},
                         {"peak_rss_mib", static_cast<double>(peak_rss_bytes()) / (1024.0 * 1024.0)}};
  writer.add_file("gene_report.tsv", resolution.report_tsv());
  writer.finish(report);

  std::ostringstream s;
  s << "tokenised " << n_used << " of " << input.n_cells() << " cells of " << opt.input << " into "
    << opt.output << "\n  vocabulary " << vocab.name << " (" << vocab.size() << " tokens, hash "
    << vocab.hash().substr(0, 12) << "), " << gene_rows.size() << " count-head genes of "
    << selection.n_selected << " selected (" << input.n_genes() << " in the file; " << resolution.n_mapped
    << " mapped, " << resolution.n_unmapped << " unmapped, " << resolution.n_collapsed
    << " collapsed)\n  states:";
  for (size_t st = 0; st < opt.time_order.size(); ++st) {
    s << " " << opt.time_order[st] << "=" << scan.cells_per_state[st]
      << (opt.time_order[st] == opt.source ? "*" : "");
  }
  s << "\n  sentences: mean length " << report["sentences"]["mean_length"].get<double>() << ", " << truncated
    << " truncated at " << opt.model_input_size << "\n  pairing " << to_string(opt.pairing.mode) << ": "
    << pairing.n_rows << " rows x " << pairing.columns.size() << " states";
  if (opt.pairing.mode == PairingMode::Lineage) {
    s << " (" << pairing.lineage.lineages_paired << " lineages; " << pairing.dropped_groups.size()
      << " dropped with " << pairing.lineage.rows_dropped << " rows; "
      << pairing.lineage.source_without_lineage << " source cells without " << opt.pairing.lineage_key << ")";
  }
  s << "\n";
  for (const auto& c : pairing.couplings) {
    s << "    " << c.from << " -> " << c.to << ": entropy " << c.mean_entropy << " nats, "
      << c.effective_targets << " effective targets, " << c.distinct_targets << " distinct drawn, mass "
      << c.mass;
    if (c.same_lineage >= 0)
      s << ", same " << opt.pairing.lineage_key << " " << c.same_lineage << " (plan mass "
        << c.same_lineage_mass << ")";
    s << "\n";
  }
  result.summary = s.str();
  return result;
}

}  // namespace pg::tokenise
