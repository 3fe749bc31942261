// Running a benchmark's child process (ours or a peer) and reading its
// result: wall time and the child's own peak RSS (fork + exec + wait4), its
// stdout, and the JSON line a peer prints last. Shared by the bench programs.
#pragma once

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace pg::bench {

namespace fs = std::filesystem;

struct Child {
  double seconds = 0;  // wall clock of the whole child
  double rss_mib = 0;  // peak RSS of the child (and its waited-for descendants)
  std::string out;     // stdout
};

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

inline std::string tail(const std::string& s, size_t n = 3000) {
  return s.size() > n ? s.substr(s.size() - n) : s;
}

// The peer prints its result as the last line of stdout.
inline nlohmann::json last_json_line(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  if (end == std::string::npos) throw std::runtime_error("peer printed nothing");
  const size_t begin = out.rfind('\n', end);
  const size_t first = begin == std::string::npos ? 0 : begin + 1;
  return nlohmann::json::parse(out.substr(first, end + 1 - first));
}

inline std::string joined(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) s += (s.empty() ? "" : " ") + a;
  return s;
}

// fork + exec + wait4: the only way to get one child's own peak RSS.
inline Child run_child(const std::vector<std::string>& argv, const fs::path& log_dir) {
  const fs::path out_file = log_dir / "child.stdout", err_file = log_dir / "child.stderr";
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    const int o = open(out_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0) _exit(126);
    dup2(o, 1);
    dup2(e, 2);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  int status = 0;
  rusage ru{};
  if (wait4(pid, &status, 0, &ru) != pid) throw std::runtime_error("wait4 failed");
  Child c;
  c.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  c.rss_mib = static_cast<double>(ru.ru_maxrss) / 1024.0;  // KiB on Linux
  c.out = slurp(out_file);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    const std::string how = !WIFEXITED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                            : WEXITSTATUS(status) == 127 ? "could not be started (exit code 127)"
                                                         : "exit code " + std::to_string(WEXITSTATUS(status));
    throw std::runtime_error(joined(argv) + ": " + how + "\n" + tail(c.out) + tail(slurp(err_file)));
  }
  return c;
}

// Times `call` after one warm-up (once only when the warm-up took longer
// than `slow` seconds) and prints the JSON line the drivers read.
inline void report_timing(const std::function<void()>& call, int reps, double slow, int64_t cells) {
  auto timed = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  const double warm = timed();
  std::vector<double> secs;
  for (int r = 0; r < (warm > slow ? 1 : reps); ++r) secs.push_back(timed());
  const double med = median(secs);
  std::printf(
      "%s\n",
      nlohmann::json({{"seconds", secs}, {"median", med}, {"cells_per_s", cells / med}}).dump().c_str());
}

// `--key value` options and bare `--flag`s of a bench program's command line;
// anything else is a std::runtime_error.
using OptionSetters = std::map<std::string, std::function<void(const std::string&)>>;
inline void parse_arguments(int argc, char** argv, const OptionSetters& options,
                            const std::map<std::string, bool*>& flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (auto f = flags.find(k); f != flags.end()) {
      *f->second = true;
      continue;
    }
    auto it = options.find(k);
    if (it == options.end()) throw std::runtime_error("unknown argument " + k);
    if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
    it->second(argv[++i]);
  }
}

}  // namespace pg::bench
