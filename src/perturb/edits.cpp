#include "perturb/edits.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace pg::perturb {

namespace {

bool perturbed(int64_t token, const Edit& edit) {
  return std::find(edit.tokens.begin(), edit.tokens.end(), token) != edit.tokens.end();
}

// The genes of a row after its prefix: no padding, no <eos>.
std::vector<int64_t> genes_of(const std::vector<int64_t>& row, int64_t prefix, bool has_eos) {
  std::vector<int64_t> genes;
  for (size_t j = static_cast<size_t>(prefix); j < row.size(); ++j) {
    if (row[j] == kPadToken || (has_eos && row[j] == kEosToken)) continue;
    genes.push_back(row[j]);
  }
  return genes;
}

std::vector<int64_t> assemble(const std::vector<int64_t>& row, int64_t prefix,
                              const std::vector<int64_t>& genes, bool has_eos, size_t width) {
  std::vector<int64_t> out(row.begin(), row.begin() + prefix);
  out.insert(out.end(), genes.begin(), genes.end());
  if (has_eos) out.push_back(kEosToken);
  out.resize(std::max(width, out.size()), kPadToken);
  return out;
}

// The reference's delete_token: drop perturbed tokens and every 0,
// left-compact, re-pad to the same width.
std::vector<int64_t> reference_delete(const std::vector<int64_t>& row, const Edit& edit) {
  std::vector<int64_t> out;
  for (int64_t x : row)
    if (x != kPadToken && !perturbed(x, edit)) out.push_back(x);
  out.resize(row.size(), kPadToken);
  return out;
}

std::vector<int64_t> shift_rank(const std::vector<int64_t>& row, const Edit& edit, int64_t prefix,
                                bool has_eos) {
  auto genes = genes_of(row, prefix, has_eos);
  const auto n = static_cast<int64_t>(genes.size());
  const int64_t k = std::max<int64_t>(1, std::llround(edit.shift * static_cast<double>(n)));
  for (int64_t p : edit.tokens) {
    auto it = std::find(genes.begin(), genes.end(), p);
    if (it == genes.end()) continue;
    const int64_t i = it - genes.begin();
    const int64_t to = edit.mode == EditMode::down ? std::min(n - 1, i + k) : std::max<int64_t>(0, i - k);
    genes.erase(it);
    genes.insert(genes.begin() + to, p);
  }
  return assemble(row, prefix, genes, has_eos, row.size());
}

}  // namespace

EditMode parse_edit_mode(const std::string& s) {
  if (s == "mask") return EditMode::mask;
  if (s == "pad") return EditMode::pad;
  if (s == "delete") return EditMode::del;
  if (s == "overexpress") return EditMode::overexpress;
  if (s == "down") return EditMode::down;
  if (s == "up") return EditMode::up;
  throw pg::Error("<options>", "--mode",
                  "'" + s + "' is not one of mask, pad, delete, overexpress, down, up");
}

std::string edit_mode_name(EditMode mode) {
  switch (mode) {
    case EditMode::mask:
      return "mask";
    case EditMode::pad:
      return "pad";
    case EditMode::del:
      return "delete";
    case EditMode::overexpress:
      return "overexpress";
    case EditMode::down:
      return "down";
    case EditMode::up:
      return "up";
  }
  return "?";
}

bool row_is_perturbable(const std::vector<int64_t>& row, const Edit& edit) {
  if (edit.mode == EditMode::overexpress) return true;
  return std::any_of(row.begin(), row.end(), [&](int64_t x) { return perturbed(x, edit); });
}

std::vector<int64_t> edit_row(const std::vector<int64_t>& row, const Edit& edit, int64_t prefix, bool has_eos,
                              int64_t max_width) {
  // A sentence truncated to the encoder's length has lost its <eos>; the
  // edited one must not grow one.
  has_eos = has_eos && std::find(row.begin(), row.end(), kEosToken) != row.end();
  if (prefix < 0 || prefix > static_cast<int64_t>(row.size()))
    throw pg::Error("<perturbation>", "prefix", "longer than the row");
  switch (edit.mode) {
    case EditMode::mask:
    case EditMode::pad: {
      auto out = row;
      const int64_t to = edit.mode == EditMode::mask ? kMaskToken : kPadToken;
      for (auto& x : out)
        if (perturbed(x, edit)) x = to;
      return out;
    }
    case EditMode::del: {
      if (edit.rules == EditRules::reference) return reference_delete(row, edit);
      std::vector<int64_t> genes;
      for (int64_t g : genes_of(row, prefix, has_eos))
        if (!perturbed(g, edit)) genes.push_back(g);
      return assemble(row, prefix, genes, has_eos, row.size());
    }
    case EditMode::overexpress: {
      if (edit.rules == EditRules::reference) {
        auto out = reference_delete(row, edit);
        out.resize(out.size() - std::min(out.size(), edit.tokens.size()));
        out.insert(out.begin() + std::min<int64_t>(prefix, static_cast<int64_t>(out.size())),
                   edit.tokens.begin(), edit.tokens.end());
        return out;
      }
      std::vector<int64_t> genes(edit.tokens);
      for (int64_t g : genes_of(row, prefix, has_eos))
        if (!perturbed(g, edit)) genes.push_back(g);
      const auto width = static_cast<int64_t>(row.size());
      const int64_t limit = std::max(width, max_width);
      const int64_t needed = prefix + static_cast<int64_t>(genes.size()) + (has_eos ? 1 : 0);
      // A full row loses its lowest-ranked genes, never <eos>.
      if (needed > limit)
        genes.resize(static_cast<size_t>(std::max<int64_t>(0, limit - prefix - (has_eos ? 1 : 0))));
      return assemble(row, prefix, genes, has_eos, static_cast<size_t>(width));
    }
    case EditMode::down:
    case EditMode::up:
      return shift_rank(row, edit, prefix, has_eos);
  }
  return row;
}

}  // namespace pg::perturb
