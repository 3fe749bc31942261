#include "cli/plugin/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "core/error.h"

namespace pg::cli {
namespace {

// This process's command line, from /proc/self/cmdline.
std::vector<std::string> own_arguments() {
  std::ifstream in("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> args;
  std::string word;
  while (std::getline(in, word, '\0')) args.push_back(word);
  return args;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    if (fd >= 0) ::close(fd);
    throw pg::Error("--nproc", "", "could not find a free local port for the rendezvous");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

bool launch_workers(int nproc) {
  if (std::getenv("WORLD_SIZE") != nullptr) return false;
  auto args = own_arguments();
  std::vector<std::string> child_args;
  for (size_t k = 0; k < args.size(); ++k) {
    if (args[k] == "--nproc") {
      ++k;
      continue;
    }
    if (args[k].rfind("--nproc=", 0) == 0) continue;
    child_args.push_back(args[k]);
  }
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> pids;
  for (int rank = 0; rank < nproc; ++rank) {
    const pid_t pid = ::fork();
    if (pid < 0) throw pg::Error("--nproc", "", "fork failed");
    if (pid == 0) {
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<char*> argv;
      for (auto& a : child_args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      ::_exit(127);
    }
    pids.push_back(pid);
  }
  int failed_rank = -1, failed_status = 0;
  for (size_t done = 0; done < pids.size(); ++done) {
    int status = 0;
    const pid_t pid = ::wait(&status);
    if (pid < 0) break;
    const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!ok && failed_rank < 0) {
      for (size_t r = 0; r < pids.size(); ++r)
        if (pids[r] == pid) failed_rank = static_cast<int>(r);
      failed_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      for (pid_t other : pids)
        if (other != pid) ::kill(other, SIGTERM);
    }
  }
  if (failed_rank >= 0)
    throw pg::Error("--nproc", "worker " + std::to_string(failed_rank),
                    "exited with status " + std::to_string(failed_status) + " (its error is above)");
  return true;
}

void configure_worker_threads() {
  const char* local = std::getenv("LOCAL_WORLD_SIZE");
  if (local == nullptr) return;
  const int n = std::max(1, std::atoi(local));
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(std::max(1, cores / n));
}

void run_self(const std::vector<std::string>& args, const std::string& step) {
  std::vector<std::string> words{"perturbgen"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw pg::Error(step, "", "fork failed");
  if (pid == 0) {
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw pg::Error(step, "",
                    "failed (status " +
                        std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status)) +
                        "; its error is above)");
}

}  // namespace pg::cli
