// What a run reports while it trains: a one-line progress bar on a terminal
// (step, epoch, loss, perplexity, cells/s, ETA), plain lines otherwise, and
// every record appended to RUN_DIR/metrics.jsonl (one JSON object per line,
// flushed as written, so a crashed run keeps its history).
#pragma once

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace pg::train {

class Progress {
 public:
  // mode: auto (bar when stderr is a terminal) | bar | lines | none.
  // An empty `log_file` writes no JSONL (non-zero ranks).
  Progress(const std::string& mode, const std::filesystem::path& log_file, int64_t total_steps, bool append);

  // A training step: updates the bar; every `every` steps (and always in
  // lines mode at that cadence) appends the record.
  void step(const nlohmann::json& record, bool log_it);
  // A record that always goes to the log and as a line to stderr.
  void event(const nlohmann::json& record);
  void finish();

 private:
  std::string summary(const nlohmann::json& r) const;
  bool bar_ = false, quiet_ = false, bar_open_ = false;
  std::ofstream log_;
  int64_t total_steps_;
};

}  // namespace pg::train
