// `perturbgen tokenise` as a library call: input file -> token store.
//
//   1. header: genes (var), gene-ID resolution against the vocabulary
//   2. scan pass (streaming): used cells, states, groups, value checks,
//      HVG and median accumulators
//   3. gene selection, count-head genes, dataset vocabulary if asked
//   4. pairing of source cells with target cells
//   5. encode pass (streaming, threaded): sentences + counts -> store shards
//
// Memory stays bounded by one chunk, the accumulators (genes x states) and a
// few bytes per cell for the pairing (state, group, pairing table).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "tokenise/options.h"

namespace pg::tokenise {

struct TokeniseResult {
  nlohmann::json report;              // everything measured, also written to the store
  std::vector<std::string> warnings;  // printed by the CLI
  std::string summary;                // human-readable paragraph
};

TokeniseResult tokenise(const TokeniseOptions& opt);

}  // namespace pg::tokenise
