// `--config FILE`: a TOML file holding any of a command's long options
// (`time-key = "day"`, `time-order = ["d0", "d2"]`, `remove-mito-ribo = true`),
// at top level or in a [<command>] table. Options given on the command line
// win over the file. CLI11 2.1 does not read config files for subcommands,
// so the file is expanded into command-line words before parsing.
#pragma once

#include <string>
#include <vector>

namespace pg::cli {

// `args` without the program name; returns them with the file's options added
// after the subcommand's own words. Unreadable files and TOML errors throw
// pg::Error naming the file.
std::vector<std::string> expand_config(const std::vector<std::string>& args);

}  // namespace pg::cli
