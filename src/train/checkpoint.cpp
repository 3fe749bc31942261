#include "train/checkpoint.h"

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>

#include "core/atomic_file.h"
#include "core/error.h"
#include "io/safetensors.h"

namespace fs = std::filesystem;

namespace pg::train {

namespace {

const char* kDir = "checkpoints";

std::string step_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "step-%010lld", static_cast<long long>(step));
  return buf;
}

// step-NNNNNNNNNN -> NNNNNNNNNN, or -1 for any other name.
int64_t parse_step(const std::string& name) {
  if (name.size() != 15 || name.rfind("step-", 0) != 0) return -1;
  for (size_t k = 5; k < name.size(); ++k)
    if (name[k] < '0' || name[k] > '9') return -1;
  return std::stoll(name.substr(5));
}

std::set<int64_t> complete_steps(const fs::path& dir) {
  std::set<int64_t> steps;
  if (!fs::is_directory(dir)) return steps;
  for (const auto& e : fs::directory_iterator(dir)) {
    const auto name = e.path().filename().string();
    if (!name.empty() && name[0] == '.') {
      // An interrupted write: never renamed, so never a checkpoint.
      std::error_code ec;
      fs::remove_all(e.path(), ec);
      continue;
    }
    const int64_t s = parse_step(name);
    if (s >= 0 && fs::exists(e.path() / "state.json")) steps.insert(s);
  }
  return steps;
}

// Fault injection for the crash-safety test: PERTURBGEN_FAULT_KILL_IN_CHECKPOINT=N
// makes the process SIGKILL itself halfway through writing the checkpoint of
// step N (a real kill -9 at a known moment, not a simulated one).
void fault_point(int64_t step) {
  const char* v = std::getenv("PERTURBGEN_FAULT_KILL_IN_CHECKPOINT");
  if (v != nullptr && std::to_string(step) == v) ::kill(::getpid(), SIGKILL);
}

}  // namespace

nlohmann::json to_json(const TrainState& s) {
  return {{"step", s.step},
          {"epoch", s.epoch},
          {"batch_in_epoch", s.batch_in_epoch},
          {"best_metric", std::isfinite(s.best_metric) ? nlohmann::json(s.best_metric) : nlohmann::json()},
          {"evals_since_best", s.evals_since_best},
          {"finished", s.finished}};
}

TrainState train_state_from_json(const nlohmann::json& j, const std::string& file) {
  TrainState s;
  try {
    s.step = j.at("step").get<int64_t>();
    s.epoch = j.at("epoch").get<int64_t>();
    s.batch_in_epoch = j.at("batch_in_epoch").get<int64_t>();
    if (!j.at("best_metric").is_null()) s.best_metric = j.at("best_metric").get<double>();
    s.evals_since_best = j.at("evals_since_best").get<int64_t>();
    s.finished = j.value("finished", false);
  } catch (const nlohmann::json::exception& e) {
    throw pg::Error(file, "state", std::string("is incomplete or has a wrong type: ") + e.what());
  }
  return s;
}

fs::path write_checkpoint(const fs::path& run_dir, const TrainState& state,
                          const pg::model::NamedTensors& model, const pg::model::NamedTensors& optimizer,
                          int64_t keep) {
  const fs::path dir = run_dir / kDir;
  fs::create_directories(dir);
  const fs::path target = dir / step_name(state.step);
  write_atomically(target, [&](const fs::path& tmp) {
    fs::create_directories(tmp);
    pg::model::save_safetensors(tmp / "model.safetensors", model);
    fault_point(state.step);
    pg::model::save_safetensors(tmp / "optimizer.safetensors", optimizer);
    std::ofstream out(tmp / "state.json");
    out << to_json(state).dump(2) << "\n";
    out.close();
    if (!out) throw pg::Error((tmp / "state.json").string(), "", "could not be written (disk full?)");
    sync_to_disk(tmp);
  });
  sync_to_disk(dir);
  if (keep > 0) {
    auto steps = complete_steps(dir);
    while (static_cast<int64_t>(steps.size()) > keep) {
      fs::remove_all(dir / step_name(*steps.begin()));
      steps.erase(steps.begin());
    }
  }
  return target;
}

std::optional<fs::path> latest_checkpoint(const fs::path& run_dir) {
  const auto steps = complete_steps(run_dir / kDir);
  if (steps.empty()) return std::nullopt;
  return run_dir / kDir / step_name(*steps.rbegin());
}

Checkpoint read_checkpoint(const fs::path& path) {
  Checkpoint c;
  c.path = path;
  const auto state_file = (path / "state.json").string();
  std::ifstream in(state_file);
  if (!in) throw pg::Error(state_file, "", "missing: not a checkpoint");
  try {
    c.state = train_state_from_json(nlohmann::json::parse(in), state_file);
  } catch (const nlohmann::json::exception& e) {
    throw pg::Error(state_file, "", std::string("is not valid JSON: ") + e.what());
  }
  c.model = pg::model::to_torch(pg::io::SafeTensors::read((path / "model.safetensors").string()));
  c.optimizer = pg::model::to_torch(pg::io::SafeTensors::read((path / "optimizer.safetensors").string()));
  return c;
}

}  // namespace pg::train
