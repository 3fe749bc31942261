// Outputs are written to a temporary sibling and renamed into place, so an
// interrupted run never leaves a half-written file where the user expects one,
// and an existing file is replaced only by a complete new one.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace pg {

// Calls `write(tmp_path)` with a fresh temporary path beside `target`, then
// renames it onto `target`. On any exception the temporary is removed and the
// exception propagates. `target` may be a file or a directory (the writer
// creates whatever it needs at tmp_path). Refuses to overwrite any path in
// `protected_inputs` (the files the command read).
void write_atomically(const std::filesystem::path& target,
                      const std::function<void(const std::filesystem::path& tmp)>& write,
                      const std::vector<std::filesystem::path>& protected_inputs = {});

// Flushes `path` (a file, or a directory and every regular file directly in
// it) to stable storage with fsync, so a rename that follows cannot expose an
// empty or partial file after a power loss. Errors are pg::Error naming the path.
void sync_to_disk(const std::filesystem::path& path);

}  // namespace pg
