#include "train/progress.h"

#include <unistd.h>

#include <cmath>
#include <iostream>
#include <sstream>

#include "core/error.h"

namespace pg::train {

Progress::Progress(const std::string& mode, const std::filesystem::path& log_file, int64_t total_steps,
                   bool append)
    : total_steps_(total_steps) {
  if (mode == "bar")
    bar_ = true;
  else if (mode == "auto")
    bar_ = ::isatty(STDERR_FILENO) != 0;
  else if (mode == "none")
    quiet_ = true;
  else if (mode != "lines")
    throw pg::Error("<arguments>", "--progress", "'" + mode + "' is not auto, bar, lines or none");
  if (!log_file.empty()) {
    log_.open(log_file, append ? std::ios::app : std::ios::trunc);
    if (!log_) throw pg::Error(log_file.string(), "", "cannot be written");
  }
}

std::string Progress::summary(const nlohmann::json& r) const {
  std::ostringstream s;
  s.precision(4);
  const auto kind = r.value("kind", "");
  if (r.contains("step")) {
    s << "step " << r["step"].get<int64_t>();
    if (total_steps_ > 0) s << "/" << total_steps_;
  }
  if (r.contains("epoch")) s << "  epoch " << r["epoch"].get<int64_t>() + (kind == "train" ? 1 : 0);
  for (const char* k : {"loss", "perplexity", "nll", "baseline_nll", "unigram_perplexity", "lr"})
    if (r.contains(k) && r[k].is_number())
      s << "  " << (kind == "train" ? "" : kind + "/") << k << " " << r[k].get<double>();
  if (r.contains("cells_per_s")) s << "  " << std::lround(r["cells_per_s"].get<double>()) << " cells/s";
  if (r.contains("eta_s")) {
    const auto eta = std::lround(r["eta_s"].get<double>());
    s << "  ETA " << eta / 3600 << "h" << (eta / 60) % 60 << "m" << eta % 60 << "s";
  }
  if (r.contains("message")) s << (s.tellp() > 0 ? "  " : "") << r["message"].get<std::string>();
  return s.str();
}

void Progress::step(const nlohmann::json& record, bool log_it) {
  if (log_it && log_.is_open()) log_ << record.dump() << "\n" << std::flush;
  if (quiet_) return;
  if (bar_) {
    std::cerr << "\r\033[K" << summary(record) << std::flush;
    bar_open_ = true;
  } else if (log_it) {
    std::cerr << summary(record) << "\n";
  }
}

void Progress::event(const nlohmann::json& record) {
  if (log_.is_open()) log_ << record.dump() << "\n" << std::flush;
  if (quiet_) return;
  if (bar_open_) std::cerr << "\n", bar_open_ = false;
  std::cerr << summary(record) << "\n";
}

void Progress::finish() {
  if (bar_open_) std::cerr << "\n";
  bar_open_ = false;
}

}  // namespace pg::train
