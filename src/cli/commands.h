// Each CLI command registers itself on the app: it parses its options, calls
// one library function and prints a summary. Errors are thrown as pg::Error
// and printed by main() as one line.
#pragma once

#include <CLI/CLI.hpp>

namespace pg::cli {

void add_info(CLI::App& app);
void add_convert(CLI::App& app);
void add_medians(CLI::App& app);
void add_tokenise(CLI::App& app);
void add_store_info(CLI::App& app);
void add_evaluate(CLI::App& app);
void add_programs(CLI::App& app);
void add_de(CLI::App& app);

}  // namespace pg::cli
