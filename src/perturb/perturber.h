// In-silico perturbation of the paired cells of a token store (spec §6): the
// same cells run twice, once as observed (control) and once with an edited
// sentence (edits.h), and what changes at every later time point is compared.
//
//   inference  the reference's published setting: both passes teacher-forced
//              on the observed target cells; the edit acts through the
//              source encoding (and, for target edits, the edited targets)
//   generate   (default) the later time points generated from the control and
//              from the edited source (spec §5) with the same random draws
//              (keyed by seed, time and pairing row), so the difference is
//              the perturbation's effect, not sampling noise
//
// Cells whose sentence lacks every perturbed gene are skipped and counted
// (mask/pad/delete/down/up; overexpress keeps every cell), as the reference does.
#pragma once

#include <torch/torch.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "generate/generator.h"
#include "model/model_dir.h"
#include "perturb/edits.h"
#include "store/token_store.h"

namespace pg::perturb {

enum class Sequence { source, target };
enum class Validation { generate, inference };

Sequence parse_sequence(const std::string& s);      // "source|target" (also "src|tgt")
Validation parse_validation(const std::string& s);  // "generate|inference"

// The user's genes (symbols or Ensembl ids, any version suffix) resolved
// against the store's count genes, in the given order.
struct PerturbedGenes {
  std::vector<std::string> names;   // as the user wrote them
  std::vector<int64_t> genes;       // store gene index
  std::vector<int64_t> src_tokens;  // source vocabulary ids
  std::vector<int64_t> row_ids;     // target / count-head ids (gene + 4)
};
// The store's count genes by Ensembl id (version suffix ignored) or symbol
// (case-insensitive), indexed once for long gene lists.
class GeneLookup {
 public:
  explicit GeneLookup(const pg::store::TokenStore& store);
  int64_t find(const std::string& name) const;  // store gene index, -1 if unknown

 private:
  std::map<std::string, int64_t> by_id_, by_name_;
};
// pg::Error naming the unknown (or repeated) gene otherwise.
PerturbedGenes resolve_genes(const pg::store::TokenStore& store, const std::vector<std::string>& names);
PerturbedGenes resolve_genes(const pg::store::TokenStore& store, const GeneLookup& lookup,
                             const std::vector<std::string>& names);

// A gene list file: one gene per line; anything after a tab, space, comma
// or '#' is ignored, empty lines skipped. pg::Error if unreadable or empty.
std::vector<std::string> read_gene_list(const std::string& file);

struct PerturbOptions {
  Edit edit;  // mode, shift, rules; tokens are filled from the genes
  Sequence on = Sequence::source;
  std::vector<int64_t> edit_times;  // target edits: the times edited (empty: every time generated)
  Validation validation = Validation::generate;
  // Times, rows, seed, batch size, counts mode, MaskGIT settings, bf16.
  pg::generate::GenerateOptions generation;
  // Rows whose sentence lacks every perturbed gene are run too (their edit
  // changes nothing at the source) instead of skipped: a population-level
  // comparison needs every cell.
  bool keep_all_rows = false;
  // Source edits in generate mode: the perturbed genes are never generated at
  // any later time point (a permanent knock-out), and their counts are 0.
  bool absent_later = false;
  // The control pass is the same for every perturbation of one Perturber
  // (same cells, seed and options): compute it once and reuse it (generate
  // mode with keep_all_rows, where every run covers the same rows).
  bool reuse_control = false;
};

// One time point's results, one row per kept cell (PerturbResult::rows order).
struct PerturbTime {
  torch::Tensor control_embedding, perturbed_embedding;  // (n, d) mean embeddings
  torch::Tensor cosine;                                  // (n) cos(perturbed, control) embedding
  torch::Tensor gene_cosine;                             // (n, G) per gene, 0 where absent
  torch::Tensor gene_present;                            // (n, G) bool: the gene in both passes
  torch::Tensor control_counts, perturbed_counts;        // (n, G), undefined without a count head
  torch::Tensor true_counts;                             // (n, G) the paired observed cell
  std::vector<int64_t> target_cells;
};

struct PerturbResult {
  std::vector<int64_t> rows, source_cells;  // kept pairing rows
  int64_t candidates = 0;                   // rows considered
  int64_t skipped = 0;                      // rows lacking every perturbed gene
  int64_t beyond_positions = 0;             // of those, rows holding one below the encoder's positions
  std::map<int64_t, PerturbTime> times;
};

// The reference's cosine (torch cosine_similarity, eps 1e-8) along the last dim.
torch::Tensor cosine(const torch::Tensor& a, const torch::Tensor& b);

// Per-gene cosines between two passes' hidden states, genes matched by token
// identity (so deletions and insertions realign). ids: (B, L) row ids;
// returns (gene_cosine (B, G), present (B, G)).
std::pair<torch::Tensor, torch::Tensor> gene_cosines(const torch::Tensor& control_ids,
                                                     const torch::Tensor& control_hidden,
                                                     const torch::Tensor& perturbed_ids,
                                                     const torch::Tensor& perturbed_hidden, int64_t n_genes);

// One pass over a batch, per time: what the comparison needs.
struct PassOutput {
  torch::Tensor ids;        // (B, L) target ids the decoder read (teacher-forced) or generated
  torch::Tensor hidden;     // (B, L, d) final hidden states
  torch::Tensor embedding;  // (B, d) mean embedding
  torch::Tensor counts;     // (B, G) predicted counts (undefined without a count head)
};

// The teacher-forced pass of a batch (already on the model's device) for
// `times`; `excluded` ids leave the mean embedding; counts per `counts` mode.
std::map<int64_t, PassOutput> teacher_forced(pg::model::PerturbGenModelImpl& model,
                                             const pg::model::ModelBatch& batch,
                                             const std::vector<int64_t>& times,
                                             const std::set<int64_t>& excluded,
                                             pg::generate::CountOutput counts, uint64_t seed,
                                             const std::vector<int64_t>& rows);

// Control vs perturbed at one time, appended to `into` (CPU, float32).
void compare_passes(const PassOutput& control, const PassOutput& perturbed, int64_t n_genes,
                    PerturbTime& into);

// Every row of a (B, L) id tensor edited (edits.h), padded to the longest result.
torch::Tensor edit_rows(const torch::Tensor& ids, const Edit& edit, int64_t prefix, bool has_eos,
                        int64_t max_width);

class Perturber {
 public:
  Perturber(pg::model::PerturbGenModelImpl& model, const pg::model::ModelMeta& meta,
            const pg::store::TokenStore& store, PerturbOptions options);
  ~Perturber();
  // Runs one perturbation of `genes` over the selected cells.
  PerturbResult run(const PerturbedGenes& genes);
  // The edit (and absent_later) of the next run()s, e.g. a knock-out then a
  // knock-down of the same cells; a reused control pass stays valid.
  void set_edit(const Edit& edit, bool absent_later);
  const std::vector<int64_t>& times() const;

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace pg::perturb
