// `--nproc N`: runs a command as N data-parallel worker processes on this
// machine, the way torchrun would (RANK, WORLD_SIZE, LOCAL_RANK,
// LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT a free port).
#pragma once

#include <string>
#include <vector>

namespace pg::cli {

// In a process that is not already a worker (WORLD_SIZE unset): starts N
// copies of this command line without --nproc, waits for them, and returns
// true (the caller then has nothing to do). If one fails, the others are
// stopped and a pg::Error names it. Returns false inside a worker.
bool launch_workers(int nproc);

// In a worker of LOCAL_WORLD_SIZE local processes: gives each its share of
// the cores, so N workers do not oversubscribe the machine.
void configure_worker_threads();
// Runs this program (/proc/self/exe) with `args` as one step of a pipeline,
// its output going to ours; a failure is a pg::Error naming `step` (the
// step's own error line is printed above it).
void run_self(const std::vector<std::string>& args, const std::string& step);

}  // namespace pg::cli
