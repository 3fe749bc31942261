// perturbgen programs: gene programs from the contextual gene embeddings of
// `perturbgen embed` (spec §7): the (gene, condition) embedding vectors are
// clustered as scanpy's pca + neighbors + leiden would, and every cell is
// scored for each program as sc.tl.score_genes does. Outputs in OUT_DIR:
//   programs.tsv          gene_id, gene_name (when var has names), condition, program
//   program_scores.h5ad   the input cells (X, obs, var, obsm, uns; not varm)
//                         with one obs column program_<k> per scored program
// The clustering is in src/analysis/gene_programs.h, the scores in score_genes.h.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "analysis/gene_programs.h"
#include "analysis/score_genes.h"
#include "cli/commands.h"
#include "core/atomic_file.h"
#include "core/error.h"
#include "io/formats.h"

namespace pg::cli {

namespace {

struct ProgramsOptions {
  std::string input, out_dir, conditions;
  int64_t n_pcs = 50;
  int64_t neighbors = 15;
  double resolution = 1.0;
  uint64_t seed = 0;
  int64_t min_genes = 5;
};

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream s(text);
  std::string item;
  while (std::getline(s, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

void write_text_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  if (!out) throw Error(path.string(), "", "cannot create the file");
  out << text;
  out.close();
  if (!out) throw Error(path.string(), "", "write failed (disk full?)");
}

std::string programs_tsv(const io::CellMatrix& embed, const analysis::GenePrograms& programs) {
  const io::Column* names = analysis::gene_name_column(embed.var);
  std::string text = names ? "gene_id\tgene_name\tcondition\tprogram\n" : "gene_id\tcondition\tprogram\n";
  for (const auto& r : programs.rows) {
    text += embed.var.index[static_cast<size_t>(r.gene)];
    if (names) text += "\t" + names->text(static_cast<size_t>(r.gene));
    text += "\t" + r.condition + "\t" + std::to_string(r.program) + "\n";
  }
  return text;
}

void run(const ProgramsOptions& o) {
  const io::CellMatrix embed = io::read_any(o.input);
  const auto keys = analysis::gene_embedding_keys(embed, o.input, split_commas(o.conditions));
  analysis::ClusterOptions co;
  co.n_pcs = o.n_pcs;
  co.n_neighbors = o.neighbors;
  co.resolution = o.resolution;
  co.seed = o.seed;
  const auto programs = analysis::find_gene_programs(embed, o.input, keys, co);

  // Programs with at least --min-genes genes are scored on normalize_total + log1p of X.
  std::vector<size_t> scored;
  std::vector<std::vector<int64_t>> sets;
  for (size_t p = 0; p < programs.genes.size(); ++p)
    if (static_cast<int64_t>(programs.genes[p].size()) >= o.min_genes) {
      scored.push_back(p);
      sets.push_back(programs.genes[p]);
    }
  if (!embed.has_x && !sets.empty()) throw Error(o.input, "X", "is absent: cells cannot be scored");
  analysis::ScoreGenesOptions so;
  so.seed = o.seed;
  const analysis::Matrix scores = sets.empty()
                                      ? analysis::Matrix(embed.n_cells(), 0)
                                      : analysis::score_gene_sets_on_counts(embed.X, sets, o.input, so);

  io::CellMatrix out = embed;
  out.varm.clear();
  for (size_t s = 0; s < scored.size(); ++s) {
    io::Column c;
    c.name = "program_" + std::to_string(scored[s]);
    c.type = io::ColumnType::Float;
    c.dtype = "float64";
    c.floats.assign(scores.col(static_cast<Eigen::Index>(s)).data(),
                    scores.col(static_cast<Eigen::Index>(s)).data() + scores.rows());
    if (io::Column* old = out.obs.find(c.name))
      *old = std::move(c);
    else
      out.obs.columns.push_back(std::move(c));
  }
  nlohmann::json sizes = nlohmann::json::array(), scored_json = nlohmann::json::array();
  for (const auto& g : programs.genes) sizes.push_back(static_cast<int64_t>(g.size()));
  for (const size_t p : scored) scored_json.push_back(static_cast<int64_t>(p));
  out.uns["perturbgen_programs"] = {{"conditions", keys},
                                    {"n_pcs", o.n_pcs},
                                    {"n_neighbors", o.neighbors},
                                    {"resolution", o.resolution},
                                    {"seed", o.seed},
                                    {"min_genes", o.min_genes},
                                    {"program_genes", sizes},
                                    {"scored_programs", scored_json}};

  const std::filesystem::path dir(o.out_dir);
  std::filesystem::create_directories(dir);
  const std::vector<std::filesystem::path> inputs = {o.input};
  const std::string tsv = programs_tsv(embed, programs);
  write_atomically(
      dir / "programs.tsv", [&](const std::filesystem::path& tmp) { write_text_file(tmp, tsv); }, inputs);
  write_atomically(
      dir / "program_scores.h5ad",
      [&](const std::filesystem::path& tmp) { io::write_h5ad(out, tmp.string()); }, inputs);

  std::cout << programs.rows.size() << " (gene, condition) embeddings over " << keys.size()
            << (keys.size() == 1 ? " condition" : " conditions") << " (" << programs.dropped_zero_rows
            << " all-zero dropped) -> " << programs.genes.size() << " programs\n";
  for (size_t p = 0; p < programs.genes.size(); ++p) {
    int64_t n_rows = 0;
    for (const auto& r : programs.rows) n_rows += r.program == static_cast<int>(p);
    std::cout << "  program_" << p << ": " << programs.genes[p].size() << " genes (" << n_rows << " rows)"
              << (static_cast<int64_t>(programs.genes[p].size()) >= o.min_genes ? "" : ", not scored")
              << "\n";
  }
  std::cout << "Wrote " << (dir / "programs.tsv").string() << " and "
            << (dir / "program_scores.h5ad").string() << " (" << scored.size()
            << " program scores per cell).\n";
}

}  // namespace

void add_programs(CLI::App& app) {
  auto opt = std::make_shared<ProgramsOptions>();
  CLI::App* cmd = app.add_subcommand("programs",
                                     "Gene programs: cluster the gene embeddings of `perturbgen embed` "
                                     "(Leiden) and score every cell for each");
  cmd->add_option("input", opt->input,
                  "EMBED.h5ad: X counts, varm one gene embedding (genes x d) per condition, "
                  "uns perturbgen/gene_embedding_keys")
      ->required();
  cmd->add_option("-o,--output", opt->out_dir, "Output folder: programs.tsv, program_scores.h5ad")
      ->required();
  cmd->add_option("--n-pcs", opt->n_pcs,
                  "Principal components before the neighbour graph (when d is larger; 0: none)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--neighbors", opt->neighbors,
                  "Neighbours per embedding, itself included (scanpy's n_neighbors)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--resolution", opt->resolution, "Leiden resolution: larger gives more, smaller programs")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", opt->seed, "Seed of the PCA, Leiden and the control-gene draw");
  cmd->add_option("--min-genes", opt->min_genes, "Programs with fewer genes are listed but not scored")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--conditions", opt->conditions,
                  "C1,C2,...: varm keys to use (default: uns perturbgen/gene_embedding_keys, else all varm)");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace pg::cli
