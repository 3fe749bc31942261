// In-silico perturbation as an edit of a cell's sentence (spec §6.2).
//
// A sentence is one row of token ids, right-padded with 0. A source row is
// <cls> genes... <eos> in the source vocabulary; a target row is count-head
// row ids, optionally led by condition tokens. `prefix` is the number of
// leading tokens an edit never moves (1 for a source's <cls>, the number of
// condition tokens for a target).
//
//   mask         every perturbed token -> <mask> (1), in place
//   pad          -> <pad> (0) in place: a hole the attention masks out
//   del          removed; the genes below move up one rank
//   overexpress  removed, then inserted in the given order right after the
//                prefix: the genes go to rank 1
//   down / up    the gene's rank moves down (toward the end) / up by
//                `shift` of the sentence's gene count, the graded knock-down
//                and activation (Geneformer's inhibit/activate) the
//                reference lacks
//
// Rules: `reference` reproduces the reference's outputs exactly
// (golden/perturb_edits.json), including its overexpress quirk of dropping
// the last |P| columns whatever they hold — <eos> and real genes of a
// full-width row. `corrected` (the default) keeps <eos> and, when the row
// is full, drops its lowest-ranked genes instead; the row may then need
// |P| more columns than before, up to `max_width`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pg::perturb {

enum class EditMode { mask, pad, del, overexpress, down, up };
enum class EditRules { corrected, reference };

inline constexpr int64_t kPadToken = 0;
inline constexpr int64_t kMaskToken = 1;
inline constexpr int64_t kEosToken = 3;

struct Edit {
  EditMode mode = EditMode::mask;
  std::vector<int64_t> tokens;  // the perturbed token ids, in the user's order
  double shift = 0.25;          // down/up: fraction of the sentence's genes
  EditRules rules = EditRules::corrected;
};

// "mask|pad|delete|overexpress|down|up" (pg::Error naming --mode otherwise).
EditMode parse_edit_mode(const std::string& s);
std::string edit_mode_name(EditMode mode);

// The reference's cell filter (spec §6.3): mask/pad/delete (and down/up)
// keep a row only if it holds at least one perturbed token; overexpress
// keeps every row.
bool row_is_perturbable(const std::vector<int64_t>& row, const Edit& edit);

// The edited row. `has_eos`: a source sentence, whose last gene is followed
// by <eos> unless truncation removed it.
// The result has the row's width, or for corrected overexpress up to
// max(width, min(max_width, tokens needed)); `max_width` 0 = the row's width.
std::vector<int64_t> edit_row(const std::vector<int64_t>& row, const Edit& edit, int64_t prefix, bool has_eos,
                              int64_t max_width = 0);

}  // namespace pg::perturb
